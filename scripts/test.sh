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
paths=0
for arg in "$@"; do
  if [ "$arg" = "--fast" ]; then
    fast=1
    args+=(-m "fast and not postgres" -p no:cacheprovider)
  else
    [ -e "${arg%%::*}" ] && paths=1
    args+=("$arg")
  fi
done
if [ "$fast" -eq 1 ] && [ "$paths" -eq 0 ]; then
  # Collect only the modules that hold fast tests (importing every test module costs
  # seconds); the marker still decides which tests run.
  mapfile -t fast_files < <(grep -rl --include='test_*.py' 'pytest.mark.fast' tests | sort)
  args+=("${fast_files[@]}")
fi
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
