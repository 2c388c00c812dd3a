"""``python -m crossentropy``: the same program as the ``crossentropy`` command."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
