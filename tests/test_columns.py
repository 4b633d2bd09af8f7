"""The state's image columns answer as the object arrays they replace, whatever they hold.

Ids made from paths are kept as 64-bit numbers, other ids and paths as Arrow strings, shared
values as small codes (see ``jupyter_labeler.columns``). Each column must give back exactly the
strings it was given, one row, many rows, as Arrow, after rows are added (of another form too)
and after a row is given another value; and a dataset whose ids are of several forms finds
every image by id, before and after a save.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pyarrow as pa
import pytest
from imagegen import fill_folder, image_bytes

from jupyter_labeler import Dataset, views
from jupyter_labeler.columns import (
    CodedColumn,
    HexColumn,
    SparseColumn,
    TextColumn,
    strings_column,
    text_column,
)
from jupyter_labeler.state import ImageRows, State

HEX = [f"{(k * 0x9E3779B97F4A7C15) % 2**64:016x}" for k in range(50)]
TEXT = ["a/b.jpg", "ü/ß.png", "", "x" * 300, "c/d e.jpg"] * 10


def _assert_column(column: object, values: list[str]) -> None:
    assert len(column) == len(values)  # type: ignore[arg-type]
    assert column.tolist() == values  # type: ignore[attr-defined]
    for i in (0, 3, len(values) - 1, -1, -len(values)):
        assert column[i] == values[i]  # type: ignore[index]
    rng = np.random.default_rng(len(values))
    codes = rng.integers(0, len(values), 30)
    got = column[codes]  # type: ignore[index]
    assert got.dtype == object
    assert got.tolist() == [values[c] for c in codes.tolist()]
    mask = rng.random(len(values)) < 0.5
    assert column[mask].tolist() == [v for v, m in zip(values, mask, strict=True) if m]  # type: ignore[index]
    assert column[2:9].tolist() == values[2:9]  # type: ignore[index]
    assert column[np.empty(0, dtype=np.int64)].tolist() == []  # type: ignore[index]
    assert column.arrow().to_pylist() == values  # type: ignore[attr-defined]
    assert column.arrow(codes).to_pylist() == [values[c] for c in codes.tolist()]  # type: ignore[attr-defined]
    if isinstance(column, TextColumn):  # what a save writes paths from, block by block
        assert column.chunked().to_pylist() == values
    with pytest.raises(IndexError):
        column[len(values)]  # type: ignore[index]
    with pytest.raises(IndexError):
        column[np.asarray([0, len(values)])]  # type: ignore[index]


@pytest.mark.parametrize("values", [HEX, TEXT, [*HEX[:3], "not-hex", *HEX[3:]]])
def test_a_column_gives_back_what_it_was_given(values: list[str]) -> None:
    column = strings_column(values)
    assert isinstance(column, HexColumn) == (values is HEX)
    _assert_column(column, values)
    from_arrow = strings_column(pa.array(values, pa.string()))
    assert type(from_arrow) is type(column)
    _assert_column(from_arrow, values)
    chunked = pa.chunked_array([pa.array(values[:7]), pa.array(values[7:])])
    _assert_column(strings_column(chunked), values)
    large = strings_column(chunked.cast(pa.large_string()))
    _assert_column(large, values)
    _assert_column(large.extended(["more"]), [*values, "more"])


def test_hex_ids_in_upper_case_or_with_spaces_are_text() -> None:
    for odd in (HEX[1].upper(), " " + HEX[1][1:], HEX[1][:15]):
        column = strings_column([HEX[2], odd])
        assert isinstance(column, TextColumn)
        assert column.tolist() == [HEX[2], odd]


def test_rows_added_of_another_form_turn_hex_ids_into_text() -> None:
    column = strings_column(HEX[:10])
    grown = column.extended(HEX[10:20])
    assert isinstance(grown, HexColumn)
    _assert_column(grown, HEX[:20])
    mixed = grown.extended(["other id", HEX[20]])
    assert isinstance(mixed, TextColumn)
    _assert_column(mixed, [*HEX[:20], "other id", HEX[20]])
    _assert_column(column, HEX[:10])  # the column it grew from is unchanged


def test_rows_added_one_action_at_a_time_stay_in_order() -> None:
    column = text_column(TEXT)
    values = list(TEXT)
    for k in range(150):  # more additions than chunks a column keeps apart
        column = column.extended([f"added/{k}.jpg", f"more/{k}.jpg"])
        values += [f"added/{k}.jpg", f"more/{k}.jpg"]
    _assert_column(column, values)


def test_a_row_given_another_value_is_seen_everywhere() -> None:
    column = text_column(TEXT)
    column.set(3, "moved/here.jpg")
    expected = [*TEXT[:3], "moved/here.jpg", *TEXT[4:]]
    _assert_column(column, expected)
    assert column.positions_of(["moved/here.jpg"]).tolist() == [3]
    assert TEXT[3] not in column.arrow(np.asarray([3])).to_pylist()
    grown = column.extended(["new.jpg"])
    _assert_column(grown, [*expected, "new.jpg"])
    assert grown.positions_of(["new.jpg", "a/b.jpg"]).tolist() == [
        i for i, v in enumerate([*expected, "new.jpg"]) if v in ("new.jpg", "a/b.jpg")
    ]


def test_many_rows_asked_at_once_are_kept_as_strings_and_stay_right() -> None:
    n = 70_000  # above the size from which a column keeps the strings it made
    ids = [f"{k:016x}" for k in range(n)]
    column = strings_column(ids)
    everything = column[np.arange(n)]
    assert everything.tolist() == ids
    assert column[n - 1] == ids[-1]
    grown = column.extended(["ffffffffffffffff"])
    assert grown[np.arange(n + 1)].tolist() == [*ids, "ffffffffffffffff"]
    assert grown[n] == "ffffffffffffffff"
    paths = text_column([f"p/{k}.jpg" for k in range(n)])
    assert paths[np.arange(n)][-1] == f"p/{n - 1}.jpg"
    paths.set(5, "q.jpg")
    assert paths[5] == "q.jpg"
    assert paths[np.arange(10)].tolist()[5] == "q.jpg"


def test_coded_column_widens_its_codes_as_values_come() -> None:
    column = CodedColumn.of(["TRAIN", "", "TRAIN"])
    assert column.codes.dtype == np.uint8
    assert column.tolist() == ["TRAIN", "", "TRAIN"]
    many = [f"t{k}" for k in range(300)]
    grown = column.extended(many)
    assert grown.codes.dtype == np.uint16
    assert grown.tolist() == ["TRAIN", "", "TRAIN", *many]
    assert column.tolist() == ["TRAIN", "", "TRAIN"]  # unchanged
    grown[np.asarray([0, 1])] = np.asarray(["EVAL", "TEST"], dtype=object)
    grown[2] = "EVAL"
    assert grown[np.asarray([0, 1, 2])].tolist() == ["EVAL", "TEST", "EVAL"]
    decoded = grown.arrow(np.asarray([0, 1, 3])).dictionary_decode().to_pylist()
    assert decoded == ["EVAL", "TEST", "t0"]
    read = CodedColumn.from_arrow(pa.array(["a", None, "b", "a"]).dictionary_encode())
    assert read.tolist() == ["a", "", "b", "a"]


def test_sparse_column_keeps_only_the_rows_that_have_a_value() -> None:
    column = SparseColumn.of([None, {"k": 1}, None])
    assert column.tolist() == [None, {"k": 1}, None]
    assert column[np.asarray([1, 2])].tolist() == [{"k": 1}, None]
    grown = column.extended([{"j": 2}, None])
    grown[1] = None
    assert grown.tolist() == [None, None, None, {"j": 2}, None]
    assert grown.rows().tolist() == [3]
    assert column[1] == {"k": 1}


def test_ids_of_several_forms_find_their_images_before_and_after_a_save(tmp_path: Path) -> None:
    """A manifest from another tool names its images with ids of its own; images added later
    get ids made from their paths. Every one is found, labeled and read back."""
    folder = tmp_path / "images"
    names = fill_folder(image_folder_writer(folder), 4)
    out = folder / ".jupyter_labeler"
    out.mkdir()
    theirs = ["XA1", "b-2", "ümlaut", "0123456789ABCDEF"]
    lines = [
        orjson.dumps({"source": str(folder / name), "id": image_id, "usage": "TRAIN"})
        for name, image_id in zip(names, theirs, strict=True)
    ]
    (out / "dataset.manifest").write_bytes(b"\n".join(lines))
    ds = Dataset.open(folder, author="alice")
    assert sorted(ds.ids("all")) == sorted(theirs)
    added = ds.add_images({"new.jpg": image_bytes(9)})
    ours = list(added.added)
    assert len(ours) == 1
    ds.add_label("cat", [theirs[0], theirs[3], *ours])
    ds.remove_images([theirs[1]])
    expected = {theirs[0]: ["cat"], theirs[2]: [], theirs[3]: ["cat"], ours[0]: ["cat"]}
    assert ds.labels_of(list(expected)) == expected
    ds.save()
    again = Dataset.open(folder, author="bob")
    assert again.problems == []
    assert sorted(again.ids("all")) == sorted(expected)
    assert again.labels_of(list(expected)) == expected
    assert again.usage_of(theirs) == {
        theirs[0]: "TRAIN",
        theirs[1]: "",
        theirs[2]: "TRAIN",
        theirs[3]: "TRAIN",
    }


def image_folder_writer(folder: Path) -> Callable[[str, bytes], object]:
    folder.mkdir()
    return lambda name, data: (folder / name).write_bytes(data)


def test_sizes_beyond_32_bits_are_kept_whole() -> None:
    """Sizes are kept in 32 bits while they fit; a bigger one widens the column, and the
    tables always show 64-bit sizes."""
    state = State()
    state.add_images(
        ImageRows(
            ["a" * 16, "b" * 16], ["a.jpg", "b.jpg"], [5, 7], ["", ""], ["", ""], [None, None]
        )
    )
    state.add_images(ImageRows(["e" * 16], ["e.jpg"], [11], [""], [""], [None]))
    assert state.sizes.dtype == np.int32  # four bytes an image while sizes fit
    state.remove_images(np.asarray([2]))
    state.add_images(ImageRows(["c" * 16], ["c.jpg"], [3 * 2**30], [""], [""], [None]))
    state.add_images(ImageRows(["d" * 16], ["d.jpg"], [9], [""], [""], [None]))
    live = state.view_codes("all")
    assert state.rows(live).sizes == [5, 7, 3 * 2**30, 9]
    table = views.table(state, live)
    assert table["size"].dtype == np.int64
    assert table["size"].tolist() == [5, 7, 3 * 2**30, 9]
