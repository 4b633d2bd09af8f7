"""Assisted labeling: feature vectors, suggested labels, similar images and duplicates.

The functions take a Dataset and use its public methods, plus its :class:`FeatureCache`
(``Dataset.feature_cache``): the stores and the few callbacks that the public methods do not
offer, and what is kept between calls (features read, models fitted). The work itself is in
:mod:`jupyter_labeler.features` (computing and storing vectors), :mod:`jupyter_labeler.suggest`
(the models) and :mod:`jupyter_labeler.duplicates`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import duplicates as _duplicates
from . import features, views
from . import suggest as _suggest
from .errors import LabelerError
from .plan import Plan
from .results import ActionResult, Change, touched
from .state import State
from .storage import Store
from .times import now
from .words import plural

if TYPE_CHECKING:
    from .dataset import Dataset

__all__ = [
    "FeatureCache",
    "accept_suggestions",
    "compute_features",
    "duplicates",
    "feature_batch",
    "has_features",
    "similar",
    "suggest",
    "uncertain",
]


@dataclass
class FeatureCache:
    """What assisted labeling needs of a Dataset besides its public methods, and keeps.

    The Dataset makes one, the first time it is asked (``Dataset.feature_cache``). Features
    read are kept per embedder and read again only when their files change; a fitted model
    is kept until the dataset or the features it was fitted on change.
    """

    source: Store  # where the images are
    output: Store  # where features/<embedder>/ is kept
    images: Callable[[], features.Batch]  # every image of the dataset: ids, paths and sizes
    known: Callable[[np.ndarray], np.ndarray]  # ids -> whether each is an image of the dataset
    revision: Callable[[], object]  # changes with every change of the images or labels
    report: Callable[[Iterable[str]], object]  # problems met: each is said once
    loaded: dict[str, features.Features] = field(default_factory=dict)
    # (embedder, min_per_label) -> ((revision, feature files), model)
    fitted: dict[tuple[str, int], tuple[tuple[object, frozenset[str]], Any]] = field(
        default_factory=dict
    )

    def load(self, embedder: str) -> features.Features | None:
        """The stored features of ``embedder`` (None when there are none); a file skipped as
        bad is reported once."""
        found = features.FeatureStore(self.output, embedder).load(
            self.loaded.get(embedder), known=self.known
        )
        if found is not None:
            self.loaded[embedder] = found
            self.report(found.problems)
        return found

    def require(self, embedder: str) -> features.Features:
        """The stored features of ``embedder``; :class:`~.errors.LabelerError` when none."""
        found = self.load(embedder)
        if found is None or not len(found):
            raise LabelerError(f"no {embedder} features yet: call compute_features() first")
        return found


def feature_cache_of(dataset: Dataset) -> FeatureCache:
    """The :class:`FeatureCache` of ``dataset``: its stores, and its images and revision read
    from its replica under the replica's lock."""
    replica = dataset.replica

    def images() -> features.Batch:
        with replica.lock:
            return feature_batch(replica.state)

    def revision() -> object:
        with replica.lock:
            return views.revision(replica.state)

    return FeatureCache(
        dataset.source,
        dataset.output,
        images=images,
        known=dataset.in_view,
        revision=revision,
        report=replica.note_problems,
    )


def feature_batch(state: State) -> features.Batch:
    """Every image of ``state`` as features are computed for them (call with its lock held)."""
    codes = state.view_codes("all")
    return features.Batch(
        state.ids[codes].tolist(), state.paths[codes].tolist(), state.sizes[codes].tolist()
    )


def compute_features(
    dataset: Dataset,
    embedder: str | features.Embedder = features.BUILTIN,
    *,
    name: str | None = None,
    client: Any = None,
    progress: Callable[[int, int], None] | bool | None = None,
    batch_size: int = features.BATCH_SIZE,
) -> features.ComputeSummary:
    """See ``Dataset.compute_features``."""
    cache = dataset.feature_cache
    key = features.embedder_name(embedder, name)
    return features.compute(
        cache.source,
        cache.output,
        cache.images(),
        embedder,
        name=key,
        client=client,
        progress=progress,
        batch_size=batch_size,
        existing=cache.load(key),
        known=cache.known,
    )


def has_features(dataset: Dataset, embedder: str = features.BUILTIN) -> bool:
    """Whether any features of ``embedder`` are stored (one listing of the store)."""
    return bool(features.FeatureStore(dataset.feature_cache.output, embedder).files())


def _model(
    dataset: Dataset, min_per_label: int, embedder: str
) -> tuple[_suggest.Suggester | None, features.Features]:
    """The model fitted on the labeled images' features, and those features; fitted again
    only when the labels or the features changed."""
    cache = dataset.feature_cache
    found = cache.require(embedder)
    # Taken before the labels are read: a change meanwhile makes the next call fit again.
    version = (cache.revision(), found.files)
    kept = cache.fitted.get((embedder, min_per_label))
    if kept is not None and kept[0] == version:
        return kept[1], found
    pairs = dataset.annotations()[["image_id", "label"]]
    model = _suggest.fit(pairs, found, min_per_label=min_per_label)
    cache.fitted[(embedder, min_per_label)] = (version, model)
    return model, found


def suggest(
    dataset: Dataset, min_per_label: int = 5, *, embedder: str = features.BUILTIN
) -> pd.DataFrame:
    """See ``Dataset.suggest``."""
    model, found = _model(dataset, min_per_label, embedder)
    return _suggest.suggestions(model, found, dataset.ids("unlabeled"))


def accept_suggestions(
    dataset: Dataset,
    ids: Iterable[str] | None = None,
    min_confidence: float = 0.9,
    *,
    min_per_label: int = 5,
    embedder: str = features.BUILTIN,
) -> Plan | ActionResult:
    """The plan of ``Dataset.accept_suggestions``, or the result saying that nothing is to do."""
    table = suggest(dataset, min_per_label, embedder=embedder)
    if ids is not None:
        table = table[table.index.isin(list(ids))]
    table = table[table["confidence"] >= min_confidence]
    ops = _suggest.accept_ops(table, dataset.author, now())
    if not ops:
        return ActionResult("accept_suggestions", 0, True, "no suggestion is that confident")
    n = int(table.index.nunique())
    return Plan(
        "accept_suggestions",
        ops,
        describe=f"Accepted {len(table)} suggestions for {plural(n, 'image')}",
        changed=n,
        change=Change("labels", touched(table.index.unique().tolist())),
    )


def uncertain(
    dataset: Dataset, n: int = 48, *, min_per_label: int = 5, embedder: str = features.BUILTIN
) -> pd.DataFrame:
    """See ``Dataset.uncertain``."""
    model, found = _model(dataset, min_per_label, embedder)
    return _suggest.least_certain(model, found, dataset.ids("unlabeled"), n)


def similar(
    dataset: Dataset,
    ids: Iterable[str] | str,
    k: int = 48,
    view: str = "unlabeled",
    *,
    embedder: str = features.BUILTIN,
) -> pd.DataFrame:
    """See ``Dataset.similar``."""
    found = dataset.feature_cache.require(embedder)
    if isinstance(ids, str):
        ids = [ids]
    dataset.in_view([], view)  # checks the view's name
    return _suggest.similar_table(found, list(ids), k, lambda c: dataset.in_view(c, view))


def duplicates(dataset: Dataset, max_distance: int = 4) -> pd.DataFrame:
    """See ``Dataset.duplicates``."""
    found = dataset.feature_cache.require(features.BUILTIN)
    live = dataset.paths()
    rows = found.rows(live.index.tolist())
    have = rows >= 0
    table = _duplicates.table(found, rows[have], max_distance)
    # Every image of the table is one of ``live``: its path comes from the same listing.
    usage = dataset.usage_of(table.index)
    table.insert(1, "path", pd.array(live.reindex(table.index).tolist(), dtype=object))
    table.insert(2, "usage", pd.array([usage.get(i, "") for i in table.index], dtype=object))
    return table
