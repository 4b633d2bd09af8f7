"""Team labeling: assign, the Mine view, progress, review, each annotator's own labels, agreement.

Each annotator is a Dataset object of their own on one store, as two people on two machines.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import StoreLocation
from imagegen import fill_folder, image_folder
from manifest_reference import reference_parse
from sklearn.metrics import cohen_kappa_score

from jupyter_labeler import Dataset
from jupyter_labeler.cli import main
from jupyter_labeler.events import check_event
from jupyter_labeler.formats import export_labels
from jupyter_labeler.manifest import parse_manifest
from jupyter_labeler.storage import open_store
from jupyter_labeler.team import plan_assignment


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 40)


def open_as(folder: Path, author: str) -> Dataset:
    return Dataset.open(folder, author=author)


def assignees(ds: Dataset) -> dict[str, list[str]]:
    return {i: sorted(v) for i, v in ds.images["assigned_to"].items() if v}


# -- assign ------------------------------------------------------------------------------------
def test_assign_shares_evenly_with_the_overlap_asked_for(folder: Path) -> None:
    ds = open_as(folder, "lead")
    ds.add_label("done", list(ds.ids()[:4]))  # labeled images are not shared by default
    result = ds.assign(["alice", "bob", "carol"], overlap=0.25, seed=7)
    assert result.saved
    assert result.changed == 36
    given = assignees(ds)
    assert set(given) == set(ds.ids("unlabeled"))
    shared = [i for i, who in given.items() if len(who) > 1]
    assert len(shared) == 9  # 25% of 36
    assert all(len(set(who)) == 2 for who in given.values() if len(who) > 1)
    load = Counter(w for who in given.values() for w in who)
    assert sum(load.values()) == 36 + 9
    assert max(load.values()) - min(load.values()) <= 1
    # deterministic for a seed, different for another
    again = plan_assignment(np.arange(36), ["a", "b", "c"], 0.25, 2, 7)
    assert all(
        (x == y).all()
        for x, y in zip(
            again, plan_assignment(np.arange(36), ["a", "b", "c"], 0.25, 2, 7), strict=True
        )
    )
    other = plan_assignment(np.arange(36), ["a", "b", "c"], 0.25, 2, 8)
    assert not (again[0] == other[0]).all() or not (again[1] == other[1]).all()
    assert "Assigned 36 images to 3 annotators (9 shared)" in str(result)


def test_assign_refuses_bad_input_and_changes_nothing(folder: Path) -> None:
    ds = open_as(folder, "lead")
    for bad in ([], ["alice", "alice"], [""], [" bob"], ["x" * 300], [3]):
        with pytest.raises(ValueError, match="annotator"):
            ds.assign(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="overlap"):
        ds.assign(["a", "b"], overlap=1.5)
    with pytest.raises(ValueError, match="copies"):
        ds.assign(["a", "b"], overlap=0.2, copies=3)
    assert "assigned_to" not in ds.images.columns
    assert not ds.can_undo


def test_assignment_survives_reopen_compaction_and_undo(folder: Path) -> None:
    ds = open_as(folder, "lead")
    ds.assign(["alice", "bob"], overlap=0.5, seed=1)
    before = assignees(ds)
    assert assignees(open_as(folder, "x")) == before  # from the journal
    ds.save()
    assert (folder / ".jupyter_labeler" / "snapshots").is_dir()
    reopened = open_as(folder, "x")
    assert assignees(reopened) == before  # from the snapshot
    # reassign some, then undo: back to what it was
    some = list(before)[:5]
    ds.assign(["carol"], ids=some)
    assert all(assignees(ds)[i] == ["carol"] for i in some)
    ds.undo()
    assert assignees(ds) == before
    assert assignees(open_as(folder, "x")) == before
    ds.unassign(some)
    assert not set(some) & set(assignees(ds))
    ds.undo()
    ds.undo()  # the first assignment
    assert assignees(ds) == {}
    assert assignees(open_as(folder, "x")) == {}


def test_a_dataset_without_team_work_carries_nothing_more(folder: Path) -> None:
    ds = open_as(folder, "lead")
    ds.add_label("cat", list(ds.ids()[:3]))
    assert list(ds.images.columns) == ["path", "labels", "size", "usage", "added_at"]
    ds.save()
    snapshots = folder / ".jupyter_labeler" / "snapshots"
    assert not list(snapshots.glob("*.team.parquet"))
    assert b"property" not in (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes()
    assert ds.progress().empty
    assert ds.agreement().empty
    assert ds.disagreements().empty
    assert list(ds.ids("mine")) == []


# -- Mine, progress, review ----------------------------------------------------------------------
def test_mine_progress_and_review_between_two_annotators(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], seed=3)
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    mine_a, mine_b = list(alice.ids("mine")), list(bob.ids("mine"))
    assert len(mine_a) == len(mine_b) == 20
    assert not set(mine_a) & set(mine_b)
    assert list(lead.ids("mine")) == []
    alice.add_label("cat", mine_a[:12])
    assert list(alice.ids("mine")) == sorted(mine_a[12:], key=mine_a.index)
    bob.add_label("dog", mine_b[:5])
    lead.refresh()
    table = lead.progress()
    assert table.loc["alice", ["assigned", "labeled", "remaining"]].tolist() == [20, 12, 8]
    assert table.loc["bob", ["assigned", "labeled", "remaining"]].tolist() == [20, 5, 15]
    assert table["last_active"].notna().all()

    lead.review(mine_a[:4], accept=False, reason="a dog, not a cat")
    lead.review(mine_a[4:10])
    alice.refresh()
    back = alice.mine()
    assert set(mine_a[:4]) <= set(back.index)
    assert (back.loc[mine_a[:4], "review"] == "rejected").all()
    assert (back.loc[mine_a[:4], "review_reason"] == "a dog, not a cat").all()
    assert (back.loc[mine_a[:4], "reviewed_by"] == "lead").all()
    assert not set(mine_a[4:12]) & set(back.index)
    table = lead.progress()
    assert table.loc["alice", ["accepted", "rejected", "remaining"]].tolist() == [6, 4, 12]
    # counts and exports can keep the accepted images only
    assert lead.counts()["images"].to_dict() == {"cat": 12, "dog": 5}
    assert lead.counts(accepted_only=True)["images"].to_dict() == {"cat": 6, "dog": 0}
    by_usage = lead.counts(by="usage", accepted_only=True)
    assert by_usage["total"].to_dict() == {"cat": 6, "dog": 0}
    out = folder.parent / "accepted.csv"
    export_labels(lead, "csv", str(out), accepted_only=True)
    rows = out.read_text().splitlines()
    assert rows[0] == "path,labels"
    assert len(rows) == 7
    assert {r.split(",")[0] for r in rows[1:]} == set(lead.images.loc[mine_a[4:10], "path"])
    manifest = folder.parent / "accepted.manifest"
    export_labels(lead, "manifest", str(manifest), accepted_only=True)
    ids = {orjson.loads(line)["id"] for line in manifest.read_bytes().splitlines()}
    assert ids == set(mine_a[4:10])
    # accepting again takes a rejected image out of Mine; undo puts it back
    lead.review(mine_a[:1])
    alice.refresh()
    assert mine_a[0] not in set(alice.ids("mine"))
    lead.undo()
    alice.refresh()
    assert mine_a[0] in set(alice.ids("mine"))
    assert alice.mine().loc[mine_a[0], "review_reason"] == "a dog, not a cat"


def test_review_refuses_unknown_images_and_long_reasons(folder: Path) -> None:
    ds = open_as(folder, "lead")
    with pytest.raises(ValueError, match="reason"):
        ds.review(list(ds.ids()[:1]), accept=False, reason="x" * 1000)
    with pytest.raises(KeyError):
        ds.review(["no-such-image"])
    assert not ds.can_undo


def test_review_survives_compaction_and_reopen(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=0.2, seed=0)
    chosen = list(lead.ids()[:6])
    lead.add_label("cat", chosen)
    lead.review(chosen[:2], accept=False, reason="blurry")
    lead.review(chosen[2:5])
    cols = ["assigned_to", "review", "reviewed_by", "review_reason"]
    before = lead.images[cols].astype(str)
    lead.save()
    again = open_as(folder, "x")
    assert again.images[cols].astype(str).equals(before)


# -- own labels and agreement --------------------------------------------------------------------
CATS = ["cat", "dog", "bird"]


def plant(datasets: dict[str, Dataset], plan: dict[str, list[str]], ids: list[str]) -> None:
    """Each annotator labels image k with plan[annotator][k]."""
    for who, ds in datasets.items():
        ds.refresh()
        for name in CATS:
            chosen = [i for i, label in zip(ids, plan[who], strict=True) if label == name]
            if chosen:
                ds.add_label(name, chosen)


def test_two_annotators_keep_their_own_labels_and_cohen_kappa(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=1.0, seed=0)  # every image to both
    ids = list(lead.ids())[:20]
    rng = np.random.default_rng(5)
    a = rng.choice(CATS, size=20).tolist()
    b = [x if rng.random() < 0.6 else str(rng.choice(CATS)) for x in a]
    people = {"alice": open_as(folder, "alice"), "bob": open_as(folder, "bob")}
    plant(people, {"alice": a, "bob": b}, ids)
    lead.refresh()
    # the union has both labels where they differ; each one's own labels stay apart
    for k, image in enumerate(ids):
        assert set(lead.labels_of([image])[image]) == {a[k], b[k]}
    table = lead.agreement()
    assert table.loc["(overall)", "method"] == "cohen"
    assert table.loc["(overall)", "images"] == 20
    # by hand: observed agreement minus chance agreement
    po = np.mean([x == y for x, y in zip(a, b, strict=True)])
    pe = sum((a.count(c) / 20) * (b.count(c) / 20) for c in CATS)
    by_hand = (po - pe) / (1 - pe)
    assert table.loc["(overall)", "kappa"] == pytest.approx(by_hand)
    assert table.loc["(overall)", "kappa"] == pytest.approx(cohen_kappa_score(a, b))
    for name in CATS:
        ya, yb = [x == name for x in a], [x == name for x in b]
        assert table.loc[name, "kappa"] == pytest.approx(cohen_kappa_score(ya, yb))
    # disagreements: exactly the planted ones, with each annotator's labels
    found = lead.disagreements()
    planted = {ids[k] for k in range(20) if a[k] != b[k]}
    assert set(found["image_id"]) == planted
    for row in found.itertuples():
        k = ids.index(row.image_id)
        assert row.labels == [a[k] if row.annotator == "alice" else b[k]]
    # the same after compaction, and from the manifest alone
    lead.save()
    again = open_as(folder, "x")
    assert again.agreement().equals(table)
    manifest = (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes()
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="x")
    (folder.parent / "fresh" / "dataset.manifest").write_bytes(manifest)
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="x")
    assert fresh.agreement().sort_index().equals(table.sort_index())
    assert set(fresh.disagreements()["image_id"]) == planted


def test_three_annotators_fleiss_kappa_by_hand(folder: Path) -> None:
    lead = open_as(folder, "lead")
    names = ["alice", "bob", "carol"]
    lead.assign(names, overlap=1.0, copies=3, seed=0)
    ids = list(lead.ids())[:15]
    rng = np.random.default_rng(11)
    truth = rng.choice(CATS, size=15).tolist()
    plan = {
        who: [x if rng.random() < 0.7 else str(rng.choice(CATS)) for x in truth] for who in names
    }
    plant({who: open_as(folder, who) for who in names}, plan, ids)
    lead.refresh()
    table = lead.agreement()
    assert table.loc["(overall)", "method"] == "fleiss"
    assert table.loc["(overall)", "annotators"] == 3

    def fleiss(ratings: list[list[str]], categories: list[object]) -> float:
        n_items, raters = len(ratings), len(ratings[0])
        counts = [[r.count(c) for c in categories] for r in ratings]
        p_i = [(sum(x * x for x in row) - raters) / (raters * (raters - 1)) for row in counts]
        p_j = [sum(row[j] for row in counts) / (n_items * raters) for j in range(len(categories))]
        p_bar, p_e = sum(p_i) / n_items, sum(p * p for p in p_j)
        return (p_bar - p_e) / (1 - p_e)

    per_image = [[plan[w][k] for w in names] for k in range(15)]
    assert table.loc["(overall)", "kappa"] == pytest.approx(fleiss(per_image, list(CATS)))
    for name in CATS:
        binary = [[x == name for x in row] for row in per_image]
        assert table.loc[name, "kappa"] == pytest.approx(fleiss(binary, [True, False]))
    differ = {ids[k] for k in range(15) if len(set(per_image[k])) > 1}
    assert set(lead.disagreements()["image_id"]) == differ


def test_withdrawing_an_own_label_keeps_the_others_and_undo_restores(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=1.0, seed=0)
    image = lead.ids()[0]
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("cat", [image])
    bob.refresh()
    result = bob.add_label("cat", [image])  # the image has it already: bob's own is recorded
    assert result.changed == 1
    assert image not in set(bob.ids("mine"))
    alice.refresh()
    alice.remove_label("cat", [image])  # alice withdraws; bob still says cat
    assert alice.labels_of([image])[image] == ["cat"]
    assert image in set(alice.ids("mine"))
    assert alice.annotations().set_index("image_id").loc[image, "annotated_by"] == "bob"
    alice.undo()
    assert image not in set(alice.ids("mine"))
    # a reviewer's removal takes it off the image and off everyone's own labels
    lead.refresh()
    lead.remove_label("cat", [image])
    assert lead.labels_of([image])[image] == []
    assert {image} <= set(open_as(folder, "alice").ids("mine"))
    assert {image} <= set(open_as(folder, "bob").ids("mine"))
    lead.undo()
    assert lead.labels_of([image])[image] == ["cat"]
    assert image not in set(open_as(folder, "bob").ids("mine"))
    # renaming the label renames the own labels too
    lead.rename_label("cat", "kitten")
    lead.refresh()
    assert lead.disagreements().empty
    assert lead.agreement().index.tolist() == ["(overall)", "kitten"]


# -- the manifest stays a ModelArts manifest -----------------------------------------------------
def test_manifest_with_team_data_loads_in_the_reference_reader(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=0.5, seed=2)
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("cat", list(alice.ids("mine")))
    bob.add_label("dog", list(bob.ids("mine")))
    lead.refresh()
    lead.review(list(lead.ids()[:3]), accept=False, reason='said "no" <b>')
    lead.review(list(lead.ids()[3:6]))
    data = lead.manifest_bytes()
    rows, _labels, problems, _merged, foreign = reference_parse(
        data, where="m", relative=lead.relative_path
    )
    assert problems == []
    assert foreign == []
    assert len(rows) == 40
    lines = [orjson.loads(line) for line in data.splitlines()]
    for line in lines:
        assert set(line) <= {"source", "usage", "id", "annotation", "property"}
        assert all(a["type"] == "modelarts/image_classification" for a in line["annotation"])
        prop = line["property"]
        assert all(k.startswith("@jupyter_labeler:") for k in prop)
    shared = [line for line in lines if len(line["property"]["@jupyter_labeler:assigned_to"]) == 2]
    assert shared
    for line in shared:  # one annotation per label; who said which, in the property
        names = [a["name"] for a in line["annotation"]]
        assert sorted(names) == ["cat", "dog"]
        assert {a["annotated-by"] for a in line["annotation"]} <= {
            "human/alice/alice",
            "human/bob/bob",
        }
        said = line["property"]["@jupyter_labeler:labels_by"]
        assert {who: list(labels) for who, labels in said.items()} == {
            "alice": ["cat"],
            "bob": ["dog"],
        }
    first = lines[0]["property"]
    assert first["@jupyter_labeler:review"] == "rejected"
    assert first["@jupyter_labeler:review_reason"] == 'said "no" <b>'
    # our reader: the same state back, team data included; the property fields do not linger
    parsed = parse_manifest(data, where="m", relative=lead.relative_path)
    assert parsed.problems == []
    assert parsed.team
    state = parsed.to_state()
    assert all(e is None for e in state.extra.tolist())
    lead.save()
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="x")
    (folder.parent / "fresh" / "dataset.manifest").write_bytes(data)
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="x")
    cols = ["labels", "assigned_to", "review", "reviewed_by", "review_reason"]
    assert fresh.images[cols].astype(str).equals(lead.images[cols].astype(str))
    assert fresh.manifest_bytes() == data


def test_foreign_property_fields_are_kept_beside_ours(folder: Path) -> None:
    lead = open_as(folder, "lead")
    image = lead.ids()[0]
    path = lead.info(image)["path"]
    out = folder.parent / "fresh"
    out.mkdir()
    line = {
        "source": f"{folder}/{path}",
        "property": {"@modelarts:hard": True, "@jupyter_labeler:assigned_to": ["alice"]},
    }
    (out / "dataset.manifest").write_bytes(orjson.dumps(line) + b"\n")
    ds = Dataset.open(folder, output=out, author="alice")
    assert ds.images.loc[image, "assigned_to"] == ["alice"]
    written = orjson.loads(ds.manifest_bytes().splitlines()[0])
    assert written["property"] == line["property"]


# -- the journal's new operations are checked like the others ------------------------------------
@pytest.mark.parametrize(
    "op",
    [
        {"op": "assign", "ids": ["a"], "to": [" x"]},
        {"op": "assign", "ids": ["a", "b"], "to": ["x"]},
        {"op": "assign", "ids": ["a"], "to": 3},
        {"op": "review", "ids": ["a"], "review": "maybe"},
        {"op": "review", "ids": ["a"], "review": "accepted", "reason": "x" * 5000},
        {"op": "own+", "ids": ["a"], "label": "../x", "by": "alice"},
        {"op": "own-", "ids": ["a"], "label": "cat", "by": ""},
    ],
)
def test_malformed_team_operations_are_refused(op: dict[str, object]) -> None:
    checked = check_event({"ops": [op]}, where="j")
    assert checked.ops == []
    assert len(checked.problems) == 1


# -- two annotators on an object store -----------------------------------------------------------
@pytest.mark.parametrize("store_location", ["s3"], indirect=True)
def test_two_annotators_on_s3(store_location: StoreLocation) -> None:
    store = open_store(*store_location)
    fill_folder(store.write, 12)

    def as_(author: str) -> Dataset:
        return Dataset.open(
            store_location.url, storage_options=store_location.storage_options, author=author
        )

    lead = as_("lead")
    lead.assign(["alice", "bob"], overlap=0.5, seed=4)
    alice, bob = as_("alice"), as_("bob")
    assert len(alice.ids("mine")) == len(bob.ids("mine")) == 9
    alice.add_label("cat", list(alice.ids("mine")))
    work = list(bob.ids("mine"))
    bob.add_label("cat", work[:6])
    bob.add_label("dog", work[6:])
    lead.refresh()
    assert lead.progress()["labeled"].to_dict() == {"alice": 9, "bob": 9}
    table = lead.agreement()
    assert table.loc["(overall)", "images"] == 6
    lead.review(list(alice.ids())[:2], accept=False, reason="check")
    lead.save()
    again = as_("alice")
    assert again.agreement().equals(table)
    assert (again.mine()["review_reason"] == "check").sum() >= 1
    assert store.exists(".jupyter_labeler/dataset.manifest")


def test_a_damaged_team_file_falls_back_to_the_manifest(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=0.5, seed=0)
    lead.review(list(lead.ids()[:2]), accept=False, reason="blurry")
    cols = ["assigned_to", "review", "reviewed_by", "review_reason"]
    before = lead.images[cols].astype(str)
    lead.save()
    (team_file,) = (folder / ".jupyter_labeler" / "snapshots").glob("*.team.parquet")
    team_file.write_bytes(b"PAR1 not parquet at all")
    again = open_as(folder, "x")
    assert any("Parquet copy cannot be read" in p for p in again.problems)
    assert again.images[cols].astype(str).equals(before)


def test_undoing_my_label_leaves_the_same_label_of_the_other_annotator(folder: Path) -> None:
    lead = open_as(folder, "lead")
    lead.assign(["alice", "bob"], overlap=1.0, seed=0)
    image = lead.ids()[0]
    alice, bob = open_as(folder, "alice"), open_as(folder, "bob")
    alice.add_label("cat", [image])
    bob.refresh()
    bob.add_label("cat", [image])
    alice.refresh()
    alice.undo()  # alice's own cat goes; bob's keeps the image a cat
    assert alice.labels_of([image])[image] == ["cat"]
    assert image in set(alice.ids("mine"))
    bob.refresh()
    assert image not in set(bob.ids("mine"))
    # what is in memory is what the manifest brings back
    data = alice.manifest_bytes()
    alice.save()
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="alice")
    (folder.parent / "fresh" / "dataset.manifest").write_bytes(data)
    fresh = Dataset.open(folder, output=folder.parent / "fresh", author="alice")
    assert fresh.manifest_bytes() == data
    assert image in set(fresh.ids("mine"))


def test_the_command_line_exports_the_accepted_images_only(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lead = open_as(folder, "lead")
    ids = list(lead.ids()[:5])
    lead.add_label("cat", ids)
    lead.review(ids[:2])
    lead.review(ids[2:3], accept=False, reason="no")
    lead.close()
    out = folder.parent / "accepted.csv"
    code = main(["export", str(folder), "--format", "csv", "--to", str(out), "--accepted-only"])
    capsys.readouterr()
    assert code == 0
    rows = out.read_text().splitlines()[1:]
    assert sorted(r.split(",")[0] for r in rows) == sorted(lead.images.loc[ids[:2], "path"])
