"""Features past one machine: compute_features on a Dask cluster, and what stays on the kernel.

    python benchmarks/bench_cluster.py [--images 20000] [--side 32] [--runs 3]
        [--workers 1,2] [--batches 250,1000,4000] [--scale 1000000] [--no-scale]

Real image files at a million are more than this benchmark makes (a million files, and their
decoding, take hours on two cores), so it measures what a million costs and extrapolates:

(a) --images JPEGs of --side x --side pixels (generated noise, about 1.4 KB each at 32 px) in
    a local folder, 100 subfolders;
(b) the built-in embedder's time per image on one thread in this process (the bytes already
    read): the floor of the work itself;
(c) ``compute_features()`` on the kernel alone (a thread per core), images a second;
(d) ``compute_features(client=...)`` on a ``dask.distributed.LocalCluster`` of each --workers
    count (one thread each, a process each), for each --batches size (``batch_size``: images per
    task and per Parquet file): images a second, and the CPU milliseconds an image of the kernel
    (it receives each batch's table and writes it to the feature store) and of the workers;
(e) the scheduler's overhead per task: 2,000 tasks that do nothing, submitted at once and
    gathered, on the same cluster: wall time per task;
(f) unless --no-scale: ``label_issues()`` and ``groups(k=20)`` of a Dataset of --scale images on
    stored features (64 numbers each, 10 labels), as ``bench_quality.py --dataset-images``
    measures them (the same function). These run on the kernel, whatever computed the features.

Every figure is a median of --runs. The load average is printed beside: on a shared machine the
figures are only as quiet as it, and the ratios measured in the same run hold better.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))  # bench_quality, beside this file

from jupyter_labeler import Dataset
from jupyter_labeler.embedding import embed


def load() -> str:
    return "load " + "/".join(f"{x:.1f}" for x in os.getloadavg())


def make_images(folder: Path, n: int, side: int, seed: int = 0) -> int:
    """``n`` JPEGs of noise, ``side`` pixels square, in 100 subfolders; their total bytes."""
    rng = np.random.default_rng(seed)
    total = 0
    for part in range(100):
        (folder / f"part_{part:02d}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = (rng.random((side, side, 3)) * 255).astype(np.uint8)
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "JPEG", quality=85)
        (folder / f"part_{i % 100:02d}" / f"img_{i:07d}.jpg").write_bytes(out.getvalue())
        total += out.tell()
    return total


def one_thread(folder: Path, runs: int, count: int = 2000) -> float:
    """Milliseconds an image of the built-in embedder, on one thread, bytes already read."""
    blobs = [p.read_bytes() for p in sorted(folder.rglob("*.jpg"))[:count]]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        embed(blobs, "builtin")
        times.append((time.perf_counter() - started) / len(blobs) * 1000)
    return statistics.median(times)


def _cpu() -> float:
    return time.process_time()


def workers_cpu(client: Any) -> float:
    """CPU seconds the cluster's workers have used (every thread of each)."""
    return float(sum(client.run(_cpu).values())) if client is not None else 0.0


def computed(folder: Path, out: Path, runs: int, **kwargs: Any) -> tuple[float, float, float]:
    """Median images a second of ``compute_features(**kwargs)`` into fresh output folders,
    and the median CPU milliseconds an image of this process (the kernel) and of the workers:
    CPU time does not count the waiting that other work on a shared machine causes."""
    rates, cpus, remote = [], [], []
    client = kwargs.get("client")
    for r in range(runs):
        ds = Dataset.open(folder, output=str(out / f"run-{r}"), author="bench")
        cpu, far = time.process_time(), workers_cpu(client)
        summary = ds.compute_features(progress=False, **kwargs)
        done = max(summary.computed, 1)
        cpus.append((time.process_time() - cpu) / done * 1000)
        remote.append((workers_cpu(client) - far) / done * 1000)
        rates.append(summary.images_per_second)
        ds.close()
    return statistics.median(rates), statistics.median(cpus), statistics.median(remote)


def _nothing(x: int) -> int:
    return x


def overhead(client: Any, runs: int, tasks: int = 2000) -> float:
    """Milliseconds of wall time a task that does nothing takes, ``tasks`` submitted at once."""
    times = []
    for r in range(runs):
        started = time.perf_counter()
        futures = client.map(_nothing, range(tasks), key=[f"nothing-{r}-{i}" for i in range(tasks)])
        client.gather(futures)
        times.append((time.perf_counter() - started) / tasks * 1000)
        client.cancel(futures)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000, help="image files made")
    parser.add_argument("--side", type=int, default=32, help="their side in pixels")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="LocalCluster sizes")
    parser.add_argument("--batches", default="250,1000,4000", help="batch sizes (per task)")
    parser.add_argument("--scale", type=int, default=1_000_000, help="images of (f)")
    parser.add_argument("--no-scale", action="store_true", help="skip (f)")
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    workers = [int(w) for w in args.workers.split(",") if w]
    batches = [int(b) for b in args.batches.split(",") if b]
    print(f"{os.cpu_count()} cores; medians of {args.runs} runs; {load()}")
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = root / "images"
        started = time.perf_counter()
        total = make_images(folder, args.images, args.side)
        print(
            f"(a) {args.images:,} JPEGs of {args.side}x{args.side} ({total / args.images:,.0f} "
            f"bytes each) made in {time.perf_counter() - started:.0f} s"
        )
        ms = one_thread(folder, args.runs)
        print(f"(b) built-in embedder, one thread, bytes in memory: {ms:.3f} ms an image")
        rate, cpu, _ = computed(folder, root / "local", args.runs)
        rates["kernel alone"] = rate
        print(
            f"(c) compute_features() on the kernel: {rate:,.0f} images/s, CPU {cpu:.3f} ms an "
            f"image ({load()})"
        )
        for n in workers:
            with (
                LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0"
                ) as cluster,
                Client(cluster) as client,
            ):
                client.run(lambda: __import__("jupyter_labeler.feature_compute"))  # warm
                for size in batches:
                    rate, cpu, far = computed(
                        folder, root / f"w{n}-b{size}", args.runs, client=client, batch_size=size
                    )
                    rates[f"{n} workers, batch {size}"] = rate
                    print(
                        f"(d) LocalCluster {n} worker(s) x 1 thread, batch_size {size}: "
                        f"{rate:,.0f} images/s; CPU an image: kernel {cpu:.3f} ms, workers "
                        f"{far:.3f} ms ({load()})"
                    )
                per_task = overhead(client, args.runs)
                print(f"(e) {n} worker(s): scheduler overhead {per_task:.2f} ms a task")
        print("\nA million images at each measured rate:")
        for what, rate in rates.items():
            print(f"  {what:24s} {1_000_000 / rate / 60:6.1f} min")
    if not args.no_scale:
        from bench_quality import dataset_scale

        print()
        dataset_scale(args.scale, args.runs)


if __name__ == "__main__":
    main()
