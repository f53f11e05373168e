#!/usr/bin/env bash
# The reliability report: the fault, bad-input and load suite (tests/reliability), the heavy
# tests too, with more fuzz examples and a longer load run; then the table of faults
# injected, inputs tried and outcomes, and the load figures. Exits non-zero when any test
# failed.
#
#   scripts/reliability.sh                 # everything (about 15 minutes on 2 cores)
#   scripts/reliability.sh -k fuzz         # extra pytest arguments pass through
#
# Sizes: FUZZ_EXAMPLES (200), LOAD_CLIENTS (16), LOAD_SECONDS (15), IMPORT_ROWS (100000: the
# roster import, re-import and paged `roster members` at that size), LARGE_ROSTER_ROWS (12000),
# MEMORY_COMMANDS (30000: a roster process's RSS after a warm-up and at the end).
set -uo pipefail
cd "$(dirname "$0")/.."
out=${RELIABILITY_OUT:-build/reliability}
mkdir -p "$out"
report="$out/results.jsonl"
: > "$report"
export RELIABILITY_REPORT="$PWD/$report" RELIABILITY_FULL=1
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-200} LOAD_SECONDS=${LOAD_SECONDS:-15}
export LOAD_CLIENTS=${LOAD_CLIENTS:-16} IMPORT_ROWS=${IMPORT_ROWS:-100000}
.venv/bin/python -m pytest tests/reliability -q -p no:cacheprovider -p no:logging \
  -W ignore::hypothesis.errors.HypothesisWarning --timeout=1800 "$@" > "$out/pytest.log" 2>&1
code=$?
tail -n 3 "$out/pytest.log"
.venv/bin/python -m tests.reliability.report "$report" --markdown > "$out/table.md"
.venv/bin/python -m tests.reliability.report "$report"
table=$?
echo "table: $out/table.md; pytest output: $out/pytest.log"
[ "$code" -eq 0 ] && [ "$table" -eq 0 ]
