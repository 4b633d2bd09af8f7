"""Core speed at a million images: open, save, counts, bulk label, one action, memory.

    python benchmarks/bench_core.py [--images 1000000] [--runs 5]

Makes a ModelArts manifest of N images in a temporary folder (60% labeled with one of 10 labels,
5% with two), imports it once, then measures on the local disk, each as the median of --runs:

- open:   Dataset.open from its snapshot (the state every later open starts from);
- save:   save() - compaction into a new snapshot (manifest + Parquet copy);
- counts: counts();
- bulk:   add_label on 100,000 images, or all when fewer (applied and saved to the journal);
- action: one saved action (add_label on one image);
- memory: resident memory of a fresh process that opened the dataset, less the same process
          before opening (with every library already imported).

Also reported: the first open of a foreign manifest (a dataset that ModelArts labeled, read
line by line into a new dataset), as the median of --runs fresh opens, next to its floor measured
in the same run - ``pyarrow.json.read_json`` of the same file - with the target <= 2x the floor;
and the peak memory growth of that first open in a fresh process (target <= 600 MB at 1M lines).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.json as paj

from jupyter_labeler import Dataset

TARGETS = {"open": 2.0, "save": 2.0, "counts": 0.020, "bulk": 0.050, "action": 0.020}
FIRST_OPEN_RATIO = 2.0  # the first open of a foreign manifest, over the Arrow floor
FIRST_OPEN_PEAK_MB = 600


def make_manifest(folder: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    labels = [f"class_{k}" for k in range(10)]
    first = rng.integers(0, 10, n)
    labeled = rng.random(n) < 0.6
    second = rng.random(n) < 0.05
    out = folder / ".jupyter_labeler"
    out.mkdir(parents=True)
    lines = []
    src = str(folder)
    for i in range(n):
        head = (
            f'{{"source":"{src}/part_{i % 100:02d}/img_{i:07d}.jpg","usage":"TRAIN","id":"{i:016x}"'
        )
        if labeled[i]:
            ann = (
                f'{{"type":"modelarts/image_classification","name":"{labels[first[i]]}",'
                '"annotated-by":"human/bench/bench","creation-time":"2026-01-01 00:00:00"}'
            )
            if second[i]:
                ann += (
                    f',{{"type":"modelarts/image_classification","name":"{labels[(first[i] + 1) % 10]}",'
                    '"annotated-by":"bench","creation-time":"2026-01-02 00:00:00"}'
                )
            head += f',"annotation":[{ann}]'
        lines.append(head + "}\n")
    path = out / "dataset.manifest"
    path.write_text("".join(lines))
    return path


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


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
import sys, json
import jupyter_labeler, pandas, pyarrow.json, numpy  # libraries loaded first
from jupyter_labeler import Dataset
def peak():  # this process's own peak (ru_maxrss would count the parent's before exec)
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmHWM:"))
def rss():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmRSS:"))
before = rss()
ds = Dataset.open(sys.argv[1], output=sys.argv[2], author="bench")
print(json.dumps({"peak_growth": peak() - before, "images": len(ds)}))
"""


def first_open(folder: Path, manifest: Path, runs: int) -> tuple[float, float, float]:
    """Median seconds of the first open of ``manifest`` and of its Arrow floor (alternating,
    in this run), and the peak memory growth (MB) of a first open in a fresh process."""
    opens, floors = [], []
    for k in range(runs):
        t0 = time.perf_counter()
        paj.read_json(manifest)
        floors.append(time.perf_counter() - t0)
        output = folder.parent / f"first-open-{k}"
        output.mkdir()
        (output / "dataset.manifest").write_bytes(manifest.read_bytes())
        t0 = time.perf_counter()
        ds = Dataset.open(folder, output=output, author="bench")
        opens.append(time.perf_counter() - t0)
        assert not ds.problems, ds.problems[:3]
        ds.close()
        del ds
    output = folder.parent / "first-open-memory"
    output.mkdir()
    (output / "dataset.manifest").write_bytes(manifest.read_bytes())
    out = subprocess.run(
        [sys.executable, "-c", FIRST_OPEN_PROBE, str(folder), str(output)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    peak = json.loads(out.stdout)["peak_growth"] / 2**20
    return statistics.median(opens), statistics.median(floors), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        t0 = time.perf_counter()
        manifest = make_manifest(folder, args.images)
        print(f"made a manifest of {args.images:,} images in {time.perf_counter() - t0:.1f} s")
        first, floor, first_peak = first_open(folder, manifest, args.runs)

        ds = Dataset.open(folder, author="bench")
        assert len(ds) == args.images, len(ds)
        ds.save()

        results["open"] = statistics.median(
            timed(lambda: Dataset.open(folder, author="bench"), max(3, args.runs // 2))
        )
        ds = Dataset.open(folder, author="bench")
        results["save"] = statistics.median(timed(ds.save, max(3, args.runs // 2)))
        results["counts"] = statistics.median(timed(ds.counts, args.runs * 4))

        ids = ds.ids("all")
        rng = np.random.default_rng(1)
        bulk = min(100_000, len(ids))  # every size works: never more than there are
        batches = [list(ids[rng.choice(len(ids), bulk, replace=False)]) for _ in range(args.runs)]
        names = iter([f"bulk_{k}" for k in range(args.runs)])
        it = iter(batches)
        results["bulk"] = statistics.median(
            timed(lambda: ds.add_label(next(names), next(it)), args.runs)
        )
        singles = iter([[ids[k]] for k in range(args.runs * 4)])
        results["action"] = statistics.median(
            timed(lambda: ds.add_label("one", next(singles)), args.runs * 4)
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
        print(f"  {key:32s} {value * 1000:9.1f} ms{limit}{verdict}")
    print(
        f"  {'memory':32s} {memory:9.1f} MB   (target <= 400 MB){'  ok' if memory <= 400 else '  OVER TARGET'}"
    )
    ratio = first / floor
    print(
        f"  {'first open of a foreign manifest':32s} {first * 1000:9.1f} ms"
        f"   (Arrow floor {floor * 1000:.1f} ms: {ratio:.2f}x; target <= {FIRST_OPEN_RATIO:g}x)"
        f"{'  ok' if ratio <= FIRST_OPEN_RATIO else '  OVER TARGET'}"
    )
    print(
        f"  {'first open, peak memory growth':32s} {first_peak:9.1f} MB   "
        f"(target <= {FIRST_OPEN_PEAK_MB} MB at 1M lines)"
        f"{'  ok' if first_peak <= FIRST_OPEN_PEAK_MB else '  OVER TARGET'}"
    )


if __name__ == "__main__":
    main()
