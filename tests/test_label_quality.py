"""Label quality on a Dataset: label_issues(), the checked marks of confirm_labels() and
relabel(), and groups().

The images are small PNGs of three kinds told apart by colour (red, green, blue, with jitter);
the features come through the callable plug-in (each image's mean colour and a little of its
layout), so no test depends on the built-in descriptor's numbers.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from PIL import Image

from jupyter_labeler import Dataset
from jupyter_labeler.checked import CHECKED_AT, CHECKED_BY
from jupyter_labeler.errors import LabelerError, UnknownImageError, UnknownLabelError

KINDS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}


def png(kind: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed + 1000 * list(KINDS).index(kind))
    base = np.asarray(KINDS[kind], np.float64)
    pixels = np.clip(base + rng.normal(0, 25, (12, 16, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def colours(images: list[Any]) -> np.ndarray:
    """The plug-in: mean colour of each half of the image (6 numbers)."""
    rows = []
    for im in images:
        a = np.asarray(im.convert("RGB"), np.float32) / 255
        half = a.shape[1] // 2
        rows.append(np.concatenate([a[:, :half].mean((0, 1)), a[:, half:].mean((0, 1))]))
    return np.stack(rows)


def make_folder(root: Path, per_kind: int = 12, kinds: tuple[str, ...] = tuple(KINDS)) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        for i in range(per_kind):
            (root / f"{kind}_{i:02d}.png").write_bytes(png(kind, i))


def ids_of(ds: Dataset, kind: str) -> list[str]:
    return sorted(i for i, p in ds.paths().items() if p.startswith(kind + "_"))


def label_by_kind(ds: Dataset, kinds: tuple[str, ...] = tuple(KINDS)) -> None:
    for kind in kinds:
        ds.add_label(kind, ids_of(ds, kind))


def flip(ds: Dataset, image_id: str, old: str, new: str) -> None:
    ds.remove_label(old, [image_id])
    ds.add_label(new, [image_id])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    make_folder(tmp_path / "images")
    return tmp_path / "images"


@pytest.fixture
def ds(folder: Path) -> Iterator[Dataset]:
    dataset = Dataset.open(folder, author="alice")
    yield dataset
    dataset.close()


@pytest.fixture
def flipped(ds: Dataset) -> list[str]:
    """Every image labeled by its kind but two: a red one called green, a blue one red."""
    label_by_kind(ds)
    wrong = [ids_of(ds, "red")[0], ids_of(ds, "blue")[0]]
    flip(ds, wrong[0], "red", "green")
    flip(ds, wrong[1], "blue", "red")
    return wrong


def reopen(ds: Dataset, author: str = "bob") -> Dataset:
    return Dataset.open(
        ds.source_url,
        output=ds.output_url,
        storage_options=ds.source.fs.storage_options or None,
        author=author,
    )


# -- label_issues ------------------------------------------------------------------------------
def test_label_issues_finds_the_flipped_labels_with_the_likely_ones(
    ds: Dataset, flipped: list[str]
) -> None:
    issues = ds.label_issues(colours)
    assert list(issues.columns) == [
        "given_label",
        "likely_label",
        "given_confidence",
        "likely_confidence",
        "labels",
    ]
    assert issues.index.name == "image_id"
    assert set(issues.index) == set(flipped)
    assert issues.loc[flipped[0], ["given_label", "likely_label"]].tolist() == ["green", "red"]
    assert issues.loc[flipped[1], ["given_label", "likely_label"]].tolist() == ["red", "blue"]
    assert issues.loc[flipped[0], "labels"] == ["green"]
    assert (issues["given_confidence"] < issues["likely_confidence"]).all()
    assert issues["given_confidence"].is_monotonic_increasing  # most suspicious first
    assert issues.attrs["estimated_issues"] >= 1
    assert issues.attrs["not_checked"] == []
    assert issues.attrs["without_features"] == 0
    assert "reason" not in issues.attrs
    # the plug-in's features are kept under its name, as compute_features keeps them
    assert ds.has_features("colours")


def test_label_issues_needs_features(ds: Dataset, flipped: list[str]) -> None:
    with pytest.raises(LabelerError, match="compute_features"):
        ds.label_issues()


def test_two_labels_are_the_binary_case(folder: Path, tmp_path: Path) -> None:
    with Dataset.open(folder, output=tmp_path / "two", author="alice") as ds:
        label_by_kind(ds, ("red", "blue"))
        wrong = ids_of(ds, "red")[3]
        flip(ds, wrong, "red", "blue")
        issues = ds.label_issues(colours)
        assert issues.index.tolist() == [wrong]
        assert issues.loc[wrong, "likely_label"] == "red"


def test_one_label_cannot_be_judged_and_says_so(folder: Path, tmp_path: Path) -> None:
    with Dataset.open(folder, output=tmp_path / "one", author="alice") as ds:
        ds.add_label("red", ds.ids())
        issues = ds.label_issues(colours)
        assert issues.empty
        assert "one label only" in issues.attrs["reason"]


def test_labels_with_fewer_than_five_images_are_not_checked(folder: Path, tmp_path: Path) -> None:
    with Dataset.open(folder, output=tmp_path / "few", author="alice") as ds:
        label_by_kind(ds, ("red", "green"))
        few = ids_of(ds, "blue")[:4]
        ds.add_label("blue", few)
        flip(ds, ids_of(ds, "green")[0], "green", "red")
        issues = ds.label_issues(colours)
        assert issues.attrs["not_checked"] == ["blue"]
        assert not set(few) & set(issues.index)
        assert "blue" not in set(issues["likely_label"])  # never told to carry it either
        assert issues.index.tolist() == [ids_of(ds, "green")[0]]
        with_min = ds.label_issues(colours, min_per_label=3)
        assert with_min.attrs["not_checked"] == []


def test_an_image_with_several_labels_shows_its_weakest_with_all_its_labels(
    ds: Dataset,
) -> None:
    label_by_kind(ds)
    extra = ids_of(ds, "green")[2]
    ds.add_label("blue", [extra])  # a green image also called blue: that label is wrong
    issues = ds.label_issues(colours)
    assert extra in issues.index
    row = issues.loc[extra]
    assert row["given_label"] == "blue"
    assert sorted(row["labels"]) == ["blue", "green"]
    assert issues.attrs["flagged_labels"] >= 1


def test_empty_views_give_empty_answers(ds: Dataset) -> None:
    issues = ds.label_issues(colours)  # nothing labeled yet
    assert issues.empty
    assert issues.attrs["reason"] == "no image has a label"
    (Path(ds.source_url.removeprefix("file://")) / "late.png").write_bytes(png("red", 50))
    ds.sync()
    late = [i for i, p in ds.paths().items() if p == "late.png"]
    ds.add_label("red", late)  # labeled after the features were computed
    issues = ds.label_issues("colours")
    assert issues.empty
    assert issues.attrs["without_features"] == 1
    assert "no labeled image has features" in issues.attrs["reason"]
    ds.remove_label("red", late)
    label_by_kind(ds)
    group = ds.groups(3, view="unlabeled", embedder="colours")  # every image is labeled
    assert group.empty
    assert group.attrs["k"] == 0


# -- confirm_labels: checked marks ------------------------------------------------------------
def test_a_confirmed_label_is_left_out_and_undo_brings_it_back(
    ds: Dataset, flipped: list[str]
) -> None:
    issues = ds.label_issues(colours)
    result = ds.confirm_labels(issues.loc[[flipped[0]]])
    assert result.changed == 1
    assert result.saved
    after = ds.label_issues(colours)
    assert flipped[0] not in after.index
    assert flipped[1] in after.index
    assert after.attrs["confirmed"] == 1
    shown = ds.label_issues(colours, include_confirmed=True)
    assert flipped[0] in shown.index
    # the label itself is unchanged: same annotator, same time
    before = ds.annotations().set_index(["image_id", "label"])
    assert ds.undo_description == result.message
    again = ds.confirm_labels([flipped[0]], "green")
    assert again.changed == 0
    assert "checked already" in again.message
    ds.undo()
    assert flipped[0] in ds.label_issues(colours).index
    assert ds.annotations().set_index(["image_id", "label"]).equals(before)


def test_confirm_labels_by_ids_and_label_and_unknown_names(ds: Dataset, flipped: list[str]) -> None:
    with pytest.raises(UnknownLabelError):
        ds.confirm_labels(flipped, "purple")
    with pytest.raises(UnknownImageError):
        ds.confirm_labels(["no-such-image"], "red")
    assert ds.confirm_labels(flipped).changed == 2  # every label of those images
    assert ds.label_issues(colours).empty
    # an image that does not carry the label is passed over
    assert ds.confirm_labels([ids_of(ds, "green")[1]], "red").changed == 0


def test_confirmed_pairs_persist_across_reopen_snapshot_and_other_replicas(
    ds: Dataset, flipped: list[str]
) -> None:
    ds.label_issues(colours)
    other = reopen(ds, "bob")  # a second annotator, open before the mark
    ds.confirm_labels([flipped[0]], "green")
    assert ds.flush()
    other.refresh()
    assert flipped[0] not in other.label_issues("colours").index
    other.close()
    fresh = reopen(ds, "carol")
    assert flipped[0] not in fresh.label_issues("colours").index
    fresh.close()
    ds.save()  # compacted: the mark is in the snapshot and the manifest
    lines = [orjson.loads(line) for line in ds.manifest_bytes().splitlines() if line]
    marked = [
        a
        for line in lines
        for a in line.get("annotation", [])
        if CHECKED_BY in (a.get("property") or {})
    ]
    assert len(marked) == 1
    assert marked[0]["name"] == "green"
    assert marked[0]["property"][CHECKED_BY] == "alice"
    assert marked[0]["type"] == "modelarts/image_classification"
    after_save = reopen(ds, "dave")
    assert after_save.problems == []
    assert flipped[0] not in after_save.label_issues("colours").index
    after_save.close()


def test_a_manifest_alone_keeps_the_marks(ds: Dataset, flipped: list[str], tmp_path: Path) -> None:
    ds.confirm_labels([flipped[0]], "green")
    manifest = ds.manifest_bytes()
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "dataset.manifest").write_bytes(manifest)
    with Dataset.open(ds.source_url, output=alone, author="eve") as copy:
        copy.compute_features(colours, progress=False)
        assert flipped[0] not in copy.label_issues("colours").index
        assert copy.manifest_bytes() == manifest


def test_marks_on_s3_reach_a_second_replica(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    for kind in KINDS:
        for i in range(8):
            fs.pipe(f"{s3_bucket}/imgs/{kind}_{i:02d}.png", png(kind, i))
    url = f"s3://{s3_bucket}/imgs"
    alice = Dataset.open(url, storage_options=s3_options, author="alice")
    bob = Dataset.open(url, storage_options=s3_options, author="bob")
    try:
        label_by_kind(alice)
        wrong = ids_of(alice, "red")[0]
        flip(alice, wrong, "red", "blue")
        assert wrong in alice.label_issues(colours).index
        alice.confirm_labels([wrong], "blue")
        assert alice.flush()
        bob.refresh()
        assert wrong not in bob.label_issues("colours").index
        assert wrong in bob.label_issues("colours", include_confirmed=True).index
    finally:
        alice.close()
        bob.close()


def test_marks_ahead_of_the_stores_clock_are_not_honoured(
    s3_bucket: str, s3_options: dict[str, Any]
) -> None:
    """Marks that came with no checked operation of their own (annotation fields of a label+)
    count only up to the bound the journal's names have: five minutes past the store's clock."""
    import s3fs

    fs = s3fs.S3FileSystem(**s3_options)
    for kind in KINDS:
        for i in range(8):
            fs.pipe(f"{s3_bucket}/imgs/{kind}_{i:02d}.png", png(kind, i))
    url = f"s3://{s3_bucket}/imgs"
    alice = Dataset.open(url, storage_options=s3_options, author="alice")
    try:
        label_by_kind(alice)
        wrong = ids_of(alice, "red")[:2]
        for image_id in wrong:
            flip(alice, image_id, "red", "blue")
        assert set(wrong) <= set(alice.label_issues(colours).index)

        def soon(seconds: int) -> str:
            return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + seconds))

        extra = {
            wrong[0]: {"property": {CHECKED_BY: "mallory", CHECKED_AT: soon(120)}},
            wrong[1]: {"property": {CHECKED_BY: "mallory", CHECKED_AT: soon(3600)}},
        }
        event = {
            "v": 2,
            "action": "add_label",
            "author": "mallory",
            "ops": [
                {"op": "label-", "label": "blue", "ids": wrong},
                {"op": "label+", "label": "blue", "ids": wrong, "extra": extra},
            ],
        }
        journal_object(alice, event)
        bob = Dataset.open(url, storage_options=s3_options, author="bob")
        issues = bob.label_issues("colours")
        assert wrong[0] not in issues.index
        assert wrong[1] in issues.index
        assert "1 checked marks are not honoured" in "\n".join(bob.problems)
        bob.close()
    finally:
        alice.close()


# -- hostile journal data -----------------------------------------------------------------------
def journal_object(ds: Dataset, event: Any, *, offset_ms: int = 0) -> str:
    name = f"{int(time.time() * 1000) + offset_ms:013d}-{os.urandom(6).hex()}-00000001"
    ds.output.write(f"journal/{name}.json", orjson.dumps(event))
    return name


def test_hostile_checked_operations_are_refused_or_not_honoured(
    ds: Dataset, flipped: list[str]
) -> None:
    ds.compute_features(colours, progress=False)
    assert ds.flush()
    event = {
        "v": 2,
        "action": "confirm_labels",
        "author": "mallory",
        "time": "2026-01-01 00:00:00",
        "ops": [
            {"op": "checked", "label": "../..", "ids": [flipped[0]], "by": "mallory"},
            {"op": "checked", "label": "green", "ids": "everything", "by": "mallory"},
            {"op": "checked", "label": "green", "ids": [flipped[0]], "by": "m" * 10_000},
            {"op": "checked", "label": "green", "ids": [flipped[0]], "by": ["a", "b"]},
            {"op": "checked", "label": "green", "ids": ["x" * 5000], "by": "mallory"},
            # unknown ids are passed over; a time far in the future is read as the action's
            {
                "op": "checked",
                "label": "green",
                "ids": ["no-such-image", flipped[0]],
                "by": "mallory",
                "at": "2999-01-01 00:00:00",
            },
            {"op": "checked", "label": "red", "ids": [flipped[1]], "by": "mallory", "at": "soon"},
            # a mark in another's name (and too long to honour) riding in annotation fields
            {
                "op": "label+",
                "label": "purple",
                "ids": [ids_of(ds, "green")[5]],
                "extra": {
                    ids_of(ds, "green")[5]: {
                        "property": {CHECKED_BY: "m" * 10_000, CHECKED_AT: "2026-01-01 00:00:00"}
                    }
                },
            },
        ],
    }
    name = journal_object(ds, event)
    reader = reopen(ds, "reader")
    for number, why in [
        (1, "naming rules"),
        (2, "'ids' must be a list"),
        (3, "longer than"),
        (4, "2 entries for 1 images"),
        (5, "not an image id"),
    ]:
        assert any(f"operation {number} " in p and why in p for p in reader.problems), why
    assert not any(f"operation {n} " in p for n in (6, 7) for p in reader.problems)
    why = "carried a checked mark of another annotator"  # operation 8's
    assert sum(why in p for p in reader.problems) == 1
    issues = reader.label_issues("colours")
    assert set(issues.index) == {flipped[1]}  # "soon" is no time
    problems = "\n".join(reader.problems)
    assert "1 checked marks are not honoured" in problems
    (mark,) = [
        a["property"]
        for line in reader.manifest_bytes().splitlines()
        for a in orjson.loads(line).get("annotation", [])
        if a.get("property", {}).get(CHECKED_BY) == "mallory" and a["name"] == "green"
    ]
    named = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(name[:13]) / 1000))
    assert mark[CHECKED_AT] == named
    reader.close()


# -- relabel --------------------------------------------------------------------------------------
def test_taking_the_likely_labels_is_one_undoable_action(ds: Dataset, flipped: list[str]) -> None:
    issues = ds.label_issues(colours)
    result = ds.relabel(issues)
    assert result.changed == 2
    assert ds.labels_of(flipped) == {flipped[0]: ["red"], flipped[1]: ["blue"]}
    assert ds.label_issues(colours).empty
    by = ds.annotations().set_index(["image_id", "label"])["annotated_by"]
    assert by[(flipped[0], "red")] == "alice"
    ds.undo()
    assert ds.labels_of(flipped) == {flipped[0]: ["green"], flipped[1]: ["red"]}
    assert set(ds.label_issues(colours).index) == set(flipped)


def test_relabel_by_ids_marks_the_new_label_checked(ds: Dataset, flipped: list[str]) -> None:
    result = ds.relabel([flipped[0]], "green", "red")
    assert result.changed == 1
    assert ds.labels_of([flipped[0]]) == {flipped[0]: ["red"]}
    lines = [orjson.loads(line) for line in ds.manifest_bytes().splitlines() if line]
    (line,) = [x for x in lines if x["id"] == flipped[0]]
    (annotation,) = line["annotation"]
    assert annotation["name"] == "red"
    assert set(annotation["property"]) == {CHECKED_BY, CHECKED_AT}
    with pytest.raises(ValueError, match="old and new"):
        ds.relabel([flipped[0]], "red")
    assert ds.relabel([flipped[0]], "green", "blue").changed == 0  # it no longer has green


def test_an_image_with_two_labels_loses_the_wrong_one(ds: Dataset) -> None:
    label_by_kind(ds)
    extra = ids_of(ds, "green")[2]
    ds.add_label("blue", [extra])
    issues = ds.label_issues(colours)
    row = issues.loc[[extra]]
    assert row["likely_label"].iloc[0] == "green"  # the one it already carries
    ds.relabel(row)
    assert ds.labels_of([extra]) == {extra: ["green"]}


# -- groups ---------------------------------------------------------------------------------------
def test_groups_put_each_kind_apart_numbered_largest_first(ds: Dataset, tmp_path: Path) -> None:
    (Path(ds.source_url.removeprefix("file://")) / "red_99.png").write_bytes(png("red", 99))
    ds.sync()
    ds.compute_features(colours, progress=False)
    group = ds.groups(3, embedder="colours")
    assert isinstance(group, pd.Series)
    assert group.index.name == "image_id"
    assert len(group) == len(ds)
    for kind in KINDS:
        assert group[ids_of(ds, kind)].nunique() == 1
    assert group[ids_of(ds, "red")].iloc[0] == 0  # 13 red images: the largest group
    assert group.attrs["sizes"] == [13, 12, 12]
    assert group.equals(ds.groups(3, embedder="colours"))
    chosen = ds.groups(embedder="colours")
    assert chosen.attrs["k"] == 3
    label_by_kind(ds, ("red",))
    assert set(ds.groups(2, embedder="colours").index) == set(ds.ids("unlabeled"))
    with pytest.raises(ValueError, match="nowhere"):
        ds.groups(3, view="nowhere", embedder="colours")


def test_marks_and_relabel_on_images_shared_by_a_team(folder: Path) -> None:
    lead = Dataset.open(folder, author="lead")
    lead.assign(["alice", "bob"], overlap=1.0)  # every image to both
    alice = Dataset.open(folder, author="alice")
    bob = Dataset.open(folder, author="bob")
    try:
        for who in (alice, bob):
            label_by_kind(who)
        wrong = ids_of(alice, "red")[0]
        for who in (alice, bob):  # both call it green: they agree, and are wrong
            who.refresh()
            flip(who, wrong, "red", "green")
            assert who.flush()
        lead.refresh()
        issues = lead.label_issues(colours)
        assert issues.index.tolist() == [wrong]
        assert lead.confirm_labels(issues).changed == 1
        assert lead.label_issues("colours").empty
        lead.undo()
        assert lead.relabel(issues).changed == 1
        assert lead.flush()
        reader = reopen(lead, "reader")
        assert reader.labels_of([wrong]) == {wrong: ["red"]}
        assert reader.problems == []
        reader.close()
        lead.undo()
        assert lead.labels_of([wrong]) == {wrong: ["green"]}
    finally:
        for who in (lead, alice, bob):
            who.close()
