"""Reading a manifest a block of whole lines at a time gives what reading it whole gives.

However the lines fall into blocks (one line a block, a block ending inside a run of blank
lines, lone CRs in one block only), the images, labels, foreign lines, problems and their line
numbers agree with the line-by-line reference reader and with one block.
"""

from __future__ import annotations

import random
from pathlib import Path

import orjson
import pytest
from manifest_reference import reference_parse
from test_manifest_usual import usual
from test_manifest_variants import ROOT, relative, variant_line

from jupyter_labeler import Dataset
from jupyter_labeler.manifest_parse import parse_manifest, parse_manifest_blocks, whole_lines


def in_blocks(data: bytes, block_bytes: int, *, prefix: str | None = None, piece_bytes: int = 333):
    # the store hands over pieces of any size, cut anywhere
    pieces = [data[k : k + piece_bytes] for k in range(0, len(data), piece_bytes)]
    return parse_manifest_blocks(
        whole_lines(pieces, block_bytes), where="m", relative=relative, prefix=prefix
    )


def assert_same_as_reference(data: bytes, block_bytes: int, piece_bytes: int = 333) -> None:
    got = in_blocks(data, block_bytes, piece_bytes=piece_bytes)
    rows, labels, problems, merged, foreign = reference_parse(data, where="m", relative=relative)
    assert got.foreign == foreign
    assert list(got.rows.paths) == list(rows.paths)
    assert list(got.rows.ids) == list(rows.ids)
    assert list(got.rows.usage) == list(rows.usage)
    assert list(got.rows.extra) == list(rows.extra)
    assert got.labels == labels
    assert got.merged == merged
    assert sorted(got.problems) == sorted(problems)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("line_end", [b"\n", b"\r\n"])
@pytest.mark.parametrize("block_bytes", [1, 200, 4096])
def test_blocks_agree_with_the_line_by_line_reader(
    seed: int, line_end: bytes, block_bytes: int
) -> None:
    rng = random.Random(seed)
    count = [40, 300, 3000, 5][seed]
    data = line_end.join(variant_line(rng, k) for k in range(count))
    assert_same_as_reference(data, block_bytes)
    assert_same_as_reference(data + line_end + line_end, block_bytes)


def test_lone_carriage_returns_in_one_block_count_lines_as_the_whole_file_does() -> None:
    rng = random.Random(7)
    lines = [variant_line(rng, k) for k in range(600)]
    data = b"\n".join(lines[:300]) + b"\n" + b"\r".join(lines[300:310]) + b"\n"
    data += b"\n".join(lines[310:])
    for block_bytes in (1, 1000, 10_000):
        assert_same_as_reference(data, block_bytes)


def folder_relative(url: str) -> str | None:
    """As a source folder on S3 reads sources: any of its schemes, ``./`` taken out."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"s3", "s3a", "obs"} or not rest.startswith("bucket/flowers/"):
        return None
    return rest[len("bucket/flowers/") :].replace("/./", "/").removeprefix("./")


@pytest.mark.parametrize("block_bytes", [1, 500, 1 << 20])
def test_blocks_remember_the_same_spellings_as_one_block(block_bytes: int) -> None:
    rng = random.Random(11)
    lines = [variant_line(rng, k) for k in range(400)]
    lines += [
        b'{"source":"s3://bucket/flowers/./odd/a.jpg","annotation":[{"name":"roses"}]}',
        b'{"source":"obs://bucket/flowers/odd/b.jpg"}',
        b'{"source":"s3://bucket/flowers/odd/a.jpg"}',  # a repeat, spelled the plain way
        b'{"source":"s3a://bucket/flowers/odd/c.jpg"}',
        b'{"source":"s3://bucket/flowers/odd/c.jpg","usage":"EVAL"}',
    ]
    data = b"\n".join(lines)
    whole = parse_manifest(data, where="m", relative=folder_relative, prefix=ROOT)
    got = parse_manifest_blocks(
        whole_lines([data], block_bytes), where="m", relative=folder_relative, prefix=ROOT
    )
    assert list(got.rows.extra) == list(whole.rows.extra)
    assert list(got.rows.paths) == list(whole.rows.paths)
    assert got.labels == whole.labels
    assert got.problems == whole.problems
    assert got.merged == whole.merged > 0
    spellings = [e["\x00source"] for e in got.rows.extra if e and "\x00source" in e]
    assert spellings == ["s3://bucket/flowers/./odd/a.jpg", "s3a://bucket/flowers/odd/c.jpg"]


def test_whole_lines_cuts_only_after_a_line_feed() -> None:
    data = b"".join(b"x" * (k % 17) + b"\n" for k in range(500)) + b"tail"
    pieces = [data[k : k + 7] for k in range(0, len(data), 7)]
    blocks = [bytes(b) for b in whole_lines(pieces, 50)]
    assert b"".join(blocks) == data
    assert all(b.endswith(b"\n") for b in blocks[:-1])
    assert blocks[-1] == b"tail"
    assert max(len(b) for b in blocks) < 50 + 17


@pytest.mark.parametrize("spelling", ["{:016x}", "{:016X}", "{:015x}"])
def test_ids_of_a_read_manifest_are_found_however_they_are_spelled(
    tmp_path: Path, spelling: str
) -> None:
    folder = tmp_path / "images"
    (folder / ".jupyter_labeler").mkdir(parents=True)
    rng = random.Random(5)
    numbers = rng.sample(range(1 << 40), 300)
    lines = [
        orjson.dumps({"source": f"{folder}/img_{k}.jpg", "id": spelling.format(v)})
        for k, v in enumerate(numbers)
    ]
    (folder / ".jupyter_labeler" / "dataset.manifest").write_bytes(b"\n".join(lines))
    ds = Dataset.open(folder, author="alice")
    ids = [spelling.format(v) for v in numbers]
    assert list(ds.ids("all")) == ids
    chosen = ids[::7]
    assert ds.add_label("cat", chosen).changed == len(chosen)
    assert sorted(ds.ids("labeled")) == sorted(chosen)
    assert ds.unknown_ids([*chosen, "0" * 16]) == ["0" * 16]
    ds.save()
    again = Dataset.open(folder, author="bob")
    assert sorted(again.ids("labeled")) == sorted(chosen)


@pytest.mark.parametrize("kind", ["none", "id used twice", "source repeated"])
def test_usual_lines_in_many_blocks_agree_with_the_reference(kind: str) -> None:
    # Blocks are read two at a time on threads; ids (16 hex digits, in no order) and
    # sources are checked across all of them, a repeat far from its first line included.
    rng = random.Random(kind)
    records = usual(600)
    for r in records:
        r["id"] = f"{rng.getrandbits(64):016x}"
    if kind == "id used twice":
        records[550]["id"] = records[3]["id"]
    elif kind == "source repeated":
        records[550]["source"] = records[3]["source"]
    data = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    for block_bytes in (1, 700, 9000, 1 << 20):
        assert_same_as_reference(data, block_bytes)


def test_a_dataset_read_in_blocks_finds_every_image_by_its_id(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    (folder / ".jupyter_labeler").mkdir(parents=True)
    rng = random.Random(2)
    records = usual(3000)
    for r in records:
        r["id"] = f"{rng.getrandbits(64):016x}"
        r["source"] = f"{folder}/{r['source'][len(ROOT) :]}"
    lines = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    (folder / ".jupyter_labeler" / "dataset.manifest").write_bytes(lines)
    ds = Dataset.open(folder, author="alice")
    assert not ds.problems
    ids = [r["id"] for r in records]
    assert sorted(ds.ids("all")) == sorted(ids)
    chosen = rng.sample(ids, 500)
    result = ds.add_label("picked", chosen)
    assert result.changed
    assert sorted(ds.ids("all", label="picked")) == sorted(chosen)


def test_blocks_of_a_megabyte_and_more_read_on_threads_agree_with_the_reference() -> None:
    # Blocks this large are handed to the reading threads (smaller ones are read in place).
    rng = random.Random(9)
    records = usual(18000)
    for r in records:
        r["id"] = f"{rng.getrandbits(64):016x}"
    records[15000]["id"] = records[5]["id"]
    records[12000]["source"] = records[40]["source"]
    data = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
    assert len(data) > 3 << 20
    assert_same_as_reference(data, 1 << 20, piece_bytes=5 << 20)
