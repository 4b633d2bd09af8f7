"""The usual manifest (every line gives its own id, every source once) is read without a
Python string per id or path; one irregular line anywhere still gets the careful reading,
and the reader agrees with the line-by-line reference either way."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from manifest_reference import reference_parse

from jupyter_labeler import Dataset
from jupyter_labeler.manifest import parse_manifest

ROOT = "s3://bucket/flowers/"
CLS = "modelarts/image_classification"


def relative(url: str) -> str | None:
    return url[len(ROOT) :] if url.startswith(ROOT) else None


def usual(n: int) -> list[dict]:
    return [
        {
            "source": f"{ROOT}part_{k % 3}/img_{k:04d}.jpg",
            "usage": "TRAIN" if k % 2 else "eval",
            "id": f"{k * 7919:016x}",
            "annotation": [{"type": CLS, "name": f"c{k % 4}", "annotated-by": "human/a/a"}],
        }
        for k in range(n)
    ]


def irregular(kind: str, records: list[dict]) -> list[dict]:
    """``records`` with one line (the seventh) made irregular in the way ``kind`` says."""
    records = [dict(r) for r in records]
    odd = records[7]
    if kind == "empty id":
        odd["id"] = ""
    elif kind == "no id":
        del odd["id"]
    elif kind == "id used twice":
        odd["id"] = records[2]["id"]
    elif kind == "source repeated":
        odd["source"] = records[3]["source"]
    elif kind == "source outside":
        odd["source"] = "s3://elsewhere/x.jpg"
    elif kind == "suspect path":
        odd["source"] = ROOT + "a/../b.jpg"
    return records


KINDS = [
    "none",
    "empty id",
    "no id",
    "id used twice",
    "source repeated",
    "source outside",
    "suspect path",
]


@pytest.mark.parametrize("kind", KINDS)
def test_the_reader_agrees_with_the_reference_with_or_without_one_irregular_line(
    kind: str,
) -> None:
    data = b"\n".join(orjson.dumps(r) for r in irregular(kind, usual(40))) + b"\n"
    fast = parse_manifest(data, where="m", relative=relative)
    rows, labels, problems, merged, foreign = reference_parse(data, where="m", relative=relative)
    assert list(fast.rows.paths) == list(rows.paths)
    assert list(fast.rows.ids) == list(rows.ids)
    assert list(fast.rows.usage) == list(rows.usage)
    assert list(fast.rows.extra) == list(rows.extra)
    assert fast.labels == labels
    assert fast.merged == merged
    assert fast.foreign == foreign
    assert sorted(fast.problems) == sorted(problems)
    # an empty or absent id is replaced without a word; the others are reported
    assert bool(fast.problems) == (kind not in {"none", "empty id", "no id"})
    if kind in {"empty id", "no id", "id used twice"}:
        assert len(set(fast.rows.ids)) == len(fast.rows.ids)
        assert fast.rows.ids[7] not in {r.get("id") for r in irregular(kind, usual(40))}
    state = fast.to_state()
    assert state.id_column().to_pylist() == list(rows.ids)
    assert state.path_column().to_pylist() == list(rows.paths)


@pytest.mark.parametrize("kind", ["none", "id used twice", "source repeated"])
def test_a_first_open_keeps_the_given_ids_and_paths(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "images"
    (folder / ".jupyter_labeler").mkdir(parents=True)
    records = irregular(kind, usual(30))
    for r in records:
        r["source"] = f"{folder}/{r['source'][len(ROOT) :]}"
    manifest = b"\n".join(orjson.dumps(r) for r in records)
    (folder / ".jupyter_labeler" / "dataset.manifest").write_bytes(manifest)
    ds = Dataset.open(folder, author="alice")
    kept = [r for k, r in enumerate(records) if not (kind == "source repeated" and k == 7)]
    ids = list(ds.ids("all"))
    paths = ds.paths()
    assert len(ids) == len(kept)
    for k, (image_id, record) in enumerate(zip(ids, kept, strict=True)):
        if kind == "id used twice" and k == 7:
            assert image_id not in {r["id"] for r in records}
        else:
            assert image_id == record["id"]
        assert f"{folder}/{paths[image_id]}" == record["source"]
    assert bool(ds.problems) == (kind != "none")


def normalizing(url: str) -> str | None:
    """As a dataset reads a source: repeated slashes and ``./`` taken out of its path."""
    if not url.startswith(ROOT):
        return None
    return re.sub("/+", "/", url[len(ROOT) :]).replace("/./", "/").removeprefix("./")


def test_sources_spelled_oddly_after_the_scheme_are_read_as_the_dataset_reads_them() -> None:
    # The "://" of the scheme is on every line; a "//" or "://" after it is not plain text.
    records = usual(300)
    odd = ["part_1//img_a.jpg", "part_1/x://img_b.jpg", "./part_2/img_c.jpg", "part_2/./d.jpg"]
    for k, path in zip((10, 150, 151, 299), odd, strict=True):
        records[k]["source"] = ROOT + path
    data = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    fast = parse_manifest(data, where="m", relative=normalizing)
    rows, labels, problems, *_ = reference_parse(data, where="m", relative=normalizing)
    assert list(fast.rows.paths) == list(rows.paths)
    assert fast.rows.paths[150] == "part_1/x:/img_b.jpg"
    assert fast.labels == labels
    assert sorted(fast.problems) == sorted(problems)
