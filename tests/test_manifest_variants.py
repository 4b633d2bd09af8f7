"""Manifests as ModelArts and other tools write them: the Arrow-based reader agrees with the
line-by-line reader on every variant, and every variant round-trips line by line."""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from manifest_reference import reference_parse

from jupyter_labeler import Dataset, manifest_lines
from jupyter_labeler.manifest import parse_manifest, write_manifest

ROOT = "s3://bucket/flowers/"
CLS = "modelarts/image_classification"
DET = "modelarts/object_detection"


def relative(url: str) -> str | None:
    return url[len(ROOT) :] if url.startswith(ROOT) else None


def variant_line(rng: random.Random, k: int) -> bytes:
    """One manifest line in one of the ways tools write them (or break them)."""
    path = f"part_{k % 7}/img_{k:05d}.jpg"
    annotation = [
        {
            "type": CLS,
            "name": rng.choice(["roses", "tulips", "郁金香", " roses "]),
            "annotated-by": "human/alice/alice",
            "creation-time": "2020-01-02 03:04:05",
        }
    ]
    record: dict = {
        "source": ROOT + path,
        "usage": "TRAIN",
        "id": f"{k:016x}",
        "annotation": annotation,
    }
    kind = rng.randrange(24)
    if kind == 0:
        record["usage"] = "train"  # lowercase usage
    elif kind == 1:
        annotation[0]["property"] = '{"color": "red"}'  # property as a string
    elif kind == 2:
        annotation[0] = {"type": CLS, "name": "x", "annotated_by": "bob", "creation_time": "2021"}
    elif kind == 3:
        annotation.append({"type": DET, "name": "cat", "bndbox": {"xmin": k}})
    elif kind == 4:
        record["source"] = ROOT + f"part_0/img_{rng.randrange(max(k, 1)):05d}.jpg"  # repeat
    elif kind == 5:
        record["id"] = "same-id"
    elif kind == 6:
        del record["id"]
    elif kind == 7:
        return b""
    elif kind == 8:
        return b"   "
    elif kind == 9:
        return b'{"source": "s3://bucket/flowers/x.jpg", "usage":'
    elif kind == 10:
        return b"[1, 2]"
    elif kind == 11:
        del record["source"]
    elif kind == 12:
        record["source"] = "  " + record["source"] + " "
    elif kind == 13:
        record["source"] = "s3a://other/" + path  # outside the folder
    elif kind == 14:
        record["usage"] = 5
    elif kind == 15:
        record["annotation"] = {"name": "x"}
    elif kind == 16:
        annotation.append("not an object")
    elif kind == 17:
        annotation[0]["name"] = "two words"
    elif kind == 18:
        record["inference-loc"] = "s3://bucket/inf/x.json"
    elif kind == 19:
        annotation[0]["confidence"] = 0.9
    elif kind == 20:
        del record["annotation"]
    elif kind == 21:
        annotation[0].pop("annotated-by")
    elif kind == 22:
        annotation.append({"name": None})
    return orjson.dumps(record)


def both(data: bytes):
    fast = parse_manifest(data, where="m", relative=relative)
    rows, labels, problems, merged, foreign = reference_parse(data, where="m", relative=relative)
    return fast, (rows, labels, problems, merged, foreign)


def assert_same(data: bytes) -> None:
    fast, (rows, labels, problems, merged, foreign) = both(data)
    assert fast.foreign == foreign
    assert list(fast.rows.paths) == list(rows.paths)
    assert list(fast.rows.ids) == list(rows.ids)
    assert list(fast.rows.usage) == list(rows.usage)
    assert list(fast.rows.extra) == list(rows.extra)
    assert fast.labels == labels
    assert fast.merged == merged
    assert sorted(fast.problems) == sorted(problems)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
def test_arrow_reader_agrees_with_the_line_by_line_reader(seed: int, line_end: bytes) -> None:
    rng = random.Random(seed)
    count = [40, 300, 3000, 70_000, 5, 1][seed]
    data = line_end.join(variant_line(rng, k) for k in range(count))
    assert_same(data)
    assert_same(data + line_end)


def test_clean_manifest_and_edge_cases_agree() -> None:
    clean = b"\n".join(
        orjson.dumps({"source": f"{ROOT}img_{k}.jpg", "id": f"i{k}", "annotation": [{"name": "a"}]})
        for k in range(100_000)
    )
    assert_same(clean)
    assert_same(b"")
    assert_same(b"\n\n")
    assert_same(b'{"source":"s3://bucket/flowers/a.jpg"}\r{"source":"s3://bucket/flowers/b.jpg"}')
    assert_same(b'{"source":"s3://bucket/flowers/a.jpg"} {"source":"s3://bucket/flowers/b.jpg"}')
    assert_same(b'{"source":"s3://bucket/flowers/a.jpg","source":"s3://bucket/flowers/b.jpg"}')
    assert_same(
        b'  {"source":"s3://bucket/flowers/a.jpg"}\n{"source":"s3://bucket/flowers/./b.jpg"}'
    )


VARIANTS = [
    # lowercase usage, author as ModelArts writes it, property as a string
    {
        "source": "{root}a.jpg",
        "usage": "train",
        "id": "A1",
        "annotation": [
            {
                "type": CLS,
                "name": "roses",
                "annotated-by": "human/alice/alice",
                "creation-time": "2020-01-02 03:04:05",
                "property": '{"color": "red"}',
            }
        ],
    },
    # underscore keys, no usage, a Chinese label
    {
        "source": "{root}b.jpg",
        "id": "B2",
        "annotation": [
            {
                "type": CLS,
                "name": "玫瑰",
                "annotated_by": "bob",
                "creation_time": "2021-05-06 07:08:09",
            }
        ],
    },
    # detection annotations next to classification ones; no author, no time
    {
        "source": "{root}sub/c.jpg",
        "usage": "EVAL",
        "id": "C3",
        "annotation": [
            {"type": DET, "name": "cat", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}},
            {"type": CLS, "name": "tulips"},
        ],
        "inference-loc": "{root}inf/c.json",
    },
    # the same source again, repeating its box and adding a label
    {
        "source": "{root}sub/c.jpg",
        "usage": "EVAL",
        "id": "C3b",
        "annotation": [
            {"type": DET, "name": "cat", "bndbox": {"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4}},
            {
                "type": CLS,
                "name": "roses",
                "annotated-by": "carol",
                "creation-time": "2022-01-01 00:00:00",
                "confidence": 0.8,
            },
        ],
    },
    # unlabeled
    {"source": "{root}d.jpg", "usage": "TEST", "id": "D4"},
]


def test_modelarts_variants_round_trip_line_by_line(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    root = str(folder) + "/"
    lines = [orjson.loads(orjson.dumps(v).replace(b"{root}", root.encode())) for v in VARIANTS]
    output = tmp_path / "labels"
    output.mkdir()
    (output / "dataset.manifest").write_bytes(b"\n".join(orjson.dumps(x) for x in lines) + b"\n")
    ds = Dataset.open(folder, output=output)
    assert any("1 line repeat the source" in p for p in ds.problems)
    ds.save()
    written = [orjson.loads(x) for x in (output / "dataset.manifest").read_bytes().splitlines()]
    ds.close()
    expected = [
        # usage is written in capitals; the rest as it came
        {**lines[0], "usage": "TRAIN"},
        # usage absent is written empty; underscore keys come back hyphenated, and a plain
        # author in ModelArts' form
        {
            "source": root + "b.jpg",
            "usage": "",
            "id": "B2",
            "annotation": [
                {
                    "type": CLS,
                    "name": "玫瑰",
                    "annotated-by": "human/bob/bob",
                    "creation-time": "2021-05-06 07:08:09",
                }
            ],
        },
        # the repeated line merged in: its label added, its box (identical) kept once;
        # classification annotations come first, in the order of the dataset's labels (roses
        # was seen first), other kinds after them
        {
            "source": root + "sub/c.jpg",
            "usage": "EVAL",
            "id": "C3",
            "annotation": [
                {
                    "type": CLS,
                    "name": "roses",
                    "annotated-by": "human/carol/carol",
                    "creation-time": "2022-01-01 00:00:00",
                    "confidence": 0.8,
                },
                {"type": CLS, "name": "tulips"},
                lines[2]["annotation"][0],
            ],
            "inference-loc": root + "inf/c.json",
        },
        lines[4],
    ]
    assert written == expected
    # a second round trip changes nothing
    ds = Dataset.open(folder, output=output)
    ds.save()
    again = [orjson.loads(x) for x in (output / "dataset.manifest").read_bytes().splitlines()]
    ds.close()
    assert again == expected


def test_write_after_read_keeps_every_label_of_a_big_variant_manifest() -> None:
    rng = random.Random(9)
    data = b"\n".join(variant_line(rng, k) for k in range(2000))
    parsed = parse_manifest(data, where="m", relative=relative)
    state = parsed.to_state()
    back = parse_manifest(write_manifest(state, ROOT), where="m", relative=relative)
    assert sorted((r, n) for r, n, *_ in back.labels) == sorted(
        {(r, n) for r, n, *_ in parsed.labels}
    )


def test_a_clean_manifest_read_in_many_slices_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(manifest_lines, "SLICE_BYTES", 1000)
    rng = random.Random(3)
    clean = b"\n".join(
        orjson.dumps(
            {
                "source": f"{ROOT}img_{k}.jpg",
                "id": f"i{k}",
                "annotation": [{"name": rng.choice(["a", "b", " c"]), "annotated-by": "x"}],
            }
        )
        for k in range(3000)
    )
    assert manifest_lines.read_clean(clean) is not None
    assert len(manifest_lines.read_clean(clean)) > 100
    assert_same(clean)
    assert_same(clean + b"\n")
    assert_same(clean + b"\n\n")
