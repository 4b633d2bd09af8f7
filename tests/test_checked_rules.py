"""Checked marks from the bucket follow rules, as team operations do.

A hostile co-annotator can write any journal object but runs nothing on the others' machines.
Here "mallory" writes ``checked`` operations straight into the store; every reader (a follower
that polls, a fresh one, one opened after a save) must show the same marks: a mark is in its
action's author's name, is set only on a label with none, is taken off only by its author, and
is never dated after its action's name. What is refused is named once in ``problems``; the
rest of the action applies.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from imagegen import fill_folder

from jupyter_labeler import Dataset
from jupyter_labeler.checked import CHECKED_AT, CHECKED_BY
from jupyter_labeler.storage import open_store


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the dataset lives: a local folder, or a bucket on moto."""
    if request.param == "local":
        root = tmp_path / "images"
        root.mkdir()
        fill_folder(lambda n, d: (root / n).write_bytes(d), 6)
        return {"url": str(root), "options": None}
    bucket = request.getfixturevalue("s3_bucket")
    options = dict(request.getfixturevalue("s3_options"))
    fill_folder(open_store(f"s3://{bucket}/images", options).write, 6)
    return {"url": f"s3://{bucket}/images", "options": options}


def opener(where: dict[str, Any]) -> Any:
    def open_as(author: str) -> Dataset:
        return Dataset.open(where["url"], storage_options=where["options"], author=author)

    return open_as


def forge(ds: Dataset, author: str, *ops: dict[str, Any], options: Any = None) -> str:
    """Write one event straight into the journal, as a hostile co-annotator would; its name."""
    name = f"{int(time.time() * 1000) + 1000:013d}-{secrets.token_hex(6)}-00000001"
    event = {"v": 2, "action": "confirm_labels", "author": author, "time": "2026-01-01 00:00:00"}
    output = open_store(ds.output_url, options)
    output.write(f"journal/{name}.json", orjson.dumps({**event, "ops": list(ops)}))
    return name


def marks(ds: Dataset) -> dict[tuple[str, str], tuple[str, str]]:
    """(image id, label) -> (by, at) of every mark the dataset's manifest carries."""
    ids = {path: image_id for image_id, path in ds.paths().items()}
    out = {}
    for line in ds.manifest_bytes().splitlines():
        row = orjson.loads(line)
        image_id = ids[row["source"].rsplit("/", 1)[-1]]
        for annotation in row.get("annotation", []):
            prop = annotation.get("property") or {}
            if CHECKED_BY in prop:
                out[image_id, annotation["name"]] = (prop[CHECKED_BY], prop[CHECKED_AT])
    return out


def said(ds: Dataset, text: str) -> int:
    return sum(text in line for line in ds.problems)


def named_time(name: str) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(name[:13]) / 1000))


def test_marks_in_another_annotators_name_are_refused_by_every_reader(
    where: dict[str, Any],
) -> None:
    open_as = opener(where)
    alice = open_as("alice")
    ids = sorted(alice.ids())
    alice.add_label("cat", ids[:5])
    alice.confirm_labels(ids[4:5], "cat")
    follower = open_as("bob")
    forged = forge(
        alice,
        "mallory",
        {"op": "checked", "label": "cat", "ids": ids[:1], "by": "alice"},
        {"op": "checked", "label": "cat", "ids": ids[1:2], "by": "mallory"},
        # a list may mix: the mark in her own ModelArts name applies, carol's is refused
        {
            "op": "checked",
            "label": "cat",
            "ids": ids[2:4],
            "by": ["human/mallory/mallory", "carol"],
            "at": ["2999-01-01 00:00:00", "2026-01-01 00:00:00"],
        },
        {"op": "checked", "label": "cat", "ids": ids[4:5], "by": ""},  # alice's mark off
        {"op": "label+", "label": "dog", "ids": ids[5:6]},
        options=where["options"],
    )
    alice_at = marks(alice)[ids[4], "cat"][1]
    expected = {
        (ids[1], "cat"): ("mallory", "2026-01-01 00:00:00"),
        # a time after its action's is read as the time of the action's name
        (ids[2], "cat"): ("human/mallory/mallory", named_time(forged)),
        (ids[4], "cat"): ("alice", alice_at),
    }
    follower.refresh()
    for _ in range(3):
        follower.poll()
    readers = [follower, open_as("x")]
    for ds in readers:
        assert marks(ds) == expected
        assert ds.labels_of(ids[5:6]) == {ids[5]: ["dog"]}  # the rest of the action applied
        assert said(ds, "written by mallory names alice as the one who checked") == 1
        assert said(ds, "written by mallory names carol as the one who checked") == 1
        assert said(ds, "mallory took off a checked mark of alice") == 1
        assert said(ds, forged) == 3
    follower.save()
    again = open_as("y")
    assert marks(again) == expected
    assert b"carol" not in again.manifest_bytes()
    for ds in (alice, *readers, again):
        ds.close()


def test_the_first_check_stays_and_an_undo_takes_off_only_its_own(
    where: dict[str, Any],
) -> None:
    open_as = opener(where)
    alice = open_as("alice")
    ids = sorted(alice.ids())
    alice.add_label("cat", ids[:2])
    bob = open_as("bob")
    alice.confirm_labels(ids[:1], "cat")
    assert alice.flush()
    # bob has not seen alice's check: his replica marks the label in his name, at first
    assert bob.confirm_labels(ids[:1], "cat").changed == 1
    assert marks(bob)[ids[0], "cat"][0] == "bob"
    assert bob.flush()
    bob.refresh()
    first = marks(alice)
    assert first[ids[0], "cat"][0] == "alice"
    assert marks(bob) == first
    # his undo would take off a mark he never set: it writes nothing that a reader refuses
    bob.undo()
    assert bob.flush()
    alice.refresh()
    fresh = open_as("x")
    for ds in (alice, bob, fresh):
        assert marks(ds) == first
        assert not [p for p in ds.problems if "operation" in p]
    alice.undo()
    assert alice.flush()
    bob.refresh()
    assert marks(bob) == {} == marks(alice)
    for ds in (alice, bob, fresh):
        ds.close()


def test_undoing_a_relabel_gives_the_label_back_without_another_annotators_mark(
    where: dict[str, Any],
) -> None:
    open_as = opener(where)
    alice = open_as("alice")
    ids = sorted(alice.ids())
    alice.add_label("green", ids[:2])
    alice.confirm_labels(ids[:1], "green")
    alice.confirm_labels(ids[1:2], "green")
    assert alice.flush()
    bob = open_as("bob")
    assert bob.relabel(ids[:1], "green", "red").changed == 1
    assert marks(bob)[ids[0], "red"][0] == "bob"
    bob.undo()
    assert bob.flush()
    alice.refresh()
    fresh = open_as("x")
    for ds in (alice, bob, fresh):
        assert ds.labels_of(ids[:1]) == {ids[0]: ["green"]}
        # a mark is its author's own: bob gives the label back, unchecked; alice's other stays
        assert set(marks(ds)) == {(ids[1], "green")}
        assert not [p for p in ds.problems if "operation" in p]
    for ds in (alice, bob, fresh):
        ds.close()


def test_a_label_given_back_with_another_annotators_mark_comes_without_it(
    where: dict[str, Any],
) -> None:
    open_as = opener(where)
    alice = open_as("alice")
    ids = sorted(alice.ids())
    alice.add_label("cat", ids[:3])
    assert alice.flush()
    follower = open_as("bob")
    mark = {"property": {CHECKED_BY: "alice", CHECKED_AT: "2026-01-01 00:00:00"}}
    own = {"property": {CHECKED_BY: "mallory", CHECKED_AT: "2026-01-01 00:00:00"}}
    forge(
        alice,
        "mallory",
        {"op": "label-", "label": "cat", "ids": ids[:2]},
        {
            "op": "label+",
            "label": "cat",
            "ids": ids[:2],
            "extra": {ids[0]: {**mark, "confidence": 0.5}, ids[1]: own},
        },
        options=where["options"],
    )
    follower.refresh()
    for _ in range(3):
        follower.poll()
    expected = {(ids[1], "cat"): ("mallory", "2026-01-01 00:00:00")}
    for ds in (follower, open_as("x")):
        assert ds.labels_of(ids[:3]) == {i: ["cat"] for i in ids[:3]}
        assert marks(ds) == expected
        assert said(ds, "carried a checked mark of another annotator") == 1
    follower.save()
    assert marks(open_as("y")) == expected
    follower.close()
