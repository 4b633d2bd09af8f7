"""The label naming rules of the ModelArts page, as a table of accepted and rejected names."""

from __future__ import annotations

import pytest

from jupyter_labeler.errors import InvalidLabelError
from jupyter_labeler.names import clean_file_name, label_problem, validate_label

ACCEPTED = [
    ("roses", "roses"),
    ("  roses\t", "roses"),
    ("Rose_2-b", "Rose_2-b"),
    ("玫瑰", "玫瑰"),
    ("玫瑰_red-1", "玫瑰_red-1"),
    ("a", "a"),
    ("x" * 32, "x" * 32),
    ("花" * 32, "花" * 32),
    ("0", "0"),
    ("_-_", "_-_"),
]

REJECTED = [
    ("", "cannot be empty"),
    ("   ", "only spaces"),
    ("x" * 33, "at most 32 characters; this one has 33"),
    ("花" * 33, "this one has 33"),
    ("two words", "U+0020"),
    ("a/b", "'/' (U+002F SOLIDUS)"),
    ("<script>", "'<' (U+003C LESS-THAN SIGN)"),
    ("café", "'é' (U+00E9"),
    ("rose\u200f", "U+200F RIGHT-TO-LEFT MARK"),
    ("a\x00b", "U+0000"),
    ("smile😀", "U+1F600"),
    ("a.b", "'.' (U+002E FULL STOP)"),
    ("a+b", "'+'"),
    ("玫瑰。", "U+3002"),
    ("ｒｏｓｅ", "U+FF52"),
]


@pytest.mark.parametrize(("name", "expected"), ACCEPTED)
def test_accepted_names(name: str, expected: str) -> None:
    assert validate_label(name) == expected
    assert label_problem(name) is None


@pytest.mark.parametrize(("name", "reason"), REJECTED)
def test_rejected_names_say_why(name: str, reason: str) -> None:
    with pytest.raises(InvalidLabelError) as info:
        validate_label(name)
    assert reason in str(info.value)
    assert isinstance(info.value, ValueError)
    assert label_problem(name) is not None


@pytest.mark.parametrize("value", [None, 3, b"roses", ["roses"]])
def test_non_text_is_refused(value: object) -> None:
    with pytest.raises(InvalidLabelError, match="must be text"):
        validate_label(value)


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("../../x.jpg", "x.jpg"),
        ("..\\..\\windows\\x.jpg", "x.jpg"),
        ("/etc/passwd.png", "passwd.png"),
        ("a+b.jpg", "a_b.jpg"),
        ("my photo\t1.JPG", "my_photo_1.jpg"),
        (".hidden.png", "hidden.png"),
        ("..", "image"),
        ("<b>x</b>.jpg", "b.jpg"),
        ("照片.jpeg", "照片.jpeg"),
        ("a\x00b.bmp", "ab.bmp"),
    ],
)
def test_clean_file_name(given: str, cleaned: str) -> None:
    assert clean_file_name(given) == cleaned


def test_clean_file_name_shortens_long_names() -> None:
    cleaned = clean_file_name("a" * 300 + ".jpg")
    assert cleaned.endswith(".jpg")
    assert len(cleaned) <= 120
