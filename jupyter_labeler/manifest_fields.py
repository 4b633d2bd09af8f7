"""The names that reading and writing a ModelArts manifest share (see :mod:`.manifest`).

What a classification annotation is called, the keys under which a row keeps what its line held
beyond the columns (to write it back as it came), and how an image's id is made.
"""

from __future__ import annotations

import hashlib

__all__ = [
    "CLASSIFICATION",
    "MAX_ID_CHARS",
    "OTHER_ANNOTATIONS",
    "SOURCE_SPELLING",
    "image_id_for",
]

CLASSIFICATION = "modelarts/image_classification"
"""The ``type`` of the annotations this package reads as labels (and writes)."""

# Longer ids are replaced by ours (journal readers refuse longer ones; see events.py).
MAX_ID_CHARS = 1024
# A source spelled otherwise than folder + path (``./x.jpg``, ``s3a://``), kept under this key
# of the row's extra fields and written back as it was.
SOURCE_SPELLING = "\x00source"
# Annotations of other kinds (object detection boxes, ...) ride along untouched under this key.
OTHER_ANNOTATIONS = "\x00other-annotations"


def image_id_for(path: str) -> str:
    """The stable id of the image at ``path`` (relative to the source folder)."""
    return hashlib.blake2b(path.encode("utf-8"), digest_size=8).hexdigest()
