"""Features files from another writer of the bucket: each is checked on its own, a bad one is
skipped and named once in ``problems``, never replaces the honest features, and
``compute_features()`` repairs what it hid.

A hostile writer can put any object under ``features/<embedder>/`` in the output folder. Each
case writes one straight into the store, named to sort after (or to replace) the honest files,
then checks suggest(), similar() and duplicates() against what they said before it.
"""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from test_assist import CLASSES, jpeg, label_some, make_folder, scene

from jupyter_labeler import Dataset, feature_files
from jupyter_labeler import features as features_module
from jupyter_labeler.features import BUILTIN, FEATURES_DIR, FeatureStore
from jupyter_labeler.storage import Store, open_store

NEWEST = "9999999999999"  # sorts after every honest file's time


@dataclass
class Setup:
    """A dataset with honest features and five labeled images a class, and what it said then."""

    ds: Dataset
    output: Store
    url: str
    options: dict[str, Any]
    truth: dict[str, str]
    suggested: pd.DataFrame
    near: pd.DataFrame
    twins: pd.DataFrame
    query: list[str]

    def answers(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        return (
            self.ds.suggest(),
            self.ds.similar(self.query, k=6, view="all"),
            self.ds.duplicates(),
        )

    def same_answers(self) -> None:
        suggested, near, twins = self.answers()
        pd.testing.assert_frame_equal(suggested, self.suggested)
        pd.testing.assert_frame_equal(near, self.near)
        pd.testing.assert_frame_equal(twins, self.twins)

    def honest_files(self) -> list[str]:
        return FeatureStore(self.output, BUILTIN).files()

    def honest_table(self) -> pa.Table:
        table = FeatureStore(self.output, BUILTIN).read(self.honest_files())
        assert table is not None
        return table

    def plant(self, data: bytes, name: str | None = None) -> str:
        """Write ``data`` as a features file (a new newest-named one unless ``name``)."""
        name = name or f"{NEWEST}-{uuid.uuid4().hex}.parquet"
        self.output.write(f"{FEATURES_DIR}/{BUILTIN}/{name}", data)
        return name

    def lines_naming(self, name: str, ds: Dataset | None = None) -> list[str]:
        return [p for p in (ds or self.ds).problems if name in p]


def parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def make_images(root: Path) -> dict[str, str]:
    """make_folder's 36 images, and an exact copy of one (for duplicates()): path -> class."""
    truth = make_folder(root)
    (root / "copy_of_dots_004.jpg").write_bytes((root / "dots_004.jpg").read_bytes())
    truth["copy_of_dots_004.jpg"] = "dots"
    return truth


def make_setup(url: str, options: dict[str, Any], root: Path | None) -> Setup:
    truth = make_images(root) if root is not None else _fill_store(url, options)
    ds = Dataset.open(url, storage_options=options, author="alice")
    output = open_store(f"{url}/.jupyter_labeler", options)
    ds.compute_features(progress=False, batch_size=12)
    label_some(ds, truth)
    idof = {p: i for i, p in ds.paths().items()}
    query = [idof["bars_000.jpg"], idof["bars_001.jpg"]]
    setup = Setup(
        ds, output, url, options, truth, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), query
    )
    setup.suggested, setup.near, setup.twins = setup.answers()
    assert len(setup.suggested) == 22
    assert len(setup.near) == 6
    assert len(setup.twins) == 2  # the exact copy and its original
    assert ds.problems == []
    return setup


def _fill_store(url: str, options: dict[str, Any]) -> dict[str, str]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        truth = make_images(Path(tmp) / "images")
        store = open_store(url, options)
        for path in sorted((Path(tmp) / "images").iterdir()):
            store.write(path.name, path.read_bytes())
    return truth


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Setup]:
    root = tmp_path / "images"
    setup = make_setup(str(root), {}, root)
    yield setup
    setup.ds.close()


@pytest.fixture
def on_s3(s3_bucket: str, s3_options: dict[str, Any]) -> Iterator[Setup]:
    setup = make_setup(f"s3://{s3_bucket}/images", dict(s3_options), None)
    yield setup
    setup.ds.close()


# -- what a hostile writer puts there ---------------------------------------------------------------
def _vectors(table: pa.Table) -> np.ndarray:
    vec = table.column("vector").combine_chunks()
    return np.asarray(vec.flatten()).reshape(table.num_rows, -1)


def _with(table: pa.Table, column: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(column), column, values)


def three_numbers(honest: pa.Table) -> bytes:
    vec = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(3 * honest.num_rows, np.float16)), 3)
    return parquet(_with(honest, "vector", vec))


def six_thousand_numbers(honest: pa.Table) -> bytes:
    n = honest.num_rows
    vec = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(6000 * n, np.float16)), 6000)
    return parquet(_with(honest, "vector", vec))


def variable_length(honest: pa.Table) -> bytes:
    rows = [list(v[: 1 + i % 5]) for i, v in enumerate(_vectors(honest).astype(float))]
    return parquet(_with(honest, "vector", pa.array(rows, pa.list_(pa.float32()))))


def no_vector_column(honest: pa.Table) -> bytes:
    return parquet(honest.drop_columns(["vector"]))


def integer_ids(honest: pa.Table) -> bytes:
    return parquet(_with(honest, "image_id", pa.array(np.arange(honest.num_rows), pa.int64())))


def not_parquet(_honest: pa.Table) -> bytes:
    return b"PAR1" + b"\x00\x17" * 500


def empty_file(_honest: pa.Table) -> bytes:
    return b""


def empty_vectors(honest: pa.Table) -> bytes:
    vec = pa.array([None] * honest.num_rows, pa.list_(pa.float16(), 256))
    return parquet(_with(honest, "vector", vec))


HOSTILE: dict[str, tuple[Callable[[pa.Table], bytes], str]] = {
    "3-number vectors": (three_numbers, "vectors of 3 numbers, where the builtin embedder's"),
    "6,000-number vectors": (six_thousand_numbers, "vectors of 6,000 numbers (at most 4,096)"),
    "variable-length vectors": (variable_length, "not vectors of one fixed length"),
    "no vector column": (no_vector_column, "no vector column"),
    "integer ids": (integer_ids, "its image_id column holds int64, not text"),
    "not Parquet": (not_parquet, "not a Parquet file"),
    "an empty object": (empty_file, "not a Parquet file"),
    "empty vectors": (empty_vectors, "empty values in its vector column"),
}


def nan_rows(honest: pa.Table, every: int = 2) -> bytes:
    """The honest rows, with every ``every``-th vector holding NaN, inf or -inf."""
    vectors = _vectors(honest).astype(np.float32)
    bad = np.arange(honest.num_rows) % every == 0
    vectors[bad, 0] = np.nan
    vectors[bad, 1] = np.inf
    vectors[bad, 2] = -np.inf
    vec = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
    return parquet(_with(honest, "vector", vec))


# -- a bad file never replaces the honest ones ------------------------------------------------------
@pytest.mark.parametrize("kind", HOSTILE, ids=list(HOSTILE))
def test_a_bad_features_file_is_skipped_named_once_and_replaces_nothing(
    local: Setup, kind: str
) -> None:
    make, words = HOSTILE[kind]
    name = local.plant(make(local.honest_table()))
    for _ in range(2):
        local.same_answers()  # no raw AttributeError or KeyError, and the same answers
    lines = local.lines_naming(name)
    assert len(lines) == 1, local.ds.problems
    assert words in lines[0]
    assert lines[0].endswith("; skipped")
    # Nothing was hidden, so nothing is computed again; and the line is still told once.
    assert local.ds.compute_features(progress=False).computed == 0
    local.same_answers()
    assert len(local.lines_naming(name)) == 1
    # A second dataset on the same folder says the same.
    again = Dataset.open(local.url, author="bob")
    try:
        pd.testing.assert_frame_equal(again.similar(local.query, k=6, view="all"), local.near)
        assert len(local.lines_naming(name, again)) == 1
    finally:
        again.close()


def test_rows_that_are_not_finite_are_refused_and_the_older_rows_stand(local: Setup) -> None:
    name = local.plant(nan_rows(local.honest_table()))
    local.same_answers()  # suggest() raises no ValueError; similar() still answers
    lines = local.lines_naming(name)
    assert len(lines) == 1
    assert "19 of 37 vectors hold numbers that are not finite" in lines[0]
    assert local.ds.compute_features(progress=False).computed == 0


def test_compute_features_repairs_what_a_bad_file_hid(local: Setup) -> None:
    honest = local.honest_files()
    assert len(honest) == 4  # 37 images, 12 a file
    # The first batch's file replaced by one with variable-length vectors, the second by one
    # whose vectors are half NaN: their images have no usable features any more.
    first = FeatureStore(local.output, BUILTIN).read(honest[:1])
    second = FeatureStore(local.output, BUILTIN).read(honest[1:2])
    assert first is not None
    assert second is not None
    local.plant(variable_length(first), honest[0])
    local.plant(nan_rows(second), honest[1])
    hidden = set(first.column("image_id").to_pylist())
    hidden |= set(second.column("image_id").to_pylist()[::2])  # the rows made NaN
    ds = Dataset.open(local.url, author="bob")
    try:
        unlabeled_hidden = hidden - set(ds.ids("labeled"))
        suggested = set(ds.suggest().index)
        assert unlabeled_hidden
        assert not suggested & unlabeled_hidden
        assert len(suggested) < len(local.suggested)
        assert len(ds.problems) == 2
        summary = ds.compute_features(progress=False)
        assert summary.computed == len(hidden)
        pd.testing.assert_frame_equal(ds.suggest(), local.suggested)
        pd.testing.assert_frame_equal(ds.similar(local.query, k=6, view="all"), local.near)
        pd.testing.assert_frame_equal(ds.duplicates(), local.twins)
        assert ds.compute_features(progress=False).computed == 0
        assert len(ds.problems) == 2
    finally:
        ds.close()


def test_a_problem_line_stays_once_when_the_dataset_is_read_again(local: Setup) -> None:
    name = local.plant(three_numbers(local.honest_table()))
    local.same_answers()
    bob = Dataset.open(local.url, author="bob")
    try:
        bob.add_label("stripes", bob.ids("unlabeled")[:1].tolist())
        bob.save()  # a new snapshot: alice reads everything again at her next refresh
    finally:
        bob.close()
    assert local.ds.refresh()
    local.ds.suggest()
    assert len(local.lines_naming(name)) == 1


def test_rows_of_images_not_in_the_dataset_are_left_out_until_they_come(local: Setup) -> None:
    root = Path(local.url)
    (root / "bars_new.jpg").write_bytes(jpeg(scene("bars", 500)))
    bob = Dataset.open(local.url, author="bob")
    try:
        assert bob.sync().added == 1
        assert bob.compute_features(progress=False).computed == 1
        new_id = bob.ids()[bob.paths() == "bars_new.jpg"].tolist()
    finally:
        bob.close()
    # Alice has not seen the new image: its row is left out, not an answer, not a problem.
    near = local.ds.similar(local.query, k=50, view="all")
    assert not set(new_id) & set(near.index)
    assert local.ds.problems == []
    local.ds.refresh()
    assert local.ds.ids()[local.ds.paths() == "bars_new.jpg"].tolist() == new_id
    # Now it is hers: its features are there without computing them again.
    assert local.ds.compute_features(progress=False).computed == 0
    assert len(local.ds.similar(new_id, k=3, view="all")) == 3


def test_bad_files_on_s3_are_skipped_and_named_once(on_s3: Setup) -> None:
    names = [
        on_s3.plant(three_numbers(on_s3.honest_table())),
        on_s3.plant(variable_length(on_s3.honest_table())),
        on_s3.plant(b""),  # S3 answers a ranged read of an empty object with 416
    ]
    for _ in range(2):
        on_s3.same_answers()
    for name in names:
        assert len(on_s3.lines_naming(name)) == 1, on_s3.ds.problems
    assert on_s3.ds.compute_features(progress=False).computed == 0
    # The honest file of the first batch, overwritten with vectors of 3 numbers: repaired.
    first = on_s3.honest_files()[0]
    table = FeatureStore(on_s3.output, BUILTIN).read([first])
    assert table is not None
    on_s3.plant(three_numbers(table), first)
    again = Dataset.open(on_s3.url, storage_options=on_s3.options, author="bob")
    try:
        assert again.compute_features(progress=False).computed == table.num_rows
        pd.testing.assert_frame_equal(again.similar(on_s3.query, k=6, view="all"), on_s3.near)
    finally:
        again.close()


# -- bounds ------------------------------------------------------------------------------------------
def test_a_file_of_more_rows_than_a_file_may_hold_is_skipped(
    local: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    honest = local.honest_table()
    monkeypatch.setattr(feature_files, "MAX_FILE_ROWS", honest.num_rows - 1)
    name = local.plant(parquet(honest))
    local.ds.similar(local.query, k=6, view="all")
    lines = local.lines_naming(name)
    assert len(lines) == 1
    assert "more than a file may hold" in lines[0]


def test_a_large_table_is_written_as_several_files_each_within_bounds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feature_files, "MAX_FILE_ROWS", 10)
    store = FeatureStore(open_store(str(tmp_path)), "mine")
    n = 25
    table = pa.table(
        {
            "image_id": pa.array([f"{i:016x}" for i in range(n)]),
            "size": pa.array(np.arange(n), pa.int64()),
            "ok": pa.array(np.ones(n, bool)),
            "sha": pa.array([""] * n),
            "phash": pa.array(np.zeros(n, np.uint64)),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(np.arange(4 * n, dtype=np.float16)), 4
            ),
        }
    )
    assert len(store.write(table)) == 3
    assert len(store.files()) == 3
    read = store.read(store.files())
    assert read is not None
    assert sorted(read.column("image_id").to_pylist()) == table.column("image_id").to_pylist()


def test_an_embedder_of_long_vectors_is_searched_and_one_too_long_is_refused(
    local: Setup,
) -> None:
    rng = np.random.default_rng(0)
    spread = rng.standard_normal((256, 4096)).astype(np.float32)

    def long(images: list[Image.Image]) -> np.ndarray:
        return features_module.builtin_embedder(images) @ spread

    assert local.ds.compute_features(long, progress=False).computed == 37
    paths = local.ds.paths()
    near = local.ds.similar(local.query, k=6, view="all", embedder="long")
    assert {local.truth[paths[i]] for i in near.index} == {"bars"}

    def too_long(images: list[Image.Image]) -> np.ndarray:
        return np.ones((len(images), 4097), np.float32)

    with pytest.raises(ValueError, match="1 to 4,096 numbers an image"):
        local.ds.compute_features(too_long, progress=False)
    with pytest.raises(ValueError, match="name yours"):
        local.ds.compute_features(long, name=BUILTIN, progress=False)


def test_an_embedder_giving_numbers_that_are_not_finite_fails_those_images(local: Setup) -> None:
    def sometimes_nan(images: list[Image.Image]) -> np.ndarray:
        out = features_module.builtin_embedder(images)
        out[::3] = np.nan
        return out

    summary = local.ds.compute_features(sometimes_nan, progress=False, batch_size=12)
    assert summary.computed == 37
    assert summary.failed == 4 + 4 + 4 + 1  # every third image of each batch
    assert local.ds.problems == []
    near = local.ds.similar(local.query[:1], k=3, view="all", embedder="sometimes_nan")
    assert len(near) == 3


def test_a_callable_embedders_features_keep_the_length_most_images_have(local: Setup) -> None:
    def mine(images: list[Image.Image]) -> np.ndarray:
        return features_module.builtin_embedder(images)[:, :100]

    local.ds.compute_features(mine, progress=False)
    before = local.ds.similar(local.query, k=6, view="all", embedder="mine")
    store = FeatureStore(local.output, "mine")
    honest = store.read(store.files())
    assert honest is not None
    few = honest.slice(0, 3)
    vec = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(9, np.float16)), 3)
    name = f"{NEWEST}-{uuid.uuid4().hex}.parquet"
    local.output.write(f"{FEATURES_DIR}/mine/{name}", parquet(_with(few, "vector", vec)))
    after = local.ds.similar(local.query, k=6, view="all", embedder="mine")
    pd.testing.assert_frame_equal(after, before)
    lines = local.lines_naming(name)
    assert len(lines) == 1
    assert "vectors of 3 numbers, where most images' have 100" in lines[0]
    assert local.ds.compute_features(mine, progress=False).computed == 0


def test_the_classes_stay_apart_in_the_honest_answers(local: Setup) -> None:
    """The baseline the cases above compare with is itself right."""
    paths = local.ds.paths()
    assert {local.truth[paths[i]] for i in local.near.index} == {"bars"}
    right = [local.truth[paths[i]] == label for i, label in local.suggested["label"].items()]
    assert np.mean(right) >= 0.9
    assert set(local.suggested["label"]) <= set(CLASSES)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_file_named_in_the_far_future_does_not_outrank_files_written_after_it(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """Files are ordered by the time in their names, but never after the store wrote them: a
    well-formed file named at the end of time is only as new as its object."""
    setup: Setup = request.getfixturevalue("local" if kind == "local" else "on_s3")
    honest = setup.honest_table()
    vectors = _vectors(honest)

    def file_of(scale: float) -> bytes:
        flat = pa.array((vectors * scale).astype(vectors.dtype).ravel())
        return parquet(
            _with(honest, "vector", pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
        )

    forged = setup.plant(file_of(0.5))  # named 9999999999999-...
    time.sleep(1.1)  # S3 keeps an object's time to the second
    later = setup.plant(file_of(2.0), f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex}.parquet")
    order = setup.honest_files()
    assert order.index(forged) < order.index(later)
    table = FeatureStore(setup.output, BUILTIN).read(order)
    assert table is not None
    assert np.allclose(_vectors(table), (vectors * 2.0).astype(vectors.dtype))
