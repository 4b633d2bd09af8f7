"""Manifests in, as ModelArts writes them: labels land with their own authors and times, and
the variants ModelArts produces round-trip line by line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from imagegen import image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.formats import export_labels, import_labels

CLS = "modelarts/image_classification"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    for i, name in enumerate(["a.jpg", "b.jpg", "sub/c.jpg", "d.jpg"]):
        (images / name).write_bytes(image_bytes(i))
    return images


@pytest.fixture
def dataset(folder: Path, tmp_path: Path) -> Iterator[Dataset]:
    ds = Dataset.open(folder, output=tmp_path / "out", author="importer")
    yield ds
    ds.close()


def test_manifest_import_keeps_foreign_authors_and_times(
    dataset: Dataset, folder: Path, tmp_path: Path
) -> None:
    lines = [
        {
            "source": f"{folder}/a.jpg",
            "annotation": [
                {
                    "type": CLS,
                    "name": "roses",
                    "annotated-by": "human/alice/alice",
                    "creation-time": "2020-01-02 03:04:05",
                },
            ],
        },
        {
            "source": f"{folder}/sub/c.jpg",
            "annotation": [
                {
                    "type": CLS,
                    "name": "roses",
                    "annotated_by": "bob",
                    "creation_time": "2021-05-06 07:08:09",
                },
                {"type": CLS, "name": "tulips"},
            ],
        },
    ]
    (tmp_path / "in.manifest").write_bytes(b"\n".join(orjson.dumps(x) for x in lines))
    report = import_labels(dataset, "manifest", str(tmp_path / "in.manifest"))
    assert report.added == {"roses": 2, "tulips": 1}
    table = dataset.annotations().set_index(["path", "label"])
    assert table.loc[("a.jpg", "roses"), "annotated_by"] == "alice"  # ModelArts' human/alice/alice
    assert table.loc[("a.jpg", "roses"), "created_at"] == "2020-01-02 03:04:05"
    assert table.loc[("sub/c.jpg", "roses"), "annotated_by"] == "bob"
    assert table.loc[("sub/c.jpg", "tulips"), "annotated_by"] == ""
    export_labels(dataset, "manifest", str(tmp_path / "back.manifest"))
    back = {
        r["source"].rsplit("/", 1)[-1]: r.get("annotation")
        for r in map(orjson.loads, (tmp_path / "back.manifest").read_bytes().splitlines())
    }
    assert back["a.jpg"] == lines[0]["annotation"]
    # underscore spellings come back hyphenated, a plain name in ModelArts' form; absent stays
    # absent
    assert back["c.jpg"] == [
        {
            "type": CLS,
            "name": "roses",
            "annotated-by": "human/bob/bob",
            "creation-time": "2021-05-06 07:08:09",
        },
        {"type": CLS, "name": "tulips"},
    ]
    # undo takes the import back like any action
    dataset.undo()
    dataset.undo()
    assert dataset.annotations().empty


def test_each_image_keeps_its_own_author_whatever_the_line_order(
    dataset: Dataset, folder: Path, tmp_path: Path
) -> None:
    order = ["d.jpg", "sub/c.jpg", "a.jpg", "b.jpg"]  # not the dataset's own order
    lines = [
        {
            "source": str(folder / path),
            "annotation": [
                {"type": CLS, "name": "cat", "annotated-by": f"by {path}", "creation-time": f"t{k}"}
            ],
        }
        for k, path in enumerate(order)
    ]
    (tmp_path / "in.manifest").write_bytes(b"\n".join(orjson.dumps(x) for x in lines))
    import_labels(dataset, "manifest", str(tmp_path / "in.manifest"))
    for ds in (dataset, Dataset.open(folder, output=tmp_path / "out")):
        table = ds.annotations().set_index("path")
        for k, path in enumerate(order):
            assert table.loc[path, "annotated_by"] == f"by {path}"
            assert table.loc[path, "created_at"] == f"t{k}"
