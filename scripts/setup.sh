#!/usr/bin/env bash
# Set up everything graphdl needs on a fresh Debian machine: graphviz's `dot`, a virtual
# environment in .venv, and the package with its test extra. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dot >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz) \
      >/dev/null || echo "warning: could not install graphviz; rendering to SVG/PNG will fail"
  else
    echo "note: install graphviz (sudo apt-get install -y graphviz) to render graphs"
  fi
fi
# chromium and its driver let tests/viz/test_explorer.py click through the graph explorer (skipped
# with a note without them)
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
      chromium-driver) >/dev/null || echo "warning: could not install chromium; the browser test of the explorer will be skipped"
  else
    echo "note: install chromium and chromium-driver (sudo apt-get install -y chromium chromium-driver) to run the explorer's browser test"
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
