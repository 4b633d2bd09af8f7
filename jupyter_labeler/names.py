"""Rules for label names, for the file names of uploaded images, and the two ways annotators
are named.

Label names follow the ModelArts "Label Data" page: 1 to 32 characters, each a Chinese character,
an ASCII letter, an ASCII digit, ``-`` or ``_``. Surrounding whitespace is forgiven and removed;
anything else is refused with an :class:`~jupyter_labeler.errors.InvalidLabelError` that names the
offending character (by its Unicode name too, so that an invisible one can be found) or the length.

An annotator is named by a plain name (``alice``) everywhere in the dataset; ModelArts' own
manifests name a person ``human/<user>/<user>`` in ``annotated-by``, which
:func:`annotated_by` writes and :func:`annotator_of` reads back (a plain name reads as itself).
"""

from __future__ import annotations

import getpass
import os
import posixpath
import re
import unicodedata

from .errors import InvalidLabelError

__all__ = [
    "MAX_LABEL_LENGTH",
    "annotated_by",
    "annotator_of",
    "clean_file_name",
    "label_problem",
    "validate_label",
]

MAX_LABEL_LENGTH = 32

# CJK Unified Ideographs and Extension A: what "Chinese characters" means on the ModelArts page.
_ALLOWED = re.compile(r"[A-Za-z0-9_\-\u3400-\u4dbf\u4e00-\u9fff]")
_ALLOWED_WORDS = "Chinese characters, letters A-Z and a-z, digits, '-' and '_'"


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    code = f"U+{ord(char):04X}"
    visible = char.isprintable() and not char.isspace()
    shown = repr(char) if visible else code
    return (
        f"{shown} ({code} {name})" if name and visible else f"{shown}{' ' + name if name else ''}"
    )


def label_problem(name: object) -> str | None:
    """Return why ``name`` is not a valid label name, or None when it is.

    This is what the widget shows while the user types.
    """
    if not isinstance(name, str):
        return f"a label name must be text, not {type(name).__name__}"
    stripped = name.strip()
    if not stripped:
        return "a label name cannot be empty" if not name else "a label name cannot be only spaces"
    if len(stripped) > MAX_LABEL_LENGTH:
        return (
            f"a label name has at most {MAX_LABEL_LENGTH} characters; this one has {len(stripped)}"
        )
    for char in stripped:
        if not _ALLOWED.fullmatch(char):
            return f"{_describe(char)} is not allowed; use {_ALLOWED_WORDS}"
    return None


def validate_label(name: object) -> str:
    """Return ``name`` without surrounding whitespace, or raise InvalidLabelError.

    >>> validate_label("  roses ")
    'roses'
    >>> validate_label("玫瑰_2")
    '玫瑰_2'
    >>> validate_label("a/b")
    Traceback (most recent call last):
    ...
    jupyter_labeler.errors.InvalidLabelError: invalid label name 'a/b': '/' (U+002F SOLIDUS) is \
not allowed; use Chinese characters, letters A-Z and a-z, digits, '-' and '_'
    """
    problem = label_problem(name)
    if problem is not None:
        raise InvalidLabelError(name, problem)
    assert isinstance(name, str)
    return name.strip()


_HUMAN = "human/"


def annotator_of(annotated_by: str) -> str:
    """The annotator an ``annotated-by`` names: ``human/<user>/<user>`` (as ModelArts writes
    it) is ``<user>``; anything else (``alice``, ``human``, ``modelarts/auto``) is itself.

    >>> annotator_of("human/alice/alice"), annotator_of("alice"), annotator_of("human")
    ('alice', 'alice', 'human')
    """
    if not annotated_by.startswith(_HUMAN):
        return annotated_by
    rest = annotated_by[len(_HUMAN) :]
    half = len(rest) // 2
    if len(rest) % 2 and half and rest[half] == "/" and rest[:half] == rest[half + 1 :]:
        return rest[:half]
    return annotated_by


def annotated_by(annotator: str) -> str:
    """How a manifest's ``annotated-by`` names ``annotator``, as ModelArts' own do:
    ``human/<user>/<user>``; a name that is no plain user name (empty, ``human``, or holding a
    ``/`` already) is written as it is. ``annotator_of(annotated_by(name)) == name`` for every
    name :func:`annotator_of` gives.

    >>> annotated_by("alice"), annotated_by("modelarts/auto")
    ('human/alice/alice', 'modelarts/auto')
    """
    if not annotator or annotator == "human" or "/" in annotator:
        return annotator
    return f"{_HUMAN}{annotator}/{annotator}"


# Characters never kept in an uploaded file name: separators, URL and shell metacharacters,
# HTML brackets, and the ones ModelArts replaces ('+', spaces and tabs).
_UNSAFE = re.compile(r"[\s+#?%&\"'<>|:*\\/`$;=]")
MAX_FILE_NAME_CHARS = 120


def clean_file_name(name: str, *, default_stem: str = "image") -> str:
    """Return a safe base name for an uploaded file.

    The name a browser sends is never trusted: everything up to the last ``/`` or ``\\`` is
    dropped (so ``../../x.jpg`` becomes ``x.jpg``), control characters are removed, ``+``,
    whitespace and URL or shell metacharacters become ``_``, leading dots go (no hidden files,
    no ``..``), and the stem is shortened so that the name stays under 120 characters.
    """
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/")
    base = posixpath.basename(base)
    base = _UNSAFE.sub("_", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").lstrip(".")
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = stem.strip("_.") or default_stem
    ext = ext.lower()[:8]
    room = MAX_FILE_NAME_CHARS - len(ext) - 1
    stem = stem[:room]
    return f"{stem}.{ext}" if ext else stem


def default_author() -> str:
    """Who labels, when nobody says: the JupyterHub user, else the login name, else "unknown"."""
    for var in ("JUPYTERHUB_USER", "USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
