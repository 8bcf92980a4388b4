#!/usr/bin/env bash
# Makes a PostgreSQL server reachable for the tests and prints the "user@host:port" to use.
# Uses the server on 127.0.0.1:5432 (user postgres, trust) when there is one or it can be started;
# otherwise installs PostgreSQL and runs a private trust-auth cluster on 127.0.0.1:55432.
set -euo pipefail
cd "$(dirname "$0")/.."

can_connect() {  # $1 = port
  .venv/bin/python - "$1" <<'PY' >/dev/null 2>&1
import sys, psycopg
psycopg.connect(host="127.0.0.1", port=int(sys.argv[1]), user="postgres", dbname="postgres", connect_timeout=3).close()
PY
}

if can_connect 5432; then echo "postgres@127.0.0.1:5432"; exit 0; fi

if command -v pg_lsclusters >/dev/null 2>&1 && [ -n "$(pg_lsclusters -h 2>/dev/null)" ]; then
  version=$(pg_lsclusters -h | awk 'NR==1{print $1}')
  pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
  for _ in $(seq 1 20); do can_connect 5432 && { echo "postgres@127.0.0.1:5432"; exit 0; }; sleep 0.5; done
fi

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
fi
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -1)")
dir=/tmp/callvault-pg
if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"; chown postgres "$dir" 2>/dev/null || true
  runuser -u postgres -- "$bin/initdb" -D "$dir" -A trust -U postgres >&2 2>/dev/null \
    || "$bin/initdb" -D "$dir" -A trust -U postgres >&2
fi
if ! can_connect 55432; then
  (runuser -u postgres -- "$bin/pg_ctl" -D "$dir" -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" -l "$dir/log" start \
    || "$bin/pg_ctl" -D "$dir" -o "-p 55432 -k /tmp -c listen_addresses=127.0.0.1" -l "$dir/log" start) >&2
  for _ in $(seq 1 40); do can_connect 55432 && break; sleep 0.5; done
fi
can_connect 55432 || { echo "ensure-postgres: no PostgreSQL server could be reached or started" >&2; exit 1; }
echo "postgres@127.0.0.1:55432"
