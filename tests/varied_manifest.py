"""A manifest with every kind of line the writer must give back byte for byte.

Several labels an image, every usage spelling, values that need JSON escaping, non-ASCII paths,
names and authors, annotations of other kinds and with fields of their own (a confidence,
checked marks), unknown fields, team data in ``property``, repeated sources and lines that are
no image of the dataset. Deterministic: the same folder gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

CLS = "modelarts/image_classification"
OURS = "@jupyter_labeler:"
LABELS = ["cat", "狗", "bird_1", "a-b"]
AUTHORS = ["human/alice/alice", "bob", 'eve "q"', "李雷", ""]
USAGES = ["TRAIN", "eval", "", "TEST", "inference", None]


def _annotation(k: int, j: int) -> dict[str, Any]:
    item: dict[str, Any] = {"type": CLS, "name": LABELS[(k + j) % len(LABELS)]}
    by = AUTHORS[(k + 2 * j) % len(AUTHORS)]
    if by:
        item["annotated-by"] = by
    if (k + j) % 4:
        item["creation-time"] = f"2026-0{1 + k % 9}-1{j} 0{k % 10}:00:0{j}"
    if k % 7 == 3:
        item["confidence"] = 0.75
    if k % 11 == 5 and j == 0:
        item["property"] = {
            OURS + "checked_by": "alice",
            OURS + "checked_at": "2026-05-03 09:00:00",
        }
    return item


def varied_lines(folder: Path, n: int = 80) -> list[bytes]:
    """The manifest's lines for images under ``folder`` (``n`` images and a few more lines)."""
    lines: list[bytes] = []
    for k in range(n):
        name = f"img_{k:03d}.jpg" if k % 5 else f"图片_{k:03d}.jpg"
        sub = "part_a" if k % 3 else "部分 b"
        record: dict[str, Any] = {"source": f"{folder}/{sub}/{name}"}
        usage = USAGES[k % len(USAGES)]
        if usage is not None:
            record["usage"] = usage
        if k % 9 == 4:
            record["id"] = f'id "{k}" \\ tab\there'
        elif k % 9 != 7:
            record["id"] = f"{k:016x}"
        annotations: list[dict[str, Any]] = [_annotation(k, j) for j in range(k % 4)]
        if k % 13 == 6:
            annotations.append({"type": "modelarts/object_detection", "bbox": [1, 2, 3, 4]})
        if annotations or k % 8 == 1:
            record["annotation"] = annotations
        if k % 10 == 2:
            record["property"] = {
                OURS + "assigned_to": ["alice", "bob"],
                "color": "red\n",
            }
        if k % 12 == 9:
            record["note"] = 'tab\there \u0001 "quoted" 雪'
            record["meta"] = {"x": [1, 2], "y": None}
        lines.append(orjson.dumps(record))
    lines.append(orjson.dumps({"source": "s3://elsewhere/x.jpg", "usage": "TRAIN"}))
    lines.append(orjson.dumps({"source": f"{folder}/../victim.jpg", "id": "v"}))
    # a repeat of an earlier source: merged into its image
    lines.append(
        orjson.dumps({"source": f"{folder}/part_a/img_001.jpg", "annotation": [_annotation(1, 3)]})
    )
    return lines


def varied_manifest(folder: Path, n: int = 80) -> bytes:
    return b"\n".join(varied_lines(folder, n)) + b"\n"
