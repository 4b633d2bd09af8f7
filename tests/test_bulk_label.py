"""Labeling many images at once costs what those images cost: ids are read in one pass, an event
too big to travel in a feed name is not deflated, and undo names exactly the images labeled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from imagegen import fill_folder

from jupyter_labeler import Dataset
from jupyter_labeler.columns import hex_keys
from jupyter_labeler.journal import feed_name, read_feed_name
from jupyter_labeler.storage import open_store

NAME = "1764320000000-abcdef012345-00000001"
MS = 1764320000123
KEYS = [(k * 0x9E3779B97F4A7C15) % 2**64 for k in range(40)]
HEX = [f"{k:016x}" for k in KEYS]


@pytest.mark.parametrize("kind", [list, tuple, np.array, pd.Index])
def test_ids_of_sixteen_hex_digits_are_their_numbers(kind: Any) -> None:
    keys = hex_keys(kind(HEX))
    assert keys is not None
    assert keys.dtype == np.uint64
    assert keys.tolist() == KEYS


def test_no_ids_are_no_numbers() -> None:
    keys = hex_keys([])
    assert keys is not None
    assert len(keys) == 0


@pytest.mark.parametrize(
    "odd",
    [
        ["A" * 16],  # upper case would alias lower case
        ["a" * 15, "b" * 17],  # two wrong lengths that add up to two right ones
        ["a" * 16 + "\n" + "a" * 15, ""],  # a separator inside an id, lengths adding up
        ["a" * 15 + "\n"],
        ["a" * 15 + " "],
        ["a" * 15 + "é"],
        ["g" * 16],
        [b"a" * 16],
        [None],
    ],
)
def test_an_id_of_another_form_makes_no_numbers(odd: list[Any]) -> None:
    assert hex_keys([*HEX, *odd]) is None
    assert hex_keys([*odd, *HEX]) is None


def test_many_ids_are_read_in_parts_and_one_odd_id_in_any_part_counts() -> None:
    n = (1 << 20) + 3
    ids = [f"{k:016x}" for k in range(n)]
    keys = hex_keys(ids)
    assert keys is not None
    assert np.array_equal(keys, np.arange(n, dtype=np.uint64))
    ids[-1] = ids[-1].upper().replace("0", "X")
    assert hex_keys(ids) is None


def test_an_event_no_reader_would_inflate_is_not_carried_in_its_feed_name() -> None:
    # The same id over and over deflates to a few hundred bytes, but inflates beyond what any
    # reader accepts from a name: only the journal object carries it.
    big = orjson.dumps({"v": 2, "ops": [{"op": "label+", "label": "a", "ids": ["0" * 16] * 8000}]})
    assert len(big) > 64 * 1024
    entry = feed_name(MS, NAME, big, 1024)
    assert entry == f"{MS}~{NAME}~"
    assert read_feed_name(entry) == (str(MS), NAME, None)


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    store = open_store(str(tmp_path))
    fill_folder(store.write, 30)
    return Dataset.open(str(tmp_path), author="alice")


def test_undo_of_a_bulk_label_takes_it_off_only_the_images_it_gave_it_to(ds: Dataset) -> None:
    ids = list(ds.ids("all"))
    ds.add_label("roses", ids[:10])
    given = ids[5:25][::-1]  # not in the dataset's order; five have it already
    result = ds.add_label("roses", given)
    assert result.changed == 15
    assert sorted(ds.ids("all", label="roses")) == sorted(ids[:25])
    ds.undo()
    assert sorted(ds.ids("all", label="roses")) == sorted(ids[:10])
    ds.undo()
    assert list(ds.ids("all", label="roses")) == []
    reopened = Dataset.open(ds.source_url, author="bob")
    assert list(reopened.ids("all", label="roses")) == []
