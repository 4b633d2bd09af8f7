"""Which paths may name a file: the one place that decides, for every source of paths.

Paths reach jupyter-labeler from places it does not control: keys listed in a bucket, ``source``
fields of a manifest, rows of a journal object written by another annotator, files to import.
Any of them may say ``../victim.jpg``, ``/etc/passwd``, ``a//b.jpg`` or ``.jupyter_labeler/x``.
Such a path must never become a file that is read, copied, written or deleted, so:

- :func:`path_problem` says why a relative path is not in normal form (absolute, ``..`` or ``.``
  parts, empty parts, control characters, a backslash, a URL, too long); the Store checks it on
  every call (defence in depth).
- :func:`image_path_problem` adds what an image's path must also be: no hidden part (so nothing
  under ``.jupyter_labeler/``) and not under the dataset's output folder.
- :func:`target_problem` checks a file an export is about to write: in normal form, and, on a
  local disk, no part longer than 255 bytes (what Linux, macOS and Windows allow).
- :func:`suspect_mask` finds, in one vectorized pass, the few paths of a large array that need
  the careful look; a million clean paths cost a few milliseconds.

Each function returns a plain sentence (fit for ``Dataset.problems``) or None when all is well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_PART_BYTES",
    "image_path_problem",
    "path_problem",
    "suspect_mask",
    "target_problem",
]

MAX_KEY_BYTES = 1024
"""The longest object key S3 and OBS accept, in UTF-8 bytes."""

MAX_PART_BYTES = 255
"""The longest file name (one part of a path) local filesystems accept, in bytes."""

# Anything that may need a closer look: a part starting with a dot, an empty part, a leading
# or trailing slash, a control character, a backslash, a URL. RE2 (Arrow) and Python agree on it.
_SUSPECT = r"(^|/)\.|//|^/|/$|[\x00-\x1f\x7f\\]|://"
_SUSPECT_RE = re.compile(_SUSPECT)


def path_problem(path: object) -> str | None:
    """Why ``path`` is not a relative path in normal form, or None when it is.

    >>> path_problem("flowers/rose_1.jpg") is None
    True
    >>> path_problem("../victim.jpg")
    "'..' is not allowed in a path (it would leave the folder)"
    """
    if not isinstance(path, str):
        return f"a path must be text, not {type(path).__name__}"
    if not path:
        return "the path is empty"
    if len(path) > MAX_KEY_BYTES or len(path.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"the path is longer than {MAX_KEY_BYTES} bytes"
    if not _SUSPECT_RE.search(path):
        return None
    if "://" in path:
        return "a URL is not a path inside the folder"
    if path.startswith("/"):
        return "an absolute path is not inside the folder"
    if re.search(r"[\x00-\x1f\x7f]", path):
        return "the path holds a control character"
    if "\\" in path:
        return "a backslash is not allowed in a path (it separates folders on Windows)"
    for part in path.split("/"):
        if part == "..":
            return "'..' is not allowed in a path (it would leave the folder)"
        if part == ".":
            return "'.' is not allowed as a part of a path"
        if not part:
            return "the path has an empty part ('//' or a trailing '/')"
    return None


def image_path_problem(path: object, *, exclude: Iterable[str] = ()) -> str | None:
    """Why ``path`` cannot be an image of a dataset, or None when it can.

    On top of :func:`path_problem`: no hidden part (a file or folder whose name starts with a
    dot, such as the label output ``.jupyter_labeler``), and nothing inside the ``exclude``
    folders (the output folder when it lies inside the source folder).
    """
    problem = path_problem(path)
    if problem is not None:
        return problem
    assert isinstance(path, str)
    if any(part.startswith(".") for part in path.split("/")):
        return "a hidden file or folder (a name starting with '.') is not an image of the dataset"
    for folder in exclude:
        folder = folder.strip("/")
        if folder and (path == folder or path.startswith(folder + "/")):
            return f"{folder}/ holds the labels, not images"
    return None


def target_problem(path: object, *, local: bool) -> str | None:
    """Why an export may not write ``path`` (relative to its destination), or None.

    ``local`` adds the limit of local filesystems: no part longer than 255 bytes (a key that
    long is legal on S3, so such an image exists, but it cannot be copied to a disk).
    """
    problem = path_problem(path)
    if problem is not None:
        return problem
    assert isinstance(path, str)
    if local:
        for part in path.split("/"):
            if len(part.encode("utf-8", "surrogatepass")) > MAX_PART_BYTES:
                return f"a file name longer than {MAX_PART_BYTES} bytes cannot be written to a disk"
    return None


def suspect_mask(paths: pa.Array | pa.ChunkedArray | np.ndarray | list[str]) -> np.ndarray:
    """For each path, whether it needs the careful look of :func:`image_path_problem`.

    Vectorized (Arrow's RE2): clean paths, the usual case, are passed over without a Python call
    each. Non-strings and over-long paths are suspects too.
    """
    if not isinstance(paths, pa.Array | pa.ChunkedArray):
        try:
            paths = pa.array(paths, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return np.ones(len(paths), dtype=bool)
    if not len(paths):
        return np.zeros(0, dtype=bool)
    hit = pc.match_substring_regex(paths, _SUSPECT)
    long = pc.greater(pc.binary_length(paths), MAX_KEY_BYTES)
    empty = pc.equal(pc.binary_length(paths), 0)
    mask = pc.or_kleene(pc.or_kleene(hit, long), empty)
    return np.asarray(pc.fill_null(mask, True).to_numpy(zero_copy_only=False), dtype=bool)
