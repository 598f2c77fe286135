#!/usr/bin/env bash
# The main job on built-in data: train the default MLP on the bundled 8x8 digits with Adam and
# early stopping, print the test accuracy, and write metrics, curves and the generated training
# step to out/train/ (pass options through, e.g. `bash scripts/main.sh --optimizer momentum`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/graphdl train "$@"
