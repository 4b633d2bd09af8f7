"""Imports and exports: every format round-trips, through local folders and object stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from jupyter_labeler import Dataset
from jupyter_labeler.demo import make_demo_images
from jupyter_labeler.formats import (
    FOLDER_FORMATS,
    FORMATS,
    FormatError,
    export_labels,
    import_labels,
    normalize_format,
)

FILE_NAMES = {
    "manifest": "out.manifest",
    "csv": "out.csv",
    "labelstudio": "out.json",
}


@pytest.fixture(scope="module")
def _images(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    folder = tmp_path_factory.mktemp("formats") / "images"
    summary = make_demo_images(folder, count=24, seed=3, labeled_fraction=0.0)
    return folder, summary["truth"]


@pytest.fixture
def images(_images: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> Path:
    """A fresh copy of 24 demo images (no .txt files), in root and in batch2/."""
    folder = tmp_path / "images"
    shutil.copytree(_images[0], folder)
    return folder


@pytest.fixture
def labeled(images: Path, _images: tuple[Path, dict[str, list[str]]], tmp_path: Path) -> Dataset:
    """The images labeled with their true classes (two carry two labels), 6 left unlabeled,
    and a Chinese label on a few."""
    truth = _images[1]
    ds = Dataset.open(images, output=tmp_path / "labels-a", author="alice")
    paths = ds.paths()
    id_of = dict(zip(paths.tolist(), paths.index.tolist(), strict=True))
    chosen = sorted(truth)[:18]
    by_label: dict[str, list[str]] = {}
    for path in chosen:
        for name in truth[path]:
            by_label.setdefault(name, []).append(id_of[path])
    for name, ids in by_label.items():
        ds.add_label(name, ids)
    ds.add_label("风景", [id_of[p] for p in chosen[:3]])
    yield ds
    ds.close()


def labels_by_path(ds: Dataset) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    ann = ds.annotations()
    for path, name in zip(ann["path"], ann["label"], strict=True):
        out.setdefault(path, set()).add(name)
    return out


def target_for(fmt: str, base: Path | str) -> str:
    base = str(base).rstrip("/")
    return f"{base}/out" if fmt in FOLDER_FORMATS else f"{base}/{FILE_NAMES[fmt]}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(fmt: str, labeled: Dataset, images: Path, tmp_path: Path) -> None:
    expected = labels_by_path(labeled)
    assert any(len(v) == 2 for v in expected.values())
    target = target_for(fmt, tmp_path)
    exported = export_labels(labeled, fmt, target)
    assert exported.labeled == len(expected)

    fresh = Dataset.open(images, output=tmp_path / "labels-b")
    assert fresh.annotations().empty
    changes: list[str] = []
    fresh.observe(lambda change: changes.append(change.kind))
    report = import_labels(fresh, fmt, target)
    assert labels_by_path(fresh) == expected
    assert report.unmatched == []
    assert report.matched == report.entries > 0
    # One action per label, however many images carry it.
    assert changes.count("labels") == len(report.added) == len(labeled.label_names)
    assert report.saved
    fresh.close()


@pytest.mark.parametrize("fmt", ["csv", "imagefolder"])
def test_round_trip_through_an_object_store(
    fmt: str, labeled: Dataset, images: Path, tmp_path: Path, memory_url: str
) -> None:
    target = target_for(fmt, memory_url)
    export_labels(labeled, fmt, target)
    fresh = Dataset.open(images, output=tmp_path / "labels-b")
    import_labels(fresh, fmt, target)
    assert labels_by_path(fresh) == labels_by_path(labeled)
    fresh.close()


def test_manifest_export_keeps_every_field(images: Path, tmp_path: Path) -> None:
    output = tmp_path / "labels"
    output.mkdir()
    lines = [
        {
            "source": str(images / "img_0001.jpg"),
            "usage": "TRAIN",
            "id": "0123456789abcdef",
            "property": {"@modelarts:size": [640, 480, 3]},
            "inference-loc": "s3://elsewhere/x",
            "annotation": [
                {
                    "type": "modelarts/image_classification",
                    "name": "sunset",
                    "annotated-by": "human/bob/bob",
                    "creation-time": "2024-05-01 10:00:00",
                    "confidence": 0.9,
                },
                {"type": "modelarts/object_detection", "annotation-loc": "s3://b/x.xml"},
            ],
        },
        {"source": str(images / "batch2" / "img_0019.jpg"), "usage": "", "id": "fedcba9876543210"},
    ]
    (output / "dataset.manifest").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    ds = Dataset.open(images, output=output)
    export_labels(ds, "manifest", str(tmp_path / "out.manifest"))
    written = [orjson.loads(x) for x in (tmp_path / "out.manifest").read_bytes().splitlines()]
    assert written == lines
    ds.close()


def test_imagefolder_layout_and_matching_by_content(
    labeled: Dataset, images: Path, tmp_path: Path
) -> None:
    report = export_labels(labeled, "imagefolder", str(tmp_path / "folders"))
    files = sorted(
        p.relative_to(tmp_path / "folders").as_posix() for p in (tmp_path / "folders").rglob("*.*")
    )
    assert report.files == len(files) == len(labeled.annotations())
    two = [p for p, names in labels_by_path(labeled).items() if len(names) == 2]
    for path in two:  # a multi-label image is in each of its folders, as a copy of its bytes
        name = Path(path).name
        assert {f for f in files if f.endswith("/" + name)} == {
            f"{label}/{name}" for label in labels_by_path(labeled)[path]
        }
        some = sorted(labels_by_path(labeled)[path])[0]
        assert (tmp_path / "folders" / some / name).read_bytes() == (images / path).read_bytes()
    # Renamed files are still found, by their content.
    for number, file in enumerate(sorted((tmp_path / "folders").rglob("*.*"))):
        file.rename(file.with_name(f"renamed_{number}{file.suffix}"))
    fresh = Dataset.open(images, output=tmp_path / "labels-b")
    result = import_labels(fresh, "imagefolder", str(tmp_path / "folders"))
    assert result.unmatched == []
    assert labels_by_path(fresh) == labels_by_path(labeled)
    fresh.close()


def test_imagefolder_same_file_name_twice(tmp_path: Path) -> None:
    make_demo_images(tmp_path / "src", count=2, labeled_fraction=0.0)
    (tmp_path / "src" / "a").mkdir()
    (tmp_path / "src" / "b").mkdir()
    shutil.move(tmp_path / "src" / "img_0001.jpg", tmp_path / "src" / "a" / "x.jpg")
    shutil.move(tmp_path / "src" / "img_0002.jpg", tmp_path / "src" / "b" / "x.jpg")
    ds = Dataset.open(tmp_path / "src")
    ds.add_label("same", ds.ids())
    report = export_labels(ds, "imagefolder", str(tmp_path / "out"))
    names = sorted(p.name for p in (tmp_path / "out" / "same").iterdir())
    assert report.files == 2
    # a file name two images share gets each image's id prefix
    assert names == sorted(f"x-{image_id[:8]}.jpg" for image_id in ds.ids())
    fresh = Dataset.open(tmp_path / "src", output=tmp_path / "other")
    import_labels(fresh, "imagefolder", str(tmp_path / "out"))
    assert labels_by_path(fresh) == labels_by_path(ds)
    ds.close()
    fresh.close()


def test_file_layouts(labeled: Dataset, tmp_path: Path) -> None:
    export_labels(labeled, "csv", str(tmp_path / "labels.csv"))
    rows = (tmp_path / "labels.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "path,labels"
    assert len(rows) == 1 + len(labeled)
    assert any(row.count(";") >= 1 for row in rows[1:])  # several labels joined by ';'
    assert any(row.endswith(",") for row in rows[1:])  # unlabeled: empty labels

    export_labels(labeled, "txt", str(tmp_path / "txt"))
    path, names = next(iter(sorted(labels_by_path(labeled).items())))
    sidecar = tmp_path / "txt" / (path.rsplit(".", 1)[0] + ".txt")
    assert set(sidecar.read_text(encoding="utf-8").splitlines()) == names

    export_labels(labeled, "hf", str(tmp_path / "hf"))
    table = pq.read_table(tmp_path / "hf" / "metadata.parquet")
    assert table.column_names == ["file_name", "labels"]  # some image has two labels

    export_labels(labeled, "labelstudio", str(tmp_path / "tasks.json"))
    tasks = orjson.loads((tmp_path / "tasks.json").read_bytes())
    labeled_task = next(t for t in tasks if t["annotations"])
    result = labeled_task["annotations"][0]["result"][0]
    assert result["type"] == "choices"
    assert result["value"]["choices"]
    assert labeled_task["data"]["image"].endswith(labeled_task["data"]["path"])


def test_hf_single_labels_use_label(images: Path, tmp_path: Path) -> None:
    ds = Dataset.open(images, output=tmp_path / "labels")
    ds.add_label("one", ds.ids()[:3])
    export_labels(ds, "hf", str(ds.source_url))
    table = pq.read_table(images / "metadata.parquet")
    assert table.column_names == ["file_name", "label"]
    values = table.column("label").to_pylist()
    assert values.count(0) == 3  # "one" is class 0
    assert values.count(None) == len(ds) - 3
    ds.close()


def test_label_studio_as_label_studio_writes_it(images: Path, tmp_path: Path) -> None:
    tasks = [
        {  # an uploaded file: Label Studio puts 8 hex digits before its name
            "id": 7,
            "data": {"image": "/data/upload/1/3f2a1b4c-img_0003.jpg"},
            "annotations": [
                {"result": [{"type": "choices", "value": {"choices": ["forest"]}}]},
                {
                    "was_cancelled": True,
                    "result": [{"type": "choices", "value": {"choices": ["x"]}}],
                },
            ],
        },
        {
            "id": 8,
            "data": {"image": "s3://elsewhere/unknown.jpg"},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["sea"]}}]}],
        },
        {"id": 9, "data": {"image": "img_0004.jpg"}, "annotations": []},
    ]
    (tmp_path / "tasks.json").write_bytes(orjson.dumps(tasks))
    ds = Dataset.open(images, output=tmp_path / "labels")
    report = import_labels(ds, "label-studio", str(tmp_path / "tasks.json"))
    assert labels_by_path(ds) == {"img_0003.jpg": {"forest"}}
    assert report.unmatched == ["s3://elsewhere/unknown.jpg"]
    assert "1 unmatched" in str(report)
    ds.close()


def test_import_refuses_bad_label_names_and_imports_nothing(images: Path, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text(
        "path,labels\nimg_0001.jpg,good\nimg_0002.jpg,a/b;x y\n", encoding="utf-8"
    )
    ds = Dataset.open(images, output=tmp_path / "labels")
    with pytest.raises(FormatError) as caught:
        import_labels(ds, "csv", str(tmp_path / "bad.csv"))
    message = str(caught.value)
    assert "'a/b'" in message
    assert "'x y'" in message
    assert "nothing was imported" in message
    assert ds.annotations().empty
    ds.close()


def test_unmatched_entries_are_reported(images: Path, tmp_path: Path) -> None:
    (tmp_path / "some.csv").write_text(
        "path,labels\nimg_0001.jpg,good\nnope.jpg,good\n./batch2/img_0021.jpg,good\n,x\n",
        encoding="utf-8",
    )
    ds = Dataset.open(images, output=tmp_path / "labels")
    report = import_labels(ds, "csv", str(tmp_path / "some.csv"))
    assert report.unmatched == ["nope.jpg"]
    assert report.added == {"good": 2}
    assert len(report.problems) == 1  # the row without a path
    ds.close()


def test_malformed_files(images: Path, tmp_path: Path) -> None:
    ds = Dataset.open(images, output=tmp_path / "labels")
    (tmp_path / "x.csv").write_text("name,value\n", encoding="utf-8")
    with pytest.raises(FormatError, match="path and labels"):
        import_labels(ds, "csv", str(tmp_path / "x.csv"))
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FormatError, match="not valid JSON"):
        import_labels(ds, "labelstudio", str(tmp_path / "x.json"))
    (tmp_path / "m.jsonl").write_text(
        '{"file_name": "img_0001.jpg", "label": 3}\n', encoding="utf-8"
    )
    report = import_labels(ds, "hf", str(tmp_path / "m.jsonl"))
    assert "class numbers" in report.problems[0]
    with pytest.raises(ValueError, match="unknown format"):
        normalize_format("yaml")
    ds.close()
