#!/usr/bin/env bash
# Installs everything, then runs lint, type checks and the whole test suite on SQLite and on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/bootstrap.sh
CALLVAULT_TEST_PG=$(bash scripts/ensure-postgres.sh)
export CALLVAULT_TEST_PG

echo "== ruff"; .venv/bin/ruff check src tests bench
echo "== mypy"; .venv/bin/mypy

run_pytest() {  # pytest exits 5 when it collected nothing: for this suite that is a failure, say so.
  local backend=$1; shift
  echo "== tests on $backend"
  set +e
  CALLVAULT_TEST_DB=$backend .venv/bin/pytest -q -p no:cacheprovider "$@"
  local rc=$?
  set -e
  if [ "$rc" -eq 5 ]; then echo "no tests were collected on $backend" >&2; return 1; fi
  return "$rc"
}

# The SQLite pass also runs the canary scan (tests/canary.py): no canary phone/ID/card number in any log line,
# captured output or audit table.
CALLVAULT_CANARY=1 run_pytest sqlite "$@"
run_pytest postgresql "$@"
