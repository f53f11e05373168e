#!/usr/bin/env bash
# Install into .venv and run the whole system on the embedded default: a real nats-server
# with JetStream and SQLite files under ./data; loads the 2022 sample year when the store is
# empty and prints its annual summary. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -c deploy/requirements.lock -e .
exec .venv/bin/briefings up --demo "$@"
