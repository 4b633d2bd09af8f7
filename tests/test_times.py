"""Label times are text from wherever the labels came from: every table takes any of it.

A manifest from another tool may write ``creation-time`` in ISO 8601 (``T``, ``Z``, offsets,
fractions, a date alone) or write something that is no time at all; the tables and the command
line take all of it, times that can be read are read, and the rest is named once in
``Dataset.problems``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from imagegen import image_folder

from jupyter_labeler import Dataset
from jupyter_labeler.cli import main
from jupyter_labeler.formats import export_labels, import_labels
from jupyter_labeler.times import UnreadableTimes, parse_times

CLS = "modelarts/image_classification"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01 10:00:00", "2024-03-01 10:00:00"),
        ("2024-03-01T10:00:00", "2024-03-01 10:00:00"),
        ("2024-03-01T10:00:00Z", "2024-03-01 10:00:00"),
        ("2024-03-01T18:00:00+08:00", "2024-03-01 10:00:00"),
        ("2024-03-01T05:30:00-0430", "2024-03-01 10:00:00"),
        ("2024-03-01 18:00:00 +08:00", "2024-03-01 10:00:00"),
        ("2024-03-01T10:00:00.250Z", "2024-03-01 10:00:00.250"),
        ("2024-03-01T10:00:00.123456789", "2024-03-01 10:00:00.123456"),
        ("2024-03-01 10:00", "2024-03-01 10:00:00"),
        ("2024-03-01", "2024-03-01 00:00:00"),
        ("  2024-03-01 10:00:00\n", "2024-03-01 10:00:00"),
        ("1000-01-01", "1000-01-01 00:00:00"),
    ],
)
def test_every_iso_form_is_read_in_utc(text: str, expected: str) -> None:
    times, unreadable = parse_times([text])
    assert times[0] == pd.Timestamp(expected)
    assert not unreadable.any()
    # The same among other forms: each value is read on its own terms.
    mixed = ["2024-01-01 00:00:00.000000001", "2023-12-31T23:00:00+01:00", text, "nope"]
    times, unreadable = parse_times(mixed)
    assert times[2] == pd.Timestamp(expected)
    assert unreadable.tolist() == [False, False, False, True]


def test_what_is_no_time_is_nat_and_only_text_is_unreadable() -> None:
    values = ["", "   ", None, "yesterday", "2024-02-30", "2024-03-01 25:00:00", "12/31"]
    times, unreadable = parse_times(values)
    assert times.isna().all()
    assert times.dtype == np.dtype("datetime64[us]")
    assert unreadable.tolist() == [False, False, False, True, True, True, True]
    empty, none = parse_times([])
    assert len(empty) == len(none) == 0


def test_unreadable_times_are_reported_once_each() -> None:
    seen = UnreadableTimes()
    first = seen.report(["later", "soon", "later"], "labels")
    assert first is not None
    assert first.startswith("labels: 2 times cannot be read")
    assert "'later'" in first
    assert "'soon'" in first
    assert seen.report(["soon", "later"], "labels") is None
    again = seen.report(["later", "tomorrow"], "labels")
    assert again is not None
    assert "1 time cannot be read" in again
    assert "'tomorrow'" in again
    many = seen.report([f"x{i}" for i in range(10)], "labels")
    assert many is not None
    assert "and 7 more" in many
    seen.clear()
    assert seen.report(["later"], "labels") is not None


# -- through the Dataset ---------------------------------------------------------------------------
STAMPS = {
    "img_000.jpg": "2024-03-01T10:00:00Z",
    "img_001.jpg": "2024-03-01T18:30:00.5+08:00",  # 10:30:00.5 UTC: alice's newest
    "img_002.jpg": "2024-03-01",
    "img_003.jpg": "not a time",
    "img_004.jpg": "2024-03-01 09:00:00",
    "img_005.jpg": "",
    "img_006.jpg": "2024-02-29 23:59:59",  # bob's only readable one
    "img_007.jpg": "soon",
}


@pytest.fixture
def imported(tmp_path: Path) -> Iterator[tuple[Dataset, Path]]:
    folder = image_folder(tmp_path, 10)
    lines = [
        {
            "source": f"s3://bucket/images/{path}",
            "annotation": [
                {
                    "type": CLS,
                    "name": "cat" if i % 2 else "dog",
                    "annotated-by": "alice" if i < 6 else "bob",
                    "creation-time": stamp,
                }
            ],
        }
        for i, (path, stamp) in enumerate(STAMPS.items())
    ]
    source = tmp_path / "labels.manifest"
    source.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")
    ds = Dataset.open(folder, author="lead")
    import_labels(ds, "manifest", str(source))
    idof = {p: i for i, p in ds.paths().items()}
    ds.assign(["alice"], ids=[idof[p] for p in list(STAMPS)[:6]])
    ds.assign(["bob"], ids=[idof[p] for p in list(STAMPS)[6:]] + [idof["img_008.jpg"]])
    yield ds, folder
    ds.close()


def time_problems(ds: Dataset) -> list[str]:
    return [p for p in ds.problems if "cannot be read as a time" in p]


def test_progress_reads_every_time_and_names_the_unreadable_once(
    imported: tuple[Dataset, Path],
) -> None:
    ds, folder = imported
    table = ds.progress()
    assert table.loc["alice", "last_active"] == pd.Timestamp("2024-03-01 10:30:00.5")
    assert table.loc["bob", "last_active"] == pd.Timestamp("2024-02-29 23:59:59")
    assert table.loc["alice", ["assigned", "labeled"]].tolist() == [6, 6]
    assert table.loc["bob", ["assigned", "labeled", "remaining"]].tolist() == [3, 2, 1]
    assert pd.api.types.is_datetime64_dtype(table["last_active"])
    [line] = time_problems(ds)
    assert "2 times" in line
    assert "'not a time'" in line
    assert "'soon'" in line
    for _ in range(3):
        ds.progress()
    assert len(time_problems(ds)) == 1
    # A new unreadable time is named in a line of its own, the old ones not again.
    img_008 = ds.ids()[ds.paths() == "img_008.jpg"][0]
    ds.add_label("cat", [img_008], annotated_by=["bob"], created_at=["when?"])
    ds.progress()
    assert len(time_problems(ds)) == 2
    assert "'when?'" in time_problems(ds)[1]
    assert "'soon'" not in time_problems(ds)[1]
    # Read again from the store: named again, once.
    ds.flush()
    again = Dataset.open(folder, author="lead")
    try:
        assert again.progress().loc["alice", "last_active"] == table.loc["alice", "last_active"]
        again.progress()
        assert len(time_problems(again)) == 1
    finally:
        again.close()


def test_every_table_and_command_takes_any_time_text(
    imported: tuple[Dataset, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ds, folder = imported
    ann = ds.annotations()
    assert sorted(ann["created_at"]) == sorted(STAMPS.values())  # kept as given
    assert len(ds.images) == 10
    assert len(ds.labeled()) == 8
    assert ds.counts()["images"].sum() == 8
    ds.readiness()
    ds.agreement()
    ds.disagreements()
    ds.flush()
    alice = Dataset.open(folder, author="alice")
    try:
        assert alice.mine().empty
        assert alice.progress()["labeled"].to_dict() == {"alice": 6, "bob": 2}
    finally:
        alice.close()
    for fmt, name in (("csv", "out.csv"), ("manifest", "out.manifest"), ("labelstudio", "ls.json")):
        export_labels(ds, fmt, str(folder.parent / name))
    lines = [orjson.loads(x) for x in (folder.parent / "out.manifest").read_bytes().splitlines()]
    kept = {a.get("creation-time", "") for line in lines for a in line.get("annotation", [])}
    assert kept == set(STAMPS.values())
    ds.save()
    for command in (["counts", str(folder)], ["check", str(folder)]):
        assert main(command) in (0, 1)
    assert "cat" in capsys.readouterr().out
