"""Finding wrong labels and grouping look-alikes: how right, against references, and how fast.

    python benchmarks/bench_quality.py [--seeds 5] [--runs 3] [--images 1000000] [--no-scale]

cleanlab (AGPL) is a reference here only, never a dependency of the project: give it an
environment of its own and run the benchmark with that environment's python::

    python -m venv ../cleanlab-env --system-site-packages
    ../cleanlab-env/bin/pip install cleanlab
    ../cleanlab-env/bin/python benchmarks/bench_quality.py

Without cleanlab the references are skipped. The package measured is the one beside this
file (its checkout), not an installed copy.

(a) label issues on scikit-learn's handwritten digits (1,797 scans of 8x8, their 64 pixels as
    the features), 10% of the labels changed to another digit at random (seed 0, and the
    median over --seeds seeds): precision, recall and F1 of the flagged images against the
    changed ones;
(b) the reference: cleanlab's ``find_label_issues`` on out-of-fold probabilities of the same
    classifier (standardised pixels, logistic regression, C = 0.1) from scikit-learn's
    ``cross_val_predict`` (5 stratified folds), and on our own out-of-fold probabilities (which
    compares the confident-learning step alone); our F1 / cleanlab's F1;
(c) groups: purity (the share of images whose group's most common digit is theirs) of
    ``groups(k=20)`` and of scikit-learn's ``KMeans(20)`` on the digits' pixels, medians over
    random states 0 to --seeds - 1; and what k=None chooses;
(d) speed at scale: --images synthetic images, 64 numbers each, 10 labels (overlapping clusters,
    10% flipped): find_label_issues, groups(k=20) and groups(k=None), medians of --runs. The
    load average is printed beside: the figures are only as quiet as the machine.

The same through a Dataset (``Dataset.label_issues``, ``Dataset.groups``), medians over --seeds:

(e) the digits written as PNGs (a folder of 1,797 8x8 scans; the labels, 10% flipped, given with
    ``add_label``): the scans' own pixels as features through the callable plug-in
    (``ds.label_issues(pixels)``), then the built-in features; cleanlab's F1 on out-of-fold
    probabilities of the same pixels (as the Dataset read them back) for reference; and
    ``ds.groups(k=20, view="all")`` on the built-in features beside scikit-learn's
    ``KMeans(20)`` on the same vectors;
(f) the demo (300 scenes of 7 kinds, jupyter_labeler.demo; the generator knows each kind):
    ``groups(k=7)`` of the unlabeled images (none is labeled), purity; and label issues with
    every image labeled by its kind, 10% flipped, on the built-in features;
(g) a Dataset of --dataset-images images opened from a manifest (every image labeled, 10%
    flipped, 64 numbers each in 10 overlapping clusters, the features written as the feature
    store keeps them): ``label_issues()``, ``groups(k=20, view="all")``, medians of --runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jupyter_labeler import Dataset, label_quality  # noqa: E402
from jupyter_labeler.groups import groups  # noqa: E402
from jupyter_labeler.label_issues import (  # noqa: E402
    find_label_issues,
    issues_from_probabilities,
    out_of_fold_probabilities,
)

FLIPPED = 0.10
LABELS = 10


def flip(truth: np.ndarray, share: float, seed: int, labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``truth`` with ``share`` of it changed to another label at random; which rows changed."""
    rng = np.random.default_rng(seed)
    count = round(share * len(truth))
    rows = rng.choice(len(truth), count, replace=False)
    given = truth.copy()
    given[rows] = (truth[rows] + rng.integers(1, labels, count)) % labels
    changed = np.zeros(len(truth), dtype=bool)
    changed[rows] = True
    return given, changed


def scores(flagged: np.ndarray, changed: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of a boolean ``flagged`` against ``changed``."""
    hits = int((flagged & changed).sum())
    precision = hits / max(int(flagged.sum()), 1)
    recall = hits / max(int(changed.sum()), 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return precision, recall, f1


def mask(rows: Any, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[np.asarray(rows, dtype=np.int64)] = True
    return out


def purity(group: np.ndarray, truth: np.ndarray) -> float:
    best = 0
    for g in np.unique(group):
        best += int(np.bincount(truth[group == g]).max())
    return best / len(truth)


def load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:
        return "load average unknown"


def median_time(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def cleanlab_reference() -> Any:
    try:
        from cleanlab.filter import find_label_issues as cleanlab_find
    except ImportError:
        return None
    return cleanlab_find


def reference_probabilities(x: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Out-of-fold probabilities as cleanlab's documentation makes them, with our classifier."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return np.asarray(cross_val_predict(model, x, given, cv=folds, method="predict_proba"))


def digits_quality(seeds: int) -> None:
    from sklearn.datasets import load_digits

    x, truth = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    n = len(x)
    cleanlab_find = cleanlab_reference()
    rows: dict[str, list[tuple[float, float, float]]] = {
        "ours": [],
        "cleanlab (sklearn folds)": [],
        "cleanlab (our probabilities)": [],
        "ours (sklearn folds)": [],
    }
    estimated = []
    for seed in range(seeds):
        given, changed = flip(truth, FLIPPED, seed, LABELS)
        issues = find_label_issues(x, given)
        rows["ours"].append(scores(mask(issues.index, n), changed))
        estimated.append(issues.attrs["estimated_issues"])
        if cleanlab_find is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = reference_probabilities(x, given)
            ours = out_of_fold_probabilities(x, given).to_numpy()
            rows["cleanlab (sklearn folds)"].append(scores(cleanlab_find(given, theirs), changed))
            rows["cleanlab (our probabilities)"].append(scores(cleanlab_find(given, ours), changed))
        same = issues_from_probabilities(given, theirs)
        rows["ours (sklearn folds)"].append(scores(mask(same.index, n), changed))
    print(
        f"(a, b) digits: {n} scans, 64 pixels, {FLIPPED:.0%} of labels flipped "
        f"({round(FLIPPED * n)}); seed 0, and medians over {seeds} seeds"
    )
    print(f"  {'':32s} {'precision':>9s} {'recall':>7s} {'F1':>6s}   {'(seed 0: P / R / F1)':s}")
    for name, got in rows.items():
        if not got:
            continue
        med = [statistics.median(g[i] for g in got) for i in range(3)]
        first = got[0]
        print(
            f"  {name:32s} {med[0]:9.3f} {med[1]:7.3f} {med[2]:6.3f}   "
            f"({first[0]:.3f} / {first[1]:.3f} / {first[2]:.3f})"
        )
    print(
        f"  estimated wrong labels: median {statistics.median(estimated):.0f} "
        f"(truly {round(FLIPPED * n)})"
    )
    if cleanlab_find is None:
        print("  cleanlab is not installed: references skipped (see this file's docstring)")
        return
    ours_f1 = statistics.median(g[2] for g in rows["ours"])
    for name in ("cleanlab (sklearn folds)", "cleanlab (our probabilities)"):
        ratio = ours_f1 / statistics.median(g[2] for g in rows[name])
        print(f"  our F1 / F1 of {name}: {ratio:.3f}")
    ours_recall = statistics.median(g[1] for g in rows["ours"])
    print(f"  target: ratio >= 0.95 and recall >= 0.8 (our recall {ours_recall:.3f})")


def digits_groups(seeds: int) -> None:
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    x, truth = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    ours = [purity(groups(x, 20, random_state=s).to_numpy(), truth) for s in range(seeds)]
    theirs = [
        purity(KMeans(n_clusters=20, random_state=s).fit_predict(x), truth) for s in range(seeds)
    ]
    chosen = groups(x)
    print(f"(c) groups of the digits' pixels, purity, medians over {seeds} random states")
    print(
        f"  groups(k=20) {statistics.median(ours):.3f} (from {min(ours):.3f} to {max(ours):.3f})"
        f"   KMeans(20) {statistics.median(theirs):.3f} "
        f"(from {min(theirs):.3f} to {max(theirs):.3f})"
    )
    print(
        f"  groups(k=None) chose k={chosen.attrs['k']}, purity "
        f"{purity(chosen.to_numpy(), truth):.3f}"
    )


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` vectors of 64 float32 numbers in 10 overlapping clusters; true and given labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((LABELS, 64)).astype(np.float32) * 0.5
    truth = rng.integers(0, LABELS, n)
    x = rng.standard_normal((n, 64), dtype=np.float32)
    x += centres[truth]
    given, _ = flip(truth, FLIPPED, seed + 1, LABELS)
    return x, truth, given


def scale(n: int, runs: int) -> None:
    x, truth, given = synthetic(n)
    changed = given != truth
    print(f"(d) {n:,} images, 64 numbers, {LABELS} labels, medians of {runs} ({load()})")
    seconds, issues = median_time(lambda: find_label_issues(x, given), runs)
    p, r, f1 = scores(mask(issues.index, n), changed)
    print(
        f"  find_label_issues   {seconds:6.1f} s   (precision {p:.3f}, recall {r:.3f}, "
        f"F1 {f1:.3f}, estimated {issues.attrs['estimated_issues']:,}, "
        f"truly {int(changed.sum()):,})"
    )
    seconds, group = median_time(lambda: groups(x, 20), runs)
    print(
        f"  groups(k=20)        {seconds:6.1f} s   (purity {purity(group.to_numpy(), truth):.3f}, "
        f"{group.attrs['method']})"
    )
    seconds, group = median_time(lambda: groups(x), runs)
    print(
        f"  groups(k=None)      {seconds:6.1f} s   (k={group.attrs['k']}, purity "
        f"{purity(group.to_numpy(), truth):.3f})"
    )
    print(f"  target: each within 60 s on 2 cores ({load()} at the end)")


# -- through a Dataset ----------------------------------------------------------------------------
def pixels(images: list[Any]) -> np.ndarray:
    """The callable plug-in: a scan's own grey pixels, one number each."""
    return np.stack([np.asarray(im.convert("L"), np.float32).ravel() for im in images])


def flipped_rows(ds: Dataset, names: dict[str, int], issues: Any) -> np.ndarray:
    """A mask of ``issues`` over the rows of ``names`` (path -> row)."""
    paths = ds.paths()
    out = np.zeros(len(names), dtype=bool)
    for image_id in issues.index:
        out[names[paths[image_id]]] = True
    return out


def label_all(ds: Dataset, names: dict[str, int], given: np.ndarray, prefix: str) -> None:
    ids_of = {p: i for i, p in ds.paths().items()}
    for code in np.unique(given):
        rows = [ids_of[p] for p, r in names.items() if given[r] == code]
        ds.add_label(f"{prefix}{code}", rows)


def dataset_digits(seeds: int) -> None:
    from PIL import Image
    from sklearn.cluster import KMeans
    from sklearn.datasets import load_digits

    digits = load_digits()
    truth = digits.target
    cleanlab_find = cleanlab_reference()
    rows: dict[str, list[tuple[float, float, float]]] = {
        "pixels (callable)": [],
        "built-in features": [],
        "cleanlab, same pixels": [],
    }
    purity_ours, purity_kmeans, seconds = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        folder.mkdir()
        names = {}
        for i, scan in enumerate(digits.images):
            name = f"digit_{i:04d}.png"
            Image.fromarray((scan * (255 / 16)).astype(np.uint8)).save(folder / name)
            names[name] = i
        for seed in range(seeds):
            given, changed = flip(truth, FLIPPED, seed, LABELS)
            ds = Dataset.open(folder, output=Path(tmp) / f"out{seed}", author="bench")
            label_all(ds, names, given, "d")
            started = time.perf_counter()
            issues = ds.label_issues(pixels)
            seconds.append(time.perf_counter() - started)
            rows["pixels (callable)"].append(scores(flipped_rows(ds, names, issues), changed))
            ds.compute_features(progress=False)
            issues = ds.label_issues()
            rows["built-in features"].append(scores(flipped_rows(ds, names, issues), changed))
            built_in = ds.feature_cache.require("builtin")
            paths = ds.paths()
            order = np.asarray([names[paths[i]] for i in built_in.ids])
            group = label_quality.groups(ds, 20, "all", random_state=seed)
            purity_ours.append(
                purity(group.to_numpy(), truth[[names[paths[i]] for i in group.index]])
            )
            km = KMeans(n_clusters=20, random_state=seed).fit_predict(
                built_in.vectors.astype(np.float32)
            )
            purity_kmeans.append(purity(km, truth[order]))
            if cleanlab_find is not None:
                own = ds.feature_cache.require("pixels")
                at = np.empty(len(own.ids), np.int64)
                at[[names[paths[i]] for i in own.ids]] = np.arange(len(own.ids))
                x = own.vectors[at].astype(np.float32)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    theirs = reference_probabilities(x, given)
                rows["cleanlab, same pixels"].append(scores(cleanlab_find(given, theirs), changed))
            ds.close()
    print(
        f"(e) Dataset, digits as PNGs, {FLIPPED:.0%} flipped: medians over {seeds} seeds ({load()})"
    )
    print(f"  {'':32s} {'precision':>9s} {'recall':>7s} {'F1':>6s}")
    for name, got in rows.items():
        if got:
            med = [statistics.median(g[i] for g in got) for i in range(3)]
            print(f"  {name:32s} {med[0]:9.3f} {med[1]:7.3f} {med[2]:6.3f}")
    print(
        f"  label_issues(pixels), features computed in the call: {statistics.median(seconds):.1f} s"
    )
    if rows["cleanlab, same pixels"]:
        ratio = statistics.median(g[2] for g in rows["pixels (callable)"]) / statistics.median(
            g[2] for g in rows["cleanlab, same pixels"]
        )
        recall = statistics.median(g[1] for g in rows["pixels (callable)"])
        print(f"  our F1 / cleanlab's: {ratio:.3f}; recall {recall:.3f} (target >= 0.95, >= 0.8)")
    else:
        print("  cleanlab is not installed: reference skipped")
    print(
        f"  groups(k=20, view='all'), built-in features: purity {statistics.median(purity_ours):.3f}"
        f" (from {min(purity_ours):.3f}); KMeans(20) on the same {statistics.median(purity_kmeans):.3f}"
        " (target >= 0.90)"
    )


def dataset_demo(seeds: int) -> None:
    from jupyter_labeler.demo import make_demo_images

    with tempfile.TemporaryDirectory() as tmp:
        summary = make_demo_images(Path(tmp) / "demo", count=300, labeled_fraction=0.0)
        kinds = sorted({k[0] for k in summary["truth"].values()})
        names = {p: i for i, p in enumerate(summary["truth"])}
        truth = np.asarray([kinds.index(summary["truth"][p][0]) for p in names])
        ds = Dataset.open(Path(tmp) / "demo", author="bench")
        ds.compute_features(progress=False)
        paths = ds.paths()
        got = []
        for seed in range(seeds):
            group = label_quality.groups(ds, 7, "unlabeled", random_state=seed)
            got.append(purity(group.to_numpy(), truth[[names[paths[i]] for i in group.index]]))
        ds.close()
        print(f"(f) demo, 300 scenes of 7 kinds, none labeled ({load()})")
        print(
            f"  groups(k=7) purity: median {statistics.median(got):.3f} over {seeds} random "
            f"states (from {min(got):.3f}; target >= 0.95)"
        )
        found = []
        for seed in range(seeds):
            given, changed = flip(truth, FLIPPED, seed, len(kinds))
            ds = Dataset.open(Path(tmp) / "demo", output=Path(tmp) / f"out{seed}", author="bench")
            label_all(ds, names, given, "")
            ds.compute_features(progress=False)
            names_of = {f"{c}": kinds[c] for c in range(len(kinds))}
            for old, new in names_of.items():
                ds.rename_label(old, new)
            found.append(scores(flipped_rows(ds, names, ds.label_issues()), changed))
            ds.close()
        med = [statistics.median(g[i] for g in found) for i in range(3)]
        print(
            f"  label_issues(), every scene labeled, {FLIPPED:.0%} flipped: precision "
            f"{med[0]:.3f}, recall {med[1]:.3f}, F1 {med[2]:.3f}"
        )


def dataset_scale(n: int, runs: int) -> None:
    import pyarrow as pa

    from jupyter_labeler.features import FeatureStore

    x, truth, given = synthetic(n)
    changed = given != truth
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "big"
        out = folder / ".jupyter_labeler"
        out.mkdir(parents=True)
        ids = [f"{i:016x}" for i in range(n)]
        with open(out / "dataset.manifest", "w") as fh:
            for i in range(n):
                fh.write(
                    f'{{"source":"{folder}/part_{i % 100:02d}/img_{i:07d}.jpg","usage":"",'
                    f'"id":"{ids[i]}","annotation":[{{"type":"modelarts/image_classification",'
                    f'"name":"class_{given[i]}"}}]}}\n'
                )
        started = time.perf_counter()
        ds = Dataset.open(folder, author="bench")
        opened = time.perf_counter() - started
        vectors = pa.FixedSizeListArray.from_arrays(pa.array(x.astype(np.float16).ravel()), 64)
        table = pa.table(
            {
                "image_id": pa.array(ids),
                "size": pa.array(np.zeros(n, np.int64)),
                "ok": pa.array(np.ones(n, bool)),
                "sha": pa.array([""] * n),
                "phash": pa.array(np.zeros(n, np.uint64)),
                "vector": vectors,
            }
        )
        FeatureStore(ds.output, "synthetic").write(table)
        ds.feature_cache.require("synthetic")  # read once: the feature files, not the method
        print(
            f"(g) Dataset of {n:,} images (opened in {opened:.1f} s), medians of {runs} ({load()})"
        )
        seconds, issues = median_time(lambda: ds.label_issues("synthetic"), runs)
        p, r, f1 = scores(mask([int(i, 16) for i in issues.index], n), changed)
        print(
            f"  label_issues()       {seconds:6.1f} s   (precision {p:.3f}, recall {r:.3f}, "
            f"F1 {f1:.3f})"
        )
        seconds, group = median_time(
            lambda: ds.groups(k=20, view="all", embedder="synthetic"), runs
        )
        row = np.asarray([int(i, 16) for i in group.index])
        print(
            f"  groups(k=20, 'all')  {seconds:6.1f} s   (purity "
            f"{purity(group.to_numpy(), truth[row]):.3f}, {group.attrs['method']})"
        )
        print(f"  target: each within 60 s on 2 cores ({load()} at the end)")
        ds.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="flips and random states")
    parser.add_argument("--runs", type=int, default=3, help="timed runs at scale")
    parser.add_argument("--images", type=int, default=1_000_000, help="images at scale")
    parser.add_argument("--no-scale", action="store_true", help="skip the timing at scale")
    parser.add_argument(
        "--dataset-images", type=int, default=1_000_000, help="images of the Dataset at scale"
    )
    parser.add_argument(
        "--only", default="abcdefg", help="the parts to run, by letter (a and b go together)"
    )
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, {load()}")
    if "a" in args.only or "b" in args.only:
        digits_quality(args.seeds)
    if "c" in args.only:
        digits_groups(args.seeds)
    if "d" in args.only and not args.no_scale:
        scale(args.images, args.runs)
    if "e" in args.only:
        dataset_digits(args.seeds)
    if "f" in args.only:
        dataset_demo(args.seeds)
    if "g" in args.only and not args.no_scale:
        dataset_scale(args.dataset_images, args.runs)


if __name__ == "__main__":
    main()
