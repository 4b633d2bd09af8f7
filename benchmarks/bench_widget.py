"""Widget speed: showing a page of 2 MP photos from S3, and labeling 1,000 selected images.

    python benchmarks/bench_widget.py [--images 200] [--runs 5] [--megapixels 2.0]
    python benchmarks/bench_widget.py --scale 10000000 [--small 300] [--runs 5]

Puts --images photo-like JPEGs of --megapixels into a bucket of a moto S3 server on loopback
(real HTTP, as s3fs speaks to OBS), then measures the kernel's side of the Labeler, each as the
median of --runs, every run on a fresh Dataset and Labeler (so nothing is cached in memory):

- cold page:     building a Labeler, which shows its first page of 48 images (the batch fetch,
                 the thumbnails and the grid's one message); "of which thumbnails" is the batch fetch
                 and decoding alone, on another fresh Dataset;
- prefetched:    ``labeler.page = 1`` once the background prefetch of that page has finished
                 (a user's page flip comes seconds after the page appeared);
- cached:        ``labeler.page = 0`` again, from the thumbnail cache;
- bytes/page:    the JPEG bytes of the page's thumbnails, sent to the browser as buffers;
- naive:         the same 48 images the way display-only grids do it: each full-size file
                 fetched one after the other into its own ``ipywidgets.Image``;
- OK to saved:   on a local folder of 1,200 tiny images, 1,000 images selected and a label
                 typed, the label box's OK handler until it returns with the action saved.

With ``--scale N`` it measures instead the kernel's side of the Labeler on a dataset of N images
against the same on a dataset of ``--small`` images (300), in the same run: page turns, "Select
page" and OK on the selected page, in the default Unlabeled view and in All. Each dataset is a
ModelArts manifest made by ``bench_core.make_manifest`` (60% labeled, in 10 labels) over a local
folder where only the images of the pages turned exist as files (tiny JPEGs, written after the
dataset is opened): a page turn reads the thumbnails of its own images and no other file, so
the other N - 300 files would never be read. The dataset is imported and saved once in a child
process, then opened from its snapshot here (at ten million images its largest process peaks
near 11 GB: run one such benchmark at a time).
The figures are medians of --runs (of 4 x --runs for page turns, the cheapest and noisiest); the
ratio N / small is the one to read on a shared machine.

The times are the kernel's: sending the widget messages to the browser and drawing them there
come on top (for the naive grid, with 50-100 times more bytes to move and full-size JPEGs to
decode in the browser). The S3 server runs in a child process, as a real store runs elsewhere;
``--moto-in-process`` puts it in this process, where it competes for the GIL and the cold page
is slower.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fake_aws import server_in_child, use_fake_aws

use_fake_aws()  # before botocore is imported

import boto3  # noqa: E402
import ipywidgets  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from PIL import Image  # noqa: E402

from jupyter_labeler import Dataset  # noqa: E402
from jupyter_labeler.demo import make_large_jpegs  # noqa: E402
from jupyter_labeler.storage import open_store  # noqa: E402
from jupyter_labeler.testing import LabelerDriver  # noqa: E402
from jupyter_labeler.widget import Labeler  # noqa: E402
from jupyter_labeler.widget.grid import thumbnail_px  # noqa: E402

PAGE = 48
TARGETS = {  # seconds
    "cold page": 0.6,
    "prefetched page": 0.050,
    "cached page": 0.050,
    "OK to saved (1,000 images)": 0.100,
}
BYTES_TARGET = 400 * 1024


def _serve(queue: Any, stop: Any) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        queue.put(server.get_host_and_port())
        stop.wait()
    finally:
        server.stop()


@contextlib.contextmanager
def moto_server(*, in_process: bool = False) -> Iterator[str]:
    """A moto S3 server on 127.0.0.1; yields its URL.

    By default it runs in a child process: a real store is another machine, and moto in the
    kernel's own process would take the GIL from the very thumbnails and widgets being timed.
    """
    if in_process:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()
        return
    with server_in_child(_serve, timeout=60) as url:
        yield url


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = fn()
    return time.perf_counter() - t0, value


def page_bytes(labeler: Labeler) -> int:
    """JPEG bytes of the page's thumbnails: what goes to the browser (as binary buffers)."""
    return sum(len(data) for data in labeler.grid.thumbs)


def wait_for_prefetch(labeler: Labeler, page: int) -> None:
    """Block until page ``page``'s thumbnails are made (a get waits for a prefetch in flight)."""
    ids = list(labeler.dataset.ids(labeler.view)[page * PAGE : (page + 1) * PAGE])
    labeler.dataset.thumbnails(ids)


def bench_pages(url: str, options: dict[str, Any], runs: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "open (not in the page time)",
            "cold page",
            "  of which thumbnails",
            "prefetched page",
            "cached page",
            "bytes/page",
            "naive page",
            "naive bytes/page",
        )
    }
    store = open_store(url, options)
    for _ in range(runs):
        # The thumbnails alone (batch fetch and decoding), on a Dataset of their own.
        with Dataset.open(url, storage_options=options, author="bench") as alone:
            first = list(alone.ids("all")[:PAGE])
            out["  of which thumbnails"].append(timed(lambda a=alone, f=first: a.thumbnails(f))[0])
        seconds, ds = timed(lambda: Dataset.open(url, storage_options=options, author="bench"))
        out["open (not in the page time)"].append(seconds)
        try:
            seconds, labeler = timed(lambda ds=ds: Labeler(ds, view="all", page_size=PAGE))
            out["cold page"].append(seconds)
            out["bytes/page"].append(page_bytes(labeler))
            assert not labeler.status.last_error, labeler.status.last_error
            assert not any(labeler.grid.errors), "a broken tile"
            paths = [ds.info(i)["path"] for i in labeler.grid.ids]

            wait_for_prefetch(labeler, 1)
            seconds, _ = timed(lambda labeler=labeler: setattr(labeler, "page", 1))
            out["prefetched page"].append(seconds)
            wait_for_prefetch(labeler, 2)  # the flip to page 1 started page 2's prefetch
            seconds, _ = timed(lambda labeler=labeler: setattr(labeler, "page", 0))
            out["cached page"].append(seconds)
            assert not labeler.status.last_error, labeler.status.last_error
            labeler.close()
        finally:
            ds.close()

        # The naive grid: full files, one request after the other, one Image widget each.
        def naive(paths: list[str] = paths) -> tuple[int, ipywidgets.Box]:
            images = [ipywidgets.Image(value=store.read(p), format="jpeg") for p in paths]
            return sum(len(i.value) for i in images), ipywidgets.Box(images)

        seconds, (sent, box) = timed(naive)
        out["naive page"].append(seconds)
        out["naive bytes/page"].append(sent)
        for child in box.children:
            child.close()
        box.close()
    return out


def tiny_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 140, 200)).save(buf, "JPEG")
    return buf.getvalue()


def bench_ok(folder: Path, runs: int, selected: int = 1000) -> list[float]:
    data = tiny_jpeg()
    for i in range(selected + 200):
        (folder / f"img_{i:05d}.jpg").write_bytes(data)
    ds = Dataset.open(folder, author="bench")
    labeler = Labeler(ds, view="all", page_size=PAGE)
    ids = [str(i) for i in ds.ids("all")[:selected]]
    times = []
    try:
        for k in range(runs):
            labeler.selected = tuple(ids)
            labeler.label_box.input.value = f"bench_{k}"
            seconds, _ = timed(labeler.label_box.apply)
            assert not labeler.status.last_error, labeler.status.last_error
            assert ds.status.state == "saved", ds.status
            assert int(ds.counts()["images"][f"bench_{k}"]) == selected
            times.append(seconds)
    finally:
        labeler.close()
        ds.close()
    return times


SCALE_TARGET = 1.5  # a page turn at N images, over the same at --small images


def scaled_dataset(folder: Path, n: int) -> Dataset:
    """A dataset of ``n`` images from ``bench_core``'s manifest, imported and saved in a child
    process (its first open of the manifest holds the most memory), opened from its snapshot."""
    from bench_core import IMPORT, make_manifest

    make_manifest(folder, n)
    subprocess.run(
        [sys.executable, "-c", IMPORT, str(folder), str(n)],
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return Dataset.open(folder, author="bench")


def write_pages(ds: Dataset, view: str, pages: int) -> None:
    """The image files of the first ``pages`` + 1 pages of ``view``: the only ones read."""
    data = tiny_jpeg()
    ids = [str(i) for i in ds.ids(view)[: (pages + 1) * PAGE]]
    for path in ds.paths_of(ids).values():
        target = Path(ds.source_url) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            target.write_bytes(data)


def ready(labeler: Labeler, page: int) -> None:
    """Make page ``page``'s thumbnails at the size the grid shows (what the prefetch does)."""
    grid = labeler.grid
    ids = [str(i) for i in labeler.dataset.ids(labeler.view)[page * PAGE : (page + 1) * PAGE]]
    labeler.dataset.thumbnails(ids, size=thumbnail_px(grid.tile_size, grid.hidpi, PAGE))


def bench_views(ds: Dataset, runs: int) -> dict[str, list[float]]:
    """Kernel seconds of page turns, Select page and OK, in the Unlabeled and All views.

    Every run starts from the same state: back on page 0 before each turn (untimed), and each
    OK undone (untimed), so that a view of 300 images serves as many runs as one of millions."""
    out: dict[str, list[float]] = {}

    def add(key: str, fn: Callable[[], Any]) -> None:
        # Wall time, and this thread's CPU time: steadier when other processes share the cores.
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        out.setdefault(key, []).append(time.perf_counter() - t0)
        out.setdefault(f"{key} (CPU)", []).append(time.thread_time() - c0)

    for view in ("unlabeled", "all"):
        write_pages(ds, view, 2)
        seconds, labeler = timed(lambda view=view: Labeler(ds, view=view, page_size=PAGE))
        out.setdefault(f"{view}: first page (Labeler built)", []).append(seconds)
        driver = LabelerDriver(labeler)
        turn, select, ok = driver.turn, driver.select_page, driver.label_selection
        try:
            for _ in range(runs * 4):  # cheap, and on a busy machine the noisiest
                labeler.page = 0
                ready(labeler, 1)
                add(f"{view}: page turn (next page ready)", functools.partial(turn, "next"))
                assert labeler.page == 1
                assert not labeler.status.last_error, labeler.status.last_error
                add(f"{view}: page turn back", functools.partial(turn, "prev"))
            for k in range(runs):
                add(f"{view}: Select page", select)
                name = f"bench_{view}_{k}"
                add(f"{view}: OK on the page's 48, saved", functools.partial(ok, name))
                assert not labeler.status.last_error, labeler.status.last_error
                labeler.undo()
                labeler.view, labeler.page = view, 0
        finally:
            labeler.close()
    return out


def bench_scale(n: int, small: int, runs: int) -> None:
    results: list[dict[str, float]] = []
    for size in (small, n):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            ds = scaled_dataset(Path(tmp) / "images", size)
            print(f"{size:,} images: made, imported and opened in {time.perf_counter() - t0:.1f} s")
            try:
                got = bench_views(ds, runs)
            finally:
                ds.close()
        results.append({k: statistics.median(v) for k, v in got.items()})
    print(f"\n{os.cpu_count()} cores, medians of {runs} runs, {PAGE} images a page, kernel side:")
    print(f"  {'':48s} {small:>10,} {n:>14,}   ratio")
    for key, base in results[0].items():
        big = results[1][key]
        ratio = big / base
        verdict = ""
        if "page turn" in key:
            verdict = "  ok" if ratio <= SCALE_TARGET else f"  OVER {SCALE_TARGET}x"
        print(f"  {key:48s} {ms(base)} {ms(big):>14s}   {ratio:5.2f}x{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--megapixels", type=float, default=2.0)
    parser.add_argument(
        "--moto-in-process",
        action="store_true",
        help="run the S3 server in this process (it then competes with the kernel for the GIL)",
    )
    parser.add_argument(
        "--scale", type=int, default=0, help="measure at this many images instead (see above)"
    )
    parser.add_argument("--small", type=int, default=300, help="the baseline of --scale")
    args = parser.parse_args()
    if args.scale:
        bench_scale(args.scale, args.small, args.runs)
        return
    if args.images < 3 * PAGE:
        parser.error(f"--images must be at least {3 * PAGE} (three pages)")

    with moto_server(in_process=args.moto_in_process) as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint)
        bucket = f"bench-{uuid.uuid4().hex[:8]}"
        client.create_bucket(Bucket=bucket)  # no region: moto refuses us-east-1 spelled out
        t0 = time.perf_counter()
        sizes = make_large_jpegs(
            lambda name, data: client.put_object(Bucket=bucket, Key=f"photos/{name}", Body=data),
            args.images,
            megapixels=args.megapixels,
        )
        mean_kb = sum(sizes.values()) / len(sizes) / 1024
        print(
            f"put {len(sizes)} JPEGs of {args.megapixels:g} MP (mean {mean_kb:.0f} KB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        url = f"s3://{bucket}/photos"
        options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
        with Dataset.open(url, storage_options=options, author="bench") as ds:
            ds.save()  # later opens start from this snapshot, as a user's do
        pages = bench_pages(url, options, args.runs)

    with tempfile.TemporaryDirectory() as tmp:
        ok_times = bench_ok(Path(tmp), args.runs)

    med = {k: statistics.median(v) for k, v in pages.items()}
    med["OK to saved (1,000 images)"] = statistics.median(ok_times)
    print(f"\n{os.cpu_count()} cores, medians of {args.runs} runs, {PAGE} images a page:")
    for key in (
        "open (not in the page time)",
        "cold page",
        "  of which thumbnails",
        "prefetched page",
        "cached page",
        "OK to saved (1,000 images)",
    ):
        target = TARGETS.get(key)
        line = f"  {key:30s} {ms(med[key])}"
        if target is not None:
            verdict = "ok" if med[key] <= target else "OVER TARGET"
            line += f"   (target <= {target * 1000:.0f} ms)  {verdict}"
        print(line)
    ours = med["bytes/page"]
    verdict = "ok" if ours <= BYTES_TARGET else "OVER TARGET"
    print(
        f"  {'bytes/page':30s} {ours / 1024:8.1f} KB   (target <= {BYTES_TARGET // 1024} KB)  "
        f"{verdict}"
    )
    print("\nthe same page the naive way (full files fetched one by one into Image widgets):")
    print(
        f"  {'naive page':30s} {ms(med['naive page'])}   "
        f"{med['naive page'] / med['cold page']:.1f}x our cold page, "
        f"{med['naive page'] / med['cached page']:.0f}x our cached page"
    )
    print(
        f"  {'naive bytes/page':30s} {med['naive bytes/page'] / 2**20:8.1f} MB   "
        f"{med['naive bytes/page'] / ours:.0f}x ours"
    )


if __name__ == "__main__":
    main()
