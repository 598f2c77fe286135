#!/usr/bin/env bash
# The main job on built-in data.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/graphdl demo "$@"
