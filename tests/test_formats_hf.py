"""The Hugging Face export, loaded by the `datasets` library itself: every split, every label."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from imagegen import image_bytes

from jupyter_labeler import Dataset
from jupyter_labeler.formats import export_labels, import_labels


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    datasets.disable_progress_bars()


def make(folder: Path, paths: list[str]) -> None:
    for i, path in enumerate(paths):
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(image_bytes(i + 1))


def ids_of(ds: Dataset) -> dict[str, str]:
    paths = ds.paths()
    return dict(zip(paths.tolist(), paths.index.tolist(), strict=True))


def both_ways(folder: Path) -> list[datasets.DatasetDict]:
    return [
        datasets.load_dataset("imagefolder", data_dir=str(folder)),
        datasets.load_dataset(str(folder)),
    ]


def test_split_folders_keep_their_labels_and_an_unlabeled_split_loads(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    # train/ and test/ are splits: Hugging Face must not take them (or roses/) for labels
    make(folder, ["train/roses/a.jpg", "train/b.jpg", "train/c.jpg", "test/d.jpg", "test/e.jpg"])
    ds = Dataset.open(folder, output=tmp_path / "out")
    ids = ids_of(ds)
    ds.add_label("tulips", [ids["train/roses/a.jpg"]])  # a folder name is not a label
    ds.add_label("玫瑰", [ids["train/c.jpg"]])
    report = export_labels(ds, "hf", str(folder))
    assert report.skipped == []
    assert (folder / "train" / "metadata.parquet").exists()
    assert (folder / "test" / "metadata.parquet").exists()
    for loaded in both_ways(folder):
        assert set(loaded) == {"train", "test"}
        assert loaded["train"].features["label"].names == ["tulips", "玫瑰"]
        labels = {
            split: [
                part.features["label"].int2str(v) if v is not None else None for v in part["label"]
            ]
            for split, part in loaded.items()
        }
        assert sorted(labels["train"], key=str) == sorted(["tulips", None, "玫瑰"], key=str)
        assert labels["test"] == [None, None]
    ds.close()


def test_partly_labeled_set_whose_first_rows_are_unlabeled(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    make(folder, [f"img_{k:03d}.jpg" for k in range(40)])
    ds = Dataset.open(folder, output=tmp_path / "out")
    ids = ids_of(ds)
    ds.add_label("late", [ids["img_039.jpg"]])
    export_labels(ds, "hf", str(folder))
    for loaded in both_ways(folder):
        assert list(loaded) == ["train"]
        values = loaded["train"]["label"]
        assert loaded["train"].features["label"].names == ["late"]
        assert sorted(values, key=lambda v: -1 if v is None else v)[-1] == 0
        assert list(values).count(None) == 39
    ds.close()


def test_multi_label_is_a_list_and_a_copy_elsewhere_loads(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    make(folder, ["a.jpg", "sub/b.jpg", "c.jpg"])
    ds = Dataset.open(folder, output=tmp_path / "out")
    ids = ids_of(ds)
    ds.add_label("sea", [ids["a.jpg"], ids["sub/b.jpg"]])
    ds.add_label("sunset", [ids["a.jpg"]])
    report = export_labels(ds, "hf", str(tmp_path / "copy"))
    assert report.files == 3 + 2  # the images, metadata.parquet, README.md
    for loaded in both_ways(tmp_path / "copy"):
        part = loaded["train"]
        names = part.features["labels"].feature.names
        got = sorted(sorted(names[v] for v in value) for value in part["labels"])
        assert got == [[], ["sea"], ["sea", "sunset"]]
    fresh = Dataset.open(folder, output=tmp_path / "again")
    result = import_labels(fresh, "hf", str(tmp_path / "copy"))
    assert result.unmatched == []
    assert fresh.labels_of(fresh.ids()) == ds.labels_of(ds.ids())
    ds.close()
    fresh.close()


def test_a_foreign_readme_is_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    make(folder, ["a.jpg", "b.jpg"])
    (folder / "README.md").write_text("# my notes\n", encoding="utf-8")
    ds = Dataset.open(folder, output=tmp_path / "out")
    ds.add_label("x", [ids_of(ds)["a.jpg"]])
    report = export_labels(ds, "hf", str(folder))
    assert (folder / "README.md").read_text(encoding="utf-8") == "# my notes\n"
    assert any("README.md" in s for s in report.skipped)
    loaded = datasets.load_dataset("imagefolder", data_dir=str(folder))
    assert loaded["train"].features["label"].names == ["x"]
    ds.close()
