"""Assisted labeling: how right the suggestions are, how many actions they save, how fast.

    python benchmarks/bench_assist.py [--demo 700] [--runs 5] [--sizes 100000,1000000]
                                      [--no-cluster]

Quality (each figure the median over --runs random choices of the labeled examples):

- demo:    the demo images (jupyter_labeler.demo; their classes are known from how they were
           drawn), 5 labeled per class: top-1 accuracy of suggest() on the other images,
           precision of the suggestions with confidence >= 0.9, and the share of the unlabeled
           images they cover;
- digits:  scikit-learn's bundled handwritten digits (1,797 scans of 8x8), written out as PNGs,
           with 5 and 20 labeled per class: the same three figures;
- session: actions a user needs to label every demo image, with the grid alone (a click to
           select each image, one "apply label" per label per page of 48) vs first labeling 5
           a class, then pressing "Accept all >= 90%" until it accepts nothing more, then the
           rest with the grid, and two actions (select, relabel) to fix each wrong acceptance.

Speed (medians of --runs):

- features images/s: compute_features on the demo images (their JPG/PNG/BMP originals, every
  core), the built-in descriptor on 160 px thumbnails on one thread (the per-core figure), and
  compute_features on a 2-worker LocalCluster (one thread a worker);
- suggest() and similar() on synthetic vectors (256 float16 numbers, 10 clusters) at each
  --sizes: fitting on 5 a class plus suggesting for every other image; fitting alone with 60% of
  the images labeled; one similar() query of 3 images, k=48, once the index is built (its
  one-off build time is reported beside).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from jupyter_labeler import Dataset
from jupyter_labeler import suggest as assist
from jupyter_labeler.demo import make_demo_images
from jupyter_labeler.features import Features, embed
from jupyter_labeler.thumbnails import make_thumbnail

PAGE = 48


def quality(
    ds: Dataset, truth: dict[str, list[str]], per_class: int, seed: int
) -> dict[str, float]:
    """Label ``per_class`` random single-label images a class, measure suggest(), undo."""
    rng = np.random.default_rng(seed)
    paths = ds.paths()
    by_class: dict[str, list[str]] = {}
    for image_id, path in paths.items():
        if len(truth[path]) == 1:
            by_class.setdefault(truth[path][0], []).append(image_id)
    actions = 0
    for label, ids in sorted(by_class.items()):
        ds.add_label(label, list(rng.choice(ids, per_class, replace=False)))
        actions += 1
    table = ds.suggest()
    right = np.asarray([lab in truth[paths[i]] for i, lab in table["label"].items()], bool)
    sure = table["confidence"].to_numpy() >= 0.9
    for _ in range(actions):
        ds.undo()
    return {
        "accuracy": float(right.mean()),
        "precision_at_0.9": float(right[sure].mean()) if sure.any() else float("nan"),
        "coverage_at_0.9": float(sure.mean()),
    }


def grid_actions(paths: list[str], truth: dict[str, list[str]]) -> int:
    """Actions to label ``paths`` with the grid alone, page by page in file order."""
    actions = 0
    for start in range(0, len(paths), PAGE):
        page = paths[start : start + PAGE]
        labels = {lab for p in page for lab in truth[p]}
        actions += sum(len(truth[p]) for p in page)  # a click to select, per label it needs
        actions += len(labels)  # one apply per label on the page
    return actions


def session(ds: Dataset, truth: dict[str, list[str]], seed: int) -> dict[str, float]:
    """Grid alone vs 5 a class + "Accept all >= 90%" until it accepts nothing more."""
    paths = ds.paths()
    alone = grid_actions(sorted(paths.tolist()), truth)
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[str]] = {}
    for image_id, path in paths.items():
        if len(truth[path]) == 1:
            by_class.setdefault(truth[path][0], []).append(image_id)
    undo = 0
    actions = 0
    for label, ids in sorted(by_class.items()):
        ds.add_label(label, list(rng.choice(ids, 5, replace=False)))
        actions += 5 + 1  # five clicks, one apply
        undo += 1
    wrong = 0
    while True:
        before = set(ds.ids("labeled"))
        result = ds.accept_suggestions(min_confidence=0.9)
        if not result.changed:
            break
        undo += 1
        actions += 1
        accepted = set(ds.ids("labeled")) - before
        for image_id, labels in ds.labels_of(accepted).items():
            wrong += 0 if set(labels) <= set(truth[paths[image_id]]) else 1
    rest = sorted(paths[ds.ids("unlabeled")].tolist())
    actions += grid_actions(rest, truth) + 2 * wrong
    for _ in range(undo):
        ds.undo()
    return {"grid_alone": alone, "with_suggestions": actions, "wrong_accepted": wrong}


def digits_folder(root: Path) -> dict[str, list[str]]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    root.mkdir(parents=True)
    truth = {}
    for i, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        name = f"digit_{i:04d}.png"
        Image.fromarray((pixels * (255 / 16)).astype(np.uint8)).save(root / name)
        truth[name] = [f"d{target}"]
    return truth


def median_of(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def synthetic(n: int, dim: int = 256, classes: int = 10, seed: int = 0) -> tuple[Features, Any]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim), dtype=np.float32)
    y = rng.integers(0, classes, n)
    vectors = np.empty((n, dim), np.float16)
    for a in range(0, n, 100_000):
        block = centres[y[a : a + 100_000]] + 1.5 * rng.standard_normal(
            (len(y[a : a + 100_000]), dim), dtype=np.float32
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[a : a + 100_000] = block
    ids = np.asarray([f"{i:016x}" for i in range(n)], dtype=object)
    features = Features(
        ids=ids,
        sizes=np.zeros(n, np.int64),
        ok=np.ones(n, bool),
        sha=np.full(n, "", dtype=object),
        phash=np.zeros(n, np.uint64),
        vectors=vectors,
    )
    return features, y


def scale(n: int, runs: int) -> dict[str, float]:
    features, y = synthetic(n)
    picks = np.concatenate([np.flatnonzero(y == c)[:5] for c in range(10)])
    pairs = pd.DataFrame({"image_id": features.ids[picks], "label": [f"c{c}" for c in y[picks]]})
    unlabeled = np.setdiff1d(np.arange(n), picks)
    unlabeled_ids = pd.Index(features.ids[unlabeled], dtype=object)  # as Dataset.ids() gives
    features.rows(unlabeled_ids[:1])  # the id -> row map, built once per loaded features

    def suggest_once() -> None:
        model = assist.fit(pairs, features, min_per_label=5)
        assist.suggestions(model, features, unlabeled_ids)

    started = time.perf_counter()
    assist.similar_table(features, [features.ids[0]], 48, lambda ids: np.ones(len(ids), bool))
    build = time.perf_counter() - started
    assist.fit(pairs, features, min_per_label=5)  # scikit-learn's imports, once
    similar_times = []
    for r in range(runs):
        query = features.ids[[r, r + 1, r + 2]].tolist()
        started = time.perf_counter()
        assist.similar_table(features, query, 48, lambda ids: np.ones(len(ids), bool))
        similar_times.append(time.perf_counter() - started)
    suggest_times = []
    for _ in range(max(1, runs // 2)):
        started = time.perf_counter()
        suggest_once()
        suggest_times.append(time.perf_counter() - started)
    many = np.flatnonzero(np.arange(n) % 5 < 3)  # 60% labeled: the fit trains on a sample
    many_pairs = pd.DataFrame({"image_id": features.ids[many], "label": [f"c{c}" for c in y[many]]})
    fit_times = []
    for _ in range(max(1, runs // 2)):
        started = time.perf_counter()
        assist.fit(many_pairs, features, min_per_label=5)
        fit_times.append(time.perf_counter() - started)
    return {
        "suggest_s": statistics.median(suggest_times),
        "fit_60pct_labeled_s": statistics.median(fit_times),
        "similar_s": statistics.median(similar_times),
        "index_build_s": build,
    }


def features_speed(folder: Path, runs: int, cluster: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    rates = []
    for r in range(runs):
        ds = Dataset.open(folder, output=str(folder.parent / f"speed-{r}"), author="bench")
        rates.append(ds.compute_features(progress=False).images_per_second)
        ds.close()
    out["local_originals_img_s"] = statistics.median(rates)
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*")) if p.suffix in {".jpg", ".png"}]
    thumbs = [make_thumbnail(b).data for b in blobs]
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        embed(thumbs, "builtin")  # one thread
        rates.append(len(thumbs) / (time.perf_counter() - started))
    out["one_core_thumbnails_img_s"] = statistics.median(rates)
    if cluster:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as lc,
            Client(lc) as client,
        ):
            rates = []
            for r in range(runs):
                ds = Dataset.open(folder, output=str(folder.parent / f"dask-{r}"), author="bench")
                summary = ds.compute_features(client=client, progress=False, batch_size=100)
                rates.append(summary.images_per_second)
                ds.close()
        out["local_cluster_2_workers_img_s"] = statistics.median(rates)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=int, default=700, help="demo images (default 700)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--no-cluster", action="store_true", help="skip the LocalCluster")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; medians of {args.runs} runs\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        info = make_demo_images(root / "demo", count=args.demo, labeled_fraction=0)
        truth = info["truth"]
        ds = Dataset.open(root / "demo", author="bench")
        ds.compute_features(progress=False)
        demo = median_of([quality(ds, truth, 5, seed) for seed in range(args.runs)])
        print(f"demo images ({args.demo}), 5 labeled per class: {_fmt(demo)}")
        walk = median_of([session(ds, truth, seed) for seed in range(args.runs)])
        ratio = walk["grid_alone"] / walk["with_suggestions"]
        print(f"session on the demo, actions: {_fmt(walk)}; ratio {ratio:.1f}x")
        ds.close()

        digit_truth = digits_folder(root / "digits")
        dd = Dataset.open(root / "digits", author="bench")
        dd.compute_features(progress=False)
        for per_class in (5, 20):
            got = median_of([quality(dd, digit_truth, per_class, s) for s in range(args.runs)])
            print(f"digits (1,797 PNGs), {per_class} labeled per class: {_fmt(got)}")
        dd.close()

        speed = features_speed(root / "demo", max(1, args.runs // 2), not args.no_cluster)
        print(f"features: {_fmt(speed)}")
    for n in (int(s) for s in args.sizes.split(",") if s):
        print(f"{n:,} images (synthetic vectors): {_fmt(scale(n, args.runs))}")


def _fmt(values: dict[str, float]) -> str:
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) and v < 100 else f"{k} {v:,.0f}"
        for k, v in values.items()
    )


if __name__ == "__main__":
    main()
