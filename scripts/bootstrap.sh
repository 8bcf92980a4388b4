#!/usr/bin/env bash
# Installs what CallVault needs on a fresh Debian 12 machine: the Debian packages listed in
# scripts/apt-packages.txt, uv, and the locked Python environment in .venv. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

mapfile -t wanted < <(grep -Ev '^\s*(#|$)' scripts/apt-packages.txt || true)
missing=()
for pkg in "${wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 -m uv --version >/dev/null 2>&1; then
  echo "bootstrap: installing uv"
  python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages uv
fi

# The interpreter on the machine is used as it is; uv must not fetch one from elsewhere.
export UV_PYTHON_DOWNLOADS=never
python3 -m uv sync --frozen --python python3 --quiet
