"""The exceptions jupyter-labeler raises, in one small hierarchy.

```
LabelerError
├── InvalidLabelError (ValueError)      a label name breaks the naming rules
├── UnknownLabelError (KeyError)       no label of that name in the dataset
├── UnknownImageError (KeyError)       no image with that id in the dataset
├── UploadError (ValueError)           an upload as a whole is refused (too large in total)
├── ImageDecodeError (ValueError)      bytes that are not a readable JPG, PNG or BMP image
├── ManifestError (ValueError)         a manifest line or journal object cannot be read
├── FormatError (ValueError)           a file to import is malformed or names invalid labels
├── SelfReviewError (ValueError)       a review of images assigned to the reviewer
├── UndoError                          nothing to undo, or the action cannot be undone
└── StoreError                         the object store or folder failed
    ├── StoreUnavailableError          the store cannot be reached (network, endpoint down)
    ├── StoreAccessError               credentials refused or no permission
    ├── StoreNotFoundError (FileNotFoundError)   the bucket or folder does not exist
    └── UnsafePathError (ValueError)   a path would leave its folder (``..``, absolute, hidden)
```

Lower-level errors (botocore, aiohttp, OSError) are translated at the storage boundary with
``raise ... from exc`` so that callers see one of these, with the URL, never a credential.
"""

from __future__ import annotations

__all__ = [
    "FormatError",
    "ImageDecodeError",
    "InvalidLabelError",
    "LabelerError",
    "ManifestError",
    "SelfReviewError",
    "StoreAccessError",
    "StoreError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "UndoError",
    "UnknownImageError",
    "UnknownLabelError",
    "UnsafePathError",
    "UploadError",
]


class LabelerError(Exception):
    """Base class of every error raised on purpose by jupyter-labeler."""


class InvalidLabelError(LabelerError, ValueError):
    """A label name breaks the rules of :func:`jupyter_labeler.names.validate_label`.

    ``name`` is the name as given, ``reason`` a plain sentence saying what is wrong.
    """

    def __init__(self, name: object, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"invalid label name {name!r}: {reason}")


class UnknownLabelError(LabelerError, KeyError):
    """The dataset has no label of this name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"no label named {self.name!r} in this dataset"


class UnknownImageError(LabelerError, KeyError):
    """One or more image ids are not in the dataset."""

    def __init__(self, ids: list[str]) -> None:
        self.ids = list(ids)
        super().__init__(self.ids)

    def __str__(self) -> str:
        shown = ", ".join(repr(i) for i in self.ids[:5])
        more = f" and {len(self.ids) - 5} more" if len(self.ids) > 5 else ""
        return f"no image with id {shown}{more} in this dataset"


class UploadError(LabelerError, ValueError):
    """An upload is refused as a whole (for example more than 8 MB in one upload)."""


class ImageDecodeError(LabelerError, ValueError):
    """Bytes that are not a readable JPG, PNG or BMP image; ``reason`` says why in plain words."""

    def __init__(self, reason: str, name: str = "") -> None:
        self.reason = reason
        self.name = name
        super().__init__(f"{name}: {reason}" if name else reason)


class ManifestError(LabelerError, ValueError):
    """A manifest line or a journal object cannot be read.

    ``where`` names the object (and line number) so that the user can find and mend it.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class FormatError(LabelerError, ValueError):
    """A file to import cannot be used as a whole: malformed, or naming invalid labels.

    ``where`` names the file (and line, when there is one).
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


class SelfReviewError(LabelerError, ValueError):
    """A review of images assigned to the reviewer: nobody reviews their own work.

    ``author`` is who tried to review, ``ids`` the images assigned to them; another reviewer
    accepts or rejects those.
    """

    def __init__(self, author: str, ids: list[str]) -> None:
        self.author = author
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:3])
        more = f" and {len(self.ids) - 3} more" if len(self.ids) > 3 else ""
        noun = "image" if len(self.ids) == 1 else "images"
        super().__init__(
            f"{author} cannot review {len(self.ids)} {noun} assigned to them ({shown}{more}): "
            "nobody reviews their own work, another reviewer does"
        )


class UndoError(LabelerError):
    """There is nothing to undo, or the last action cannot be undone."""


class StoreError(LabelerError):
    """The object store or folder failed. ``url`` says which one (never with credentials)."""

    def __init__(self, message: str, url: str = "") -> None:
        self.url = url
        super().__init__(message)


class StoreUnavailableError(StoreError):
    """The store cannot be reached: the endpoint is down, the network is cut, a timeout."""


class StoreAccessError(StoreError, PermissionError):
    """The store refused the credentials, or they lack a permission."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The bucket, folder or object does not exist."""


class UnsafePathError(StoreError, ValueError):
    """A path that would reach outside its folder, or that is not in normal form.

    Raised before anything is read, written or deleted: ``path`` is the path as given, ``reason``
    says what is wrong with it in plain words.
    """

    def __init__(self, path: str, reason: str, url: str = "") -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"refused path {path!r}: {reason}", url)
