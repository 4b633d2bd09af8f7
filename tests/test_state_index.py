"""Finding images by id while images come and go: every action names exactly its images.

The Dataset finds the images an action names through an index of ids that it keeps up to
date as images are removed, added again and added anew (rather than building it again after
each such change, which would make every action cost time in proportion to the dataset).
These tests drive long mixed sequences of actions and compare, after each, what the Dataset
says with a plain model of what it should hold, and at the end with the same dataset read
again from its store.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from imagegen import fill_folder, image_bytes

from jupyter_labeler import Dataset, UnknownImageError
from jupyter_labeler.storage import open_store

LABELS = ("cat", "dog", "bird")


class Model:
    """What the dataset should hold: the live ids and the labels of each."""

    def __init__(self, ids: list[str]) -> None:
        self.labels: dict[str, set[str]] = {i: set() for i in ids}

    def check(self, ds: Dataset) -> None:
        assert sorted(ds.ids("all")) == sorted(self.labels)
        found = ds.labels_of(list(self.labels))
        assert {i: set(v) for i, v in found.items()} == self.labels
        counts = ds.counts()
        for name in LABELS:
            expected = sum(name in v for v in self.labels.values())
            got = int(counts.loc[name, "images"]) if name in counts.index else 0
            assert got == expected, name


def paths_by_id(ds: Dataset) -> dict[str, str]:
    return ds.paths_of(list(ds.ids("all")))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mixed_actions_find_exactly_their_images(memory_url: str, seed: int) -> None:
    rng = random.Random(seed)
    store = open_store(memory_url)
    fill_folder(store.write, 24)
    ds = Dataset.open(memory_url, author="alice")
    model = Model(list(ds.ids("all")))
    every_path = paths_by_id(ds)  # id -> path, for all that ever were images
    for _step in range(30):
        live = sorted(model.labels)
        some = rng.sample(live, min(len(live), rng.randint(1, 6))) if live else []
        kind = rng.choice(["add", "add", "remove_label", "remove_images", "resync"])
        if kind == "add" and some:
            name = rng.choice(LABELS)
            ds.add_label(name, some)
            for i in some:
                model.labels[i].add(name)
        elif kind == "remove_label" and some:
            name = rng.choice(LABELS)
            if name in ds.label_names:
                ds.remove_label(name, some)
                for i in some:
                    model.labels[i].discard(name)
        elif kind == "remove_images" and some:
            before = {i: set(model.labels[i]) for i in some}
            ds.remove_images(some)
            for i in some:
                del model.labels[i]
            model.check(ds)
            for i in some:  # a removed image is no image of the dataset any more
                with pytest.raises(UnknownImageError):
                    ds.add_label("cat", [i])
            if rng.random() < 0.5:  # undone: the same images come back with their labels
                ds.undo()
                model.labels.update(before)
        elif kind == "resync" and some:
            # Files taken away and put back: the images go, then come back unlabeled, with
            # the same ids (an id derives from the path).
            # Images removed earlier (their files stayed) come back too.
            for i in some:
                store.delete([every_path[i]])
            ds.sync()
            for i in some:
                del model.labels[i]
            for i in set(every_path) - set(some) - set(model.labels):
                model.labels[i] = set()
            model.check(ds)
            for k, i in enumerate(some):
                store.write(every_path[i], image_bytes(100 + k))
            ds.sync()
            for i in some:
                model.labels[i] = set()
        model.check(ds)
    ds.save()
    again = Dataset.open(memory_url, author="bob")
    model.check(again)


def test_new_images_are_found_beside_old_ones(memory_url: str) -> None:
    """Images added after the index was built are found, by themselves and with the others."""
    store = open_store(memory_url)
    fill_folder(store.write, 10)
    ds = Dataset.open(memory_url, author="alice")
    old = list(ds.ids("all"))
    ds.add_label("cat", old[:3])  # the index is in use from here on
    added = ds.add_images({"new_a.jpg": image_bytes(50), "new_b.jpg": image_bytes(51)})
    assert len(added.added) == 2
    new = sorted(set(ds.ids("all")) - set(old))
    assert len(new) == 2
    ds.add_label("dog", [*new, old[0]])
    assert ds.labels_of([*new, old[0], old[5]]) == {
        new[0]: ["dog"],
        new[1]: ["dog"],
        old[0]: ["cat", "dog"],
        old[5]: [],
    }
    ds.remove_images([new[0]])
    with pytest.raises(UnknownImageError):
        ds.add_label("cat", [new[0]])
    ds.add_label("cat", [new[1]])
    assert ds.labels_of([new[1]]) == {new[1]: ["cat", "dog"]}  # in All Labels order


def _rewrite_images_table(folder: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    """Rewrite the Parquet images table of the snapshot in ``folder``'s output."""
    (path,) = (folder / ".jupyter_labeler" / "snapshots").glob("*.images.parquet")
    pq.write_table(change(pq.read_table(path)), path)


def _without_order(table: pa.Table) -> pa.Table:
    return table.drop_columns([c for c in table.column_names if c == "id_order"])


def _reversed_order(table: pa.Table) -> pa.Table:
    n = table.num_rows
    table = _without_order(table)
    return table.append_column("id_order", pa.array(range(n - 1, -1, -1), pa.int64()))


def _out_of_range_order(table: pa.Table) -> pa.Table:
    table = _without_order(table)
    return table.append_column("id_order", pa.array([10**9] * table.num_rows, pa.int64()))


@pytest.mark.parametrize("change", [_without_order, _reversed_order, _out_of_range_order])
def test_snapshot_whatever_its_order_of_ids_finds_every_image(
    tmp_path: Path, change: Callable[[pa.Table], pa.Table]
) -> None:
    """A snapshot written before it kept its rows' order of ids, or with an order that does
    not hold (a snapshot is untrusted), opens with every image found by its id."""
    url = str(tmp_path / "images")
    store = open_store(url)
    fill_folder(store.write, 12)
    ds = Dataset.open(url, author="alice")
    every = list(ds.ids("all"))
    ds.add_label("cat", every[::2])
    ds.save()
    ds.close()
    _rewrite_images_table(tmp_path / "images", change)
    again = Dataset.open(url, author="bob")
    assert again.problems == []
    assert sorted(again.ids("all")) == sorted(every)
    again.add_label("dog", every[::3])
    labels = again.labels_of(every)
    for k, i in enumerate(every):
        assert labels[i] == [n for n, on in (("cat", k % 2 == 0), ("dog", k % 3 == 0)) if on]
    with pytest.raises(UnknownImageError):
        again.add_label("dog", ["0123456789abcdef"])
