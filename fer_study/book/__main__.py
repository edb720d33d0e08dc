"""``python -m fer_study.book {run,build}``: see ``fer_study.book.build``."""

import sys

from fer_study.book.build import main

if __name__ == "__main__":
    sys.exit(main())
