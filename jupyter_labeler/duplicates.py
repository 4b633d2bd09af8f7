"""Groups of exact (same bytes) and near (perceptual hash within a Hamming distance) duplicates.

The hashes come with the features (see :mod:`jupyter_labeler.features`): the first 128 bits of
each image's SHA-256, and a 64-bit DCT hash that survives re-encoding, resizing and small edits.
Near pairs are found without comparing every pair: split the 64 bits into ``max_distance + 1``
chunks; two hashes within that distance agree on at least one chunk (pigeonhole), so only
hashes sharing a chunk value are compared.

Memory grows with the number of images, whatever the hashes: hashes that share a chunk value are
compared a block at a time (at most :data:`_BLOCK` pairs at once), and the pairs found join
their groups a batch at a time, never kept as a list of every pair. Hashes crafted to share
their chunks (or all within the distance) cost time, not memory. Small buckets, the common
case, are compared all at once, without a Python loop over them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import Features

__all__ = ["MAX_DISTANCE", "group", "table"]

MAX_DISTANCE = 16
# Pairs of hashes compared at once (8 bytes each while compared), and pairs found held before
# they join their groups.
_BLOCK = 1 << 17
# Buckets up to this size are compared together, neighbour k of every member at step k.
_SMALL = 64


class _Union:
    """Groups of rows, joined a batch of pairs at a time; a group's root is its smallest row."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)

    def roots(self, rows: np.ndarray) -> np.ndarray:
        """The root of each of ``rows`` (whose parents then point straight at it)."""
        parent = self.parent
        found = parent[rows]
        while True:
            up = parent[found]
            if np.array_equal(up, found):
                break
            found = up
        parent[rows] = found
        return found

    def join(self, a: np.ndarray, b: np.ndarray) -> None:
        """Put rows ``a[i]`` and ``b[i]`` in one group, for every i."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        ra, rb = self.roots(np.asarray(a, np.int64)), self.roots(np.asarray(b, np.int64))
        differ = ra != rb
        if not differ.any():
            return
        ra, rb = ra[differ], rb[differ]
        nodes, inverse = np.unique(np.concatenate([ra, rb]), return_inverse=True)
        k = len(ra)
        graph = coo_matrix(
            (np.ones(k, np.int8), (inverse[:k], inverse[k:])), shape=(len(nodes), len(nodes))
        )
        _, label = connected_components(graph, directed=False)
        # ``nodes`` is sorted: the first node of each component is its smallest root.
        _, first = np.unique(label, return_index=True)
        self.parent[nodes] = nodes[first[label]]


class _Pairs:
    """Pairs found, joined in ``union`` (as ``targets[a]``, ``targets[b]``) a batch at a time."""

    def __init__(self, union: _Union, targets: np.ndarray) -> None:
        self.union = union
        self.targets = targets
        self.held: list[tuple[np.ndarray, np.ndarray]] = []
        self.count = 0

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        if not len(a):
            return
        if self.count + len(a) > _BLOCK:
            self.flush()
        self.held.append((a, b))
        self.count += len(a)

    def one_group(self, rows: np.ndarray) -> bool:
        """Whether these rows are all in one group already."""
        self.flush()
        roots = self.union.roots(self.targets[rows])
        return bool((roots == roots[0]).all())

    def flush(self) -> None:
        if self.held:
            a = np.concatenate([p[0] for p in self.held])
            b = np.concatenate([p[1] for p in self.held])
            self.held, self.count = [], 0
            self.union.join(self.targets[a], self.targets[b])


def _join_near(hashes: np.ndarray, max_distance: int, pairs: _Pairs) -> None:
    """Add every pair of rows of distinct ``hashes`` (uint64) within ``max_distance`` bits."""
    n = len(hashes)
    if n < 2 or max_distance <= 0:
        return
    pieces = max_distance + 1
    edges = np.linspace(0, 64, pieces + 1).astype(np.int64)
    position = np.arange(n)
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        mask = np.uint64((1 << (hi - lo)) - 1)
        chunk = (hashes >> np.uint64(lo)) & mask
        order = np.argsort(chunk, kind="stable")
        sorted_chunk = chunk[order]
        starts = np.flatnonzero(np.r_[True, sorted_chunk[1:] != sorted_chunk[:-1]])
        stops = np.r_[starts[1:], n]
        sizes = stops - starts
        small = sizes <= _SMALL
        # Small buckets: step k compares every member with the k-th after it in its bucket.
        stop_of = np.repeat(stops, sizes)
        step = 1
        live = position[np.repeat(small, sizes) & (stop_of - position > step)]
        while len(live):
            a, b = order[live], order[live + step]
            near = np.bitwise_count(hashes[a] ^ hashes[b]) <= max_distance
            pairs.add(a[near], b[near])
            step += 1
            live = live[stop_of[live] - live > step]
        # Large buckets: a block of members against those after them, within _BLOCK pairs.
        for start, stop in zip(starts[~small].tolist(), stops[~small].tolist(), strict=True):
            members = order[start:stop]
            if pairs.one_group(members):
                continue  # joined already (by another chunk): nothing to find here
            h = hashes[members]
            size = stop - start
            rows = max(1, _BLOCK // size)
            for top in range(0, size, rows):
                block = h[top : top + rows]
                close = np.bitwise_count(block[:, None] ^ h[None, top:]) <= max_distance
                i, j = np.nonzero(np.triu(close, k=1))  # column j is member top + j
                pairs.add(members[top + i], members[top + j])
    pairs.flush()


def group(
    sha: np.ndarray, phash: np.ndarray, ok: np.ndarray, max_distance: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group rows: returns (group id per row, -1 when alone; exact twin?; Hamming distance to
    the group's first row). Undecodable rows (``ok`` False) join groups by bytes only."""
    if not isinstance(max_distance, int) or not 0 <= max_distance <= MAX_DISTANCE:
        raise ValueError(f"max_distance must be a whole number from 0 to {MAX_DISTANCE}")
    n = len(sha)
    union = _Union(n)
    # Exact: the same bytes.
    _, sha_first, sha_inverse, sha_counts = np.unique(
        np.asarray(sha, dtype=object).astype(str),
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    exact = sha_counts[sha_inverse] > 1
    twins = np.flatnonzero(exact)
    union.join(twins, sha_first[sha_inverse[twins]])
    # Near: the same perceptual hash, then hashes within the distance.
    rows = np.flatnonzero(ok)
    distinct, first, inverse = np.unique(phash[rows], return_index=True, return_inverse=True)
    union.join(rows, rows[first[inverse]])
    _join_near(distinct, max_distance, _Pairs(union, rows[first]))
    roots = union.roots(np.arange(n))
    sizes = np.bincount(roots, minlength=n)
    grouped = sizes[roots] > 1
    group_id = np.full(n, -1, np.int64)
    if grouped.any():
        _, dense = np.unique(roots[grouped], return_inverse=True)
        group_id[grouped] = dense
    distance = np.zeros(n, np.int64)
    distance[grouped] = np.bitwise_count(phash[grouped] ^ phash[roots[grouped]])
    return group_id, exact & grouped, distance


def table(features: Features, rows: np.ndarray, max_distance: int = 4) -> pd.DataFrame:
    """The duplicate groups among these rows of ``features``: index image_id; group, exact,
    distance; sorted by group."""
    group_id, exact, distance = group(
        features.sha[rows], features.phash[rows], features.ok[rows], max_distance
    )
    grouped = group_id >= 0
    frame = pd.DataFrame(
        {
            "group": group_id[grouped],
            "exact": exact[grouped],
            "distance": distance[grouped],
        },
        index=pd.Index(features.ids[rows[grouped]], name="image_id", dtype=object),
    )
    return frame.sort_values(["group", "distance"], kind="stable")
