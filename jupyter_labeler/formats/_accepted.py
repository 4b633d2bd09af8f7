"""An export's view of a dataset limited to the images a reviewer accepted.

The exporters read a dataset through a few read-only methods (``paths``, ``annotations``,
``usages``, ``images``, ``manifest_bytes``); this wrapper answers them for the accepted images
only and passes everything else to the dataset. Labels are never changed by an export.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ..dataset import Dataset

__all__ = ["AcceptedOnly"]


class AcceptedOnly:
    """``dataset`` as the exporters see it, holding only its accepted images."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        images = dataset.images
        if "review" in images.columns:
            self._ids = pd.Index(images.index[images["review"] == "accepted"])
        else:
            self._ids = pd.Index([], dtype=object, name="image_id")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dataset, name)

    def paths(self) -> pd.Series:
        paths = self._dataset.paths()
        return paths[paths.index.isin(self._ids)]

    def usages(self) -> pd.Series:
        usages = self._dataset.usages()
        return usages[usages.index.isin(self._ids)]

    def annotations(self) -> pd.DataFrame:
        table = self._dataset.annotations()
        return table[table["image_id"].isin(self._ids)].reset_index(drop=True)

    @property
    def images(self) -> pd.DataFrame:
        table = self._dataset.images
        return table[table.index.isin(self._ids)]

    def manifest_bytes(self) -> bytes:
        # One line per image in the order of paths(), then lines of no image of the dataset
        # (left out here: they were never accepted).
        lines = self._dataset.manifest_bytes().splitlines(keepends=True)
        order = self._dataset.paths().index
        keep = np.flatnonzero(order.isin(self._ids))
        return b"".join(lines[i] for i in keep.tolist())
