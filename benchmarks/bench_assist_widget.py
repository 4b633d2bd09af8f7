"""Assisted labeling in the Labeler at scale: what the kernel spends on suggestions and orders.

    python benchmarks/bench_assist_widget.py [--images 100000] [--runs 5]

Makes a dataset of --images images from a ModelArts manifest (60% labeled with one of 10
labels, as bench_core.py does; the image files themselves are absent, so tiles are
placeholders) and stores synthetic built-in features for it (256 float16 numbers an image,
clustered by label), then measures a Labeler of 48 a page, each as the median of --runs:

- suggestions ready: turning Suggest on until the background fit is done (fit + suggestions
  for every unlabeled image + arranging them for the grid);
- a label, then its refit done: one label added until the background fit after it is done
  (SUGGEST_DELAY included; what the debounce spares a burst of clicks);
- label one image, with Suggest off and in each order: add_label and the grid's re-render (the
  synchronous part a click waits for; the refit after it is waited for between runs);
- page turn in each order;
- More like these: 3 selected images, until the first page of their likes is shown;
- Accept all and ``s`` on 48 selected (the action and the re-render, undone after).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import make_manifest

from jupyter_labeler import Dataset
from jupyter_labeler.features import BUILTIN, FeatureStore
from jupyter_labeler.widget import Labeler


def store_features(ds: Dataset, seed: int = 0) -> None:
    """Synthetic built-in features: each image near its label's centre (unlabeled: a random one)."""
    rng = np.random.default_rng(seed)
    paths = ds.paths()
    ids = [str(i) for i in paths.index]
    labels = ds.labels_of(ids)
    centres = rng.standard_normal((11, 256)).astype(np.float32)
    names = [f"class_{k}" for k in range(10)]
    cls = np.asarray(
        [names.index(labels[i][0]) if labels[i] else rng.integers(0, 10) for i in ids], np.int64
    )
    vectors = centres[cls] + 0.6 * rng.standard_normal((len(ids), 256)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    sizes = [int(ds.info(i).get("size") or 0) for i in ids[:1]] * len(ids)
    table = pa.table(
        {
            "image_id": pa.array(ids, pa.string()),
            "size": pa.array(sizes, pa.int64()),
            "ok": pa.array(np.ones(len(ids), bool)),
            "sha": pa.array([""] * len(ids), pa.string()),
            "phash": pa.array(np.zeros(len(ids), np.uint64)),
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.astype(np.float16).ravel()), 256
            ),
        }
    )
    FeatureStore(ds.output, BUILTIN).write(table)


def timed(fn: Callable[[], Any], runs: int, after: Callable[[], Any] | None = None) -> float:
    print(f"  ... {getattr(fn, '__name__', fn)}", flush=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
        if after is not None:
            after()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = args.runs
    print(f"{args.images:,} images, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        make_manifest(folder, args.images)
        ds = Dataset.open(folder, author="bench")
        store_features(ds)
        lab = Labeler(ds, page_size=48, follow=False)
        assist = lab.assist
        try:

            def suggest_on() -> None:
                assist.suggest = True
                assert assist.wait(600)

            def suggest_off() -> None:
                assist.suggest = False
                assist._snapshot = None
                ds.add_label("class_0", [lab.grid.ids[0]])  # the fitted model is dropped
                ds.undo()

            def label_one() -> None:
                ds.add_label("class_0", [lab.grid.ids[0]])

            def undo_and_settle() -> None:
                ds.undo()
                assert assist.wait(600)

            results["label one image, Suggest off"] = timed(label_one, runs, undo_and_settle)
            results["suggestions ready (Suggest on)"] = timed(suggest_on, runs, suggest_off)
            suggest_on()

            def label_and_refit() -> None:
                ds.add_label("class_0", [lab.grid.ids[0]])
                assert assist.wait(600)

            results["a label, then its refit done"] = timed(label_and_refit, runs, undo_and_settle)
            print(f"  suggested: {len(assist.suggestions):,} rows")

            for order in ("file", "uncertain", "suggested", "similar"):
                if order == "similar":
                    lab.selected = tuple(lab.grid.ids[:3])
                    assist.more_like_these()
                    lab.clear_selection()
                else:
                    assist.order = order
                assert assist.wait(600)
                results[f"label one image, {order} order"] = timed(label_one, runs, undo_and_settle)
                assert assist.wait(600)

                def turn() -> None:
                    lab.page = 1 if lab.page == 0 else 0

                results[f"page turn, {order} order"] = timed(turn, runs)
            assist.order = "file"

            def more() -> None:
                lab.selected = tuple(lab.grid.ids[:3])
                assist.more_like_these()

            def back() -> None:
                lab.clear_selection()
                assist.order = "file"

            results["More like these (3 selected)"] = timed(more, runs, back)
            assert assist.wait(600)
            results["Accept all >= 90%"] = timed(assist.accept_all, runs, undo_and_settle)
            assert assist.wait(600)

            def select_and_accept() -> None:
                lab.selected = tuple(lab.grid.ids)
                assist.accept_selected()

            results["s on 48 selected"] = timed(select_and_accept, runs, undo_and_settle)
            print(f"  accept all: {assist.accept_button.description}")
        finally:
            assist.wait(600)
            lab.close()
            ds.close()
    for name, seconds in results.items():
        print(f"  {name:40s} {seconds * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
