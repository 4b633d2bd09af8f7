"""Counts in words, as every message of the package writes them."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "image")`` is "1 image", ``plural(2, "image")`` "2 images", and
    ``plural(12345, "image")`` "12,345 images"; ``many`` names the plural where adding an s
    would be wrong (``plural(2, "copy", "copies")``)."""
    return f"{n} {noun}" if n == 1 else f"{n:,} {many or noun + 's'}"
