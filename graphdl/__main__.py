"""``python -m graphdl``: the ``graphdl`` command line."""

import sys

from graphdl.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
