"""Team labeling at scale: what assignments and reviews cost, and that others pay nothing.

    python benchmarks/bench_assign.py [--images 1000000] [--runs 3]

On the manifest of bench_core.py (60% labeled), on the local disk, medians of --runs:

- open / save without team work (the baseline every dataset pays), then the same once the
  unlabeled images are assigned to 5 annotators with 10% shared;
- assign: that action (applied and saved to the journal);
- mine: ``ids("mine")`` for one annotator after a change; progress: ``progress()``;
- review: accepting 100,000 images (or all labeled when fewer);
- agreement: ``agreement()`` once two annotators labeled every image they share.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_core import make_manifest

from jupyter_labeler import Dataset

PEOPLE = ["ann", "ben", "cho", "dev", "eli"]


def median_of(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = args.runs
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        make_manifest(folder, args.images)
        ds = Dataset.open(folder, author="lead")
        ds.save()
        out: dict[str, float] = {}
        out["open, no team work"] = median_of(lambda: Dataset.open(folder, author="x"), runs)
        out["save, no team work"] = median_of(ds.save, runs)

        unlabeled = ds.ids("unlabeled")

        def assign() -> None:
            ds.assign(PEOPLE, ids=unlabeled, overlap=0.1, seed=0)

        out["assign"] = median_of(assign, runs)
        ds.save()
        out["open, with team work"] = median_of(lambda: Dataset.open(folder, author="x"), runs)
        out["save, with team work"] = median_of(ds.save, runs)

        ann = Dataset.open(folder, author="ann")

        def mine() -> None:
            ann.replica.state.mark_changed()  # as after any action: the view is computed again
            ann.ids("mine")

        out["ids('mine')"] = median_of(mine, runs)
        out["progress()"] = median_of(ds.progress, runs)
        labeled = ds.ids("labeled")[:100_000]
        out["review 100k"] = median_of(lambda: ds.review(labeled), runs)
        out["counts(accepted_only)"] = median_of(lambda: ds.counts(accepted_only=True), runs)
        for who, name in (("ann", "class_0"), ("ben", "class_1")):
            person = Dataset.open(folder, author=who)
            person.add_label(name, list(person.ids("mine")))
        ds.refresh()
        out["agreement()"] = median_of(ds.agreement, runs)
        print(f"{args.images:,} images, {len(unlabeled):,} assigned to 5 annotators, medians:")
        for name, seconds in out.items():
            print(f"  {name:28s} {seconds * 1000:9.1f} ms")


if __name__ == "__main__":
    main()
