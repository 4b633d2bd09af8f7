"""Core speed at a million images: open, save, counts, bulk label, one action, memory.

    python benchmarks/bench_core.py [--images 1000000] [--runs 5]

Makes a ModelArts manifest of N images in a temporary folder (60% labeled with one of 10 labels,
5% with two; written in chunks, never held whole: ten million lines are about 2 GB), imports
it once, then measures on the local disk, each as the median of --runs:

- open:   Dataset.open from its snapshot (the state every later open starts from);
- save:   save() - compaction into a new snapshot (manifest + Parquet copy);
- counts: counts();
- bulk:   add_label on 100,000 images, or all when fewer (applied and saved to the journal);
- action: one saved action (add_label on one image); bulk and action each wait until the store
          saved the action, also when it answered after the action returned "not yet saved";
- memory: resident memory of a fresh process that opened the dataset, less the same process
          before opening (with every library already imported).

Also reported: the first open of a foreign manifest (a dataset that ModelArts labeled, read
line by line into a new dataset), as the median of --runs fresh opens, next to its floor measured
in the same run - ``pyarrow.json.read_json`` of the same file - with the target <= 2x the floor;
and the peak memory growth of that first open (target <= 600 MB at 1M lines, 3 GB at 10M).
Each first open and each floor runs in a fresh process of its own, so that none inherits
another's memory. The save target grows with the dataset past a million images (8 s at 10M).
From ten million images on, the targets are those set for that size: open 3 s, add_label on
100,000 images 200 ms, one action 5 ms, memory 200 bytes an image.
CPU seconds (of every thread) are shown beside each wall time: on a shared machine they are
the steadier figure.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_labeler import Dataset

TARGETS = {"open": 2.0, "save": 2.0, "counts": 0.020, "bulk": 0.050, "action": 0.020}
MEMORY_MB = 400
# At ten million images and more: an action's cost follows the images it touches, not the
# dataset, so bulk and action targets hold there too; memory is 200 bytes an image.
TARGETS_10M = {"open": 3.0, "save": 8.0, "bulk": 0.200, "action": 0.005}
MEMORY_BYTES_AN_IMAGE_10M = 200
# Save and the first open's memory grow with the dataset: their targets at ten million images.
SAVE_10M = TARGETS_10M["save"]
FIRST_OPEN_PEAK_MB_10M = 3072
FIRST_OPEN_RATIO = 2.0  # the first open of a foreign manifest, over the Arrow floor
FIRST_OPEN_PEAK_MB = 600


def make_manifest(folder: Path, n: int, seed: int = 0, chunk: int = 200_000) -> Path:
    """Write the manifest of ``n`` images in chunks: at ten million lines (about 2 GB) the
    benchmark must not hold the whole text, nor a Python string per line, at once."""
    rng = np.random.default_rng(seed)
    labels = [f"class_{k}" for k in range(10)]
    first = rng.integers(0, 10, n).astype(np.int8)
    labeled = rng.random(n) < 0.6
    second = rng.random(n) < 0.05
    out = folder / ".jupyter_labeler"
    out.mkdir(parents=True)
    src = str(folder)
    one = [
        f',"annotation":[{{"type":"modelarts/image_classification","name":"{name}",'
        '"annotated-by":"human/bench/bench","creation-time":"2026-01-01 00:00:00"}'
        for name in labels
    ]
    two = [
        f',{{"type":"modelarts/image_classification","name":"{labels[(k + 1) % 10]}",'
        '"annotated-by":"bench","creation-time":"2026-01-02 00:00:00"}'
        for k in range(10)
    ]
    path = out / "dataset.manifest"
    with path.open("w") as fh:
        for start in range(0, n, chunk):
            lines = []
            for i in range(start, min(n, start + chunk)):
                head = (
                    f'{{"source":"{src}/part_{i % 100:02d}/img_{i:07d}.jpg",'
                    f'"usage":"TRAIN","id":"{i:016x}"'
                )
                if labeled[i]:
                    k = first[i]
                    head += one[k] + (two[k] if second[i] else "") + "]"
                lines.append(head + "}\n")
            fh.write("".join(lines))
    return path


# CPU seconds of this process (every thread) per measure, as medians: on a shared machine
# wall time is noisy, CPU time much less so.
CPU: dict[str, float] = {}


def timed(key: str, fn, runs: int) -> float:
    """Median wall seconds of ``runs`` calls of ``fn``; the median CPU seconds go to CPU."""
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    CPU[key] = statistics.median(cpus)
    return statistics.median(walls)


def saved(ds: Dataset, result: Any) -> None:
    """Wait until the action is saved: on a loaded machine the store may answer after the
    action returned "not yet saved", and the next action would then only queue behind it."""
    assert result.changed, result.message
    if not result.saved:
        assert ds.flush(timeout=60), "the store did not save the action"


def opened(folder: Path, runs: int) -> float:
    """Median seconds to open the dataset in ``folder`` from its snapshot (each closed after,
    so that only one is held at a time)."""
    walls, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        ds = Dataset.open(folder, author="bench")
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        ds.close()
        del ds
        gc.collect()  # a closed Dataset is freed with its reference cycles: at once, here
    CPU["open"] = statistics.median(cpus)
    return statistics.median(walls)


MEMORY_PROBE = """
import resource, sys, json
import jupyter_labeler, pandas, pyarrow.parquet, numpy  # libraries loaded first
from jupyter_labeler import Dataset
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize()
before = rss()
ds = Dataset.open(sys.argv[1], author="bench")
ds.counts(); ds.ids("unlabeled")
print(json.dumps({"rss_delta": rss() - before, "images": len(ds)}))
"""


FIRST_OPEN_PROBE = """
import sys, json, time
import jupyter_labeler, pandas, pyarrow.json, numpy  # libraries loaded first
from jupyter_labeler import Dataset
def status(key):  # this process's own figures (ru_maxrss would count the parent's before exec)
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith(key))
before = status("VmRSS:")
t0, c0 = time.perf_counter(), time.process_time()
if sys.argv[1] == "floor":
    n = pyarrow.json.read_json(sys.argv[2]).num_rows
else:
    ds = Dataset.open(sys.argv[1], output=sys.argv[2], author="bench")
    n = len(ds)
    assert not ds.problems, ds.problems[:3]
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"wall": wall, "cpu": cpu, "peak_growth": status("VmHWM:") - before, "n": n}))
"""


IMPORT = """
import sys
from jupyter_labeler import Dataset
ds = Dataset.open(sys.argv[1], author="bench")
assert len(ds) == int(sys.argv[2]), len(ds)
ds.save()
ds.close()
"""


def probe(*args: str) -> dict[str, float]:
    """Run FIRST_OPEN_PROBE in a fresh process (so that no run inherits another's memory)."""
    out = subprocess.run(
        [sys.executable, "-c", FIRST_OPEN_PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def first_open(folder: Path, manifest: Path, runs: int) -> tuple[float, float, float]:
    """Median seconds of the first open of ``manifest`` and of its Arrow floor (alternating,
    in this run, each in a fresh process), and the median peak memory growth (MB) of the
    first opens. This process never holds the manifest: at ten million lines each of those
    takes gigabytes."""
    opens, floors = [], []
    for k in range(runs):
        floors.append(probe("floor", str(manifest)))
        output = folder.parent / f"first-open-{k}"
        output.mkdir()
        shutil.copyfile(manifest, output / "dataset.manifest")
        opens.append(probe(str(folder), str(output)))
        shutil.rmtree(output)
    CPU["first open"] = statistics.median(o["cpu"] for o in opens)
    CPU["Arrow floor"] = statistics.median(f["cpu"] for f in floors)
    return (
        statistics.median(o["wall"] for o in opens),
        statistics.median(f["wall"] for f in floors),
        statistics.median(o["peak_growth"] for o in opens) / 2**20,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--skip-first-open",
        action="store_true",
        help="leave out the first open of the foreign manifest and its Arrow floor (at ten "
        "million lines each holds several gigabytes)",
    )
    args = parser.parse_args()
    TARGETS["save"] = max(TARGETS["save"], SAVE_10M * args.images / 10_000_000)
    memory_target = MEMORY_MB
    if args.images >= 10_000_000:
        TARGETS.update(TARGETS_10M)
        memory_target = MEMORY_BYTES_AN_IMAGE_10M * args.images / 2**20
    peak_target = max(FIRST_OPEN_PEAK_MB, FIRST_OPEN_PEAK_MB_10M * args.images / 10_000_000)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        t0 = time.perf_counter()
        manifest = make_manifest(folder, args.images)
        print(f"made a manifest of {args.images:,} images in {time.perf_counter() - t0:.1f} s")
        if not args.skip_first_open:
            first, floor, first_peak = first_open(folder, manifest, args.runs)

        # The import and its first snapshot, in a fresh process too: this one then holds one
        # dataset at a time, each opened from the snapshot.
        subprocess.run(
            [sys.executable, "-c", IMPORT, str(folder), str(args.images)],
            check=True,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
        results["open"] = opened(folder, max(3, args.runs // 2))
        ds = Dataset.open(folder, author="bench")
        results["save"] = timed("save", ds.save, max(3, args.runs // 2))
        results["counts"] = timed("counts", ds.counts, args.runs * 4)

        ids = ds.ids("all")
        rng = np.random.default_rng(1)
        bulk = min(100_000, len(ids))  # every size works: never more than there are
        batches = [list(ids[rng.choice(len(ids), bulk, replace=False)]) for _ in range(args.runs)]
        names = iter([f"bulk_{k}" for k in range(args.runs)])
        it = iter(batches)
        results["bulk"] = timed(
            "bulk", lambda: saved(ds, ds.add_label(next(names), next(it))), args.runs
        )
        singles = iter([[ids[k]] for k in range(args.runs * 4)])
        results["action"] = timed(
            "action", lambda: saved(ds, ds.add_label("one", next(singles))), args.runs * 4
        )
        ds.save()
        probes = []
        for _ in range(3):
            out = subprocess.run(
                [sys.executable, "-c", MEMORY_PROBE, str(folder)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
            probes.append(json.loads(out.stdout)["rss_delta"])
        memory = statistics.median(probes) / 2**20

    print(f"\n{args.images:,} images, {os.cpu_count()} cores, medians:")
    for key, value in results.items():
        target = TARGETS.get(key)
        verdict = "" if target is None else ("  ok" if value <= target else "  OVER TARGET")
        limit = "" if target is None else f"   (target <= {target * 1000:.0f} ms)"
        cpu = f"   cpu {CPU[key] * 1000:.1f} ms"
        print(f"  {key:32s} {value * 1000:9.1f} ms{limit}{verdict}{cpu}")
    verdict = "  ok" if memory <= memory_target else "  OVER TARGET"
    print(f"  {'memory':32s} {memory:9.1f} MB   (target <= {memory_target:.0f} MB){verdict}")
    print(f"  {'memory an image':32s} {memory * 2**20 / args.images:9.1f} bytes")
    if args.skip_first_open:
        return
    ratio = first / floor
    print(
        f"  {'first open of a foreign manifest':32s} {first * 1000:9.1f} ms"
        f"   (Arrow floor {floor * 1000:.1f} ms: {ratio:.2f}x; target <= {FIRST_OPEN_RATIO:g}x)"
        f"{'  ok' if ratio <= FIRST_OPEN_RATIO else '  OVER TARGET'}"
        f"   cpu {CPU['first open'] * 1000:.1f} ms (floor {CPU['Arrow floor'] * 1000:.1f} ms)"
    )
    print(
        f"  {'first open, peak memory growth':32s} {first_peak:9.1f} MB   "
        f"(target <= {peak_target:.0f} MB at {args.images:,} lines)"
        f"{'  ok' if first_peak <= peak_target else '  OVER TARGET'}"
    )


if __name__ == "__main__":
    main()
