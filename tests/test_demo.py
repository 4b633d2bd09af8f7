"""The generated demo dataset and benchmark photos (jupyter_labeler.demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_labeler.demo import DEMO_CLASSES, make_demo_images, make_large_jpegs
from jupyter_labeler.images import FORMAT_SUFFIX, IMAGE_SUFFIXES, inspect_image
from jupyter_labeler.names import validate_label

COUNT = 42


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def images_of(files: dict[str, bytes]) -> dict[str, bytes]:
    return {name: data for name, data in files.items() if name.endswith(IMAGE_SUFFIXES)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("demo")
    return folder, make_demo_images(folder, count=COUNT, seed=7)


def test_same_seed_gives_byte_identical_files(demo: tuple[Path, dict], tmp_path: Path) -> None:
    folder, summary = demo
    again = make_demo_images(str(tmp_path), count=COUNT, seed=7)
    assert files_of(tmp_path) == files_of(folder)
    assert {k: v for k, v in again.items() if k != "folder"} == {
        k: v for k, v in summary.items() if k != "folder"
    }


def test_another_seed_gives_other_images(demo: tuple[Path, dict], tmp_path: Path) -> None:
    folder, _ = demo
    make_demo_images(tmp_path, count=10, seed=8)
    ours, theirs = files_of(tmp_path), files_of(folder)
    assert ours["img_0001.jpg"] != theirs["img_0001.jpg"]


def test_every_image_is_a_readable_image_of_its_suffix(demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    images = images_of(files_of(folder))
    assert len(images) == COUNT == summary["images"]
    for name, data in images.items():
        info = inspect_image(data, name=name)
        assert name.endswith("." + FORMAT_SUFFIX[info.format])
        assert min(info.width, info.height) >= 240
        assert max(info.width, info.height) <= 640


def test_formats_and_subfolder(demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    names = list(images_of(files_of(folder)))
    by_suffix = {s: sum(n.endswith("." + s) for n in names) for s in ("jpg", "png", "bmp")}
    assert by_suffix == summary["formats"]
    assert all(by_suffix.values())
    assert by_suffix["jpg"] > by_suffix["png"] > by_suffix["bmp"]
    in_batch2 = [n for n in names if n.startswith("batch2/")]
    assert 0 < len(in_batch2) < len(names)
    assert all(n.rsplit("/", 1)[-1].startswith("img_") for n in names)
    assert sorted(names) == sorted(summary["truth"])


def test_bmp_files_stay_small(demo: tuple[Path, dict]) -> None:
    folder, _ = demo
    for path in folder.rglob("*.bmp"):
        assert path.stat().st_size < 250_000


def test_sidecars_hold_valid_labels(demo: tuple[Path, dict]) -> None:
    folder, summary = demo
    files = files_of(folder)
    sidecars = {n: d for n, d in files.items() if n.endswith(".txt")}
    assert len(sidecars) == summary["labeled"] == round(COUNT * 0.4)
    found: dict[str, list[str]] = {}
    for name, data in sidecars.items():
        stem = name[: -len(".txt")]
        images = [f"{stem}{s}" for s in (".jpg", ".png", ".bmp") if f"{stem}{s}" in files]
        assert len(images) == 1, f"{name} is not beside exactly one image"
        labels = data.decode("utf-8").splitlines()
        assert labels
        for label in labels:
            assert validate_label(label) == label
            assert label in DEMO_CLASSES
        found[images[0]] = labels
        assert labels == summary["truth"][images[0]]
    assert found == summary["labels"]
    assert sorted(found.values()).count(["sunset", "sea"]) == summary["multi_label"] == 2


def test_every_class_is_there(demo: tuple[Path, dict]) -> None:
    _, summary = demo
    assert set(summary["classes"]) == set(DEMO_CLASSES)
    assert all(n >= COUNT // len(DEMO_CLASSES) for n in summary["classes"].values())
    counted = dict.fromkeys(DEMO_CLASSES, 0)
    for labels in summary["truth"].values():
        for label in labels:
            counted[label] += 1
    assert counted == summary["classes"]


def test_stale_sidecars_are_removed_and_others_kept(tmp_path: Path) -> None:
    make_demo_images(tmp_path, count=12, labeled_fraction=1.0)
    assert len(list(tmp_path.rglob("*.txt"))) == 12
    (tmp_path / "notes.txt").write_text("mine")
    summary = make_demo_images(tmp_path, count=12, labeled_fraction=0.0)
    assert summary["labeled"] == 0
    assert summary["labels"] == {}
    assert [p.name for p in tmp_path.rglob("*.txt")] == ["notes.txt"]


def test_tiny_and_empty_demos(tmp_path: Path) -> None:
    assert make_demo_images(tmp_path / "none", count=0)["images"] == 0
    small = make_demo_images(tmp_path / "small", count=3)
    assert small["multi_label"] == 0
    assert sum(small["formats"].values()) == 3
    with pytest.raises(ValueError, match="count"):
        make_demo_images(tmp_path, count=-1)
    with pytest.raises(ValueError, match="labeled_fraction"):
        make_demo_images(tmp_path, labeled_fraction=1.5)


@pytest.mark.slow
def test_three_hundred_images(tmp_path: Path) -> None:
    # How long it takes is for a benchmark to say, not for a test on a noisy machine.
    summary = make_demo_images(tmp_path, count=300)
    assert summary["images"] == 300
    assert summary["formats"]["bmp"] <= 10


def test_large_jpegs_into_a_callable() -> None:
    written: dict[str, bytes] = {}
    sizes = make_large_jpegs(written.__setitem__, 2, megapixels=0.3, seed=1)
    assert list(sizes) == ["photo_0001.jpg", "photo_0002.jpg"]
    assert {n: len(d) for n, d in written.items()} == sizes
    info = inspect_image(written["photo_0001.jpg"])
    assert info.format == "JPEG"
    assert 0.25e6 < info.width * info.height < 0.35e6
    assert written["photo_0001.jpg"] != written["photo_0002.jpg"]
    again: dict[str, bytes] = {}
    make_large_jpegs(again.__setitem__, 2, megapixels=0.3, seed=1)
    assert again == written


def test_large_jpegs_compress_like_photos(tmp_path: Path) -> None:
    sizes = make_large_jpegs(tmp_path, 1)
    data = (tmp_path / "photo_0001.jpg").read_bytes()
    assert len(data) == sizes["photo_0001.jpg"]
    info = inspect_image(data)
    assert 1.9e6 < info.width * info.height < 2.1e6
    assert 250_000 < len(data) < 700_000
