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
