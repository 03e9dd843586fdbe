#!/usr/bin/env bash
# Make sure a PostgreSQL server answers on this machine (127.0.0.1:5432 unless PGPORT says
# otherwise) and lets the local administrator in: install Debian's postgresql if missing, start
# its cluster if stopped. Stops with a one-line reason where it cannot (not root, no apt).
set -euo pipefail

fail() { echo "postgres: $*" >&2; exit 1; }
PORT=${PGPORT:-5432}
ready() { pg_isready -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; }

if ! command -v pg_isready >/dev/null && ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  command -v apt-get >/dev/null || fail "postgresql is missing and there is no apt-get to install it"
  [ "$(id -u)" = 0 ] || fail "postgresql is missing; installing it needs root"
  echo "postgres: installing postgresql (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null || fail "apt-get update failed"
  apt-get install -y -q postgresql >/dev/null || fail "apt-get install postgresql failed"
fi

if ! ready; then
  [ "$(id -u)" = 0 ] || fail "no server answers on port $PORT; starting one needs root"
  echo "postgres: starting the cluster" >&2
  if command -v pg_ctlcluster >/dev/null; then
    cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1" "$2}')
    [ -n "$cluster" ] || fail "no PostgreSQL cluster is set up (pg_createcluster)"
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start || fail "pg_ctlcluster $cluster start failed"
  else
    service postgresql start >/dev/null || fail "service postgresql start failed"
  fi
  for _ in $(seq 60); do ready && break; sleep 0.5; done
  ready || fail "the server did not answer on port $PORT"
fi
echo "postgres: ready (127.0.0.1:$PORT)"
