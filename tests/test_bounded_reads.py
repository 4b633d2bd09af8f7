"""Reads from the bucket are bounded, whatever another writer put there: heartbeats are read
with a range, duplicates are found in memory that grows with the images (not their square),
and the similarity index of long vectors costs no dim x dim matrix.

Memory is measured with tracemalloc (numpy reports its arrays to it), as a bound far below what
the unbounded way takes; never time.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from imagegen import fill_folder, image_folder

from jupyter_labeler import Dataset, suggest
from jupyter_labeler import duplicates as dup
from jupyter_labeler.features import Features
from jupyter_labeler.presence import MAX_HEARTBEAT_BYTES, write_heartbeat
from jupyter_labeler.storage import Store, open_store

MB = 1 << 20


def peak_of(run: Callable[[], Any]) -> tuple[Any, int]:
    """What ``run()`` returns, and the most memory it held at once (bytes, by tracemalloc)."""
    tracemalloc.start()
    try:
        got = run()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- heartbeats ------------------------------------------------------------------------------------
def heartbeat(author: str, size: int = 0) -> bytes:
    """A well-formed heartbeat, padded to ``size`` bytes."""
    body = orjson.dumps({"author": author, "view": "all", "page": 0, "pad": ""})
    return body[:-2] + b"x" * max(0, size - len(body)) + b'"}'


def test_the_padding_helper_makes_heartbeats_of_the_size_asked() -> None:
    assert len(heartbeat("eve", MAX_HEARTBEAT_BYTES)) == MAX_HEARTBEAT_BYTES
    assert orjson.loads(heartbeat("eve", 1000))["author"] == "eve"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Dataset, Store]]:
    ds = Dataset.open(image_folder(tmp_path, 3), output=str(tmp_path / "out"), author="alice")
    yield ds, open_store(str(tmp_path / "out"))
    ds.close()


def test_a_heartbeat_larger_than_64_kb_is_not_read_whole_and_is_told_once(
    local: tuple[Dataset, Store],
) -> None:
    ds, output = local
    write_heartbeat(output, "bob0", "bob", "labeled", 2)
    output.write("presence/carol0.json", heartbeat("carol", MAX_HEARTBEAT_BYTES))  # the most
    output.write("presence/eve0.json", heartbeat("eve", 20 * MB))

    def three_rounds() -> list[str]:
        return [sorted(ds.annotators()["author"]) for _ in range(3)][-1]

    seen, peak = peak_of(three_rounds)
    assert seen == ["bob", "carol"]
    assert peak < 2 * MB  # the 20 MB are never held
    lines = [p for p in ds.problems if "eve0.json" in p]
    assert len(lines) == 1
    assert lines[0].endswith("presence/eve0.json: a heartbeat larger than 64 KB; ignored")
    # Written again, still too large: read again (64 KB of it), still told once.
    output.write("presence/eve0.json", heartbeat("eve", MB))
    assert sorted(ds.annotators()["author"]) == ["bob", "carol"]
    assert len([p for p in ds.problems if "eve0.json" in p]) == 1
    # Made small: eve is seen.
    write_heartbeat(output, "eve0", "eve", "all", 0)
    assert sorted(ds.annotators()["author"]) == ["bob", "carol", "eve"]


def test_heartbeats_on_obs_are_ranged_reads_and_a_broken_one_is_read_once(
    s3_bucket: str, obs_proxy: Any, obs_options: dict[str, Any]
) -> None:
    url = f"obs://{s3_bucket}/images"
    fill_folder(open_store(url, obs_options).write, 2)
    ds = Dataset.open(url, storage_options=obs_options, author="alice")
    output = open_store(f"{url}/.jupyter_labeler", obs_options)
    try:
        write_heartbeat(output, "bob0", "bob", "all", 1)
        output.write("presence/eve0.json", heartbeat("eve", 3 * MB))
        output.write("presence/empty0.json", b"")  # 416 to a ranged read: empty, not an error
        obs_proxy.reset()
        assert ds.annotators()["author"].tolist() == ["bob"]
        gets = [r for r in obs_proxy.requests if r.method == "GET" and "/presence/" in r.path]
        assert sorted(r.path.rsplit("/", 1)[-1] for r in gets) == [
            "bob0.json",
            "empty0.json",
            "eve0.json",
        ]
        assert {r.headers.get("range") for r in gets} == {f"bytes=0-{MAX_HEARTBEAT_BYTES}"}
        # The next rounds read nothing but the listing: nothing is broken again and again.
        for _ in range(2):
            obs_proxy.reset()
            assert ds.annotators()["author"].tolist() == ["bob"]
            assert obs_proxy.counts["GET"] == 1
        lines = [p for p in ds.problems if "presence/" in p]
        assert len(lines) == 1
        assert "eve0.json: a heartbeat larger than 64 KB" in lines[0]
    finally:
        ds.close()


# -- duplicates ------------------------------------------------------------------------------------
def brute_force_groups(phash: np.ndarray, sha: np.ndarray, ok: np.ndarray, d: int) -> set:
    """The groups, by comparing every pair: frozensets of rows."""
    n = len(phash)
    parent = list(range(n))

    def find(a: int) -> int:
        while parent[a] != a:
            a = parent[a]
        return a

    for i in range(n):
        for j in range(i + 1, n):
            near = ok[i] and ok[j] and int(np.bitwise_count(phash[i] ^ phash[j])) <= d
            if near or sha[i] == sha[j]:
                parent[max(find(i), find(j))] = min(find(i), find(j))
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


def honest_hashes(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of ``n`` images: most unrelated, some re-encoded copies a few bits away, some
    byte-identical copies, some undecodable."""
    rng = np.random.default_rng(seed)
    phash = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    copies = rng.choice(n, n // 4, replace=False)
    of = rng.integers(0, n, len(copies))
    flips = np.zeros(len(copies), np.uint64)
    for _ in range(3):
        bit = rng.integers(0, 64, len(copies)).astype(np.uint64)
        flips ^= (np.uint64(1) << bit) * (rng.random(len(copies)) < 0.7).astype(np.uint64)
    phash[copies] = phash[of] ^ flips
    sha = np.asarray([f"{i:032x}" for i in range(n)], dtype=object)
    twins = rng.choice(n, n // 20, replace=False)
    sha[twins] = sha[rng.integers(0, n, len(twins))]
    ok = rng.random(n) > 0.05
    return phash, sha, ok


@pytest.mark.parametrize("max_distance", [0, 1, 4, 9, 16])
def test_duplicate_groups_are_those_of_comparing_every_pair(max_distance: int) -> None:
    for seed in range(3):
        phash, sha, ok = honest_hashes(400, seed)
        group_id, exact, distance = dup.group(sha, phash, ok, max_distance)
        found = {frozenset(np.flatnonzero(group_id == g).tolist()) for g in np.unique(group_id)}
        found.discard(frozenset(np.flatnonzero(group_id == -1).tolist()))
        assert found == brute_force_groups(phash, sha, ok, max_distance)
        # Group ids follow each group's first row; distances are to that row.
        firsts = [np.flatnonzero(group_id == g)[0] for g in range(group_id.max() + 1)]
        assert firsts == sorted(firsts)
        rows = np.flatnonzero(group_id >= 0)
        first_of = np.asarray(firsts)[group_id[rows]]
        assert (distance[rows] == np.bitwise_count(phash[rows] ^ phash[first_of])).all()
        _, counts = np.unique(sha, return_counts=True)
        assert exact.sum() == sum(c for c in counts if c > 1)


def crafted_near(n: int, seed: int = 0) -> np.ndarray:
    """Distinct hashes of 8 set bits or fewer: every two within 16 bits, and most share chunks."""
    rng = np.random.default_rng(seed)
    bits = np.zeros(4 * n, np.uint64)
    for _ in range(8):
        bits |= np.uint64(1) << rng.integers(0, 64, 4 * n).astype(np.uint64)
    return np.unique(bits)[:n]


def crafted_bucket(n: int, seed: int = 0) -> np.ndarray:
    """Distinct hashes whose lowest 14 bits are all zero: one bucket, few pairs near."""
    rng = np.random.default_rng(seed)
    return np.unique(rng.integers(0, 2**49, n, dtype=np.int64).astype(np.uint64) << np.uint64(14))


@pytest.mark.parametrize(
    ("make", "max_distance", "groups"),
    [(crafted_near, 16, 1), (crafted_bucket, 4, None)],
    ids=["every pair near", "one bucket"],
)
def test_crafted_hashes_cost_memory_that_grows_with_the_images_not_their_square(
    make: Callable[[int], np.ndarray], max_distance: int, groups: int | None
) -> None:
    dup.group(np.asarray(["a", "b"], dtype=object), make(2), np.ones(2, bool))  # imports
    peaks = {}
    for n in (2000, 8000):
        phash = make(n)
        assert len(phash) == n
        sha = np.asarray([f"{i:032x}" for i in range(n)], dtype=object)
        ok = np.ones(n, bool)
        (group_id, _, _), peaks[n] = peak_of(
            lambda sha=sha, phash=phash, ok=ok: dup.group(sha, phash, ok, max_distance)
        )
        if groups is not None:
            assert len(np.unique(group_id[group_id >= 0])) == groups
            assert (group_id == 0).all()
    # Comparing every pair of 8,000 at once holds 8,000^2 distances (512 MB as int64); here a
    # block of pairs at a time, and arrays the size of the images.
    assert peaks[8000] < 40 * MB, peaks
    assert peaks[8000] < 4 * peaks[2000] + 8 * MB, peaks


# -- the similarity index --------------------------------------------------------------------------
def planted(n: int, dim: int, classes: int = 8, seed: int = 0) -> tuple[Features, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    cls = rng.integers(0, classes, n)
    x = centres[cls] + 1.5 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    features = Features(
        ids=np.asarray([f"{i:016x}" for i in range(n)], dtype=object),
        sizes=np.zeros(n, np.int64),
        ok=np.ones(n, bool),
        sha=np.full(n, "", dtype=object),
        phash=np.zeros(n, np.uint64),
        vectors=x.astype(np.float16),
    )
    return features, cls


@pytest.mark.parametrize("dim", [256, 1024, 4096])
def test_the_index_of_long_vectors_needs_no_dim_x_dim_matrix_and_finds_the_same_class(
    dim: int,
) -> None:
    n = 400
    suggest.index_of(planted(100, 300)[0])  # scikit-learn's imports, not measured
    features, cls = planted(n, dim)
    index, peak = peak_of(lambda: suggest.index_of(features))
    assert index.vectors.shape == (n, suggest.INDEX_DIM)
    # The vectors as float32 and centred are 2 x n x dim x 4 bytes; a covariance of 4,096
    # numbers would add dim x dim x 4 = 64 MB, and its eigenvectors as much again.
    assert peak < 3 * n * dim * 4 + 8 * MB, peak
    for query in range(0, n, 50):
        table = suggest.similar_table(
            features, [features.ids[query]], 10, lambda ids: np.ones(len(ids), bool)
        )
        rows = features.rows(table.index.tolist())
        assert (cls[rows] == cls[query]).all()
    # The same vectors give the same index.
    again, _ = planted(n, dim)
    np.testing.assert_allclose(suggest.index_of(again).vectors, index.vectors, atol=1e-5)
