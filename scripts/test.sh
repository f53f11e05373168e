#!/usr/bin/env bash
# Install into .venv and run the whole test suite. Exits non-zero on any failure and on
# "no tests ran" (pytest's exit code 5).
#   scripts/test.sh --fast   only the tests that need no server (marker ``fast``: pure
#                            domains, contracts, handlers on the in-memory event store, SQLite)
#   scripts/test.sh ARGS     any other arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
fast=0
args=()
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then
    fast=1
    args+=(-m "fast and not postgres" -p no:cacheprovider)
  else
    args+=("$arg")
  fi
done
stamp=.venv/.installed
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The fast loop skips pip (seconds) when nothing it installs from changed since the last
# install; the full run always installs.
if [ "$fast" -eq 0 ] || [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] \
  || [ deploy/requirements.lock -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # Runtime dependencies at the versions deploy/requirements.lock pins (the image installs
  # exactly those); dev tools float.
  .venv/bin/python -m pip install -q -c deploy/requirements.lock -e ".[dev]"
  touch "$stamp"
fi
set +e
.venv/bin/python -m pytest ${args[@]+"${args[@]}"}
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "no tests ran: failing" >&2
  exit 1
fi
exit "$code"
