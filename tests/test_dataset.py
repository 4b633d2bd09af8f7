"""The Dataset on memory:// and on a local folder: every label and image action, and its tables."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from imagegen import fill_folder, image_bytes
from PIL import Image

from jupyter_labeler import (
    Change,
    Dataset,
    InvalidLabelError,
    UndoError,
    UnknownImageError,
    UnknownLabelError,
    views,
)
from jupyter_labeler.errors import UnsafePathError
from jupyter_labeler.storage import open_store


class Folder:
    """A source folder on one backend, with a way to put files in it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = open_store(url)

    def write(self, name: str, data: bytes) -> None:
        self.store.write(name, data)

    def exists(self, name: str) -> bool:
        return self.store.exists(name)


@pytest.fixture(params=["memory", "local"])
def folder(request: pytest.FixtureRequest, tmp_path: Path) -> Folder:
    if request.param == "memory":
        return Folder(request.getfixturevalue("memory_url"))
    return Folder(str(tmp_path / "images"))


@pytest.fixture
def ds(folder: Folder) -> Dataset:
    fill_folder(folder.write, 20)
    return Dataset.open(folder.url, author="alice")


def ids(ds: Dataset, n: int, start: int = 0) -> list[str]:
    return list(ds.ids("all")[start : start + n])


def reopen(ds: Dataset) -> Dataset:
    return Dataset.open(ds.source_url, author="someone-else")


def labels_table(ds: Dataset) -> dict[str, list[str]]:
    return {i: sorted(v) for i, v in ds.images["labels"].items()}


# -- opening and tables -------------------------------------------------------------------------
def test_a_new_folder_is_all_unlabeled(ds: Dataset) -> None:
    assert len(ds) == 20
    frame = ds.images
    assert frame.index.name == "image_id"
    assert {"path", "labels", "size", "usage"} <= set(frame.columns)
    assert frame["labels"].map(len).sum() == 0
    assert (frame["size"] > 0).all()
    assert len(ds.unlabeled()) == 20
    assert len(ds.labeled()) == 0
    assert ds.view_counts() == {"all": 20, "labeled": 0, "unlabeled": 20}
    assert list(ds.counts().columns) == ["images"]
    assert ds.counts().index.name == "label"
    assert ds.label_names == []


def test_image_ids_are_stable_for_a_path(folder: Folder) -> None:
    fill_folder(folder.write, 3)
    first = Dataset.open(folder.url).images["path"]
    second = Dataset.open(folder.url, output=folder.url + "/other-output").images["path"]
    assert first.sort_index().equals(second.sort_index())


def test_sidecar_txt_files_give_labels(folder: Folder) -> None:
    fill_folder(folder.write, 4)
    folder.write("img_000.txt", b"roses\ntulips\n")
    folder.write("img_001.txt", "\ufeff玫瑰\r\n\r\n".encode())
    folder.write("img_002.txt", b"bad name!\nok\n")
    folder.write("sub/x.png", image_bytes(9, fmt="PNG"))
    folder.write("sub/x.txt", b"tulips")
    folder.write(".hidden/y.jpg", image_bytes(1))
    folder.write("notes.txt", b"not a sidecar")
    ds = Dataset.open(folder.url)
    table = ds.images.set_index("path")["labels"].map(sorted).to_dict()
    assert table == {
        "img_000.jpg": ["roses", "tulips"],
        "img_001.jpg": ["玫瑰"],
        "img_002.jpg": ["ok"],
        "img_003.jpg": [],
        "sub/x.png": ["tulips"],
    }
    assert ds.counts()["images"].to_dict() == {"tulips": 2, "roses": 1, "玫瑰": 1, "ok": 1}


# -- label actions ------------------------------------------------------------------------------
def test_add_label_to_many_and_reopen(ds: Dataset) -> None:
    chosen = ids(ds, 7)
    result = ds.add_label(" roses ", chosen)
    assert result.saved
    assert result.changed == 7
    assert ds.counts().loc["roses", "images"] == 7
    assert set(ds.with_label("roses").index) == set(chosen)
    again = ds.add_label("roses", chosen[:3] + ids(ds, 1, 10))
    assert again.changed == 1
    assert reopen(ds).counts().loc["roses", "images"] == 8


def test_an_image_may_carry_several_labels(ds: Dataset) -> None:
    chosen = ids(ds, 3)
    ds.add_label("roses", chosen)
    ds.add_label("red", chosen[:2])
    assert sorted(ds.labels_of(chosen)[chosen[0]]) == ["red", "roses"]
    assert ds.labels_of(chosen)[chosen[2]] == ["roses"]
    assert len(ds.labeled()) == 3
    assert len(ds.unlabeled()) == 17
    assert labels_table(reopen(ds)) == labels_table(ds)


def test_invalid_label_and_unknown_ids_change_nothing(ds: Dataset) -> None:
    with pytest.raises(InvalidLabelError, match="U\\+002F"):
        ds.add_label("a/b", ids(ds, 2))
    with pytest.raises(UnknownImageError, match="nope"):
        ds.add_label("ok", [*ids(ds, 2), "nope"])
    assert ds.label_names == []
    assert len(ds.labeled()) == 0
    assert reopen(ds).label_names == []


def test_remove_label_keeps_the_label(ds: Dataset) -> None:
    chosen = ids(ds, 5)
    ds.add_label("roses", chosen)
    result = ds.remove_label("roses", chosen[:2] + ids(ds, 1, 15))
    assert result.changed == 2
    assert ds.counts().loc["roses", "images"] == 3
    ds.remove_label("roses", chosen)
    assert ds.counts().loc["roses", "images"] == 0
    assert ds.label_names == ["roses"]
    assert reopen(ds).label_names == ["roses"]
    with pytest.raises(UnknownLabelError):
        ds.remove_label("tulips", chosen)


def test_rename_everywhere_and_merge(ds: Dataset) -> None:
    ds.add_label("roses", ids(ds, 4))
    ds.add_label("tulips", ids(ds, 4, 2))
    ds.add_label("daisy", ids(ds, 1, 10))
    ds.rename_label("daisy", "daisies")
    assert ds.label_names == ["roses", "tulips", "daisies"]
    result = ds.rename_label("roses", "tulips")
    assert "Merged" in result.message
    assert ds.label_names == ["tulips", "daisies"]
    assert ds.counts().loc["tulips", "images"] == 6
    with pytest.raises(InvalidLabelError):
        ds.rename_label("tulips", "tu lips")
    with pytest.raises(UnknownLabelError):
        ds.rename_label("roses", "x")
    assert labels_table(reopen(ds)) == labels_table(ds)


@pytest.mark.parametrize("mode", ["label_only", "with_images", "with_images_and_files"])
def test_delete_label_three_ways(ds: Dataset, folder: Folder, mode: str) -> None:
    only_roses = ids(ds, 3)
    both = ids(ds, 2, 3)
    ds.add_label("roses", only_roses + both)
    ds.add_label("tulips", both)
    paths = ds.images.loc[only_roses, "path"].tolist()
    result = ds.delete_label("roses", mode=mode)
    assert result.saved
    assert "roses" not in ds.label_names
    if mode == "label_only":
        assert len(ds) == 20
        assert set(only_roses) <= set(ds.unlabeled().index)
    else:
        assert len(ds) == 17
        assert not set(only_roses) & set(ds.ids("all"))
        assert set(both) <= set(ds.with_label("tulips").index)
    for path in paths:
        assert folder.exists(path) == (mode != "with_images_and_files")
    assert labels_table(reopen(ds)) == labels_table(ds)
    with pytest.raises(ValueError, match="mode must be one of"):
        ds.delete_label("tulips", mode="everything")


# -- image actions ------------------------------------------------------------------------------
def test_remove_images_keeps_files_unless_asked(ds: Dataset, folder: Folder) -> None:
    chosen = ids(ds, 4)
    ds.add_label("roses", chosen)
    paths = ds.images.loc[chosen, "path"].tolist()
    ds.remove_images(chosen[:2])
    assert len(ds) == 18
    assert all(folder.exists(p) for p in paths)
    ds.remove_images(chosen[2:], delete_source=True)
    assert len(ds) == 16
    assert [folder.exists(p) for p in paths] == [True, True, False, False]
    assert ds.counts().loc["roses", "images"] == 0
    assert len(reopen(ds)) == 16


def test_sync_adds_new_and_drops_vanished(ds: Dataset, folder: Folder) -> None:
    chosen = ids(ds, 2)
    ds.add_label("roses", chosen)
    gone_path = ds.info(chosen[0])["path"]
    folder.store.delete([gone_path])
    folder.write("new/one.png", image_bytes(50, fmt="PNG"))
    folder.write("new/two.bmp", image_bytes(51, fmt="BMP"))
    folder.write("new/two.txt", b"tulips\n")
    folder.write("new/readme.md", b"# not an image")
    seen: list[tuple[int, int]] = []
    summary = ds.sync(progress=lambda done, total: seen.append((done, total)))
    assert (summary.added, summary.removed, summary.labeled_from_sidecars) == (2, 1, 1)
    assert "2 images added, 1 removed, 1 labeled" in str(summary)
    assert seen[-1][0] == seen[-1][1]
    assert len(ds) == 21
    assert ds.counts()["images"].to_dict() == {"roses": 1, "tulips": 1}
    assert ds.sync().added == 0
    assert len(reopen(ds)) == 21


def test_upload_checks_sizes_formats_and_names(ds: Dataset, folder: Folder) -> None:
    big = io.BytesIO()
    Image.frombytes("RGB", (1400, 1400), np.random.default_rng(0).bytes(1400 * 1400 * 3)).save(
        big, "BMP"
    )
    files = {
        "../../escape.jpg": image_bytes(1),
        "a+b c.png": image_bytes(2, fmt="PNG"),
        "img_000.jpg": image_bytes(3),  # taken: gets a suffix
        "really_png.jpg": image_bytes(4, fmt="PNG"),
        "notes.jpg": b"just text",
        "empty.png": b"",
        "huge.bmp": big.getvalue(),
    }
    result = ds.add_images(files)
    refused = dict(result.refused)
    assert set(refused) == {"notes.jpg", "empty.png", "huge.bmp"}
    assert "at most 5.0 MB" in refused["huge.bmp"]
    names = sorted(ds.info(i)["path"] for i in result.added)
    assert names == ["a_b_c.png", "escape.jpg", "img_000_1.jpg", "really_png.png"]
    assert folder.exists("escape.jpg")
    with pytest.raises(UnsafePathError):  # the store refuses to even look outside its folder
        folder.exists("../../escape.jpg")
    assert folder.store.read("img_000.jpg") == image_bytes(0)  # never overwritten
    assert set(result.added) <= set(ds.unlabeled().index)
    assert len(reopen(ds)) == 24


def test_upload_over_8mb_is_refused_whole(ds: Dataset) -> None:
    noisy = io.BytesIO()
    Image.frombytes("RGB", (1000, 1000), np.random.default_rng(1).bytes(3_000_000)).save(
        noisy, "BMP"
    )
    data = noisy.getvalue()
    result = ds.add_images({"a.bmp": data, "b.bmp": data, "c.bmp": data})
    assert result.added == []
    assert all("at most 8.0 MB" in reason for _, reason in result.refused)
    assert len(ds) == 20


# -- undo ---------------------------------------------------------------------------------------
def test_undo_reverts_each_kind_of_action(ds: Dataset) -> None:
    a, b = ids(ds, 4), ids(ds, 4, 2)
    ds.add_label("roses", a)
    ds.add_label("tulips", b)
    start = labels_table(ds)
    steps: list[Callable[[], object]] = [
        lambda: ds.add_label("roses", b),
        lambda: ds.remove_label("roses", a[:2]),
        lambda: ds.rename_label("roses", "rosa"),
        lambda: ds.rename_label("roses", "tulips"),
        lambda: ds.delete_label("roses"),
        lambda: ds.delete_label("roses", mode="with_images"),
        lambda: ds.remove_images(a),
        lambda: ds.add_label("new", a),
    ]
    for step in steps:
        step()
        assert ds.can_undo
        description = ds.undo_description
        ds.undo()
        assert labels_table(ds) == start, description
        assert sorted(ds.label_names) == ["roses", "tulips"], description
    assert labels_table(reopen(ds)) == start


def test_undo_keeps_original_annotators(folder: Folder) -> None:
    fill_folder(folder.write, 3)
    first = Dataset.open(folder.url, author="alice")
    first.add_label("roses", list(first.ids()))
    second = Dataset.open(folder.url, author="bob")
    second.remove_label("roses", list(second.ids()))
    second.undo()
    second.save()
    manifest = (
        Path(second.manifest_url).read_bytes()
        if "://" not in second.manifest_url
        else (open_store(second.output_url).read("dataset.manifest"))
    )
    assert manifest.count(b'"annotated-by":"human/alice/alice"') == 3


def test_files_deleted_cannot_be_undone(ds: Dataset) -> None:
    ds.remove_images(ids(ds, 1), delete_source=True)
    with pytest.raises(UndoError, match="cannot come back"):
        ds.undo()
    with pytest.raises(UndoError, match="nothing to undo"):
        ds.undo()


# -- observers, readiness, saving ---------------------------------------------------------------
def test_observers_hear_every_change(ds: Dataset) -> None:
    changes: list[Change] = []
    stop = ds.observe(changes.append)
    chosen = ids(ds, 2)
    ds.add_label("roses", chosen)
    ds.remove_images(chosen[:1])
    ds.undo()
    kinds = [c.kind for c in changes if c.kind != "status"]
    assert kinds == ["labels", "images", "reload"]
    labels_change = next(c for c in changes if c.kind == "labels")
    assert labels_change.ids == frozenset(chosen)
    assert labels_change.labels == ("roses",)
    stop()
    ds.add_label("x", chosen[1:])
    assert len([c for c in changes if c.kind != "status"]) == 3


def test_an_observer_that_fails_does_not_stop_the_action(ds: Dataset) -> None:
    def broken(change: Change) -> None:
        raise RuntimeError("observer bug")

    ds.observe(broken)
    assert ds.add_label("roses", ids(ds, 1)).saved


def test_readiness_rule(ds: Dataset) -> None:
    report = ds.readiness()
    assert not report.ready
    assert "at least 2 labels" in report.problems[0]
    ds.add_label("roses", ids(ds, 3))
    ds.add_label("tulips", ids(ds, 5, 5))
    report = ds.readiness()
    assert not report.ready
    assert "roses has 3 images; at least 5 are needed (roses needs 2 more)" in report.problems
    ds.add_label("roses", ids(ds, 2, 10))
    report = ds.readiness()
    assert report.ready, report.problems
    assert report.table.loc["roses", "images"] == 5
    assert report.table.loc["roses", "status"] == "enough"
    assert "50 or more are recommended" in report.recommendations[0]
    assert "Ready for training" in report._repr_html_()
    assert "Ready for training" in repr(report)


def test_counts_are_sorted_most_first(ds: Dataset) -> None:
    ds.add_label("few", ids(ds, 1))
    ds.add_label("many", ids(ds, 6))
    ds.add_label("none", [])
    counts = ds.counts()
    assert counts.index.tolist() == ["many", "few", "none"]
    assert counts["images"].tolist() == [6, 1, 0]
    assert counts["images"].dtype == np.int64


def test_save_writes_a_modelarts_manifest_at_one_path(ds: Dataset) -> None:
    ds.add_label("roses", ids(ds, 2))
    url = ds.save()
    assert url == ds.manifest_url
    assert url.endswith(".jupyter_labeler/dataset.manifest")
    ds.add_label("tulips", ids(ds, 1, 5))
    assert ds.save() == url
    store = open_store(ds.output_url)
    lines = store.read("dataset.manifest").splitlines()
    assert len(lines) == 20
    assert sum(b"tulips" in line for line in lines) == 1
    # the journal was compacted: only the last generation is left
    assert len(store.list("journal")) <= 2
    assert labels_table(reopen(ds)) == labels_table(ds)


def test_a_save_removes_the_snapshots_older_than_the_one_it_built_on(ds: Dataset) -> None:
    store = open_store(ds.output_url)

    def keys() -> set[str]:
        return {rel.split("/")[-1].split(".", 1)[0] for rel in store.list("snapshots")}

    made = []
    for k in range(4):
        ds.add_label(f"label{k}", ids(ds, k + 1))
        ds.save()
        made.append(max(keys()))
    # the newest and the one it was built on stay (a writer may still be building on that
    # one); every file of the older ones went
    assert keys() == set(made[-2:])
    assert len(store.list("snapshots")) == 2 * 4  # manifest, two Parquet files and marker each
    assert labels_table(reopen(ds)) == labels_table(ds)


def test_snapshot_fallback_to_manifest_and_corrupt_journal_objects(ds: Dataset) -> None:
    ds.add_label("roses", ids(ds, 2))
    ds.save()
    ds.add_label("tulips", ids(ds, 3, 5))
    store = open_store(ds.output_url)
    for rel in store.list("snapshots"):
        if rel.endswith(".parquet"):
            store.write(rel, b"garbage")
    store.write("journal/0000000000001-broken-00000001.json", b'{"ops": [')
    again = reopen(ds)
    assert again.counts()["images"].to_dict() == {"tulips": 3, "roses": 2}
    problems = "\n".join(again.problems)
    assert "Parquet copy cannot be read" in problems
    assert "0000000000001-broken-00000001.json: corrupt or truncated journal object" in problems


def test_large_selections_take_the_long_table_path(ds: Dataset) -> None:
    ds.add_label("roses", ids(ds, 10))
    ds.add_label("red", ids(ds, 5, 5))
    small = ds.images
    replica = ds.replica
    with replica.lock:
        large = views.table(replica.state, replica.state.view_codes("all"), per_code_limit=0)
    assert large["labels"].tolist() == small["labels"].tolist()
    assert small["labels"].map(len).sum() == 15


def test_view_queries_answer_without_building_tables(ds: Dataset) -> None:
    chosen = ids(ds, 3, 4)
    ds.add_label("roses", chosen)
    assert ds.unknown_ids([chosen[0], "nope", ""]) == ["nope", ""]
    assert ds.in_view([chosen[0], ids(ds, 1)[0], "nope"], "labeled").tolist() == [
        True,
        False,
        False,
    ]
    assert ds.in_view(chosen, "unlabeled").tolist() == [False] * 3
    assert ds.in_view(chosen, "all", "roses").all()
    for view, label in (("all", None), ("labeled", None), ("unlabeled", None), ("all", "roses")):
        shown = list(ds.ids(view, label))
        assert [ds.position(i, view, label) for i in shown] == list(range(len(shown)))
    assert ds.position(chosen[0], "unlabeled") is None
    assert ds.position("nope") is None


def test_foreign_ids_are_looked_up_too(tmp_path: Path) -> None:
    # Ids that are not 16 hex digits (ModelArts' own, say) take the dictionary path.
    images = tmp_path / "images"
    out = images / ".jupyter_labeler"
    out.mkdir(parents=True)
    (out / "dataset.manifest").write_text(
        "\n".join(
            f'{{"source":"{images}/{name}.jpg","id":"{name}"}}'
            for name in ("XGDVGS", "ABCDEF0123456789", "abc")
        )
    )
    ds = Dataset.open(images)
    assert ds.unknown_ids(["XGDVGS", "abc", "ABCDEF0123456789", "abcdef0123456789"]) == [
        "abcdef0123456789"
    ]
    ds.add_label("roses", ["XGDVGS", "ABCDEF0123456789"])
    assert set(reopen(ds).with_label("roses").index) == {"XGDVGS", "ABCDEF0123456789"}
