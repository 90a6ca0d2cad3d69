"""`python worker.py` is `mutator worker`: runs the request workflows and activities."""

import sys

from mutator.cli.main import main

if __name__ == "__main__":
    main(["worker", *sys.argv[1:]])
