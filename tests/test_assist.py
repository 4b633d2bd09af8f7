"""Assisted labeling: features kept and shared, suggestions, accepting them, similar images,
duplicates, and that none of it disturbs opening, compaction or exports.

The images are drawn in code with known classes: ``stripes`` (red horizontal bands), ``bars``
(blue vertical bars) and ``dots`` (green discs), each with random jitter.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from jupyter_labeler import Dataset
from jupyter_labeler.demo import make_demo_images
from jupyter_labeler.errors import LabelerError, UnknownImageError
from jupyter_labeler.features import BUILTIN, FeatureStore
from jupyter_labeler.formats import export_labels

CLASSES = ("stripes", "bars", "dots")


def scene(kind: str, seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    rng = random.Random(f"{kind}:{seed}")
    w, h = size
    if kind == "stripes":
        im = Image.new("RGB", size, (rng.randint(180, 255), rng.randint(0, 60), rng.randint(0, 60)))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randint(3, 6)):
            y, t = rng.uniform(0, h), rng.uniform(2, 8)
            draw.rectangle((0, y, w, y + t), fill=(255, 230, rng.randint(150, 220)))
    elif kind == "bars":
        im = Image.new("RGB", size, (rng.randint(0, 50), rng.randint(0, 60), rng.randint(150, 255)))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randint(3, 6)):
            x, t = rng.uniform(0, w), rng.uniform(2, 8)
            draw.rectangle((x, 0, x + t, h), fill=(20, 20, rng.randint(0, 60)))
    else:
        im = Image.new("RGB", size, (rng.randint(0, 60), rng.randint(130, 200), rng.randint(0, 60)))
        draw = ImageDraw.Draw(im)
        for _ in range(rng.randint(4, 8)):
            x, y, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, 12)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(250, 250, rng.randint(180, 255)))
    # Soft blotches everywhere, as in photos: no two images share their coarse layout.
    field = Image.frombytes("L", (4, 3), rng.randbytes(12)).resize(size, Image.Resampling.BICUBIC)
    return Image.composite(
        im, Image.new("RGB", size, (128, 128, 128)), field.point(lambda v: 150 + v // 3)
    )


def jpeg(im: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    im.save(out, "JPEG", quality=quality)
    return out.getvalue()


def make_folder(root: Path, per_class: int = 12, start: int = 0) -> dict[str, str]:
    """Write ``per_class`` images of each class; returns path -> class."""
    root.mkdir(parents=True, exist_ok=True)
    truth = {}
    for kind in CLASSES:
        for i in range(start, start + per_class):
            name = f"{kind}_{i:03d}.jpg"
            (root / name).write_bytes(jpeg(scene(kind, i)))
            truth[name] = kind
    return truth


def label_some(ds: Dataset, truth: dict[str, str], per_class: int = 5) -> None:
    idof = {p: i for i, p in ds.paths().items()}
    for kind in CLASSES:
        names = sorted(p for p, k in truth.items() if k == kind)[:per_class]
        ds.add_label(kind, [idof[p] for p in names])


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    root = tmp_path / "images"
    return root, make_folder(root)


@pytest.fixture
def ds(folder: tuple[Path, dict[str, str]]) -> Iterator[Dataset]:
    dataset = Dataset.open(folder[0], author="alice")
    yield dataset
    dataset.close()


def feature_files(ds: Dataset, embedder: str = BUILTIN) -> list[str]:
    return FeatureStore(ds.output, embedder).files()


# -- features ------------------------------------------------------------------------------------
def test_features_are_stored_one_file_per_batch_and_reused(ds: Dataset) -> None:
    first = ds.compute_features(progress=False, batch_size=10)
    assert (first.computed, first.reused, first.failed, first.files) == (36, 0, 0, 4)
    assert len(feature_files(ds)) == 4
    again = ds.compute_features(progress=False, batch_size=10)
    assert (again.computed, again.reused, again.files) == (0, 36, 0)
    assert len(feature_files(ds)) == 4


def test_features_are_incremental_after_a_sync(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    make_folder(folder[0], per_class=2, start=100)
    assert ds.sync().added == 6
    seen: list[tuple[int, int]] = []
    summary = ds.compute_features(progress=lambda done, total: seen.append((done, total)))
    assert (summary.computed, summary.reused) == (6, 36)
    assert seen[0] == (0, 6)
    assert seen[-1] == (6, 6)


def test_a_changed_file_is_computed_again(ds: Dataset, folder: tuple[Path, dict[str, str]]) -> None:
    ds.compute_features(progress=False)
    (folder[0] / "dots_000.jpg").write_bytes(jpeg(scene("bars", 999), quality=40))
    # The size the dataset knows changes when the image enters again.
    ds.remove_images(ds.ids()[ds.paths() == "dots_000.jpg"].tolist())
    ds.sync()
    assert ds.compute_features(progress=False).computed == 1


def test_features_are_shared_by_a_second_dataset_and_a_second_process(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    other = Dataset.open(folder[0], author="bob")
    try:
        assert other.compute_features(progress=False).computed == 0
    finally:
        other.close()
    code = (
        "import sys; from jupyter_labeler import Dataset\n"
        "ds = Dataset.open(sys.argv[1], author='carol')\n"
        "print(ds.compute_features(progress=False).computed); ds.close()\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", code, str(folder[0])],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        timeout=120,
    )
    assert out.stdout.strip() == "0"


def test_processes_that_load_features_exit_cleanly(tmp_path: Path) -> None:
    """Each process opens a dataset (its snapshot), loads the stored features and exits at
    once, several at a time. Arrow's threads once freed a Python-owned buffer after the
    interpreter had begun to exit, which aborted the process (exit status 134)."""
    folder = tmp_path / "demo"
    make_demo_images(folder, count=24, seed=3)
    with Dataset.open(folder, author="alice") as ds:
        assert ds.compute_features(progress=False).computed == 24
        ds.save()
    code = (
        "import sys; from jupyter_labeler import Dataset\n"
        "ds = Dataset.open(sys.argv[1], author=sys.argv[2])\n"
        "print(ds.compute_features(progress=False).computed)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(folder), f"reader{k}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for k in range(6)
    ]
    try:
        for run in runs:
            out, err = run.communicate(timeout=120)
            assert (run.returncode, out.strip()) == (0, "0"), err[-2000:]
            assert "terminate called" not in err
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.communicate()


def test_a_broken_image_gets_a_row_and_no_suggestion(
    folder: tuple[Path, dict[str, str]],
) -> None:
    (folder[0] / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    ds = Dataset.open(folder[0], author="alice")
    try:
        first = ds.compute_features(progress=False)
        assert (first.computed, first.failed) == (37, 1)
        assert ds.compute_features(progress=False).computed == 0
        label_some(ds, folder[1])
        broken = ds.ids()[ds.paths() == "broken.jpg"][0]
        assert broken not in ds.suggest().index
        assert broken not in ds.similar(ds.ids("labeled")[:1], k=50).index
    finally:
        ds.close()


def test_a_callable_embedder_is_named_by_its_function(ds: Dataset) -> None:
    def mean_colour(images: list[Image.Image]) -> np.ndarray:
        return np.stack([np.asarray(im, dtype=np.float32).mean(axis=(0, 1)) for im in images])

    summary = ds.compute_features(mean_colour, progress=False)
    assert (summary.embedder, summary.computed) == ("mean_colour", 36)
    table = pq.read_table(
        Path(ds.output_url) / "features" / "mean_colour" / feature_files(ds, "mean_colour")[0]
    )
    assert table.schema.field("vector").type.list_size == 3
    with pytest.raises(ValueError, match="name="):
        ds.compute_features(lambda images: np.zeros((len(images), 2)), progress=False)
    with pytest.raises(ValueError, match="builtin"):
        ds.compute_features("clip", progress=False)


def test_without_features_the_assistants_say_what_to_do(ds: Dataset) -> None:
    with pytest.raises(LabelerError, match="compute_features"):
        ds.suggest()


# -- suggestions ---------------------------------------------------------------------------------
def test_suggestions_name_the_right_class(ds: Dataset, folder: tuple[Path, dict[str, str]]) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1])
    table = ds.suggest()
    assert list(table.columns) == ["label", "confidence"]
    assert table.index.name == "image_id"
    assert len(table) == 21
    paths = ds.paths()
    assert all(folder[1][paths[i]] == label for i, label in table["label"].items())
    assert table["confidence"].between(0, 1).all()
    assert table.attrs["not_suggested"] == []


def test_with_two_labels_each_is_suggested_and_accepted_where_it_belongs(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    idof = {p: i for i, p in ds.paths().items()}
    for kind in ("stripes", "bars"):
        ds.add_label(kind, [idof[f"{kind}_{i:03d}.jpg"] for i in range(5)])
    paths = ds.paths()
    table = ds.suggest()
    two = [i for i in table.index if folder[1][paths[i]] != "dots"]
    assert len(two) == 14
    assert all(folder[1][paths[i]] == table.loc[i, "label"] for i in two)
    assert table["confidence"].between(0, 1).all()
    assert table.loc[two, "confidence"].min() > 0.5
    result = ds.accept_suggestions(two, min_confidence=0.6)
    assert result.changed == len(table.loc[two].query("confidence >= 0.6")) > 0
    accepted = ds.labels_of(ds.ids("labeled").tolist())
    assert {labels[0] for labels in accepted.values()} == {"stripes", "bars"}
    assert all(labels == [folder[1][paths[i]]] for i, labels in accepted.items())


def test_a_label_with_too_few_images_is_not_suggested(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1])
    ds.add_label("rare", ds.ids("unlabeled")[:2].tolist())
    table = ds.suggest(min_per_label=5)
    assert "rare" not in set(table["label"])
    assert table.attrs["not_suggested"] == ["rare"]
    assert ds.suggest(min_per_label=50).empty


def test_several_labels_an_image_are_suggested_one_vs_rest(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1], per_class=6)
    idof = {p: i for i, p in ds.paths().items()}
    ds.add_label("warm", [idof[f"stripes_{i:03d}.jpg"] for i in range(6)])
    ds.add_label("warm", [idof[f"dots_{i:03d}.jpg"] for i in range(6)])
    table = ds.suggest()
    paths = ds.paths()
    for image_id, rows in table.groupby(level=0):
        labels = set(rows["label"])
        kind = folder[1][paths[image_id]]
        assert kind in labels
        assert ("warm" in labels) == (kind in {"stripes", "dots"})


def test_accepting_suggestions_is_one_undoable_action_with_confidence(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1])
    ds.author = "bob"  # the accepting user, not the one who labeled the examples
    expected = ds.suggest()
    confident = expected[expected["confidence"] >= 0.5]
    result = ds.accept_suggestions(min_confidence=0.5)
    assert result.saved
    assert result.changed == len(confident) > 0
    paths = ds.paths()
    for image_id in confident.index:
        assert ds.labels_of([image_id])[image_id] == [folder[1][paths[image_id]]]
    lines = [json.loads(line) for line in ds.manifest_bytes().decode().splitlines()]
    accepted = {
        line["id"]: line["annotation"][0] for line in lines if line["id"] in confident.index
    }
    for image_id, ann in accepted.items():
        assert ann["annotated-by"] == "human/bob/bob"  # as ModelArts writes it
        assert ann["confidence"] == pytest.approx(confident.loc[image_id, "confidence"], abs=1e-4)
    # Kept through a reload from the journal, and through a snapshot.
    ds.flush()
    again = Dataset.open(folder[0], author="carol")
    try:
        assert again.view_counts() == ds.view_counts()
        again.save()
        third = Dataset.open(folder[0], author="dave")
        lines = [json.loads(x) for x in third.manifest_bytes().decode().splitlines()]
        third.close()
        assert any("confidence" in line.get("annotation", [{}])[0] for line in lines)
    finally:
        again.close()
    ds.undo()
    assert ds.view_counts()["labeled"] == 15


def test_accepting_only_some_ids(ds: Dataset, folder: tuple[Path, dict[str, str]]) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1])
    chosen = ds.ids("unlabeled")[:3].tolist()
    ds.accept_suggestions(chosen, min_confidence=0.0)
    assert set(ds.ids("labeled")) >= set(chosen)
    assert ds.view_counts()["labeled"] == 18
    assert ds.accept_suggestions(min_confidence=1.01).changed == 0


def test_uncertain_gives_the_least_sure_first(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    label_some(ds, folder[1])
    table = ds.uncertain(4)
    assert len(table) == 4
    assert table["certainty"].is_monotonic_increasing
    everything = ds.uncertain(100)
    assert len(everything) == 21
    assert table["certainty"].max() <= everything["certainty"].iloc[4:].min()


# -- similar images ---------------------------------------------------------------------------------
def test_similar_images_are_of_the_same_class(
    ds: Dataset, folder: tuple[Path, dict[str, str]]
) -> None:
    ds.compute_features(progress=False)
    paths = ds.paths()
    idof = {p: i for i, p in paths.items()}
    query = [idof["bars_000.jpg"], idof["bars_001.jpg"]]
    near = ds.similar(query, k=8, view="all")
    assert list(near.columns) == ["distance"]
    assert len(near) == 8
    assert not set(query) & set(near.index)
    assert near["distance"].is_monotonic_increasing
    assert {folder[1][paths[i]] for i in near.index} == {"bars"}
    # A view limits the answer: label some bars, ask for unlabeled ones only.
    ds.add_label("bars", [idof[f"bars_{i:03d}.jpg"] for i in range(2, 6)])
    unlabeled = ds.similar(query, k=100)
    assert len(unlabeled) == 36 - 6
    assert not set(unlabeled.index) & set(ds.ids("labeled"))
    with pytest.raises(UnknownImageError):
        ds.similar(["nope"])
    with pytest.raises(ValueError, match="view"):
        ds.similar(query, view="everything")


# -- duplicates -------------------------------------------------------------------------------------
def test_exact_and_near_duplicates_are_grouped(tmp_path: Path) -> None:
    root = tmp_path / "dups"
    make_folder(root, per_class=6)
    original = (root / "dots_002.jpg").read_bytes()
    (root / "copy_of_dots_002.jpg").write_bytes(original)  # the same bytes
    near = scene("dots", 3).resize((120, 90), Image.Resampling.BICUBIC)
    (root / "dots_003_bigger.jpg").write_bytes(jpeg(near, quality=60))  # re-encoded, resized
    ds = Dataset.open(root, author="alice")
    try:
        ds.compute_features(progress=False)
        ds.set_usage(ds.ids()[ds.paths() == "copy_of_dots_002.jpg"].tolist(), "EVAL")
        table = ds.duplicates()
        assert list(table.columns) == ["group", "path", "usage", "exact", "distance"]
        groups = {frozenset(g["path"]) for _, g in table.groupby("group")}
        assert groups == {
            frozenset({"dots_002.jpg", "copy_of_dots_002.jpg"}),
            frozenset({"dots_003.jpg", "dots_003_bigger.jpg"}),
        }
        by_path = table.set_index("path")
        assert by_path.loc["copy_of_dots_002.jpg", "exact"]
        assert by_path.loc["copy_of_dots_002.jpg", "usage"] == "EVAL"
        assert not by_path.loc["dots_003_bigger.jpg", "exact"]
        exact_only = ds.duplicates(max_distance=0)
        assert set(exact_only["path"]) == {"dots_002.jpg", "copy_of_dots_002.jpg"}
        with pytest.raises(ValueError, match="max_distance"):
            ds.duplicates(max_distance=65)
    finally:
        ds.close()


# -- living beside the labels ----------------------------------------------------------------------
def test_compaction_drops_features_of_gone_images_and_nothing_else_breaks(
    ds: Dataset, folder: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    ds.compute_features(progress=False, batch_size=8)
    label_some(ds, folder[1])
    gone = ds.ids("unlabeled")[:7].tolist()
    ds.remove_images(gone)
    ds.save()
    rows = FeatureStore(ds.output, BUILTIN).read(feature_files(ds))
    assert rows is not None
    stored = set(rows.column("image_id").to_pylist())
    assert stored == set(ds.ids())
    assert ds.compute_features(progress=False).computed == 0
    # Opening, the journal and the exports do not see the feature files.
    again = Dataset.open(folder[0], author="bob")
    try:
        assert again.problems == []
        assert len(again) == 29
        again.add_label("bars", again.ids("unlabeled")[:1].tolist())
        again.save()
        report = export_labels(again, "csv", str(tmp_path / "labels.csv"))
        assert report is not None
        export_labels(again, "imagefolder", str(tmp_path / "imagefolder"))
        assert not any("features" in p.parts for p in (tmp_path / "imagefolder").rglob("*"))
    finally:
        again.close()


# -- on a Dask cluster, over S3 -------------------------------------------------------------------
SEALED_KEY = "AKIDSEALEDKEY0000001"
SEALED_SECRET = "sealed-secret-never-shown-0001"


def test_a_dask_cluster_over_s3_gives_the_vectors_of_the_local_path(
    s3_client: object,
    s3_bucket: str,
    s3_options: dict[str, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    distributed = pytest.importorskip("distributed")
    for kind in CLASSES:
        for i in range(5):
            s3_client.put_object(  # type: ignore[attr-defined]
                Bucket=s3_bucket, Key=f"images/{kind}_{i:03d}.jpg", Body=jpeg(scene(kind, i))
            )
    options = {**s3_options, "key": SEALED_KEY, "secret": SEALED_SECRET}
    local = Dataset.open(
        f"s3://{s3_bucket}/images", output=f"s3://{s3_bucket}/local", storage_options=options
    )
    remote = Dataset.open(
        f"s3://{s3_bucket}/images", output=f"s3://{s3_bucket}/remote", storage_options=options
    )
    submitted: list[str] = []
    try:
        assert local.compute_features(progress=False, batch_size=4).computed == 15
        with (
            caplog.at_level("DEBUG"),
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            submit = client.submit

            def spy(*args: object, **kwargs: object) -> object:
                submitted.append(repr(args) + repr(kwargs))
                return submit(*args, **kwargs)

            client.submit = spy  # type: ignore[method-assign]
            summary = remote.compute_features(client=client, progress=False, batch_size=4)
        assert (summary.computed, summary.files) == (15, 4)
        a = FeatureStore(local.output, BUILTIN).load()
        b = FeatureStore(remote.output, BUILTIN).load()
        assert a is not None
        assert b is not None
        rows = b.rows(a.ids.tolist())
        assert (rows >= 0).all()
        np.testing.assert_array_equal(a.vectors, b.vectors[rows])
        np.testing.assert_array_equal(a.phash, b.phash[rows])
        assert a.sha.tolist() == b.sha[rows].tolist()
    finally:
        local.close()
        remote.close()
    assert len(submitted) == 4
    shown = "\n".join(submitted) + caplog.text
    assert SEALED_SECRET not in shown
    assert SEALED_KEY not in shown


# -- the command line -------------------------------------------------------------------------------
def test_the_features_command_computes_once(
    folder: tuple[Path, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    from jupyter_labeler.cli import main

    assert main(["features", str(folder[0])]) == 0
    assert "36 images computed" in capsys.readouterr().err
    assert main(["features", str(folder[0]), "--embedder", "builtin"]) == 0
    assert "36 already had features" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["features", str(folder[0]), "--embedder", "clip"])
