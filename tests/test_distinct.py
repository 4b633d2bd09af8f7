"""Whether the strings of a column are all distinct, told from 64-bit hashes of their bytes:
equal strings always hash alike (wherever they lie in the column's buffers), and two strings
whose hashes meet are compared as strings before anything is called a repeat."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

from jupyter_labeler import distinct
from jupyter_labeler.distinct import all_distinct, string_hashes


def words(rng: random.Random, n: int) -> list[str]:
    # lengths on both sides of every 8-byte boundary, some letters of several bytes
    letters = "ab/_.0é字"
    return ["".join(rng.choice(letters) for _ in range(rng.randrange(0, 27))) for _ in range(n)]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_equal_strings_hash_alike_wherever_they_lie(kind: pa.DataType) -> None:
    rng = random.Random(3)
    values = words(rng, 2000)
    column = pa.array(values, kind)
    hashes = string_hashes(column)
    assert hashes is not None
    assert hashes.dtype == np.uint64
    # the same strings in another order, behind other bytes, in a slice and in chunks
    shuffled = values[:]
    rng.shuffle(shuffled)
    padded = pa.array(["x" * 13, *shuffled], kind).slice(1)
    chunked = pa.chunked_array([pa.array(shuffled[:700], kind), pa.array(shuffled[700:], kind)])
    for other in (padded, chunked):
        other_hashes = string_hashes(other)
        assert other_hashes is not None
        by_value = dict(zip(shuffled, other_hashes.tolist(), strict=True))
        assert [by_value[v] for v in values] == hashes.tolist()


def test_different_strings_hash_apart() -> None:
    # strings that differ in one byte, in their length alone, or in a byte past the eighth
    values = ["", "a", "a\x00", "ab", "abcdefgh", "abcdefgh\x00", "abcdefgi", "abcdefghi"]
    values += [f"part_{k % 100:02d}/img_{k:07d}.jpg" for k in range(20_000)]
    hashes = string_hashes(pa.array(values))
    assert hashes is not None
    assert len(np.unique(hashes)) == len(values)


def test_a_column_with_a_missing_value_or_no_strings_has_no_hashes() -> None:
    assert string_hashes(pa.array(["a", None])) is None
    assert string_hashes(pa.array([1, 2])) is None
    empty = string_hashes(pa.array([], pa.string()))
    assert empty is not None
    assert len(empty) == 0


@pytest.mark.parametrize("n", [0, 1, 2, 5000])
def test_all_distinct_finds_a_repeat_anywhere(n: int) -> None:
    values = [f"img_{k}.jpg" for k in range(n)]
    assert all_distinct(pa.array(values))
    if n >= 2:
        for at in (0, n // 2, n - 1):
            repeated = values[:]
            repeated[at] = values[(at + 1) % n]
            assert not all_distinct(pa.array(repeated))


def test_hashes_that_meet_are_checked_against_the_strings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def meeting(values: pa.Array) -> np.ndarray:  # a hash under which every string meets
        return np.zeros(len(values), dtype=np.uint64)

    monkeypatch.setattr(distinct, "string_hashes", meeting)
    for values, expected in (
        (["a.jpg", "b.jpg", "c.jpg"], True),
        (["a.jpg", "b.jpg", "a.jpg"], False),
    ):
        column = pa.array(values)
        assert all_distinct(column, meeting(column)) is expected
        assert all_distinct(column) is expected


def test_blocks_sorted_apart_are_merged() -> None:
    values = pa.array([f"{k:05d}" for k in range(3000)])
    hashes = string_hashes(values)
    assert hashes is not None
    runs = np.concatenate([np.sort(hashes[:1000]), np.sort(hashes[1000:])])
    assert all_distinct(values, runs)
    twice = pa.concat_arrays([values, values.slice(2999)])
    twice_hashes = string_hashes(twice)
    assert twice_hashes is not None
    assert not all_distinct(twice, np.concatenate([np.sort(hashes), twice_hashes[-1:]]))
