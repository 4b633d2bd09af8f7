"""ModelArts manifests (JSON lines) to and from the in-memory :class:`~.state.State`.

One line per image::

    {"source": "s3://bucket/flowers/img_1.jpg", "usage": "TRAIN", "id": "a1b2c3d4e5f60718",
     "annotation": [{"type": "modelarts/image_classification", "name": "roses",
                     "annotated-by": "human/alice/alice",
                     "creation-time": "2026-11-25 07:10:11"}]}

``annotation`` is absent for an unlabeled image; it holds one annotation per label of the image
(who said what on an image shared by a team is kept in ``property``, see :mod:`.team`).
``annotated-by`` is written as ModelArts' own manifests write it, ``human/<user>/<user>``, and
read back as the user in that form or any other (a plain name from an older manifest is the
same annotator). Reading is tolerant of what ModelArts and other tools write: lowercase
``usage``, a ``property`` given as an object or as a JSON string, underscore spellings
(``annotated_by``, ``creation_time``), label names in Chinese, blank lines, and unknown fields,
which are kept and written back as they came. A malformed line is reported with its line number
and skipped; the rest loads.

A manifest is not trusted: a line whose ``source`` is not an image inside the source folder (a
URL elsewhere, ``../victim.jpg``, a hidden path, the label output; see :mod:`.paths`) never
becomes an image of the dataset. It is reported, and kept verbatim to be written back, so that
saving loses nothing of the manifest. A label name that breaks the naming rules is reported and
left off its image (the image stays): it never reaches a file name or the widget.

The work is in three modules, re-exported here: :mod:`.manifest_lines` reads lines into
columns (Arrow at C speed, orjson for the lines that need it), :mod:`.manifest_parse` makes
images, labels and problems of them (:func:`parse_manifest`), and :mod:`.manifest_write` writes
a state back (:func:`write_manifest`); :mod:`.manifest_fields` holds the names they share.
"""

from __future__ import annotations

from .manifest_fields import (
    CLASSIFICATION,
    MAX_ID_CHARS,
    OTHER_ANNOTATIONS,
    SOURCE_SPELLING,
    image_id_for,
)
from .manifest_parse import ParsedManifest, parse_manifest
from .manifest_write import manifest_chunks, write_manifest

__all__ = [
    "CLASSIFICATION",
    "MAX_ID_CHARS",
    "OTHER_ANNOTATIONS",
    "SOURCE_SPELLING",
    "ParsedManifest",
    "image_id_for",
    "manifest_chunks",
    "parse_manifest",
    "write_manifest",
]
