"""Groups of exact (same bytes) and near (perceptual hash within a Hamming distance) duplicates.

The hashes come with the features (see :mod:`jupyter_labeler.features`): the first 128 bits of
each image's SHA-256, and a 64-bit DCT hash that survives re-encoding, resizing and small edits.
Near pairs are found without comparing every pair: split the 64 bits into ``max_distance + 1``
chunks; two hashes within that distance agree on at least one chunk (pigeonhole), so only
hashes sharing a chunk value are compared.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .features import Features

__all__ = ["MAX_DISTANCE", "group", "table"]

MAX_DISTANCE = 16


class _Union:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, a: int) -> int:
        parent = self.parent
        root = a
        while parent[root] != root:
            root = parent[root]
        while parent[a] != root:
            parent[a], a = root, parent[a]
        return int(root)

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _popcount(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).astype(np.int64)


def _near_pairs(hashes: np.ndarray, max_distance: int) -> list[tuple[int, int]]:
    """Pairs of rows of distinct ``hashes`` (uint64) within ``max_distance`` bits."""
    n = len(hashes)
    if n < 2 or max_distance <= 0:
        return []
    pieces = max_distance + 1
    edges = np.linspace(0, 64, pieces + 1).astype(np.int64)
    found: set[tuple[int, int]] = set()
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        mask = np.uint64((1 << (hi - lo)) - 1)
        chunk = (hashes >> np.uint64(lo)) & mask
        order = np.argsort(chunk, kind="stable")
        sorted_chunk = chunk[order]
        starts = np.flatnonzero(np.r_[True, sorted_chunk[1:] != sorted_chunk[:-1]])
        stops = np.r_[starts[1:], n]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            if b - a < 2:
                continue
            members = order[a:b]
            h = hashes[members]
            dist = _popcount(h[:, None] ^ h[None, :])
            i, j = np.nonzero(np.triu(dist <= max_distance, k=1))
            found.update(zip(members[i].tolist(), members[j].tolist(), strict=True))
    return sorted(found)


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
    for row in np.flatnonzero(exact).tolist():
        union.join(row, int(sha_first[sha_inverse[row]]))
    # Near: the same perceptual hash, then hashes within the distance.
    rows = np.flatnonzero(ok)
    distinct, first, inverse = np.unique(phash[rows], return_index=True, return_inverse=True)
    for k, row in enumerate(rows.tolist()):
        union.join(row, int(rows[first[inverse[k]]]))
    for a, b in _near_pairs(distinct, max_distance):
        union.join(int(rows[first[a]]), int(rows[first[b]]))
    roots = np.fromiter((union.find(i) for i in range(n)), np.int64, count=n)
    sizes = np.bincount(roots, minlength=n)
    grouped = sizes[roots] > 1
    group_id = np.full(n, -1, np.int64)
    if grouped.any():
        _, dense = np.unique(roots[grouped], return_inverse=True)
        group_id[grouped] = dense
    distance = np.zeros(n, np.int64)
    distance[grouped] = _popcount(phash[grouped] ^ phash[roots[grouped]])
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
