"""Peak memory of thumbnailing files that are hostile by size, each case in a fresh process.

    python benchmarks/bench_memory.py [--runs 3]

Cases (files already in the source folder, so no upload limit applies):

- ``bombs``: eight 257 KB PNGs of 9400 x 9400 pixels (265 MB each when decoded), one page;
- ``big``: four 6000 x 6000 PNGs (36 MP, 108 MB each when decoded), which are still shown;
- ``huge file``: a 400 MB ``.jpg`` (sparse), next to a normal image.

Reports the growth of the peak resident memory (ru_maxrss) over a baseline taken after imports
and the files' creation, as the median of ``--runs`` runs, and how many bytes were read.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = "--child"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(case: str, folder: str) -> None:
    from jupyter_labeler import Dataset

    ds = Dataset.open(folder, author="bench")
    read = {"bytes": 0}
    real = ds.source.read_many

    def counting(rels, **kwargs):  # type: ignore[no-untyped-def]
        got = real(rels, **kwargs)
        read["bytes"] += sum(len(v) for v in got.values() if isinstance(v, bytes))
        return got

    ds.source.read_many = counting  # type: ignore[method-assign]
    base = peak_mb()
    thumbs = ds.thumbnails(ds.images.index)
    shown = sum(t.ok for t in thumbs.values())
    reasons = sorted({t.error for t in thumbs.values() if t.error})
    print(
        json.dumps(
            {
                "case": case,
                "growth_mb": peak_mb() - base,
                "read_mb": read["bytes"] / 2**20,
                "shown": shown,
                "placeholders": len(thumbs) - shown,
                "reasons": reasons,
            }
        )
    )


def make(case: str, folder: Path) -> None:
    from PIL import Image

    def png(side: int) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (side, side), (200, 30, 40)).save(buf, "PNG")
        return buf.getvalue()

    if case == "bombs":
        data = png(9400)
        for i in range(8):
            (folder / f"bomb_{i}.png").write_bytes(data)
    elif case == "big":
        data = png(6000)
        for i in range(4):
            (folder / f"big_{i}.png").write_bytes(data)
    else:
        buf = io.BytesIO()
        Image.new("RGB", (640, 480), (10, 20, 30)).save(buf, "JPEG")
        (folder / "normal.jpg").write_bytes(buf.getvalue())
        with open(folder / "huge.jpg", "wb") as fh:
            fh.write(buf.getvalue())
            fh.truncate(400 * 2**20)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; medians of {args.runs} runs")
    for case in ("bombs", "big", "huge file"):
        with tempfile.TemporaryDirectory() as tmp:
            make(case, Path(tmp))
            results = []
            for _ in range(args.runs):
                out = subprocess.run(
                    [sys.executable, __file__, CHILD, case, tmp],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results.append(json.loads(out.strip().splitlines()[-1]))
                # Each run starts from an empty label folder.
                subprocess.run(["rm", "-rf", str(Path(tmp) / ".jupyter_labeler")], check=True)
        growth = statistics.median(r["growth_mb"] for r in results)
        read = statistics.median(r["read_mb"] for r in results)
        last = results[-1]
        print(
            f"{case:10s} peak growth {growth:7.1f} MB, read {read:6.1f} MB, "
            f"{last['shown']} shown, {last['placeholders']} placeholders {last['reasons']}"
        )


if __name__ == "__main__":
    main()
