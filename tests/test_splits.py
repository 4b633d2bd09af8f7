"""Train / eval / test parts: ``split``, ``set_usage``, counts by usage, readiness, manifest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from imagegen import fill_folder

from jupyter_labeler import Dataset
from jupyter_labeler.splits import plan_split


@pytest.fixture
def ds(tmp_path: Path) -> Dataset:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 40)
    ds = Dataset.open(tmp_path, author="me")
    ids = ds.images.index.tolist()
    ds.add_label("big", ids[:20])
    ds.add_label("mid", ids[20:30])
    ds.add_label("small", ids[30:33])
    ds.add_label("big", ids[30:31])  # two labels: counts for its rarest, small
    return ds


def parts(ds: Dataset) -> dict[str, str]:
    return ds.images["usage"].astype(str).to_dict()


def test_split_is_stratified_and_every_label_reaches_eval(ds: Dataset) -> None:
    result = ds.split(eval=0.2, test=0.1, seed=0)
    assert result.saved
    table = ds.counts(by="usage")
    assert list(table.columns) == ["TRAIN", "EVAL", "TEST", "none", "total"]
    assert (table["EVAL"] >= 1).all()
    assert (table["TRAIN"] >= 1).all()
    assert table.loc["mid"].to_dict() == {"TRAIN": 7, "EVAL": 2, "TEST": 1, "none": 0, "total": 10}
    assert (table[["TRAIN", "EVAL", "TEST", "none"]].sum(axis=1) == table["total"]).all()
    usage = parts(ds)
    unlabeled = ds.unlabeled().index
    assert all(usage[i] == "" for i in unlabeled)
    assert ds.readiness().ready is False  # small has 3 images, but no eval problem
    assert not any("eval part" in p for p in ds.readiness().problems)


def test_split_is_reproducible_and_keeps_parts_unless_told(ds: Dataset, tmp_path: Path) -> None:
    first = ds.split(eval=0.25, seed=7)
    chosen = parts(ds)
    ds.undo()
    assert set(parts(ds).values()) == {""}
    ds.split(eval=0.25, seed=7)
    assert parts(ds) == chosen
    assert first.changed == 33
    # Already split: nothing moves, even with another seed, unless reassign.
    assert ds.split(eval=0.25, seed=8).changed == 0
    moved = ds.split(eval=0.25, seed=8, reassign=True)
    assert moved.changed > 0
    assert Dataset.open(tmp_path).images["usage"].astype(str).to_dict() == parts(ds)


def test_set_usage_is_an_undoable_action_written_to_the_manifest(
    ds: Dataset, tmp_path: Path
) -> None:
    ids = ds.images.index.tolist()
    ds.set_usage(ids[:3], "eval")
    ds.set_usage(ids[3:4], "TEST")
    assert ds.set_usage(ids[:3], "EVAL").changed == 0
    ds.save()
    lines = [
        orjson.loads(x)
        for x in (tmp_path / ".jupyter_labeler" / "dataset.manifest").read_bytes().splitlines()
    ]
    usage = {line["id"]: line["usage"] for line in lines}
    assert [usage[i] for i in ids[:5]] == ["EVAL", "EVAL", "EVAL", "TEST", ""]
    ds.undo()
    assert parts(ds)[ids[3]] == ""
    ds.set_usage(ids[:1], None)
    assert Dataset.open(tmp_path).images.loc[ids[0], "usage"] == ""
    with pytest.raises(ValueError, match="usage must be one of TRAIN, EVAL, TEST"):
        ds.set_usage(ids[:1], "VALIDATION")
    with pytest.raises(ValueError, match="eval must be a share"):
        ds.split(eval=1.5)
    with pytest.raises(ValueError, match="leave a share for TRAIN"):
        ds.split(eval=0.5, test=0.5)


def test_readiness_wants_every_label_in_the_eval_part(ds: Dataset) -> None:
    ds.add_label("small", ds.unlabeled().index[:5])
    assert ds.readiness().ready
    ds.set_usage(ds.with_label("big").index[:2], "EVAL")
    readiness = ds.readiness()
    assert not readiness.ready
    assert any("the eval part has no image of mid, small" in p for p in readiness.problems)


def test_plan_split_with_tiny_classes() -> None:
    codes = np.arange(5)
    strata = np.asarray([0, 1, 1, 2, 2])
    usage = np.asarray(["", "", "", "", "EVAL"], dtype=object)
    changed, values = plan_split(
        codes, strata, usage, eval=0.5, test=0.5 - 1e-9, seed=0, reassign=False
    )
    plan = dict(zip(changed.tolist(), values.tolist(), strict=True))
    assert plan[0] == "TRAIN"  # a class of one stays in TRAIN
    assert sorted([plan[1], plan[2]]) == ["EVAL", "TRAIN"]  # two: one each, TEST gives way
    assert plan[3] == "TRAIN"  # the other one of its class is in EVAL already
    assert 4 not in plan


def test_exports_put_each_part_where_the_other_tools_read_it(ds: Dataset, tmp_path: Path) -> None:
    import datasets

    from jupyter_labeler.formats import export_labels, import_labels

    datasets.disable_progress_bars()
    ds.split(eval=0.2, test=0.1, seed=0)
    table = ds.counts(by="usage")
    usage = ds.usages()
    labeled = ds.labeled().index

    # ImageFolder: train/<label>/, eval/<label>/, test/<label>/; an import reads the labels back.
    export_labels(ds, "imagefolder", str(tmp_path / "folder"))
    for part in ("train", "eval", "test"):
        for label in ("big", "mid"):
            files = list((tmp_path / "folder" / part / label).glob("*.jpg"))
            assert len(files) == table.loc[label, part.upper()]
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for path in ds.paths():
        (fresh / path).write_bytes((tmp_path / path).read_bytes())
    other = Dataset.open(fresh, author="other")
    import_labels(other, "imagefolder", str(tmp_path / "folder"))
    assert other.counts()["images"].to_dict() == ds.counts()["images"].to_dict()

    # Hugging Face: train / validation / test splits, loaded by the datasets library itself.
    export_labels(ds, "hf", str(tmp_path / "hf"))
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(tmp_path / "hf"), cache_dir=str(tmp_path / "hf-cache")
    )
    expected = {
        "train": int((usage[labeled] == "TRAIN").sum()) + len(ds.unlabeled()),
        "validation": int((usage[labeled] == "EVAL").sum()),
        "test": int((usage[labeled] == "TEST").sum()),
    }
    assert {name: len(split) for name, split in loaded.items()} == expected
    names = loaded["validation"].features["labels"].feature.names
    assert set(names) == {"big", "mid", "small"}
