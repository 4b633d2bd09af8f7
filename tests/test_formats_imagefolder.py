"""ImageFolder imports match by content: a copy's file name is never taken as proof."""

from __future__ import annotations

from pathlib import Path

from imagegen import image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.formats import export_labels, import_labels


def write(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


def labels(ds: Dataset) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path, name in zip(ds.annotations()["path"], ds.annotations()["label"], strict=True):
        out.setdefault(path, []).append(name)
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_a_copy_lands_on_the_image_with_its_bytes_not_on_its_name(tmp_path: Path) -> None:
    write(
        tmp_path / "src",
        {
            "img_002.jpg": image_bytes(1),
            "batch2/dup/img_002.jpg": image_bytes(2),
            "img_003.jpg": image_bytes(3),
        },
    )
    # roses/img_002.jpg is a copy of batch2/dup/img_002.jpg, not of the top-level img_002.jpg
    write(
        tmp_path / "folders",
        {
            "roses/img_002.jpg": image_bytes(2),
            "tulips/img_003.jpg": image_bytes(3),
            "tulips/img_777.jpg": image_bytes(99),  # same name as nothing, bytes of nothing
            "tulips/img_003_resaved.jpg": image_bytes(3, size=(65, 48)),  # other bytes
        },
    )
    ds = Dataset.open(tmp_path / "src", output=tmp_path / "out")
    report = import_labels(ds, "imagefolder", str(tmp_path / "folders"))
    assert labels(ds) == {"batch2/dup/img_002.jpg": ["roses"], "img_003.jpg": ["tulips"]}
    assert report.matched == 2
    assert sorted(report.unmatched) == ["tulips/img_003_resaved.jpg", "tulips/img_777.jpg"]
    assert report.ambiguous == []
    ds.close()


def test_copies_of_identical_images_are_told_apart_by_name_or_listed(tmp_path: Path) -> None:
    same = image_bytes(5)
    write(tmp_path / "src", {"a/x.jpg": same, "b/y.jpg": same, "c/z.jpg": same})
    write(
        tmp_path / "folders",
        {
            "roses/y.jpg": same,  # the name tells: b/y.jpg
            "tulips/w.jpg": same,  # nothing tells: listed, not labeled
        },
    )
    ds = Dataset.open(tmp_path / "src", output=tmp_path / "out")
    report = import_labels(ds, "imagefolder", str(tmp_path / "folders"))
    assert labels(ds) == {"b/y.jpg": ["roses"]}
    assert report.matched == 1
    assert report.unmatched == []
    assert len(report.ambiguous) == 1
    assert report.ambiguous[0].startswith(
        "tulips/w.jpg: the same bytes as 3 images (a/x.jpg, b/y.jpg, c/z.jpg)"
    )
    assert "1 ambiguous" in str(report)
    ds.close()


def test_an_export_of_identical_images_comes_back_exactly(tmp_path: Path) -> None:
    same = image_bytes(5)
    write(tmp_path / "src", {"a/x.jpg": same, "b/x.jpg": same, "c.jpg": image_bytes(6)})
    ds = Dataset.open(tmp_path / "src", output=tmp_path / "out")
    paths = ds.paths()
    ids = dict(zip(paths.tolist(), paths.index.tolist(), strict=True))
    ds.add_label("one", [ids["a/x.jpg"], ids["c.jpg"]])
    ds.add_label("two", [ids["a/x.jpg"], ids["b/x.jpg"]])
    export_labels(ds, "imagefolder", str(tmp_path / "folders"))
    fresh = Dataset.open(tmp_path / "src", output=tmp_path / "other")
    report = import_labels(fresh, "imagefolder", str(tmp_path / "folders"))
    assert labels(fresh) == labels(ds)
    assert report.ambiguous == []
    ds.close()
    fresh.close()
