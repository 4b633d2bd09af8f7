"""jupyter-labeler: label images for image classification inside a Jupyter notebook.

- :class:`Dataset` owns a dataset's images and labels and every operation on them; it has no
  widget in it, and every result is a pandas DataFrame.
- :class:`Labeler` (and :func:`label`) is the notebook widget built on a Dataset, reproducing
  the ModelArts "Label Data" page.

Labels are kept as a ModelArts manifest with an append-only journal in a local folder, any S3
store or Huawei OBS; every action is saved the moment it happens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .dataset import DELETE_MODES, Dataset
from .errors import (
    FormatError,
    ImageDecodeError,
    InvalidLabelError,
    LabelerError,
    ManifestError,
    SelfReviewError,
    StoreAccessError,
    StoreError,
    StoreNotFoundError,
    StoreUnavailableError,
    UndoError,
    UnknownImageError,
    UnknownLabelError,
    UnsafePathError,
    UploadError,
)
from .journal import SaveStatus
from .names import validate_label
from .results import ActionResult, Change, Readiness, SyncSummary, UploadResult

if TYPE_CHECKING:
    from .widget import Labeler, label

__version__ = "0.1.0"

__all__ = [
    "DELETE_MODES",
    "ActionResult",
    "Change",
    "Dataset",
    "FormatError",
    "ImageDecodeError",
    "InvalidLabelError",
    "Labeler",
    "LabelerError",
    "ManifestError",
    "Readiness",
    "SaveStatus",
    "SelfReviewError",
    "StoreAccessError",
    "StoreError",
    "StoreNotFoundError",
    "StoreUnavailableError",
    "SyncSummary",
    "UndoError",
    "UnknownImageError",
    "UnknownLabelError",
    "UnsafePathError",
    "UploadError",
    "UploadResult",
    "__version__",
    "label",
    "validate_label",
]


def __getattr__(name: str) -> Any:
    # The widget (and with it ipywidgets) loads only when asked for, so that scripts and the
    # command line that use the Dataset alone start fast.
    if name in {"Labeler", "label"}:
        from . import widget

        return getattr(widget, name)
    raise AttributeError(f"module 'jupyter_labeler' has no attribute {name!r}")
