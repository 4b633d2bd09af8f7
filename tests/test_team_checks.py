"""Team data from the bucket is checked on reading as on writing.

A hostile co-annotator can write any object into the output folder but runs nothing on the
others' machines. Here they write journal events, a snapshot's team file and a manifest
straight into the store; what every reader shows (``Dataset.open``, ``refresh``), what
``problems`` says and what ``save()`` writes must keep to the team rules: a review is its
event's author's unless an undo puts back one the image held; nobody reviews their own work;
own labels come only from an image's several annotators, for labels it carries; the manifest
and the team file say what the dataset shows.
"""

from __future__ import annotations

import contextlib
import io
import random
import secrets
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from imagegen import fill_folder, image_folder

from jupyter_labeler import Dataset, SelfReviewError
from jupyter_labeler.storage import Store, open_store

COLUMNS = ["labels", "assigned_to", "review", "reviewed_by", "review_reason"]


# -- helpers ---------------------------------------------------------------------------------------
def output_of(ds: Dataset, options: dict[str, Any] | None = None) -> Store:
    """The dataset's output folder as any writer of the bucket reaches it."""
    return open_store(ds.output_url, options)


def forge(ds: Dataset, author: str, *ops: dict[str, Any], options: Any = None) -> str:
    """Write one event straight into the journal, as a hostile co-annotator would."""
    name = f"{int(time.time() * 1000) + 1000:013d}-{secrets.token_hex(6)}-00000001"
    event = {"v": 2, "action": "review", "author": author, "time": "2026-01-01 00:00:00"}
    output_of(ds, options).write(f"journal/{name}.json", orjson.dumps({**event, "ops": list(ops)}))
    return name


def table(ds: Dataset) -> Any:
    return ds.images[COLUMNS].astype(str)


def disagreeing(ds: Dataset) -> set[tuple[str, str, tuple[str, ...]]]:
    """Each annotator's own labels of the shared images they do not agree on."""
    return {(r.image_id, r.annotator, tuple(r.labels)) for r in ds.disagreements().itertuples()}


def shown(ds: Dataset) -> tuple[Any, ...]:
    """What the dataset shows of its team work: images, agreement, disagreements, progress."""
    return (table(ds), ds.agreement().sort_index(), disagreeing(ds), ds.progress())


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    return all(x.equals(y) if hasattr(x, "equals") else x == y for x, y in zip(a, b, strict=True))


def problems_with(ds: Dataset, text: str) -> list[str]:
    return [p for p in ds.problems if text in p]


def fresh_from(ds: Dataset, manifest: bytes, folder: Path, author: str = "x") -> Dataset:
    """A new dataset of the same images whose output folder holds only ``manifest``."""
    out = folder.parent / f"fresh-{secrets.token_hex(3)}"
    out.mkdir()
    (out / "dataset.manifest").write_bytes(manifest)
    return Dataset.open(folder, output=out, author=author)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 12)


@pytest.fixture
def team(folder: Path) -> tuple[Dataset, list[str]]:
    """Images 0-3 shared by alice and bob (alice says cat on all, bob cat on 0-1 and dog on
    2-3), images 4-5 alice's alone (cat), the rest nobody's. The lead reviews."""
    lead = Dataset.open(folder, author="lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:4], overlap=1.0, seed=0)
    lead.assign(["alice"], ids=ids[4:6])
    alice = Dataset.open(folder, author="alice")
    alice.add_label("cat", ids[:6])
    bob = Dataset.open(folder, author="bob")
    bob.add_label("cat", ids[:2])
    bob.add_label("dog", ids[2:4])
    lead.refresh()
    return lead, ids


# -- reviews -------------------------------------------------------------------------------------
def test_a_review_in_another_reviewers_name_is_refused(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    before = table(lead)
    forge(
        lead,
        "mallory",
        {"op": "review", "ids": ids[6:8], "review": "accepted", "by": "lead"},
        {"op": "review", "ids": ids[8:9], "review": "rejected", "by": "carol", "reason": "no"},
    )
    for ds in (Dataset.open(folder, author="x"), lead):
        ds.refresh()
        assert table(ds).equals(before)
        lines = problems_with(ds, "names lead as its reviewer")
        assert len(lines) == 1
        assert "written by mallory" in lines[0]
        assert "2 images" in lines[0]
        assert ids[6] in lines[0]
        assert len(problems_with(ds, "names carol as its reviewer")) == 1
    lead.refresh()
    lead.refresh()  # reported once, not once per look at the store
    assert len(problems_with(lead, "names lead as its reviewer")) == 1
    lead.save()
    assert b"@jupyter_labeler:review" not in lead.manifest_bytes()
    assert table(Dataset.open(folder, author="x")).equals(before)


def test_a_review_in_its_authors_own_name_is_applied(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    """The rule refuses names, not writers: anyone not assigned to an image reviews it."""
    lead, ids = team
    forge(lead, "mallory", {"op": "review", "ids": ids[6:7], "review": "rejected"})
    lead.refresh()
    assert (lead.images.loc[ids[6], "review"], lead.images.loc[ids[6], "reviewed_by"]) == (
        "rejected",
        "mallory",
    )
    assert not problems_with(lead, "operation")


def test_nobody_reviews_their_own_work_in_the_api(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    alice = Dataset.open(folder, author="alice")
    before = table(alice)
    with pytest.raises(SelfReviewError) as caught:
        alice.review(ids[4:7])  # 4 and 5 are hers; 6 is nobody's: nothing is reviewed
    assert caught.value.author == "alice"
    assert caught.value.ids == ids[4:6]
    assert "nobody reviews their own work" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert table(alice).equals(before)
    assert not alice.can_undo
    # her review view leaves them out, and says how many it leaves out
    assert not set(alice.ids("review")) & set(ids[:6])
    assert alice.review_excluded() == 6
    assert set(lead.ids("review")) == set(ids[:6])
    assert lead.review_excluded() == 0
    assert alice.view_counts()["review"] == 0
    # others' images she may review
    bob = Dataset.open(folder, author="bob")
    bob.review(ids[4:5], accept=False, reason="a dog")
    assert bob.images.loc[ids[4], "reviewed_by"] == "bob"


def test_nobody_accepts_their_own_work_through_the_journal(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    forge(
        lead,
        "alice",
        {"op": "review", "ids": ids[4:6], "review": "accepted"},
        {"op": "review", "ids": ids[6:7], "review": "accepted"},  # nobody's: hers to review
    )
    lead.refresh()
    assert (lead.images.loc[ids[4:6], "review"] == "").all()
    assert lead.images.loc[ids[6], "review"] == "accepted"
    (line,) = problems_with(lead, "nobody reviews their own work")
    assert "alice reviewed images assigned to them" in line
    assert "2 images" in line
    # nor in another reviewer's name that the image never held
    forge(lead, "alice", {"op": "review", "ids": ids[4:5], "review": "accepted", "by": "bob"})
    lead.refresh()
    assert lead.images.loc[ids[4], "review"] == ""
    assert problems_with(lead, "names bob as its reviewer")


def test_an_annotator_takes_back_a_rejection_not_an_acceptance(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    lead.review(ids[4:5], accept=False, reason="blurry")
    lead.review(ids[5:6])
    forge(lead, "alice", {"op": "review", "ids": ids[4:6], "review": ""})
    lead.refresh()
    assert lead.images.loc[ids[4], "review"] == ""  # back to review: her new answer waits
    assert lead.images.loc[ids[5], "review"] == "accepted"
    (line,) = problems_with(lead, "cannot take back its acceptance")
    assert ids[5] in line


def test_assigning_an_image_to_its_reviewer_takes_the_review_off(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    carol = Dataset.open(folder, author="carol")
    carol.review(ids[6:8], accept=False, reason="which one?")
    lead.refresh()
    before = table(lead)
    lead.assign(["carol"], ids=ids[6:7])
    assert lead.images.loc[ids[6], "review"] == ""
    assert lead.images.loc[ids[7], "review"] == "rejected"
    assert table(Dataset.open(folder, author="x")).equals(table(lead))
    lead.save()
    lead.undo()  # after a save too: the review comes back with its reviewer and reason
    assert table(lead).equals(before)
    again = Dataset.open(folder, author="x")
    assert table(again).equals(before)
    assert not problems_with(again, "operation")


def test_undo_puts_back_another_reviewers_review_after_a_save(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    """An undo writes a review in another reviewer's name: the one the image held before,
    exactly. Readers accept that from the snapshot's record of it, after compactions too."""
    lead, ids = team
    lead.review(ids[:2], accept=False, reason="which one?")
    carol = Dataset.open(folder, author="carol")
    before = table(carol)
    carol.review(ids[:2])
    carol.review(ids[1:2], accept=False, reason="no")
    carol.save()
    carol.undo()
    carol.save()
    carol.undo()
    for ds in (carol, Dataset.open(folder, author="x")):
        assert table(ds).equals(before)
        assert not problems_with(ds, "operation")
    # a review of lead's that no image held is still refused
    forge(
        carol,
        "carol",
        {"op": "review", "ids": ids[:1], "review": "accepted", "by": "lead", "reason": ""},
    )
    again = Dataset.open(folder, author="x")
    assert again.images.loc[ids[0], "review"] == "rejected"
    assert problems_with(again, "names lead as its reviewer")


# -- own labels ----------------------------------------------------------------------------------
def test_own_labels_only_from_an_images_annotators_for_labels_it_carries(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    before = shown(lead)
    forge(
        lead,
        "mallory",
        # mallory is not assigned; the image has no dog
        {"op": "own+", "label": "cat", "ids": ids[:1], "by": "mallory"},
        {"op": "own+", "label": "dog", "ids": ids[:1], "by": "mallory"},
        # alice is assigned and the images carry dog, but the event is mallory's
        {"op": "own+", "label": "dog", "ids": ids[2:4], "by": "alice"},
    )
    forge(
        lead,
        "alice",
        {"op": "own+", "label": "dog", "ids": ids[:2]},  # the images carry no dog
        {"op": "own+", "label": "cat", "ids": ids[4:5]},  # hers alone: no own labels there
    )
    for ds in (lead, Dataset.open(folder, author="x")):
        ds.refresh()
        assert same(shown(ds), before)
        assert problems_with(ds, "names mallory, who is not one of the several annotators")
        assert problems_with(ds, "written by mallory names alice")
        assert len(problems_with(ds, "do not carry 'dog'")) == 2
        assert problems_with(ds, "names alice, who is not one of the several annotators")
    data = lead.manifest_bytes()
    assert b"mallory" not in data
    lead.save()
    assert (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes() == data
    assert same(shown(fresh_from(lead, data, folder)), before)


def test_the_manifest_and_the_snapshot_say_what_the_dataset_shows(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    """An annotator who no longer shares an image has no own label there: none in the
    manifest or the snapshot, and a dataset opened from either shows what the writer shows;
    undoing the reassignment brings the own label back everywhere."""
    lead, ids = team
    assert (ids[2], "bob", ("dog",)) in disagreeing(lead)
    lead.assign(["alice", "carol"], ids=ids[2:3], overlap=1.0)  # bob leaves image 2
    assert not {d for d in disagreeing(lead) if d[0] == ids[2]}
    data = lead.manifest_bytes()
    line = next(orjson.loads(x) for x in data.splitlines() if ids[2].encode() in x)
    assert {a["name"] for a in line["annotation"]} == {"cat", "dog"}  # the labels stay
    assert line["property"]["@jupyter_labeler:assigned_to"] == ["alice", "carol"]
    lead.save()
    after = shown(lead)
    assert same(shown(Dataset.open(folder, author="x")), after)
    assert same(shown(fresh_from(lead, data, folder)), after)
    lead.undo()  # bob shares it again, with his own dog back
    assert (ids[2], "bob", ("dog",)) in disagreeing(lead)
    assert same(shown(Dataset.open(folder, author="x")), shown(lead))


def test_an_undo_writes_only_what_every_reader_accepts(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    """carol takes cat off a shared image (and so off both annotators' own labels); the lead
    then unassigns it; carol's undo gives the label back, but no own label of annotators the
    image no longer has: not in her dataset, not in the journal, with no problem anywhere."""
    lead, ids = team
    carol = Dataset.open(folder, author="carol")
    carol.remove_label("cat", ids[:1])
    lead.refresh()
    lead.unassign(ids[:1])
    carol.refresh()
    carol.undo()
    assert carol.labels_of(ids[:1])[ids[0]] == ["cat"]
    journal = sorted((folder / ".jupyter_labeler" / "journal").glob("*.json"))
    last = orjson.loads(journal[-1].read_bytes())
    assert [op["op"] for op in last["ops"]] == ["label+"]
    for ds in (carol, Dataset.open(folder, author="x")):
        assert table(ds).equals(table(carol))
        assert not problems_with(ds, "operation")


# -- the snapshot's team file ------------------------------------------------------------------
def forged_team_file(rows: list[dict[str, Any]]) -> bytes:
    """A well-formed team file, written with pyarrow alone."""
    columns = ["kind", "row", "who", "label", "value", "at", "reason"]
    data = {c: [r.get(c) for r in rows] for c in columns}
    table_ = pa.table(
        {
            "kind": pa.array(data["kind"], pa.string()).dictionary_encode(),
            "row": pa.array(data["row"], pa.int64()),
            **{
                c: pa.array(data[c], pa.string()).dictionary_encode()
                for c in ("who", "label", "value", "at")
            },
            "reason": pa.array(data["reason"], pa.string()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table_, sink)
    return sink.getvalue()


def team_file_of(store: Store) -> str:
    (name,) = [n for n in store.list("snapshots") if n.endswith(".team.parquet")]
    return name


def row_of(ds: Dataset, image_id: str) -> int:
    """The image's row in the snapshot (the order of the images table)."""
    return list(ds.ids()).index(image_id)


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """Where the dataset lives: a local folder, or a bucket on moto."""
    if request.param == "local":
        root, url, options = tmp_path / "images", str(tmp_path / "images"), None
        root.mkdir()
        fill_folder(lambda n, d: (root / n).write_bytes(d), 12)
    else:
        bucket = request.getfixturevalue("s3_bucket")
        options = dict(request.getfixturevalue("s3_options"))
        store = open_store(f"s3://{bucket}/images", options)
        fill_folder(store.write, 12)
        url = f"s3://{bucket}/images"
    return {"url": url, "options": options}


def test_a_forged_team_file_is_checked_against_its_snapshot(where: dict[str, Any]) -> None:
    def open_as(author: str) -> Dataset:
        return Dataset.open(where["url"], storage_options=where["options"], author=author)

    lead = open_as("lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:4], overlap=1.0, seed=0)
    alice, bob = open_as("alice"), open_as("bob")
    alice.add_label("cat", ids[:4])
    bob.add_label("cat", ids[:2])
    lead.refresh()
    lead.add_label("dog", ids[5:6])
    lead.review(ids[:1], accept=False, reason="blurry")
    honest = table(lead)
    lead.save()
    output = output_of(lead, where["options"])
    name = team_file_of(output)
    r = {i: row_of(lead, i) for i in ids}
    forged = [
        {"kind": "assign", "row": r[ids[0]], "who": "alice"},
        {"kind": "assign", "row": r[ids[0]], "who": "bob"},
        {"kind": "assign", "row": r[ids[1]], "who": "alice"},
        {"kind": "assign", "row": r[ids[1]], "who": "bob"},
        {"kind": "assign", "row": r[ids[6]], "who": " bad name"},
        # own labels of someone not assigned, and of a label the image does not carry
        {"kind": "own", "row": r[ids[0]], "who": "mallory", "label": "cat", "at": "t"},
        {"kind": "own", "row": r[ids[1]], "who": "bob", "label": "dog", "at": "t"},
        {"kind": "own", "row": r[ids[0]], "who": "alice", "label": "cat", "at": "t"},
        # alice accepts her own work; an unknown value; a fair review
        {"kind": "review", "row": r[ids[1]], "who": "alice", "value": "accepted", "at": "t"},
        {"kind": "review", "row": r[ids[2]], "who": "carol", "value": "maybe", "at": "t"},
        {"kind": "review", "row": r[ids[7]], "who": "carol", "value": "accepted", "at": "t"},
    ]
    output.write(name, forged_team_file(forged))
    again = open_as("x")
    assert again.images.loc[ids[0], "assigned_to"] == ["alice", "bob"]
    assert again.images.loc[ids[6], "assigned_to"] == []
    assert again.images.loc[ids[1], "review"] == ""
    assert again.images.loc[ids[2], "review"] == ""
    assert again.images.loc[ids[7], "reviewed_by"] == "carol"
    assert again.disagreements().empty  # the forged own labels left nobody disagreeing
    problems = "\n".join(again.problems)
    for kind in (
        "assignments to no annotator's name: 1 refused",
        "own labels of someone who is not one of the image's several annotators: 1 refused",
        "own labels of a label their image does not carry: 1 refused",
        "reviews by an annotator the image is assigned to (nobody reviews their own work): 1",
        "reviews of no known value: 1 refused",
    ):
        assert kind in problems, kind
    assert name.split("/")[-1] in problems
    # the honest manifest of that snapshot is untouched; a save writes what is shown
    again.save()
    assert b"mallory" not in again.manifest_bytes()
    assert honest.shape == table(again).shape


def test_forged_team_events_in_a_bucket_are_refused_by_every_reader(
    where: dict[str, Any],
) -> None:
    def open_as(author: str) -> Dataset:
        return Dataset.open(where["url"], storage_options=where["options"], author=author)

    lead = open_as("lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:2], overlap=1.0, seed=0)
    open_as("alice").add_label("cat", ids[:2])
    open_as("bob").add_label("dog", ids[:2])
    follower = open_as("carol")
    before = shown(follower)
    forge(
        lead,
        "mallory",
        {"op": "review", "ids": ids[:2], "review": "accepted", "by": "lead"},
        {"op": "own+", "label": "dog", "ids": ids[:1], "by": "alice"},
        options=where["options"],
    )
    forge(
        lead,
        "alice",
        {"op": "review", "ids": ids[:1], "review": "accepted"},
        options=where["options"],
    )
    follower.refresh()
    for ds in (follower, open_as("x")):
        assert same(shown(ds), before)
        assert problems_with(ds, "names lead as its reviewer")
        assert problems_with(ds, "written by mallory names alice")
        assert problems_with(ds, "nobody reviews their own work")
    follower.save()
    again = open_as("x")
    assert same(shown(again), before)
    assert b"mallory" not in again.manifest_bytes()
    assert b'"@jupyter_labeler:review"' not in again.manifest_bytes()


def test_a_team_file_of_millions_of_rows_is_not_read(folder: Path) -> None:
    """A few kilobytes of Parquet can say a million rows: the row count in its metadata is
    judged before any row is read, and the snapshot's manifest is read instead."""
    lead = Dataset.open(folder, author="lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:4], overlap=1.0, seed=0)
    Dataset.open(folder, author="alice").add_label("cat", ids[:4])
    lead.refresh()
    lead.review(ids[:2], accept=False, reason="blurry")
    before = table(lead)
    lead.save()
    output = output_of(lead)
    name = team_file_of(output)
    n = 1_000_000
    huge = pa.table(
        {
            "kind": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32)), pa.array(["own"])
            ),
            "row": pa.array(np.zeros(n, np.int64)),
            "who": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32)), pa.array(["alice"])
            ),
            "label": pa.DictionaryArray.from_arrays(
                pa.array(np.zeros(n, np.int32)), pa.array(["cat"])
            ),
        }
    )
    sink = io.BytesIO()
    pq.write_table(huge, sink, compression="zstd")
    data = sink.getvalue()
    del huge
    assert len(data) < 100_000
    output.write(name, data)
    again = Dataset.open(folder, author="x")
    (line,) = problems_with(again, "its Parquet copy cannot be read")
    assert f"{n} rows for 12 images" in line
    assert table(again).equals(before)  # from the snapshot's manifest


# -- the manifest's property -------------------------------------------------------------------
def test_refused_team_values_in_a_manifest_are_named(folder: Path) -> None:
    ds = Dataset.open(folder, author="x")
    ids = list(ds.ids())
    paths = ds.paths()
    ours = "@jupyter_labeler:"

    def line(k: int, prop: dict[str, Any], labels: tuple[str, ...] = ()) -> bytes:
        record: dict[str, Any] = {"source": f"{folder}/{paths[ids[k]]}", "property": prop}
        if labels:
            record["annotation"] = [
                {"type": "modelarts/image_classification", "name": n} for n in labels
            ]
        return orjson.dumps(record)

    lines = [
        line(0, {ours + "assigned_to": ["alice", " x", 3]}),
        line(1, {ours + "assigned_to": "alice"}),
        line(
            2,
            {
                ours + "assigned_to": ["alice"],
                ours + "review": "accepted",
                ours + "reviewed_by": "alice",
            },
            ("cat",),
        ),
        line(3, {ours + "review": "maybe", ours + "reviewed_by": "lead"}, ("cat",)),
        line(4, {ours + "review": "accepted", ours + "reviewed_by": ""}, ("cat",)),
        line(
            5,
            {
                ours + "review": "rejected",
                ours + "reviewed_by": "lead",
                ours + "review_reason": "x" * 5000,
            },
            ("cat",),
        ),
        line(6, {ours + "review": "accepted", ours + "reviewed_by": "lead"}, ("cat",)),
    ]
    fresh = fresh_from(ds, b"\n".join(lines) + b"\n", folder)
    images = fresh.images
    assert images.loc[ids[0], "assigned_to"] == ["alice"]
    assert images.loc[ids[1], "assigned_to"] == []
    assert images.loc[ids[2], "review"] == ""  # alice's own work
    assert images.loc[ids[3], "review"] == images.loc[ids[4], "review"] == ""
    assert (images.loc[ids[5], "review"], images.loc[ids[5], "review_reason"]) == ("rejected", "")
    assert images.loc[ids[6], "reviewed_by"] == "lead"
    problems = "\n".join(fresh.problems)
    for kind, count in (
        ("assignments to no annotator's name", 2),
        ("reviews by an annotator the image is assigned to", 1),
        ("reviews of no known value", 1),
        ("reviews by no annotator's name", 1),
        ("review times or reasons that are no short text", 1),
    ):
        assert f"{kind}" in problems, kind
        (found,) = [p for p in fresh.problems if kind in p]
        assert f": {count} refused" in found, found
    assert "dataset.manifest" in problems


# -- honest work is never refused -------------------------------------------------------------
@pytest.mark.parametrize("seed", range(12))
def test_random_team_work_and_undos_raise_no_problem_and_agree(tmp_path: Path, seed: int) -> None:
    """Two reviewers, two annotators and reassignments (a reviewer assigned images she
    reviewed, annotators dropped from shared images), with undos and saves at any point: every
    reader agrees with the others and with a fresh open, and no reader meets a refused
    operation, since what the rules would refuse is never written."""
    folder = image_folder(tmp_path, 10)
    rng = random.Random(seed)
    people = {n: Dataset.open(folder, author=n) for n in ("lead", "carol", "alice", "bob")}
    ids = list(people["lead"].ids())
    people["lead"].assign(["alice", "bob"], ids=ids[:8], overlap=0.75, seed=seed)
    for _step in range(50):
        who = rng.choice(list(people))
        ds = people[who]
        ds.refresh()
        live = list(ds.ids())
        some = rng.sample(live, min(len(live), rng.randint(1, 3)))
        roll = rng.random()
        if roll < 0.3 and some:
            ds.add_label(rng.choice(["cat", "dog"]), some)
        elif roll < 0.4 and some and ds.label_names:
            ds.remove_label(rng.choice(ds.label_names), some)
        elif roll < 0.55 and some and who in ("lead", "carol"):
            with contextlib.suppress(SelfReviewError):  # carol may be assigned some by now
                ds.review(some, accept=rng.random() < 0.5, reason=rng.choice(["", "why"]))
        elif roll < 0.63 and some and who == "lead":
            names = rng.sample(["alice", "bob", "carol"], rng.randint(1, 2))
            shared = len(names) == 2 and rng.random() < 0.7
            ds.assign(names, ids=some, overlap=1.0 if shared else 0)
        elif roll < 0.66 and some and who == "lead":
            ds.remove_images(some)
        elif roll < 0.7:
            ds.save()
        elif ds.can_undo:
            ds.undo()
    for ds in people.values():
        ds.refresh()
    expected = shown(people["lead"])
    for ds in people.values():
        assert same(shown(ds), expected)
    again = Dataset.open(folder, author="x")
    assert same(shown(again), expected)
    assert again.problems == []
    people["carol"].save()
    again = Dataset.open(folder, author="x")
    assert same(shown(again), expected)
    assert again.problems == []
