"""A hostile co-annotator or a flaky machine: nothing in a shared bucket reaches outside the
dataset, breaks it, or undoes another author's work.

Each numbered case of the integrity review is a test here, on a local folder and on moto over
HTTP where the store matters: paths and label names from manifests and journals, malformed
operations, aliasing keys, skewed clocks, undo with two authors, over-long keys, and images
too large to thumbnail.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from imagegen import fill_folder, image_bytes
from PIL import Image

from jupyter_labeler import Dataset, images, thumbnails
from jupyter_labeler.cli import main
from jupyter_labeler.errors import UnsafePathError
from jupyter_labeler.formats import export_labels
from jupyter_labeler.images import MAX_FILE_BYTES
from jupyter_labeler.journal import Journal
from jupyter_labeler.storage import open_store
from jupyter_labeler.thumbnails import make_thumbnail

HOUR = 3600.0


# -- helpers --------------------------------------------------------------------------------------
def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (to prove that nothing changed)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def outside(folder: Path, *inside: Path) -> dict[str, bytes]:
    """The files under ``folder`` that are in none of the ``inside`` folders."""
    skip = [str(p.relative_to(folder)) for p in inside]
    return {
        k: v
        for k, v in tree(folder).items()
        if not any(k == s or k.startswith(s + "/") for s in skip)
    }


def journal_object(ds: Dataset, event: Any, *, offset_ms: int = 0) -> str:
    """Write ``event`` into ``ds``'s journal as another writer would; returns its name."""
    name = f"{int(time.time() * 1000) + offset_ms:013d}-{os.urandom(6).hex()}-00000001"
    data = event if isinstance(event, bytes) else orjson.dumps(event)
    ds.output.write(f"journal/{name}.json", data)
    return name


def reopen(ds: Dataset, **kwargs: Any) -> Dataset:
    return Dataset.open(
        ds.source_url,
        output=ds.output_url,
        storage_options=ds.source.fs.storage_options or None,
        author=kwargs.pop("author", "reader"),
        **kwargs,
    )


def state_of(ds: Dataset) -> dict[str, list[str]]:
    """Label -> sorted image paths, plus the label order: what every reader must agree on."""
    out = {"__order__": ds.label_names}
    paths = ds.paths()
    for name in ds.label_names:
        out[name] = sorted(paths[ds.with_label(name).index].tolist())
    return out


@pytest.fixture
def victim_folder(tmp_path: Path) -> tuple[Path, Path]:
    """A source folder with 4 images, and beside it a victim file no action may touch."""
    src = tmp_path / "src"
    src.mkdir()
    fill_folder(lambda n, d: (src / n).write_bytes(d), 4)
    (tmp_path / "victim.jpg").write_bytes(image_bytes(99))
    (tmp_path / "victim.txt").write_bytes(b"do not overwrite\n")
    return tmp_path, src


# -- 1. paths from a manifest or a journal ------------------------------------------------------
def test_manifest_sources_outside_the_folder_never_become_files(
    victim_folder: tuple[Path, Path],
) -> None:
    root, src = victim_folder
    out = src / ".jupyter_labeler"
    out.mkdir()
    lines = [
        {"source": f"{src}/img_000.jpg", "annotation": [{"name": "roses"}]},
        {"source": f"{src}/../victim.jpg", "annotation": [{"name": "roses"}]},
        {"source": f"{src}/.jupyter_labeler/dataset.manifest", "annotation": [{"name": "roses"}]},
        {"source": "/etc/passwd", "annotation": [{"name": "roses"}]},
        {"source": f"{src}//img_001.jpg", "annotation": [{"name": "roses"}]},
    ]
    raw = [orjson.dumps(line) for line in lines]
    (out / "dataset.manifest").write_bytes(b"\n".join(raw) + b"\n")
    before = outside(root, src)
    ds = Dataset.open(src, author="me")
    ds.sync()
    assert sorted(ds.with_label("roses")["path"]) == ["img_000.jpg"]
    assert "../victim.jpg" not in set(ds.images["path"])
    problems = "\n".join(ds.problems)
    assert "victim.jpg" in problems
    assert "not an image of this dataset" in problems
    assert "/etc/passwd" in problems

    ds.add_label("roses", ds.images.index)
    report = export_labels(ds, "imagefolder", str(root / "export"))
    assert sorted(tree(root / "export")) == [f"roses/img_00{i}.jpg" for i in range(4)]
    export_labels(ds, "txt", str(root / "txt"))
    assert sorted(tree(root / "txt")) == [f"img_00{i}.txt" for i in range(4)]
    assert not report.skipped

    # The lines that are no image of this dataset are written back exactly as they came.
    ds.save()
    saved = (out / "dataset.manifest").read_bytes().splitlines()
    for line in raw[1:]:
        assert line in saved
    # Deleting every image and its file, both ways, touches nothing outside the folder.
    ds.delete_label("roses", "with_images_and_files")
    assert len(ds) == 0
    assert outside(root, src, root / "export", root / "txt") == before
    assert (root / "victim.jpg").read_bytes() == image_bytes(99)


@pytest.fixture(params=["local", "s3"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """A dataset in a store shared with a hostile writer: its source URL, options and a way to
    read and write any object of the store behind the dataset's back."""
    if request.param == "local":
        root = open_store(str(tmp_path))
        url, options = str(tmp_path / "src"), {}
    else:
        bucket = request.getfixturevalue("s3_bucket")
        options = dict(request.getfixturevalue("s3_options"))
        root = open_store(f"s3://{bucket}", options)
        url = f"s3://{bucket}/src"
    for i in range(4):
        root.write(f"src/img_{i:03d}.jpg", image_bytes(i))
    root.write("victim.jpg", image_bytes(99))
    root.write("src/.jupyter_labeler/secret.jpg", image_bytes(98))
    return {"url": url, "options": options, "root": root, "kind": request.param}


def test_journal_rows_outside_the_folder_are_refused(shared: dict[str, Any]) -> None:
    root = shared["root"]
    ds = Dataset.open(shared["url"], storage_options=shared["options"], author="me")
    ds.add_label("roses", ds.images.index[:1])
    rows = [
        {"id": "v1", "path": "../victim.jpg"},
        {"id": "v2", "path": ".jupyter_labeler/secret.jpg"},
        {"id": "v3", "path": "/victim.jpg"},
        {"id": "v4", "path": "a//b.jpg"},
        {"id": "v5", "path": "./img_000.jpg"},
        {"id": "v6", "path": "img_000.jpg\x00.png"},
        {"id": "ok", "path": "img_003.jpg", "size": 5},
    ]
    journal_object(
        ds,
        {
            "v": 2,
            "ops": [
                {"op": "images+", "rows": rows},
                {"op": "label+", "label": "x", "ids": ["v1", "v2", "v3"]},
            ],
        },
    )
    other = reopen(ds)
    assert sorted(other.images["path"]) == [f"img_{i:03d}.jpg" for i in range(4)]
    problems = "\n".join(other.problems)
    for bad in ("../victim.jpg", ".jupyter_labeler/secret.jpg", "/victim.jpg", "a//b.jpg"):
        assert repr(bad) in problems
    other.remove_images(other.images.index, delete_source=True)
    other.save()
    assert root.read("victim.jpg") == image_bytes(99)
    assert root.read("src/.jupyter_labeler/secret.jpg") == image_bytes(98)
    assert not root.exists("src/img_000.jpg")  # its own files, deleted on purpose


def test_the_store_refuses_paths_that_leave_its_root(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "in"))
    for bad in ("../x.jpg", "a/../../x.jpg", "/x.jpg", "a//x.jpg", "./x.jpg", "a\x00b"):
        with pytest.raises(UnsafePathError):
            store.write(bad, b"data")
        with pytest.raises(UnsafePathError):
            store.read(bad)
        assert isinstance(store.read_many([bad])[bad], UnsafePathError)
        assert isinstance(store.delete([bad])[bad], UnsafePathError)
    assert not (tmp_path / "x.jpg").exists()


# -- 2. label names from a manifest or a journal --------------------------------------------------
def test_label_names_from_the_store_pass_the_naming_rules(
    victim_folder: tuple[Path, Path],
) -> None:
    root, src = victim_folder
    home = root / "home"
    home.mkdir()
    (home / ".bashrc").write_bytes(b"# mine\n")
    out = src / ".jupyter_labeler"
    out.mkdir()
    bad = ["../..", "<script>alert(1)</script>", "x" * 10_000, "a/b", "..", " "]
    manifest = [
        {"source": f"{src}/img_000.jpg", "annotation": [{"name": n} for n in [*bad, "ok"]]},
    ]
    (out / "dataset.manifest").write_bytes(b"\n".join(orjson.dumps(m) for m in manifest))
    ds = Dataset.open(src, author="me")
    ds.sync()
    ids = ds.images.index.tolist()
    for name in bad:
        journal_object(ds, {"ops": [{"op": "label+", "label": name, "ids": ids}]})
        journal_object(ds, {"ops": [{"op": "rename", "old": "ok", "new": name}]})
    other = reopen(ds)
    assert other.label_names == ["ok"]
    assert other.with_label("ok")["path"].tolist() == ["img_000.jpg"]
    problems = "\n".join(other.problems)
    assert "breaks the naming rules" in problems
    assert "x" * 41 not in problems  # a 10,000-character name is not repeated whole
    before = outside(root, src)
    export_labels(other, "imagefolder", str(home / "work" / "export"))
    assert (home / ".bashrc").read_bytes() == b"# mine\n"
    assert outside(root, src, home / "work") == before


# -- 3. malformed operations ----------------------------------------------------------------------
MALFORMED: dict[str, Any] = {
    "op is a number": {"ops": [1]},
    "label+ without label": {"ops": [{"op": "label+", "ids": []}]},
    "label is a list": {"ops": [{"op": "label+", "label": ["a"], "ids": []}]},
    "label is a number": {"ops": [{"op": "label+", "label": 5, "ids": []}]},
    "rows is a string": {"ops": [{"op": "images+", "rows": "abc"}]},
    "row without id": {"ops": [{"op": "images+", "rows": [{"path": "z.jpg"}]}]},
    "row is a list": {"ops": [{"op": "images+", "rows": [[1, 2]]}]},
    "rename without new": {"ops": [{"op": "rename", "old": "roses"}]},
    "short by list": {"ops": [{"op": "label+", "label": "roses", "ids": ["a", "b"], "by": ["x"]}]},
    "extra is a list": {"ops": [{"op": "label+", "label": "roses", "ids": [], "extra": [1]}]},
    "ids is a dict": {"ops": [{"op": "label-", "label": "roses", "ids": {"a": 1}}]},
    "ids hold numbers": {"ops": [{"op": "images-", "ids": [1, 2]}]},
    "unknown op": {"ops": [{"op": "format-disk"}]},
    "ops is not a list": {"ops": "label+"},
    "not an object": [1, 2, 3],
    "size is text": {
        "ops": [{"op": "images+", "rows": [{"id": "q", "path": "q.jpg", "size": "1"}]}]
    },
    "if_empty is text": {"ops": [{"op": "drop", "label": "roses", "if_empty": "yes"}]},
    "huge author": {"ops": [{"op": "label+", "label": "roses", "ids": [], "by": "x" * 100_000}]},
}


def test_a_malformed_operation_never_makes_the_dataset_unopenable(
    victim_folder: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, src = victim_folder
    ds = Dataset.open(src, author="me")
    ds.add_label("roses", ds.images.index[:2])
    for event in MALFORMED.values():
        journal_object(ds, event)
    journal_object(ds, b"not json at all")
    # A good action in the same object as a bad one still applies.
    first = ds.images.index[3]
    journal_object(
        ds,
        {
            "ops": [
                {"op": "label+", "label": 7},
                {"op": "label+", "label": "tulips", "ids": [first]},
            ]
        },
    )
    other = reopen(ds)
    assert sorted(other.label_names) == ["roses", "tulips"]
    assert other.counts()["images"].to_dict() == {"roses": 2, "tulips": 1}
    assert len(other.problems) >= len(MALFORMED)
    other.save()  # used to die in Arrow on a label that was a number
    assert reopen(other).counts()["images"].to_dict() == {"roses": 2, "tulips": 1}
    export_labels(other, "imagefolder", str(root / "export"))
    for command in (["counts", str(src)], ["check", str(src)], ["sync", str(src)]):
        code = main(command)
        _, err = capsys.readouterr()
        assert code in (0, 1), err
        assert "Traceback" not in err


def test_the_command_line_never_shows_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 2)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise TypeError("something nobody foresaw")

    monkeypatch.setattr(Dataset, "counts", broken)
    code = main(["counts", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0
    assert "unexpected TypeError: something nobody foresaw" in err


# -- 4. keys that alias on S3 ---------------------------------------------------------------------
def test_keys_with_empty_parts_do_not_alias_other_objects(
    s3_bucket: str, s3_options: dict[str, Any], s3_client: Any
) -> None:
    s3_client.put_object(Bucket=s3_bucket, Key="src/a.jpg", Body=image_bytes(1))
    s3_client.put_object(Bucket=s3_bucket, Key="src//a.jpg", Body=image_bytes(2))
    ds = Dataset.open(f"s3://{s3_bucket}/src", storage_options=s3_options, author="me")
    assert ds.images["path"].tolist() == ["a.jpg"]
    assert any("'/a.jpg'" in p for p in ds.sync().skipped)
    only = ds.images.index[0]
    assert ds.read_image(only) == image_bytes(1)
    ds.remove_images([only], delete_source=True)
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert "src//a.jpg" in keys
    assert "src/a.jpg" not in keys


# -- 5 and 6. clocks ------------------------------------------------------------------------------
def skewed(ds: Dataset, seconds: float) -> Dataset:
    """Make ``ds`` write with a clock ``seconds`` off real time."""
    ds.replica.journal.clock = lambda: time.time() + seconds
    return ds


def test_a_slow_clock_does_not_reorder_actions_before_what_its_writer_saw(
    shared: dict[str, Any],
) -> None:
    url, options = shared["url"], shared["options"]
    bob = Dataset.open(url, storage_options=options, author="bob")
    first = bob.images.index[0]
    assert bob.add_label("cat", [first]).saved
    alice = skewed(Dataset.open(url, storage_options=options, author="alice"), -HOUR)
    assert alice.labels_of([first])[first] == ["cat"]
    assert alice.remove_label("cat", [first]).saved
    fresh = Dataset.open(url, storage_options=options, author="reader")
    assert fresh.labels_of([first])[first] == []
    # Whoever compacts, every reader agrees.
    alice.save()
    assert Dataset.open(url, storage_options=options).labels_of([first])[first] == []
    bob.refresh()
    bob.save()
    assert Dataset.open(url, storage_options=options).labels_of([first])[first] == []


def _interleaved(root: Path, compactor: str) -> dict[str, list[str]]:
    src = root / compactor
    src.mkdir()
    fill_folder(lambda n, d: (src / n).write_bytes(d), 6)
    writers = {
        "ahead": skewed(Dataset.open(src, author="ahead"), +HOUR),
        "behind": skewed(Dataset.open(src, author="behind"), -HOUR),
    }
    ids = writers["ahead"].images.index.tolist()
    script: list[tuple[str, Callable[[Dataset], object]]] = [
        ("ahead", lambda d: d.add_label("cat", ids[:3])),
        ("behind", lambda d: d.remove_label("cat", ids[:2])),
        ("behind", lambda d: d.add_label("dog", ids[:2])),
        ("ahead", lambda d: d.rename_label("dog", "puppy")),
        ("behind", lambda d: d.add_label("puppy", ids[4:])),
        ("ahead", lambda d: d.remove_label("puppy", ids[5:])),
        ("behind", lambda d: d.delete_label("cat")),
        ("ahead", lambda d: d.add_label("cat", ids[5:])),
    ]
    for who, action in script:
        writers[who].refresh()  # each acts on what it has seen
        assert action(writers[who]).saved  # type: ignore[attr-defined]
    states = [state_of(Dataset.open(src, author="reader"))]  # from the journal alone
    writers[compactor].save()
    states.append(state_of(Dataset.open(src, author="reader")))  # from the snapshot
    for ds in writers.values():
        ds.refresh()
        states.append(state_of(ds))
    assert all(s == states[0] for s in states), states
    return states[0]


def test_two_clocks_an_hour_apart_agree_whoever_compacts(tmp_path: Path) -> None:
    expected = {
        "__order__": ["puppy", "cat"],
        "puppy": ["img_000.jpg", "img_001.jpg", "img_004.jpg"],
        "cat": ["img_005.jpg"],
    }
    assert _interleaved(tmp_path, "ahead") == expected
    assert _interleaved(tmp_path, "behind") == expected


def test_a_fast_clock_does_not_freeze_the_published_manifest(shared: dict[str, Any]) -> None:
    url, options = shared["url"], shared["options"]
    ahead = skewed(Dataset.open(url, storage_options=options, author="ahead"), +HOUR)
    ids = ahead.images.index.tolist()
    ahead.add_label("early", ids[:1])
    ahead.save()
    bob = Dataset.open(url, storage_options=options, author="bob")
    for i, image_id in enumerate(ids[1:], start=1):
        bob.add_label(f"late{i}", [image_id])
        url_of_manifest = bob.save()
        published = open_store(url, options).read(".jupyter_labeler/dataset.manifest")
        assert f'"name":"late{i}"'.encode() in published, url_of_manifest
    # The journal is compacted: objects covered by two snapshots in a row are gone.
    assert len(bob.replica.journal.list_events()) <= 1


def test_names_of_another_form_are_refused(tmp_path: Path) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 2)
    ds = Dataset.open(tmp_path, author="me")
    ds.add_label("ok", ds.images.index[:1])
    ds.output.write("journal/zzzz.json", orjson.dumps({"ops": [{"op": "drop", "label": "ok"}]}))
    ds.output.write("snapshots/zzzz.json", orjson.dumps({"covered": []}))
    other = reopen(ds)
    assert other.label_names == ["ok"]
    assert any("zzzz" in p and "not <13-digit time>" in p for p in other.problems)


def test_the_journal_clock_never_names_below_what_it_listed(tmp_path: Path) -> None:
    journal = Journal(open_store(str(tmp_path)), clock=lambda: 1000.0)
    journal.observe(["5000000000000-abc-00000001", "not-a-name"])
    assert journal.next_name() > "5000000000000-abc-00000001"
    assert journal.next_name().startswith("5000000000001-")


# -- 7. undo reverts only its author's changes -----------------------------------------------
def test_undo_of_creating_a_label_keeps_others_use_of_it(shared: dict[str, Any]) -> None:
    url, options = shared["url"], shared["options"]
    alice = Dataset.open(url, storage_options=options, author="alice")
    bob = Dataset.open(url, storage_options=options, author="bob")
    ids = alice.images.index.tolist()
    alice.add_label("X", ids[:1])
    bob.refresh()
    bob.add_label("X", ids[1:3])
    alice.refresh()
    alice.undo()
    for ds in (alice, Dataset.open(url, storage_options=options)):
        assert sorted(ds.with_label("X").index) == sorted(ids[1:3])
        assert ds.with_label("X")["path"].tolist() == ["img_001.jpg", "img_002.jpg"]


def test_undo_of_a_rename_moves_back_only_the_renamed_images(shared: dict[str, Any]) -> None:
    url, options = shared["url"], shared["options"]
    alice = Dataset.open(url, storage_options=options, author="alice")
    bob = Dataset.open(url, storage_options=options, author="bob")
    ids = alice.images.index.tolist()
    alice.add_label("first", ids[3:])
    alice.add_label("X", ids[:1])
    alice.rename_label("X", "Y")
    bob.refresh()
    bob.add_label("Y", ids[1:2])
    alice.refresh()
    alice.undo()
    for ds in (alice, Dataset.open(url, storage_options=options)):
        assert ds.with_label("X").index.tolist() == ids[:1]
        assert ds.with_label("Y").index.tolist() == ids[1:2]
    # Alone, undoing a rename puts the old name back in its place.
    alice.rename_label("first", "renamed")
    alice.undo()
    assert alice.label_names[0] == "first"
    assert reopen(alice).label_names[0] == "first"


def test_version_1_journals_still_open(tmp_path: Path) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 3)
    ds = Dataset.open(tmp_path, author="me")
    ids = ds.images.index.tolist()
    journal_object(
        ds,
        {
            "v": 1,
            "action": "add_label",
            "author": "old",
            "time": "2025-01-01 00:00:00",
            "ops": [
                {
                    "op": "label+",
                    "label": "a",
                    "ids": ids,
                    "by": "old",
                    "at": "2025-01-01 00:00:00",
                },
                {"op": "label", "label": "empty"},
                {"op": "rename", "old": "a", "new": "b"},
                {"op": "label-", "label": "b", "ids": ids[:1]},
                {"op": "drop", "label": "empty"},
            ],
        },
    )
    other = reopen(ds)
    assert other.label_names == ["b"]
    assert other.with_label("b").index.tolist() == ids[1:]
    assert other.annotations()["annotated_by"].unique().tolist() == ["old"]


# -- 8. keys too long for a disk -----------------------------------------------------------------
def test_a_key_too_long_for_a_disk_is_skipped_and_listed(
    s3_bucket: str, s3_options: dict[str, Any], s3_client: Any, tmp_path: Path
) -> None:
    long_name = "l" * 300 + ".jpg"
    s3_client.put_object(Bucket=s3_bucket, Key=f"src/{long_name}", Body=image_bytes(1))
    s3_client.put_object(Bucket=s3_bucket, Key="src/short.jpg", Body=image_bytes(2))
    ds = Dataset.open(f"s3://{s3_bucket}/src", storage_options=s3_options, author="me")
    ds.add_label("roses", ds.images.index)
    report = export_labels(ds, "imagefolder", str(tmp_path / "export"))
    assert sorted(tree(tmp_path / "export")) == ["roses/short.jpg"]
    assert report.files == 1
    assert len(report.skipped) == 1
    assert "longer than 255 bytes" in report.skipped[0]
    txt = export_labels(ds, "txt", str(tmp_path / "txt"))
    assert sorted(tree(tmp_path / "txt")) == ["short.txt"]
    assert len(txt.skipped) == 1


# -- 9. resource limits of thumbnailing ---------------------------------------------------------
def png(width: int, height: int, mode: str = "1") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (width, height)).save(buf, "PNG")
    return buf.getvalue()


def test_an_image_too_large_to_decode_gets_a_placeholder_with_the_reason() -> None:
    thumb = make_thumbnail(png(9400, 9400))
    assert not thumb.ok
    assert "too large to preview: 9400 x 9400 pixels" in (thumb.error or "")
    assert make_thumbnail(png(3000, 3000)).ok


def test_large_decodes_run_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, bool]] = []
    real = thumbnails.load_pixels

    def spy(im: Any, fmt: str, data: bytes, name: str) -> None:
        seen.append((im.size[0] * im.size[1], images.BIG_DECODE.locked()))
        real(im, fmt, data, name)

    monkeypatch.setattr(thumbnails, "load_pixels", spy)
    assert make_thumbnail(png(4000, 4000)).ok  # 16 MP: above the one-at-a-time size
    assert make_thumbnail(png(1000, 1000)).ok
    assert seen == [(16_000_000, True), (1_000_000, False)]


def test_a_file_too_big_to_be_a_photo_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_folder(lambda n, d: (tmp_path / n).write_bytes(d), 1)
    with open(tmp_path / "huge.jpg", "wb") as fh:  # sparse: 400 MB listed, nothing on disk
        fh.write(image_bytes(3))
        fh.truncate(400 * 2**20)
    ds = Dataset.open(tmp_path, author="me")
    asked: list[list[str]] = []
    real = ds.source.read_many

    def spy(rels: Any, **kwargs: Any) -> Any:
        asked.append(list(rels))
        return real(rels, **kwargs)

    monkeypatch.setattr(ds.source, "read_many", spy)
    thumbs = ds.thumbnails(ds.images.index)
    by_path = dict(zip(ds.images["path"], ds.images.index, strict=True))
    assert thumbs[by_path["img_000.jpg"]].ok
    huge = thumbs[by_path["huge.jpg"]]
    assert "too large to be a photo" in (huge.error or "")
    assert all("huge.jpg" not in batch for batch in asked)


def test_reads_for_thumbnails_stop_at_the_limit(tmp_path: Path) -> None:
    (tmp_path / "big.jpg").write_bytes(b"\xff\xd8\xff" + b"x" * 5000)
    store = open_store(str(tmp_path))
    got = store.read_many(["big.jpg", "missing.jpg"], limit=1000)
    assert isinstance(got["big.jpg"], bytes)
    assert len(got["big.jpg"]) == 1001
    assert isinstance(got["missing.jpg"], Exception)
    assert MAX_FILE_BYTES >= 32 * 2**20  # a 50 MP JPEG still fits
