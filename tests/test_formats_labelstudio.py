"""Label Studio: exported tasks pass its own validator; its exports (JSON current and old,
JSON_MIN, CSV, made by its own converter) land on the right images."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from imagegen import image_bytes
from label_studio_sdk.converter import Converter
from label_studio_sdk.label_interface import LabelInterface

from jupyter_labeler import Dataset
from jupyter_labeler.formats import export_labels, import_labels
from jupyter_labeler.formats.labelstudio import image_reference, label_config

PATHS = ["a.jpg", "batch2/b.jpg", "batch2/dup/c.jpg", "c.jpg", "d.jpg"]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "images"
    for i, path in enumerate(PATHS):
        (images / path).parent.mkdir(parents=True, exist_ok=True)
        (images / path).write_bytes(image_bytes(i))
    return images


@pytest.fixture
def dataset(folder: Path, tmp_path: Path) -> Iterator[Dataset]:
    ds = Dataset.open(folder, output=tmp_path / "out")
    yield ds
    ds.close()


def labels(ds: Dataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, name in zip(ds.annotations()["path"], ds.annotations()["label"], strict=True):
        out.setdefault(path, []).append(name)
    return {k: sorted(v) for k, v in sorted(out.items())}


def choice(*names: str, created: str = "2024-01-01T00:00:00.000000Z", **more: Any) -> dict:
    result = [
        {
            "type": "choices",
            "from_name": "choice",
            "to_name": "image",
            "value": {"choices": list(names)},
        }
    ]
    return {"result": result, "created_at": created, **more}


def test_exported_tasks_pass_label_studios_validator(dataset: Dataset, tmp_path: Path) -> None:
    ids = dataset.paths()
    by_path = dict(zip(ids.tolist(), ids.index.tolist(), strict=True))
    dataset.add_label("roses", [by_path["a.jpg"], by_path["batch2/b.jpg"]])
    dataset.add_label("郁金香", [by_path["batch2/b.jpg"]])
    export_labels(dataset, "labelstudio", str(tmp_path / "tasks.json"))
    tasks = orjson.loads((tmp_path / "tasks.json").read_bytes())
    interface = LabelInterface(label_config(dataset.label_names))
    assert len(tasks) == len(PATHS)
    for task in tasks:
        assert interface.validate_task({"data": task["data"]})
        for annotation in task["annotations"]:
            assert interface.validate_annotation(annotation)
    # the validator does refuse what the configuration does not allow
    assert not interface.validate_annotation(choice("tulips"))
    fresh_output = tmp_path / "again"
    fresh = Dataset.open(dataset.source_url, output=fresh_output)
    import_labels(fresh, "labelstudio", str(tmp_path / "tasks.json"))
    assert labels(fresh) == labels(dataset)
    fresh.close()


def foreign_tasks(key: str = "image") -> list[dict[str, Any]]:
    """Tasks as a Label Studio server exports them, in every way it names images."""
    return [
        {  # local storage, relative to the document root; the newest annotation wins
            "id": 1,
            "data": {key: "/data/local-files/?d=projects/flowers/batch2/dup/c.jpg"},
            "annotations": [
                choice("roses", created="2024-03-01T10:00:00.000000Z"),
                choice("tulips", created="2024-01-01T10:00:00.000000Z"),
                choice("daisy", created="2024-04-01T10:00:00.000000Z", was_cancelled=True),
            ],
        },
        {  # an upload: the folder is lost, the file name is unique
            "id": 2,
            "data": {key: "/data/upload/7/3f2a1b4c-d.jpg"},
            "annotations": [choice("tulips", "roses")],
        },
        {  # cloud storage URL, with a text field beside it
            "id": 3,
            "data": {key: "s3://bucket/flowers/batch2/b.jpg", "caption": "a field"},
            "annotations": [],
        },
    ]


EXPECTED = {"batch2/dup/c.jpg": ["roses"], "d.jpg": ["roses", "tulips"]}


@pytest.mark.parametrize("key", ["image", "img"])
def test_json_export_with_any_image_key(dataset: Dataset, tmp_path: Path, key: str) -> None:
    (tmp_path / "export.json").write_bytes(orjson.dumps(foreign_tasks(key)))
    report = import_labels(dataset, "labelstudio", str(tmp_path / "export.json"))
    assert labels(dataset) == EXPECTED
    assert report.matched == 2
    assert not report.problems


def test_old_export_with_completions(dataset: Dataset, tmp_path: Path) -> None:
    tasks = foreign_tasks()
    for task in tasks:
        task["completions"] = task.pop("annotations")
    (tmp_path / "old.json").write_bytes(orjson.dumps(tasks))
    import_labels(dataset, "labelstudio", str(tmp_path / "old.json"))
    assert labels(dataset) == EXPECTED


def converted(tmp_path: Path, how: str, key: str) -> Path:
    """The JSON_MIN or CSV export Label Studio's own converter makes of foreign_tasks()."""
    source = tmp_path / "full.json"
    source.write_bytes(orjson.dumps(foreign_tasks(key)))
    config = label_config(["roses", "tulips", "daisy"]).replace("$image", f"${key}")
    converter = Converter(config=config, project_dir=None, download_resources=False)
    out = tmp_path / how
    if how == "json_min":
        converter.convert_to_json_min(str(source), str(out), is_dir=False)
        return out / "result.json"
    converter.convert_to_csv(str(source), str(out), is_dir=False, sep=",")
    return out / "result.csv"


@pytest.mark.parametrize("how", ["json_min", "csv"])
@pytest.mark.parametrize("key", ["image", "img"])
def test_json_min_and_csv_exports(dataset: Dataset, tmp_path: Path, how: str, key: str) -> None:
    path = converted(tmp_path, how, key)
    report = import_labels(dataset, "labelstudio", str(path))
    assert labels(dataset) == EXPECTED
    assert not report.problems


def test_several_image_fields_need_a_choice(dataset: Dataset, tmp_path: Path) -> None:
    tasks = [{"data": {"left": "a.jpg", "right": "c.jpg"}, "annotations": [choice("roses")]}]
    (tmp_path / "two.json").write_bytes(orjson.dumps(tasks))
    report = import_labels(dataset, "labelstudio", str(tmp_path / "two.json"))
    assert "several fields hold image URLs (left, right)" in report.problems[0]
    assert labels(dataset) == {}
    import_labels(dataset, "labelstudio", str(tmp_path / "two.json"), image_key="right")
    assert labels(dataset) == {"c.jpg": ["roses"]}


def test_image_reference() -> None:
    assert image_reference("/data/local-files/?d=home/me/x%20y.jpg") == "home/me/x y.jpg"
    assert image_reference("http://ls:8080/data/local-files/?d=a/b.png") == "a/b.png"
    assert image_reference("/data/upload/12/0a1b2c3d-img_01.jpg") == "img_01.jpg"
    assert image_reference("s3://bucket/x.jpg") == "s3://bucket/x.jpg"
