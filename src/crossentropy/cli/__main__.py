"""``python -m crossentropy.cli``: the same program as the ``crossentropy`` command."""

import sys

from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
