"""Writing the manifest a block of lines at a time: the same bytes as before, however cut.

``data/varied.expected.manifest`` is what the writer gave, line by line assembled whole, for
the varied manifest of ``varied_manifest.py`` (``{FOLDER}`` standing for the source folder):
every way of building and saving it must give those bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from imagegen import image_bytes
from varied_manifest import varied_manifest

from jupyter_labeler import Dataset
from jupyter_labeler.errors import LabelerError, StoreUnavailableError
from jupyter_labeler.live_columns import live_columns
from jupyter_labeler.manifest import manifest_chunks, write_manifest
from jupyter_labeler.snapshot import write_columns, write_state
from jupyter_labeler.storage import Store, open_store
from jupyter_labeler.team import property_texts

EXPECTED = Path(__file__).parent / "data" / "varied.expected.manifest"


def expected(folder: Path) -> bytes:
    return EXPECTED.read_bytes().replace(b"{FOLDER}", str(folder).encode())


@pytest.fixture
def varied(tmp_path: Path) -> Dataset:
    folder = tmp_path / "images"
    (folder / ".jupyter_labeler").mkdir(parents=True)
    (folder / ".jupyter_labeler" / "dataset.manifest").write_bytes(varied_manifest(folder))
    ds = Dataset.open(folder, author="alice")
    # what the varied manifest is for: each kind of line reached the state
    state = ds.replica.state
    assert state.team is not None
    assert len(state.foreign) == 2
    assert len(ds) == 80
    assert len(ds.problems) == 3  # two foreign lines, one repeated source
    return ds


def pieces(ds: Dataset, **kw: int) -> bytes:
    replica = ds.replica
    with replica.lock:
        state = replica.state
        columns = live_columns(state)
        properties = property_texts(state)
    return b"".join(
        manifest_chunks(
            columns,
            replica.urls.prefix,
            same_image=replica.urls.same_image,
            properties=properties,
            **kw,
        )
    )


def test_the_manifest_is_the_same_bytes_as_before(varied: Dataset) -> None:
    folder = Path(varied.source_url)
    assert varied.manifest_bytes() == expected(folder)
    varied.save()
    published = folder / ".jupyter_labeler" / "dataset.manifest"
    assert published.read_bytes() == expected(folder)
    # checked marks, team data, escapes and non-ASCII text are all in it
    text = published.read_text("utf-8")
    for piece in ("checked_by", "assigned_to", "labels_by", '\\"q\\"', "\\t", "\\u0001", "狗"):
        assert piece in text


@pytest.mark.parametrize("chunk_lines", [1, 2, 3, 7, 79, 80, 81, 1 << 16])
@pytest.mark.parametrize("workers", [1, 2])
def test_pieces_of_any_size_join_to_the_same_manifest(
    varied: Dataset, chunk_lines: int, workers: int
) -> None:
    whole = pieces(varied, chunk_lines=chunk_lines, workers=workers)
    assert whole == expected(Path(varied.source_url))


def test_pieces_are_whole_lines_and_the_foreign_lines_come_last(varied: Dataset) -> None:
    got = [bytes(p) for p in manifest_chunks_of(varied, chunk_lines=10)]
    assert len(got) == 9  # 80 lines in eight pieces, then the foreign lines
    assert all(p.endswith(b"\n") and p.count(b"\n") == 10 for p in got[:8])
    assert [orjson.loads(x)["source"] for x in got[8].splitlines()] == [
        "s3://elsewhere/x.jpg",
        f"{varied.source_url}/../victim.jpg",
    ]


def manifest_chunks_of(ds: Dataset, **kw: int) -> list[memoryview]:
    replica = ds.replica
    with replica.lock:
        columns = live_columns(replica.state)
    return list(manifest_chunks(columns, replica.urls.prefix, **kw))


def test_an_action_after_the_columns_were_taken_does_not_reach_them(varied: Dataset) -> None:
    replica = varied.replica
    with replica.lock:
        columns = live_columns(replica.state)
    before = b"".join(manifest_chunks(columns, replica.urls.prefix))
    ids = varied.ids("all")
    varied.add_label("later", list(ids[:5]))
    varied.remove_images(list(ids[5:8]))
    assert b"".join(manifest_chunks(columns, replica.urls.prefix)) == before
    assert b'"later"' not in before
    assert len(before.splitlines()) == 82


def test_the_snapshot_written_from_the_columns_opens_to_the_same_dataset(
    varied: Dataset,
) -> None:
    folder = Path(varied.source_url)
    varied.add_label("cat", list(varied.ids("unlabeled")[:3]))
    varied.remove_images(list(varied.ids("all")[:2]))
    want = varied.manifest_bytes()
    with varied.replica.lock:
        assert write_state(varied.replica.state) == write_columns(
            live_columns(varied.replica.state)
        )
    varied.save()
    varied.close()
    again = Dataset.open(folder, author="bob")
    assert not again.problems
    assert again.manifest_bytes() == want
    assert write_manifest(again.replica.state, again.replica.urls.prefix) != b""


def test_images_added_in_several_goes_write_every_path_however_cut(tmp_path: Path) -> None:
    # Each go adds the paths as a block of their own: a piece of lines may span two blocks.
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(5):
        (folder / f"first_{k}.jpg").write_bytes(image_bytes(k))
    Dataset.open(folder, author="alice").save()
    ds = Dataset.open(folder, author="alice")
    ds.add_images({f"second_{k}.jpg": image_bytes(10 + k) for k in range(3)})
    ds.add_images({'say "cheese".jpg': image_bytes(20), "third.jpg": image_bytes(21)})
    assert len(ds) == 10, ds.problems
    ids = list(ds.ids("all"))
    paths = ds.paths_of(ids)
    whole = ds.manifest_bytes()
    for chunk_lines in (1, 2, 3, 4, 6, 7):
        assert pieces(ds, chunk_lines=chunk_lines) == whole
    lines = [orjson.loads(line) for line in whole.splitlines()]
    assert [line["id"] for line in lines] == ids
    assert [line["source"] for line in lines] == [f"{folder}/{paths[i]}" for i in ids]
    ds.save()
    again = Dataset.open(folder, author="bob")
    assert again.paths_of(ids) == paths
    assert again.manifest_bytes() == whole


def test_an_empty_dataset_writes_only_its_foreign_lines(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / ".jupyter_labeler").mkdir(parents=True)
    foreign = b'{"source":"s3://elsewhere/x.jpg"}\n'
    (folder / ".jupyter_labeler" / "dataset.manifest").write_bytes(foreign)
    ds = Dataset.open(folder, author="alice")
    assert len(ds) == 0
    assert ds.manifest_bytes() == foreign
    ds.save()
    assert (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes() == foreign


# -- writing an object given in pieces -----------------------------------------------------------
def failing_pieces() -> object:
    yield b"first piece\n"
    raise ValueError("the second piece cannot be built")


def test_pieces_make_one_object(store: Store) -> None:
    store.write("a/file.manifest", iter([b"one\n", memoryview(b"two\n"), bytearray(b"three\n")]))
    assert store.read("a/file.manifest") == b"one\ntwo\nthree\n"


def test_a_file_of_many_pieces_is_written_whole_as_it_goes_to_the_disk(tmp_path: Path) -> None:
    # A local file is handed to the disk every 64 MB as it is written: pieces of uneven sizes
    # over several such steps
    store = open_store(str(tmp_path))
    step = 64 << 20
    pieces = [bytes([k % 251]) * (3 << 20 if k % 2 else (5 << 20) + k) for k in range(40)]
    assert sum(map(len, pieces)) > 2 * step
    store.write("a/big.manifest", (memoryview(p) for p in pieces))
    got = store.read("a/big.manifest")
    assert len(got) == sum(map(len, pieces))
    assert got == b"".join(pieces)


def test_a_piece_that_fails_leaves_the_old_object_whole(store: Store) -> None:
    store.write("a/file.manifest", b"old\n")
    with pytest.raises((ValueError, LabelerError)):
        store.write("a/file.manifest", failing_pieces())  # type: ignore[arg-type]
    assert store.read("a/file.manifest") == b"old\n"
    assert list(store.list("a")) == ["a/file.manifest"]
    if store.scheme == "file":  # and no temporary file is left beside it
        assert os.listdir(store.path("a")) == ["file.manifest"]


def test_a_save_that_fails_midway_loses_nothing(
    varied: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = Path(varied.source_url)
    varied.save()
    varied.add_label("cat", list(varied.ids("unlabeled")[:2]))
    labeled = len(varied.ids("labeled"))
    real_write = Store.write

    def write(self: Store, rel: str, data: object, **kw: object) -> None:
        if rel.startswith("snapshots/") and rel.endswith(".manifest"):

            def first_then_fail(pieces: object) -> object:
                yield next(iter(pieces))  # type: ignore[call-overload]
                raise StoreUnavailableError("the store went away (test)", self.url)

            data = first_then_fail(data)
        real_write(self, rel, data, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "write", write)
    with pytest.raises(StoreUnavailableError):
        varied.save()
    monkeypatch.undo()
    assert (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes() == expected(folder)
    again = Dataset.open(folder, author="bob")
    assert len(again.ids("labeled")) == labeled
    again.save()
    assert again.manifest_bytes() == (folder / ".jupyter_labeler" / "dataset.manifest").read_bytes()
