"""Groups of look-alike images: k-means on their feature vectors, numbered stably.

:func:`groups` puts every image (a row of features) in one of ``k`` groups, so that a group can
be looked at, and labeled, at once. Below :data:`MINI_BATCH_FROM` (20,000) images it runs
scikit-learn's ``KMeans`` (30 starts up to 5,000 images, 9 above; the least inertia kept). From there on, the centres come from
a sample of at most :data:`FIT_SAMPLE` (100,000) images: ``MiniBatchKMeans`` three times,
each run polished by a few full k-means steps, the run with the least inertia kept; then every
image goes to its nearest centre. A million images of 64 numbers take 3 s on two cores
(k = 20; 13 s with the cores shared with other work), where full k-means on all of them took
minutes, and MiniBatchKMeans on all of them draws each batch from every row (a cost a step
that grows with them).

Choosing k (``k=None``): the k of 2 to :data:`K_MAX` (fewer with fewer distinct vectors) whose
k-means on a sample of at most :data:`SAMPLE` images has the highest silhouette (the mean, over
the sample, of (b - a) / max(a, b), a: mean distance to the own group, b: to the nearest other).
On separated clusters it finds their number; the silhouettes tried are in
``attrs["silhouettes"]``. Where the vectors have no clear clusters, pass k: more groups than
labels keep each group purer, and a label applied to a group is easier to check.

Stable numbering: group 0 is the largest, then by size; groups of equal size are ordered by
their centres (the members' mean, compared number by number). The same vectors, in whatever
order, give every vector the same group number: before clustering, the rows are put in an order
of their own (by a hash of their numbers), so that k-means' random start (seeded by
``random_state``) picks the same vectors whatever order they came in. Rows with the same numbers
are the same vector: they always share a group.

``k`` larger than the number of distinct vectors becomes that number (each its own group);
no images gives an empty result.

Example::

    group = groups(vectors, ids=image_ids)          # a Series: image id -> group number
    group.attrs["sizes"], group.attrs["representatives"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FIT_SAMPLE", "K_MAX", "MINI_BATCH_FROM", "SAMPLE", "groups"]

K_MAX = 30
SAMPLE = 3000  # images the silhouette of each k is measured on, at most
MINI_BATCH_FROM = 20_000
# From MINI_BATCH_FROM images on, the centres are found on a sample of at most this many, and
# every image then goes to its nearest centre. MiniBatchKMeans draws every batch from all the
# rows it is given (0.05 s a step at a million rows, 20 s a fit), and a million images'
# centres differ little from a hundred thousand's: the same groups on planted clusters.
FIT_SAMPLE = 100_000
_RUNS = 3
_SMALL = 5000  # up to this many images, k-means restarts _STARTS_SMALL times
_STARTS_SMALL = 30
_POLISH = 20  # full k-means steps after each MiniBatchKMeans run
_BLOCK = 65_536  # rows whose distances to the centres are computed at a time
_BATCH = 4096  # MiniBatchKMeans' batch: larger than its 1,024 default, steadier centres
_HASH_BYTES = 1 << 21  # bytes of rows hashed (or summed) at a time


def _vectors(features: Any) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x numbers), not {x.ndim}-D")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"features must be real numbers, not {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features must be finite numbers (no NaN or inf)")
    return x


def _row_hash(x: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each row's numbers (their float32 bits; -0.0 counts as 0.0)."""
    n, dim = x.shape
    h = np.full(n, 0xCBF29CE484222325, np.uint64)
    # A block of rows at a time, so that walking its columns stays in the cache.
    step = max(1, _HASH_BYTES // (4 * max(dim, 1)))
    with np.errstate(over="ignore"):
        for a in range(0, n, step):
            bits = x[a : a + step] + np.float32(0)  # adding 0 turns -0.0 into 0.0
            if dim % 2:
                bits = np.concatenate([bits, np.zeros((len(bits), 1), np.float32)], axis=1)
            part = h[a : a + step]
            for column in np.ascontiguousarray(bits).view(np.uint64).T:
                part ^= column
                part *= np.uint64(0x100000001B3)
                part ^= part >> np.uint64(29)
    return h


def _nearest(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Each row's nearest centre, a block of rows at a time."""
    label = np.empty(len(x), np.int64)
    c = np.asarray(centres, np.float32)
    cc = (c * c).sum(axis=1)
    for a in range(0, len(x), _BLOCK):
        label[a : a + _BLOCK] = (cc - 2 * x[a : a + _BLOCK] @ c.T).argmin(axis=1)
    return label


def _means(x: np.ndarray, label: np.ndarray, k: int) -> np.ndarray:
    """Each group's mean vector, summed in float64 a block of rows at a time."""
    from scipy.sparse import csr_matrix

    sums = np.zeros((k, x.shape[1]), np.float64)
    step = max(1, _HASH_BYTES // (8 * max(x.shape[1], 1)))
    for a in range(0, len(x), step):
        block = label[a : a + step]
        member = csr_matrix(
            (np.ones(len(block)), (block, np.arange(len(block)))), shape=(k, len(block))
        )
        sums += member @ x[a : a + step].astype(np.float64)
    return sums / np.maximum(np.bincount(label, minlength=k), 1)[:, None]


def _kmeans(x: np.ndarray, k: int, random_state: int) -> np.ndarray:
    """Group of each row of ``x`` (already in its own order) by k-means."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if k == 1:
        return np.zeros(len(x), np.int64)
    if len(x) < MINI_BATCH_FROM:
        # Restarts are cheap here and k-means' local minima are not: on the 300 demo scenes
        # (k = 7), three starts kept a solution with two kinds merged for two seeds in five
        # (purity 0.86); thirty found the least inertia, and every kind apart, for all five.
        starts = _STARTS_SMALL if len(x) <= _SMALL else _RUNS * 3
        model: Any = KMeans(n_clusters=k, n_init=starts, random_state=random_state)
        return np.asarray(model.fit_predict(x), np.int64)
    rng = np.random.default_rng(random_state)
    sample = (
        x if len(x) <= FIT_SAMPLE else x[np.sort(rng.choice(len(x), FIT_SAMPLE, replace=False))]
    )
    # MiniBatchKMeans' own restarts (n_init) only choose among starting points; a run can still
    # end with two clusters merged. Three runs to the end, each polished by a few full k-means
    # steps, and the best kept, gave the same groups whatever the seed (one run did not).
    best: tuple[float, np.ndarray] | None = None
    for run in range(_RUNS):
        rough = MiniBatchKMeans(
            n_clusters=k,
            batch_size=_BATCH,
            n_init=1,
            random_state=random_state * _RUNS + run,
            compute_labels=False,
        ).fit(sample)
        polished = KMeans(
            n_clusters=k, init=rough.cluster_centers_, n_init=1, max_iter=_POLISH
        ).fit(sample)
        if best is None or polished.inertia_ < best[0]:
            best = (float(polished.inertia_), polished.cluster_centers_)
    assert best is not None
    return _nearest(x, best[1])


def _choose_k(x: np.ndarray, k_max: int, random_state: int) -> tuple[int, dict[int, float]]:
    """The k of 2..k_max with the best silhouette on a sample of ``x``, and every score."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import pairwise_distances, silhouette_score

    rng = np.random.default_rng(random_state)
    sample = x if len(x) <= SAMPLE else x[np.sort(rng.choice(len(x), SAMPLE, replace=False))]
    distinct = len(np.unique(_row_hash(sample)))
    # The sample's distances once (SAMPLE^2 float32: 36 MB), not again for every k.
    distances = pairwise_distances(sample).astype(np.float32)
    np.fill_diagonal(distances, 0)
    scores: dict[int, float] = {}
    for k in range(2, min(k_max, distinct - 1) + 1):
        label = KMeans(n_clusters=k, n_init=1, random_state=random_state).fit_predict(sample)
        score = silhouette_score(distances, label, metric="precomputed")
        scores[k] = round(float(score), 4)
    if not scores:
        return min(2, distinct), scores
    # Highest score; among scores within rounding of it, the smaller k.
    return max(scores, key=lambda k: (scores[k], -k)), scores


def groups(
    features: Any,
    k: int | None = None,
    *,
    ids: Sequence[Any] | np.ndarray | pd.Index | None = None,
    random_state: int = 0,
    k_max: int = K_MAX,
) -> pd.Series:
    """The group of every image: k-means on ``features`` (n, d), numbered largest first.

    ``k`` groups, or (None) the k of 2 to ``k_max`` with the best silhouette (see the module
    docstring). ``ids`` (n values) index the result, else row positions (index name ``row``).

    Returns a Series of group numbers (int64, name ``group``), one a row, in the input's order.
    ``attrs``: ``k`` (groups made), ``sizes`` (images in each group, by group number),
    ``representatives`` (each group's member nearest its centre: an id, or a row position),
    ``method`` ("KMeans" or "MiniBatchKMeans") and, when k was chosen, ``silhouettes`` (k ->
    score on the sample).
    """
    from threadpoolctl import threadpool_limits

    x = _vectors(features)
    n = len(x)
    if ids is None:
        index = pd.RangeIndex(n, name="row")
        id_array: np.ndarray | None = None
    else:
        id_array = (
            np.asarray(ids, dtype=object) if not isinstance(ids, pd.Index) else ids.to_numpy()
        )
        if id_array.ndim != 1 or len(id_array) != n:
            raise ValueError(f"ids must be {n} values, one a row of features")
        index = pd.Index(id_array, name="image_id")
    if k is not None and (not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1):
        raise ValueError(f"k must be a whole number, 1 or more, or None, not {k!r}")
    if not isinstance(k_max, int | np.integer) or k_max < 2:
        raise ValueError(f"k_max must be a whole number, 2 or more, not {k_max!r}")
    method = "KMeans" if n < MINI_BATCH_FROM else "MiniBatchKMeans"
    if not n:
        out = pd.Series(np.zeros(0, np.int64), index=index, name="group")
        out.attrs.update(k=0, sizes=[], representatives=[], method=method)
        return out
    # An order of the rows' own: the same vectors in any order are clustered alike.
    h = _row_hash(x)
    own = np.argsort(h)
    if id_array is not None:
        # Equal hashes are equal vectors (or a 1 in 2^64 collision): order them by id too, so
        # that which of them represents a group does not depend on the input order either.
        own = np.lexsort((id_array.astype(str), h))
    xs = x[own]
    distinct = int((np.diff(h[own]) != 0).sum()) + 1
    attrs: dict[str, Any] = {"method": method}
    # One thread: on two cores shared with other work, k-means' threads waiting for each
    # other made small fits five to ten times slower, and the large one gains little from them.
    with threadpool_limits(limits=1):
        if k is None:
            k, attrs["silhouettes"] = _choose_k(xs, int(k_max), random_state)
        k = min(int(k), distinct)
        label = _kmeans(xs, k, random_state)
    # Number the groups: largest first, equal sizes by their centres, number by number.
    present = np.unique(label)
    label = np.searchsorted(present, label)
    k = len(present)
    sizes = np.bincount(label, minlength=k)
    centres = _means(xs, label, k)
    rank = np.lexsort((*np.round(centres, 6).T[::-1], -sizes))
    number = np.empty(k, np.int64)
    number[rank] = np.arange(k)
    label = number[label]
    sizes = sizes[rank]
    centres = centres[rank]
    # Representatives: the member nearest its group's centre (the first in the own order on a tie).
    distance = np.empty(n, np.float32)
    near = centres.astype(np.float32)
    for a in range(0, n, _BLOCK):
        d = xs[a : a + _BLOCK] - near[label[a : a + _BLOCK]]
        distance[a : a + _BLOCK] = (d * d).sum(axis=1)
    order = np.lexsort((np.arange(n), distance, label))
    first = order[np.searchsorted(label[order], np.arange(k))]
    rows = own[first]
    representatives = (rows if id_array is None else id_array[rows]).tolist()
    group = np.empty(n, np.int64)
    group[own] = label
    out = pd.Series(group, index=index, name="group")
    attrs.update(k=k, sizes=sizes.tolist(), representatives=representatives)
    out.attrs.update(attrs)
    return out
