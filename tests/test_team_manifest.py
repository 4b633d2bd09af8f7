"""A team dataset's manifest reads, for ModelArts, like any other: one annotation per label.

Who said what on a shared image is kept in the sample's ``property``
(``@jupyter_labeler:labels_by``), ``annotated-by`` is written as ModelArts' own manifests write
it (``human/<user>/<user>``) and read back in every form, and the manifest alone gives back the
whole team state. Older manifests, with one annotation per annotator, still open right.
"""

from __future__ import annotations

import secrets
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from imagegen import image_folder
from manifest_reference import reference_parse

from jupyter_labeler import Dataset

CLS = "modelarts/image_classification"
OURS = "@jupyter_labeler:"
T = "2026-01-01 00:00:00"
COLUMNS = ["labels", "assigned_to", "review", "reviewed_by", "review_reason"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 12)


def open_as(folder: Path, author: str) -> Dataset:
    return Dataset.open(folder, author=author)


def fresh_from(folder: Path, manifest: bytes, author: str = "x") -> Dataset:
    """A new dataset of the same images whose output folder holds only ``manifest``."""
    out = folder.parent / f"fresh-{secrets.token_hex(3)}"
    out.mkdir()
    (out / "dataset.manifest").write_bytes(manifest)
    return Dataset.open(folder, output=out, author=author)


def sample_list(ds: Dataset, data: bytes) -> tuple[list[list[str]], str]:
    """What the ModelArts SDK's ``get_sample_list`` hands training code: each sample's label
    names, in order, and "multi" when some sample has more than one annotation (read with the
    reference reader, which follows the SDK's reading rules)."""
    rows, labels, problems, _merged, _foreign = reference_parse(
        data, where="m", relative=ds.relative_path
    )
    assert problems == []
    names: list[list[str]] = [[] for _ in rows.ids]
    for row, name, *_rest in labels:
        names[row].append(name)
    return names, "multi" if any(len(n) > 1 for n in names) else "single"


def team_dataset(folder: Path, *, agree: bool) -> tuple[Dataset, list[str]]:
    """Images 0-5 shared by alice and bob, 6-8 alice's alone; both label every image of
    theirs cat (``agree``), or bob says dog on 3-5. The lead reviews some."""
    lead = open_as(folder, "lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:6], overlap=1.0, seed=0)
    lead.assign(["alice"], ids=ids[6:9])
    alice, bob = open_as(folder, "alice"), open_as(folder, "human/bob/bob")
    alice.add_label("cat", ids[:9])
    bob.add_label("cat", ids[:3] if not agree else ids[:6])
    if not agree:
        bob.add_label("dog", ids[3:6])
    lead.refresh()
    lead.review(ids[:2], accept=False, reason='said "no" <b>')
    lead.review(ids[6:8])
    return lead, ids


def team_of(ds: Dataset) -> tuple[Any, ...]:
    """Everything the dataset shows of its team work."""
    mine = {
        who: list(Dataset.open(ds.source_url, output=ds.output_url, author=who).ids("mine"))
        for who in ("alice", "bob")
    }
    return (
        ds.images[COLUMNS].astype(str),
        ds.annotations().astype(str),
        ds.agreement().sort_index(),
        ds.disagreements().astype(str),
        ds.progress(),
        mine,
    )


def same(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    for x, y in zip(a, b, strict=True):
        if hasattr(x, "equals"):
            assert x.equals(y), (x, y)
        else:
            assert x == y


# -- for ModelArts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("agree", [True, False])
def test_no_sample_lists_a_name_twice(folder: Path, agree: bool) -> None:
    lead, _ids = team_dataset(folder, agree=agree)
    data = lead.manifest_bytes()
    names, label_type = sample_list(lead, data)
    assert all(len(n) == len(set(n)) for n in names)
    if agree:  # every image has one label: a single-label set, as for one annotator
        assert label_type == "single"
        assert Counter(len(n) for n in names) == {1: 9, 0: 3}
    else:  # the union of what they said: cat and dog on 3-5, each once
        assert label_type == "multi"
        assert sorted(names[k] for k in range(3, 6)) == [["cat", "dog"]] * 3
    for line in map(orjson.loads, data.splitlines()):
        annotated = [a["annotated-by"] for a in line.get("annotation", [])]
        assert set(annotated) <= {"human/alice/alice", "human/bob/bob"}
    lead.save()
    assert (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes() == data


def test_who_said_what_is_kept_in_the_property(folder: Path) -> None:
    lead, ids = team_dataset(folder, agree=False)
    lines = {orjson.loads(x)["id"]: orjson.loads(x) for x in lead.manifest_bytes().splitlines()}
    shared = lines[ids[3]]
    assert [a["name"] for a in shared["annotation"]] == ["cat", "dog"]
    said = shared["property"][OURS + "labels_by"]
    assert list(said) == ["alice", "bob"]
    assert {who: list(labels) for who, labels in said.items()} == {
        "alice": ["cat"],
        "bob": ["dog"],
    }
    assert all(
        isinstance(when, str) and when for labels in said.values() for when in labels.values()
    )
    # an image of one annotator carries no such key; one without team work no property at all
    assert OURS + "labels_by" not in lines[ids[6]]["property"]
    assert "property" not in lines[ids[10]]


@pytest.mark.parametrize("agree", [True, False])
def test_a_team_manifest_opened_alone_gives_the_same_team(folder: Path, agree: bool) -> None:
    lead, ids = team_dataset(folder, agree=agree)
    # alice labeled image 8 while it was hers alone; shared now, it waits for her own answer
    # (the image's cat annotation is hers, but says nothing of what she says as one of two)
    lead.assign(["alice", "bob"], ids=ids[8:9], overlap=1.0)
    assert ids[8] in set(open_as(folder, "alice").ids("mine"))
    data = lead.manifest_bytes()
    before = team_of(lead)
    fresh = fresh_from(folder, data)
    assert fresh.problems == []
    same(team_of(fresh), before)
    assert fresh.manifest_bytes() == data  # and writes it back the same
    lead.save()  # and from a snapshot's files
    same(team_of(open_as(folder, "x")), before)


def test_an_older_manifest_with_one_annotation_per_annotator_opens_right(folder: Path) -> None:
    ds = open_as(folder, "x")
    ids = list(ds.ids())
    paths = ds.paths()

    def line(k: int, said: list[tuple[str, str]], **prop: Any) -> bytes:
        return orjson.dumps(
            {
                "source": f"{folder}/{paths[ids[k]]}",
                "usage": "",
                "id": ids[k],
                "annotation": [
                    {
                        "type": CLS,
                        "name": n,
                        "annotated-by": by,
                        "creation-time": f"2026-01-01 00:00:0{k}",
                    }
                    for n, by in said
                ],
                "property": {OURS + key: v for key, v in prop.items()},
            }
        )

    pair = ["alice", "bob"]
    old = b"\n".join(
        [
            # both say cat: the name twice, once per annotator (bare names, and ModelArts')
            line(0, [("cat", "alice"), ("cat", "bob")], assigned_to=pair),
            line(1, [("cat", "human/alice/alice"), ("cat", "human/bob/bob")], assigned_to=pair),
            # they disagree
            line(
                2,
                [("cat", "alice"), ("dog", "bob")],
                assigned_to=pair,
                review="rejected",
                reviewed_by="lead",
                reviewed_at="2026-01-02 00:00:00",
                review_reason="which?",
            ),
            # only alice said something yet
            line(3, [("cat", "alice")], assigned_to=pair),
            # one annotator's image
            line(4, [("dog", "alice")], assigned_to=["alice"]),
        ]
    )
    fresh = fresh_from(folder, old + b"\n")
    assert fresh.problems == []
    assert fresh.labels_of(ids[:5]) == {
        ids[0]: ["cat"],
        ids[1]: ["cat"],
        ids[2]: ["cat", "dog"],
        ids[3]: ["cat"],
        ids[4]: ["dog"],
    }
    found = fresh.disagreements()
    assert set(found["image_id"]) == {ids[2]}
    assert {r.annotator: r.labels for r in found.itertuples()} == {"alice": ["cat"], "bob": ["dog"]}
    assert fresh.agreement().loc["(overall)", "images"] == 3
    assert list(fresh.progress().loc[["alice", "bob"], "labeled"]) == [5, 3]
    assert fresh.images.loc[ids[2], "review_reason"] == "which?"
    # written back in today's form: one annotation per label, who said what in the property
    lines = {orjson.loads(x)["id"]: orjson.loads(x) for x in fresh.manifest_bytes().splitlines()}
    assert [a["name"] for a in lines[ids[0]]["annotation"]] == ["cat"]
    assert lines[ids[0]]["annotation"][0]["annotated-by"] == "human/alice/alice"
    assert lines[ids[1]]["property"][OURS + "labels_by"] == {
        "alice": {"cat": "2026-01-01 00:00:01"},
        "bob": {"cat": "2026-01-01 00:00:01"},
    }
    assert lines[ids[3]]["property"][OURS + "labels_by"] == {
        "alice": {"cat": "2026-01-01 00:00:03"}
    }


def test_annotated_by_is_read_back_in_every_form(folder: Path) -> None:
    ds = open_as(folder, "x")
    ids = list(ds.ids())
    paths = ds.paths()
    forms = [
        {"annotated-by": "alice"},
        {"annotated-by": "human/alice/alice"},
        {"annotated_by": "human/bob/bob"},
        {"annotated-by": "human"},
        {"annotated-by": "modelarts/auto_label"},
        {},
    ]
    data = b"\n".join(
        orjson.dumps(
            {
                "source": f"{folder}/{paths[ids[k]]}",
                "annotation": [{"type": CLS, "name": "cat", **form}],
            }
        )
        for k, form in enumerate(forms)
    )
    fresh = fresh_from(folder, data + b"\n", author="human/carol/carol")
    table = fresh.annotations().set_index("image_id")
    assert [table.loc[ids[k], "annotated_by"] for k in range(6)] == [
        "alice",
        "alice",
        "bob",
        "human",
        "modelarts/auto_label",
        "",
    ]
    assert fresh.author == "carol"  # named as ModelArts names its users: the same author
    fresh.add_label("dog", ids[:1])
    written = {orjson.loads(x)["id"]: orjson.loads(x) for x in fresh.manifest_bytes().splitlines()}
    by = [[a.get("annotated-by") for a in written[ids[k]]["annotation"]] for k in range(6)]
    assert by == [
        ["human/alice/alice", "human/carol/carol"],
        ["human/alice/alice"],
        ["human/bob/bob"],
        ["human"],
        ["modelarts/auto_label"],
        [None],
    ]


def test_refused_own_labels_in_a_manifest_are_named(folder: Path) -> None:
    ds = open_as(folder, "x")
    ids = list(ds.ids())
    paths = ds.paths()
    pair = ["alice", "bob"]

    def line(k: int, labels_by: Any) -> bytes:
        return orjson.dumps(
            {
                "source": f"{folder}/{paths[ids[k]]}",
                "annotation": [{"type": CLS, "name": "cat", "annotated-by": "alice"}],
                "property": {OURS + "assigned_to": pair, OURS + "labels_by": labels_by},
            }
        )

    data = b"\n".join(
        [
            line(0, {"alice": {"cat": T}, "bob": {"cat": T}}),
            line(1, {"alice": {"dog": T}}),  # the image carries no dog
            line(2, {"mallory": {"cat": T}}),  # not one of its annotators
            line(3, ["alice", "cat"]),  # no map
            line(4, {" x": {"cat": T}, "alice": ["cat"]}),
        ]
    )
    fresh = fresh_from(folder, data + b"\n")
    assert set(fresh.disagreements()["image_id"]) == set()
    assert fresh.agreement().loc["(overall)", "images"] == 1
    problems = "\n".join(fresh.problems)
    for kind in (
        "own labels of a label their image does not carry: 1 refused",
        "own labels of someone who is not one of the image's several annotators: 1 refused",
        "own labels that are no map of annotators to their labels: 1 refused",
        "own labels of no annotator's name: 1 refused",
        "own labels that are no map of labels to when they were given: 1 refused",
    ):
        assert kind in problems, kind
    # the images themselves keep their labels, and nobody's own ones are invented
    assert set(fresh.with_label("cat").index) == set(ids[:5])
    assert list(fresh.progress().loc[["alice", "bob"], "labeled"]) == [1, 1]
