"""Counts in messages read as people write them."""

from __future__ import annotations

import pytest

from jupyter_labeler.words import plural


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, "0 images"), (1, "1 image"), (2, "2 images"), (12345, "12,345 images")],
)
def test_plural_counts(n: int, expected: str) -> None:
    assert plural(n, "image") == expected


def test_plural_with_its_own_plural_form() -> None:
    assert plural(1, "copy", "copies") == "1 copy"
    assert plural(1_000_000, "copy", "copies") == "1,000,000 copies"
