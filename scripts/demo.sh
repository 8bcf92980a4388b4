#!/usr/bin/env bash
# Installs everything, seeds the demo (operator + two institutions) on the embedded SQLite default and serves
# the web/API on http://127.0.0.1:8000. Plain HTTP on loopback, hence no Secure flag on the session cookie.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export CALLVAULT_COOKIE_SECURE="${CALLVAULT_COOKIE_SECURE:-false}"
exec .venv/bin/callvault demo "$@"
