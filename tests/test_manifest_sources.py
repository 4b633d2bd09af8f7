"""Manifest sources round-trip exactly: spellings are kept, lines naming no image of the dataset
are kept verbatim, and OBS datasets write ``s3://`` as ModelArts does."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from imagegen import fill_folder, image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.storage import open_store


def lines_of(data: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


def test_local_spellings_and_foreign_lines_come_back_as_they_were(tmp_path: Path) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 4)
    out = tmp_path / ".jupyter_labeler"
    out.mkdir()
    written = [
        {"source": "./img_000.jpg", "usage": "TRAIN", "id": "a"},
        {"source": f"file://{tmp_path}/img_001.jpg", "usage": "EVAL", "id": "b"},
        {"source": f"{tmp_path}/img_002.jpg", "usage": "", "id": "c"},
        {"source": "/data/elsewhere/x.jpg", "usage": "TRAIN", "id": "d"},
        {"source": "../outside.jpg", "id": "e", "annotation": [{"name": "x"}]},
    ]
    raw = [orjson.dumps(line) for line in written]
    (out / "dataset.manifest").write_bytes(b"\n".join(raw) + b"\n")
    ds = Dataset.open(tmp_path, author="me")
    assert sorted(ds.images["path"]) == ["img_000.jpg", "img_001.jpg", "img_002.jpg"]
    ds.save()
    saved = (out / "dataset.manifest").read_bytes().splitlines()
    # Every line comes back exactly as it was written.
    assert sorted(saved) == sorted(raw)
    # And once more through a snapshot's Parquet copy.
    again = Dataset.open(tmp_path, author="me")
    again.sync()
    again.save()
    resaved = (out / "dataset.manifest").read_bytes().splitlines()
    assert set(raw) <= set(resaved)
    assert orjson.loads(next(x for x in resaved if b"img_003" in x))["source"] == str(
        tmp_path / "img_003.jpg"
    )


def test_a_journal_row_cannot_point_the_manifest_elsewhere(tmp_path: Path) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 1)
    ds = Dataset.open(tmp_path, author="me")
    row = {"id": "z", "path": "mine.jpg", "extra": {"\x00source": "s3://evil/trojan.jpg"}}
    (tmp_path / "mine.jpg").write_bytes(image_bytes(5))
    name = f"{int(time.time() * 1000):013d}-0abc-00000001"
    ds.output.write(
        f"journal/{name}.json", orjson.dumps({"ops": [{"op": "images+", "rows": [row]}]})
    )
    other = Dataset.open(tmp_path, author="other")
    sources = {line["id"]: line["source"] for line in lines_of(other.manifest_bytes())}
    assert sources["z"] == f"{tmp_path}/mine.jpg"


def test_s3_keeps_s3a_spellings(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    store = open_store(f"s3://{s3_bucket}/src", s3_options)
    store.write("a.jpg", image_bytes(1))
    store.write("b.jpg", image_bytes(2))
    raw = [
        orjson.dumps({"source": f"s3a://{s3_bucket}/src/a.jpg", "usage": "TRAIN", "id": "A"}),
        orjson.dumps({"source": f"s3://{s3_bucket}/src/b.jpg", "usage": "EVAL", "id": "B"}),
    ]
    store.write(".jupyter_labeler/dataset.manifest", b"\n".join(raw) + b"\n")
    ds = Dataset.open(f"s3://{s3_bucket}/src", storage_options=s3_options, author="me")
    assert sorted(ds.images["path"]) == ["a.jpg", "b.jpg"]
    ds.save()
    assert sorted(store.read(".jupyter_labeler/dataset.manifest").splitlines()) == sorted(raw)


def test_obs_datasets_write_s3_sources_and_read_both(
    s3_bucket: str, obs_options: dict[str, Any]
) -> None:
    url = f"obs://{s3_bucket}/src"
    store = open_store(url, obs_options)
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        store.write(name, image_bytes(len(name)))
    lines = [
        {"source": f"obs://{s3_bucket}/src/a.jpg", "id": "A", "annotation": [{"name": "x"}]},
        {"source": f"s3://{s3_bucket}/src/b.jpg", "id": "B", "annotation": [{"name": "y"}]},
    ]
    store.write(
        ".jupyter_labeler/dataset.manifest", b"\n".join(orjson.dumps(x) for x in lines) + b"\n"
    )
    ds = Dataset.open(url, storage_options=obs_options, author="me")
    assert ds.counts()["images"].to_dict() == {"x": 1, "y": 1}
    ds.sync()
    ds.save()
    sources = sorted(
        line["source"] for line in lines_of(store.read(".jupyter_labeler/dataset.manifest"))
    )
    assert sources == [f"s3://{s3_bucket}/src/{n}" for n in ("a.jpg", "b.jpg", "c.jpg")]
