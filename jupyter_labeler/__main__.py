"""``python -m jupyter_labeler`` and the ``jupyter-labeler`` command: see :mod:`jupyter_labeler.cli`."""

from __future__ import annotations

import sys

from .cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
