"""Suggestions from the labeled images' features, "more like these", and the least certain.

A scikit-learn logistic regression is fitted on the labeled images' feature vectors: one
multinomial model when (nearly) every labeled image has one label, one-vs-rest when more than
2% have several (each label then has its own probability, and an image may get several; below
that share, an image with several labels trains each of them in the multinomial model). Labels
with fewer than ``min_per_label`` images with features take no part (the result's
``attrs["not_suggested"]`` names them): a handful of examples gives confident, wrong answers;
so do labels that every image trained on carries (nothing to tell them from), named there too.
With two labels, scikit-learn's one row of weights (for the second) becomes two opposite rows,
so that the softmax gives its sigmoid: one product predicts every case.
Each label trains on at most ``PER_LABEL`` (2,000) of its images, chosen by a hash of their ids,
so a fit takes about as long at 10,000 labeled images as at a million; it runs on one thread.
Predicting is a float32 product with the fitted weights, a block of rows at a time.

Similarity search works on a compact copy of the vectors, a reduced dimension: stored as 256
float16 numbers, they are projected on their first 64 principal components (fitted on at most
20,000 of them; for longer vectors, up to 4,096 numbers, by a randomized SVD of a sample whose
cost does not grow with their length), normalised again, and kept as float32 (256 bytes an
image: 256 MB for a million, a quarter of the float32 originals; float16 would halve that
again but costs a conversion per search, which doubles its time). A query is the mean of the
given images' vectors; the search is one matrix-vector product and a partial sort. Suggestions
use the same compact vectors: as right as the full ones on the demo images and on scanned
digits, and a million images are scored in a fraction of a second instead of seconds of float16
conversion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .features import Features

__all__ = [
    "SimilarityIndex",
    "Suggester",
    "accept_ops",
    "fit",
    "index_of",
    "least_certain",
    "similar",
    "similar_table",
    "suggestions",
]

log = logging.getLogger(__name__)

INDEX_DIM = 64
_PCA_SAMPLE = 20_000
# Principal axes of vectors up to this long (the built-in ones) come from the covariance of the
# sample (dim x dim) and its eigenvectors: exact and cheap there, but dim^2 numbers and dim^3
# steps for longer vectors (4,096 numbers took minutes). Longer vectors get a randomized SVD of
# a sample of at most _PCA_NUMBERS numbers: a fixed cost, whatever dim (0.2-0.4 s on 2 cores).
_EXACT_DIM = 256
_PCA_NUMBERS = 1 << 21
_BLOCK = 262_144  # rows converted to float32 at a time
# Inverse regularisation. The descriptors are unit vectors, so their logits are small: a strong
# prior (C ~ 10) keeps every probability near 1 / labels. At 1000, a confidence of 0.9 or more
# is right 99% of the time on the demo images and on scanned digits with 5 examples a label,
# and covers most images (see benchmarks/bench_assist.py); accuracy barely moves from 100 on.
_C = 1000.0
# Images trained on per label, at most. On overlapping clusters with 6,000 labeled a label (10
# labels, 64 dimensions), 2,000 a label is as accurate as every image (59.2% vs 59.3% top-1,
# 94.4% vs 94.8% right at >= 0.9) in half the fit time; 1,000 loses a point, 500 two.
PER_LABEL = 2000
# One-vs-rest when more than this share of the labeled images have several labels.
_MULTI_SHARE = 0.02


def _float32(vectors: np.ndarray) -> np.ndarray:
    return np.asarray(vectors, dtype=np.float32)


@dataclass
class Suggester:
    """A fitted model: the labels it knows, and whether each image gets one label or several.

    ``weights`` (labels, dim) and ``bias`` are the fitted linear model in float32: predicting is
    one product and a softmax (one label) or a sigmoid per label (several), a block at a time.
    """

    model: Any
    labels: list[str]
    multi_label: bool
    not_suggested: list[str]
    weights: np.ndarray
    bias: np.ndarray

    def probabilities(self, vectors: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """(n, labels) probabilities of ``vectors`` (or of ``vectors[rows]``), in blocks so that
        a million rows stay small in memory and are never copied whole."""
        n = len(vectors) if rows is None else len(rows)
        out = np.empty((n, len(self.labels)), np.float32)
        for a in range(0, n, _BLOCK):
            block = vectors[a : a + _BLOCK] if rows is None else vectors[rows[a : a + _BLOCK]]
            z = _float32(block) @ self.weights.T
            z += self.bias
            if self.multi_label:
                np.negative(z, out=z)
                np.exp(z, out=z)
                z += 1
                np.reciprocal(z, out=z)
            else:
                z -= z.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
            out[a : a + len(block)] = z
        return out

    def table(
        self, ids: np.ndarray, vectors: np.ndarray, rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """Suggestions for these images (their ``vectors``, or ``vectors[rows]``): index
        image_id; label, confidence (best first per image)."""
        proba = self.probabilities(vectors, rows)
        n, k = proba.shape
        if not self.multi_label:
            best = proba.argmax(axis=1) if k else np.zeros(n, np.int64)
            rows = np.arange(n)
            which = best
            conf = proba[rows, best] if k else np.zeros(n, np.float32)
        else:
            chosen = proba >= 0.5
            top = proba.argmax(axis=1)
            chosen[np.arange(n), top] = True  # every image gets at least its likeliest label
            rows, which = np.nonzero(chosen)
            conf = proba[rows, which]
            order = np.lexsort((-conf, rows))
            rows, which, conf = rows[order], which[order], conf[order]
        names = np.asarray(self.labels, dtype=object)
        frame = pd.DataFrame(
            {
                "label": pd.array(names[which] if len(which) else [], dtype=object),
                "confidence": conf.astype(np.float64),
            },
            index=pd.Index(ids[rows] if len(rows) else [], name="image_id", dtype=object),
        )
        frame.attrs["not_suggested"] = list(self.not_suggested)
        return frame

    def certainty(self, vectors: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """How sure the model is of each image: its top probability (one label), or the least
        decided of its labels (several: max(p, 1 - p) of the one nearest 0.5)."""
        proba = self.probabilities(vectors, rows)
        if not proba.shape[1]:
            return np.zeros(len(proba), np.float32)
        if not self.multi_label:
            return proba.max(axis=1)
        return np.maximum(proba, 1 - proba).min(axis=1)


def training_sample(pairs: pd.DataFrame, per_label: int = PER_LABEL) -> np.ndarray:
    """Which rows of ``pairs`` (image_id, label) to train on: every annotation of the images
    chosen, where each label chooses at most ``per_label`` of its images.

    The choice is by a hash of the image id, so it depends on the data alone (not on the order
    of the rows or on a random state), and labeling one more image changes it by one image at
    most per label. Every label keeps min(its count, per_label) images.
    """
    if not len(pairs):
        return np.zeros(0, bool)
    ids = pairs["image_id"].to_numpy(dtype=object)
    rank = (
        pd.DataFrame({"label": pairs["label"].to_numpy(), "key": pd.util.hash_array(ids)})
        .groupby("label", sort=False)["key"]
        .rank(method="first")
        .to_numpy()
    )
    return np.asarray(pd.Index(ids, dtype=object).isin(ids[rank <= per_label]), dtype=bool)


def fit(pairs: pd.DataFrame, features: Features, *, min_per_label: int = 5) -> Suggester | None:
    """Fit on ``pairs`` (columns image_id, label: one row per annotation) and their features.

    None when fewer than two labels have ``min_per_label`` images with features (nothing to
    tell apart). At most :data:`PER_LABEL` images a label are trained on (see
    :func:`training_sample`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from threadpoolctl import threadpool_limits

    rows = features.rows(pairs["image_id"].tolist())
    usable = rows >= 0
    usable[usable] = features.ok[rows[usable]]
    pairs = pairs[usable]
    rows = rows[usable]
    counts = pairs["label"].value_counts()
    every = list(dict.fromkeys(pairs["label"].tolist()))
    labels = [name for name in every if counts.get(name, 0) >= min_per_label]
    not_suggested = [name for name in every if name not in labels]
    if not_suggested:
        log.info(
            "suggestions: fewer than %d labeled images with features, so not suggested: %s",
            min_per_label,
            ", ".join(not_suggested),
        )
    if len(labels) < 2:
        return None
    keep = pairs["label"].isin(labels).to_numpy()
    pairs, rows = pairs[keep], rows[keep]
    chosen = training_sample(pairs, PER_LABEL)
    # A label that every image trained on carries has nothing to be told apart from: its
    # model would say 100% for every image (and scikit-learn fits no weights for it at all).
    sample = pairs[chosen].drop_duplicates()
    on_every = sample.groupby("label", sort=False).size()
    everywhere = set(on_every.index[on_every == int(sample["image_id"].nunique())])
    if everywhere:
        log.info(
            "suggestions: every labeled image has %s, so not suggested",
            ", ".join(sorted(everywhere)),
        )
        not_suggested += [name for name in labels if name in everywhere]
        labels = [name for name in labels if name not in everywhere]
        if len(labels) < 2:
            return None
        keep = pairs["label"].isin(labels).to_numpy()
        pairs, rows, chosen = pairs[keep], rows[keep], chosen[keep]
    per_image = pairs.groupby("image_id", sort=False).size()
    several = int((per_image > 1).sum())
    # A few images with several labels in a set of single labels (a slip, or a rare overlap)
    # train each of their labels in the one multinomial model; one-vs-rest, where each label
    # has its own probability and an image may get several, is for sets where it is common.
    multi_label = several > _MULTI_SHARE * len(per_image)
    pairs, rows = pairs[chosen], rows[chosen]
    code = {name: i for i, name in enumerate(labels)}
    compact = index_of(features).vectors
    # Thousands of rows of 64 numbers: threads gain nothing, and on a busy machine their
    # waiting (BLAS and OpenMP) made the same fit ten to twenty times slower.
    with threadpool_limits(limits=1):
        if not multi_label:
            x = compact[rows]
            y = pairs["label"].map(code).to_numpy(dtype=np.int64)
            model: Any = LogisticRegression(C=_C, max_iter=2000)
            model.fit(x, y)
            weights, bias = model.coef_, model.intercept_
            if len(weights) == 1:
                # Two labels: scikit-learn keeps one row of weights, for the second label, and
                # its probability is sigmoid(z) = softmax([-z / 2, z / 2]) of the second.
                weights = np.concatenate([-weights / 2, weights / 2])
                bias = np.concatenate([-bias / 2, bias / 2])
        else:
            # Every labeled image trains every label: it is a negative for the labels it lacks.
            image_rows, inverse = np.unique(rows, return_inverse=True)
            y = np.zeros((len(image_rows), len(labels)), np.int64)
            y[inverse, [code[n] for n in pairs["label"]]] = 1
            x = compact[image_rows]
            model = OneVsRestClassifier(LogisticRegression(C=_C, max_iter=2000))
            model.fit(x, y)
            weights = np.concatenate([e.coef_ for e in model.estimators_])
            bias = np.concatenate([e.intercept_ for e in model.estimators_])
    return Suggester(
        model,
        labels,
        multi_label,
        not_suggested,
        np.ascontiguousarray(weights, dtype=np.float32),
        np.ascontiguousarray(bias, dtype=np.float32),
    )


# -- similarity ------------------------------------------------------------------------------------
class SimilarityIndex:
    """Unit vectors of at most ``INDEX_DIM`` dimensions (float32), searched by cosine similarity."""

    def __init__(self, vectors: np.ndarray, ok: np.ndarray | None = None) -> None:
        n, dim = vectors.shape
        most = _PCA_SAMPLE
        if dim > _EXACT_DIM:
            most = max(4 * INDEX_DIM, min(_PCA_SAMPLE, _PCA_NUMBERS // dim))
        sample = _float32(vectors[:: max(1, n // most)] if n else vectors)
        self.mean = sample.mean(axis=0) if n else np.zeros(dim, np.float32)
        self.basis: np.ndarray | None = None
        if dim > INDEX_DIM and len(sample) > INDEX_DIM:
            self.basis = np.ascontiguousarray(_principal_axes(sample - self.mean), np.float32)
        self.vectors = np.empty((n, self.dim), np.float32)
        # As many numbers a block as 256-number vectors take: longer vectors, fewer rows.
        step = max(1, min(_BLOCK, _BLOCK * 256 // max(dim, 1)))
        for a in range(0, n, step):
            self.vectors[a : a + step] = self.project(vectors[a : a + step])
        # Undecodable images are never an answer.
        self.ok = np.ones(n, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
        self.vectors[~self.ok] = 0

    @property
    def dim(self) -> int:
        return self.basis.shape[1] if self.basis is not None else len(self.mean)

    def project(self, vectors: np.ndarray) -> np.ndarray:
        x = _float32(vectors)
        if self.basis is not None:
            x = (x - self.mean) @ self.basis
        norm = np.sqrt((x * x).sum(axis=1, keepdims=True))
        return x / np.maximum(norm, 1e-12)

    def scores(self, query_rows: Sequence[int]) -> np.ndarray:
        """Cosine similarity of every row to the mean of ``query_rows``."""
        q = self.vectors[np.asarray(query_rows, dtype=np.int64)].mean(axis=0)
        q /= max(float(np.sqrt(q @ q)), 1e-12)
        return self.vectors @ q


def _principal_axes(centred: np.ndarray) -> np.ndarray:
    """The first :data:`INDEX_DIM` principal axes (dim, INDEX_DIM) of centred rows."""
    if centred.shape[1] <= _EXACT_DIM:
        # From the covariance (dim x dim): far cheaper than an SVD of the sample.
        _, axes = np.linalg.eigh(centred.T @ centred)
        return np.asarray(axes[:, ::-1][:, :INDEX_DIM])
    from sklearn.utils.extmath import randomized_svd

    # Halko, Martinsson and Tropp's range finder: a few products with the sample, and an SVD
    # of a (INDEX_DIM + 10) x dim matrix. Seeded: the same vectors give the same index.
    _, _, axes = randomized_svd(centred, INDEX_DIM, n_oversamples=10, n_iter=2, random_state=0)
    return np.asarray(axes.T)


def index_of(features: Features) -> SimilarityIndex:
    """The compact vectors of ``features``, made once per loaded set of features."""
    if not isinstance(features.search_index, SimilarityIndex):
        features.search_index = SimilarityIndex(features.vectors, features.ok)
    return features.search_index


def similar(
    index: SimilarityIndex,
    query_rows: Sequence[int],
    k: int,
    allowed: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``k`` nearest (cosine distance), nearest first, and their distances.

    ``allowed(rows) -> bool array`` filters candidates (a view); the query rows never come back.
    """
    scores = index.scores(query_rows)
    scores[np.asarray(query_rows, dtype=np.int64)] = -np.inf
    scores[~index.ok] = -np.inf
    n = len(scores)
    m = min(n, max(4 * k, k + 64))
    while True:
        top = np.argpartition(-scores, m - 1)[:m] if m < n else np.arange(n)
        top = top[np.isfinite(scores[top])]
        if allowed is not None and len(top):
            top = top[allowed(top)]
        if len(top) >= k or m >= n:
            break
        m = min(n, m * 8)
    top = top[np.argsort(-scores[top], kind="stable")][:k]
    return top, (1.0 - scores[top]).astype(np.float64)


# -- what the Dataset asks for ----------------------------------------------------------------------
def _empty() -> pd.DataFrame:
    return pd.DataFrame(
        {"label": pd.array([], dtype=object), "confidence": np.zeros(0)},
        index=pd.Index([], name="image_id", dtype=object),
    )


def _usable(features: Features, ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The ids with decodable features, and their rows."""
    ids_array = np.asarray(
        ids if isinstance(ids, pd.Index | np.ndarray) else list(ids), dtype=object
    )
    rows = features.rows(ids_array)
    keep = rows >= 0
    keep[keep] = features.ok[rows[keep]]
    return ids_array[keep], rows[keep]


def suggestions(model: Suggester | None, features: Features, ids: Sequence[str]) -> pd.DataFrame:
    """The suggestion table of ``ids`` (those with features); empty without a model."""
    if model is None:
        return _empty()
    ids_array, rows = _usable(features, ids)
    return model.table(ids_array, index_of(features).vectors, rows)


def least_certain(
    model: Suggester | None, features: Features, ids: Sequence[str], n: int
) -> pd.DataFrame:
    """The ``n`` of ``ids`` the model is least sure of, least sure first, with their best label."""
    if model is None:
        return _empty()
    ids_array, rows = _usable(features, ids)
    compact = index_of(features).vectors
    certainty = model.certainty(compact, rows)
    pick = np.argsort(certainty, kind="stable")[: max(0, int(n))]
    table = model.table(ids_array[pick], compact, rows[pick])
    table = table[~table.index.duplicated(keep="first")]
    return table.assign(certainty=certainty[pick].astype(np.float64))


def accept_ops(table: pd.DataFrame, author: str, now: str) -> list[dict[str, Any]]:
    """``label+`` operations for a suggestion table: one per label, each annotation keeping
    its confidence (a ModelArts annotation field) in ``extra``."""
    ops = []
    for label, part in table.groupby("label", sort=False):
        ids = part.index.tolist()
        conf = part["confidence"].round(4).tolist()
        ops.append(
            {
                "op": "label+",
                "label": str(label),
                "ids": ids,
                "by": author,
                "at": now,
                "extra": {i: {"confidence": c} for i, c in zip(ids, conf, strict=True)},
            }
        )
    return ops


def similar_table(
    features: Features, ids: list[str], k: int, in_view: Any, dim: int = INDEX_DIM
) -> pd.DataFrame:
    """The table of :meth:`Dataset.similar`: the ``k`` nearest of the view, nearest first."""
    from .errors import UnknownImageError

    if not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be a whole number, 0 or more, not {k!r}")
    rows = features.rows(ids)
    if (rows < 0).any():
        raise UnknownImageError([i for i, r in zip(ids, rows.tolist(), strict=True) if r < 0])
    index = index_of(features)

    def allowed(candidates: np.ndarray) -> np.ndarray:
        return np.asarray(in_view(features.ids[candidates].tolist()), dtype=bool)

    top, distance = similar(index, rows.tolist(), k, allowed) if k and len(ids) else ([], [])
    return pd.DataFrame(
        {"distance": np.asarray(distance, dtype=np.float64)},
        index=pd.Index(
            features.ids[np.asarray(top, dtype=np.int64)], name="image_id", dtype=object
        ),
    )
