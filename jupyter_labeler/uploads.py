"""Checking uploaded files before they enter a dataset: sizes, real formats and safe names.

The limits are those of the ModelArts "Add Image" dialog: at most 5 MB an image and 8 MB for one
upload, JPG/JPEG/PNG/BMP only. The file name a browser sends is never trusted (it may hold
folders, ``..``, ``+``, spaces or markup): :func:`~jupyter_labeler.names.clean_file_name` makes it
safe, and a name already taken gets a numbered suffix instead of overwriting anything.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .errors import ImageDecodeError
from .images import FORMAT_SUFFIX, inspect_image
from .names import MAX_FILE_NAME_CHARS, clean_file_name

__all__ = ["MAX_IMAGE_BYTES", "MAX_UPLOAD_BYTES", "Accepted", "check_uploads"]

MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
_SUFFIXES_OF = {"JPEG": {"jpg", "jpeg"}, "PNG": {"png"}, "BMP": {"bmp"}}


@dataclass(frozen=True)
class Accepted:
    """An upload that passed every check, with the name it will be stored under."""

    original_name: str
    name: str
    data: bytes
    format: str


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def check_uploads(
    files: Mapping[str, bytes],
    *,
    taken: Callable[[str], bool],
) -> tuple[list[Accepted], list[tuple[str, str]]]:
    """Split ``files`` (name -> bytes) into accepted uploads and (name, reason) refusals.

    ``taken(name)`` says whether a stored name is already used; accepted names never collide
    with it or with each other.
    """
    accepted: list[Accepted] = []
    refused: list[tuple[str, str]] = []
    total = sum(len(bytes(d)) for d in files.values())
    if total > MAX_UPLOAD_BYTES:
        reason = (
            f"the upload holds {_megabytes(total)} in all; at most "
            f"{_megabytes(MAX_UPLOAD_BYTES)} can be added at once: upload fewer files at a time"
        )
        return [], [(str(name), reason) for name in files]
    chosen: set[str] = set()
    for original, data in files.items():
        original = str(original)
        data = bytes(data)
        if len(data) > MAX_IMAGE_BYTES:
            refused.append(
                (
                    original,
                    f"the image is {_megabytes(len(data))}; at most "
                    f"{_megabytes(MAX_IMAGE_BYTES)} is allowed",
                )
            )
            continue
        try:
            info = inspect_image(data, name=original)
        except ImageDecodeError as exc:
            refused.append((original, exc.reason))
            continue
        name = clean_file_name(original)
        stem, dot, ext = name.rpartition(".")
        if not dot or ext.lower() not in _SUFFIXES_OF[info.format]:
            # The bytes decide the format; the name is made to say the same.
            stem = name if not dot else stem
            ext = FORMAT_SUFFIX[info.format]
        name = f"{stem}.{ext}"
        candidate, n = name, 1
        while candidate in chosen or taken(candidate):
            # The numbered suffix must not push a long name past the length limit.
            suffix = f"_{n}.{ext}"
            candidate = f"{stem[: MAX_FILE_NAME_CHARS - len(suffix)]}{suffix}"
            n += 1
        chosen.add(candidate)
        accepted.append(Accepted(original, posixpath.basename(candidate), data, info.format))
    return accepted, refused
