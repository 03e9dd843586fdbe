#!/usr/bin/env bash
# The suite's date check: run the tests that touch dates again with every process's clock
# moved years ahead (libfaketime, Debian's `faketime`), so a test that passes today only
# because of a fixed date fails now, not next month.
#
# What runs moved: the unit tests, every service's service tests (SQLite only: dates do not
# depend on the storage engine) but the hostile-input suite (its inputs are dates only as
# moments near now, and it is the longest of them), and the end-to-end tests, whose deployments
# inherit the moved clock. RabbitMQ and PostgreSQL keep the real time; nothing in Pioneer reads
# theirs.
# CLOCK_AHEAD (default 800d, libfaketime's syntax) sets how far.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "moved clock: $*" >&2; exit 1; }
AHEAD=${CLOCK_AHEAD:-800d}

if ! command -v faketime >/dev/null; then
  command -v apt-get >/dev/null || fail "faketime is missing and there is no apt-get to install it"
  [ "$(id -u)" = 0 ] || fail "faketime is missing; installing it needs root"
  echo "moved clock: installing faketime (Debian package)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q faketime >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q faketime >/dev/null; } \
    || fail "apt-get install faketime failed"
fi

echo "moved clock: the date-touching tests again, $AHEAD ahead ($(faketime -f "+$AHEAD" date -u +%F))"
# The real time goes in beside, so a test can prove the clock did move (test_moved_clock.py).
export PIONEER_REAL_EPOCH PIONEER_CLOCK_AHEAD="$AHEAD"
PIONEER_REAL_EPOCH=$(date +%s)
# One pytest process per service beside the kernel's unit tests (scripts/pytest_groups.py,
# TEST_JOBS at once; faketime's preload passes to each), then the end-to-end tests alone: they
# race processes against each other, which a machine busy with other groups would skew.
groups=(libs/pioneer/tests/unit)
for tests in services/*/tests; do groups+=("$tests"); done
moved=(faketime -f "+$AHEAD" .venv/bin/python)
"${moved[@]}" scripts/pytest_groups.py --jobs "${TEST_JOBS:-3}" "${groups[@]}" -- -q \
  --ignore-glob='services/*/tests/storage' --ignore-glob='services/*/tests/service/test_hostile.py' \
  -k "not postgresql" "$@"
exec "${moved[@]}" -m pytest -q tests/e2e -k "not postgresql" "$@"
