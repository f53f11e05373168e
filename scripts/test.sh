#!/usr/bin/env bash
# Install into .venv and run the whole test suite. Exits non-zero on any failure and on
# "no tests ran" (pytest's exit code 5).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# Runtime dependencies at the versions deploy/requirements.lock pins (the image installs
# exactly those); dev tools float.
.venv/bin/python -m pip install -q -c deploy/requirements.lock -e ".[dev]"
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "no tests ran: failing" >&2
  exit 1
fi
exit "$code"
