#!/usr/bin/env bash
# Run the test suite (expects the environment from scripts/setup.sh to be active or on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" -m pytest -q -p no:cacheprovider tests
