#!/usr/bin/env bash
# Build the documentation site into site/ with MkDocs, warnings as errors (mkdocs.yml sets
# strict). Installs the docs extra first if MkDocs, Material or mkdocstrings is missing.
#   bash scripts/docs.sh            # the site, with the tutorials' code and text
#   bash scripts/docs.sh --figures  # run the tutorials first so their figures are on the pages
#   bash scripts/docs.sh --serve    # live preview on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
[ -x .venv/bin/python ] && PY=.venv/bin/python
if ! "$PY" -c "import mkdocs, material, mkdocstrings, mkdocstrings_handlers.python" 2>/dev/null; then
  "$PY" -m pip install --quiet -e ".[docs]"
fi
# KaTeX renders the math and is served from the site itself (no CDN: the pages work offline). It
# comes from the npm registry, pinned; docs/hooks/generate.py copies its files into the site.
KATEX_VERSION=0.16.22
if [ ! -f "build/katex-$KATEX_VERSION/katex.min.js" ]; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch KaTeX for the docs (apt-get install npm)" >&2; exit 1; }
  mkdir -p build
  (cd build && npm pack --silent "katex@$KATEX_VERSION" >/dev/null \
     && rm -rf package "katex-$KATEX_VERSION" && tar xzf "katex-$KATEX_VERSION.tgz" \
     && mv package/dist "katex-$KATEX_VERSION" && rm -rf package "katex-$KATEX_VERSION.tgz")
fi
export GRAPHDL_KATEX_DIR="$PWD/build/katex-$KATEX_VERSION"
export NO_MKDOCS_2_WARNING=1  # Material's banner about MkDocs 2.0, not a problem of this site
case "${1:-}" in
  --figures)
    export GRAPHDL_TUTORIAL_OUT="$PWD/build/tutorial-figures"
    for tutorial in tutorials/[0-9][0-9]_*.py; do
      echo "running $tutorial"
      "$PY" "$tutorial" >/dev/null
    done
    ;;
  --serve)
    exec "$PY" -m mkdocs serve
    ;;
  "") ;;
  *)
    echo "usage: bash scripts/docs.sh [--figures | --serve]" >&2
    exit 2
    ;;
esac
"$PY" -m mkdocs build --strict --site-dir site
# the built pages load nothing from the network
if grep -rlE "<(script|link)[^>]+(src|href)=\"https?://" site --include=*.html >/dev/null; then
  echo "error: a built page loads a script or stylesheet from the network:" >&2
  grep -rhoE "<(script|link)[^>]+(src|href)=\"https?://[^\"]+" site --include=*.html | sort -u >&2
  exit 1
fi
