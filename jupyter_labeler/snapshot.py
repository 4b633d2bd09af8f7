"""An exact, fast copy of the state in two Parquet tables, written beside each snapshot manifest.

The ModelArts manifest is the interchange format, but it has no place for an image's size or
for labels that no image carries yet, and parsing a million JSON lines in Python takes seconds.
So each snapshot also stores the same state as Parquet (images; and labels in long format),
which pyarrow reads back in a fraction of a second. When the Parquet files are missing or
unreadable, opening falls back to the manifest.

A snapshot is not trusted either: anyone who can write to the bucket can write one. Reading it
checks that its rows and labels are consistent (a ValueError otherwise, and the manifest is read
instead), and :func:`refuse_untrusted` takes out image paths and label names that the journal
and manifest readers would refuse too.
"""

from __future__ import annotations

import ctypes
import functools
import io
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .columns import CodedColumn, SparseColumn, strings_column, text_column
from .live_columns import LiveColumns, live_columns
from .names import label_problem
from .parquet import read_parquet
from .paths import image_path_problem, suspect_mask
from .state import LabelSet, State

__all__ = [
    "IMAGES_SUFFIX",
    "LABELS_SUFFIX",
    "read_state",
    "refuse_untrusted",
    "release_arrow_memory",
    "write_columns",
    "write_state",
]

IMAGES_SUFFIX = ".images.parquet"
LABELS_SUFFIX = ".labels.parquet"
# Schema metadata of the images table: manifest lines that are no image of the dataset.
_FOREIGN_KEY = b"jupyter_labeler.foreign"
# Column of the images table: the rows in the order of their ids (see State.ids_in_order).
_ID_ORDER = "id_order"


def _to_bytes(table: pa.Table, dictionary: list[str], deltas: list[str]) -> bytes:
    # Dictionary pages only for the columns of few distinct values: tried on unique ids and
    # paths they are built and thrown away. No statistics: nothing reads them. Columns of
    # row numbers (``deltas``: the labels' rows, which ascend, and the rows in the order of
    # their ids) are stored as differences, bit-packed: faster to write and to read than
    # zstd over 64-bit numbers.
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        use_dictionary=dictionary,
        write_statistics=False,
        column_encoding=dict.fromkeys(
            [name for name in deltas if name in table.column_names], "DELTA_BINARY_PACKED"
        ),
    )
    return sink.getvalue()


def _json_or_none(values: np.ndarray) -> list[str | None]:
    return [orjson.dumps(v).decode() if v else None for v in values.tolist()]


def write_state(state: State) -> tuple[bytes, bytes]:
    """Serialize the live images and their labels; rows are renumbered 0..n-1."""
    return write_columns(live_columns(state))


def write_columns(columns: LiveColumns) -> tuple[bytes, bytes]:
    """:func:`write_state` of the columns a save took (see :mod:`.live_columns`): the images
    table and the labels table as Parquet files."""
    n = len(columns)
    extra = columns.extra
    has_extra = pd.notna(extra)  # vectorized None test: no Python loop over a million rows
    images = pa.table(
        {
            "id": columns.ids,
            "path": columns.paths,
            "size": pa.array(columns.sizes, pa.int64()),
            "usage": columns.usage,
            "added_at": columns.added_at,
            "extra": (
                pa.array(_json_or_none(extra), pa.string())
                if has_extra.any()
                else pa.nulls(n, pa.string())
            ),
        }
    )
    if columns.id_order is not None:
        # The rows in the order of their ids: the next reader builds its index of ids without
        # sorting (it checks the order; older readers ignore the column).
        images = images.append_column(_ID_ORDER, pa.array(columns.id_order, pa.int64()))
    if columns.foreign:
        images = images.replace_schema_metadata(
            {_FOREIGN_KEY: orjson.dumps([line.decode("utf-8") for line in columns.foreign])}
        )
    extras: list[str | None] | None = None
    if columns.pair_extra:
        extras = [None] * len(columns.pair_rows)
        for j, more in columns.pair_extra.items():
            extras[j] = orjson.dumps(more).decode()
    labels = pa.table(
        {
            "row": pa.array(columns.pair_rows, pa.int64()),
            "label": pa.DictionaryArray.from_arrays(
                pa.array(columns.pair_label, pa.int32()), pa.array(columns.labels, pa.string())
            ),
            "by": pa.DictionaryArray.from_arrays(
                pa.array(columns.pair_by, pa.int32()), pa.array(columns.authors, pa.string())
            ),
            "at": pa.DictionaryArray.from_arrays(
                pa.array(columns.pair_at, pa.int32()), pa.array(columns.times, pa.string())
            ),
            "extra": (
                pa.array(extras, pa.string())
                if extras is not None
                else pa.nulls(len(columns.pair_rows), pa.string())
            ),
        }
    )
    return (
        _to_bytes(images, ["usage", "added_at"], [_ID_ORDER]),
        _to_bytes(labels, ["label", "by", "at"], ["row"]),
    )


def _dictionary(column: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """Indices and dictionary of a dictionary-encoded column (unified across chunks)."""
    combined = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if not pa.types.is_dictionary(combined.type):
        combined = combined.dictionary_encode()
    return (
        combined.indices.to_numpy(zero_copy_only=False).astype(np.int64),
        combined.dictionary.to_pylist(),
    )


def read_state(
    images_data: bytes,
    labels_data: bytes,
    label_order: list[str],
    *,
    exclude: Sequence[str] = (),
    where: str = "snapshot",
) -> tuple[State, list[str]]:
    """The State saved by :func:`write_state`, checked, and what was refused from it.

    ``label_order`` also brings back empty labels. A snapshot is untrusted input: see
    :func:`refuse_untrusted` for what is taken out (``exclude`` and ``where`` are passed on).
    """
    images = read_parquet(images_data)
    labels = read_parquet(labels_data)
    state = State()
    n = images.num_rows
    # The columns stay as Arrow read them: no Python string per id or path (see columns.py).
    ids, paths = images.column("id"), images.column("path")
    for name, column in (("id", ids), ("path", paths)):
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            raise ValueError(f"its {name} column holds {column.type}, not text")
        if column.null_count:
            raise ValueError(f"an image has no {name}")
    sizes = images.column("size")
    if not pa.types.is_integer(sizes.type):
        raise ValueError(f"its size column holds {sizes.type}, not integers")
    # Found on the Arrow column, on a thread of its own: Arrow's regular expressions let the
    # GIL go, so the rest of the reading goes on beside them.
    finding = ThreadPoolExecutor(max_workers=1)
    suspects_found = finding.submit(suspect_mask, paths)
    finding.shutdown(wait=False)
    extra_col = images.column("extra")
    extra = SparseColumn(n)
    if extra_col.null_count < n:
        for i, text in enumerate(extra_col.to_pylist()):
            if text:
                extra[i] = orjson.loads(text)
    state.set_images(
        strings_column(ids),
        text_column(paths),
        sizes.fill_null(0).to_numpy().astype(np.int64, copy=False),
        CodedColumn.from_arrow(images.column("usage")),
        CodedColumn.from_arrow(images.column("added_at")),
        extra,
    )
    foreign = (images.schema.metadata or {}).get(_FOREIGN_KEY)
    if foreign:
        lines = orjson.loads(foreign)
        if not isinstance(lines, list) or not all(isinstance(x, str) for x in lines):
            raise ValueError("its list of foreign manifest lines is malformed")
        state.foreign = [x.encode("utf-8") for x in lines]

    rows = labels.column("row").to_numpy().astype(np.int64)
    if len(rows) and (rows.min() < 0 or rows.max() >= n):
        raise ValueError("a label names an image row that does not exist")
    which, names = _dictionary(labels.column("label"))
    by_idx, by_values = _dictionary(labels.column("by"))
    at_idx, at_values = _dictionary(labels.column("at"))
    by_map = np.asarray([state.authors.code(v) for v in by_values], dtype=np.int32)
    at_map = np.asarray([state.times.code(v) for v in at_values], dtype=np.int32)
    label_extra = labels.column("extra")
    extra_rows: dict[int, Any] = {}
    if label_extra.null_count < labels.num_rows:
        extra_rows = {i: orjson.loads(t) for i, t in enumerate(label_extra.to_pylist()) if t}

    order = np.argsort(which, kind="stable")
    bounds = np.searchsorted(which[order], np.arange(len(names) + 1))
    found: dict[str, LabelSet] = {}
    for w, name in enumerate(names):
        take = order[bounds[w] : bounds[w + 1]]
        if not len(take):
            continue
        codes = rows[take]
        sort = np.argsort(codes, kind="stable")
        take = take[sort]
        if len(take) > 1 and (np.diff(rows[take]) == 0).any():
            raise ValueError(f"label {name!r} names an image twice")
        ls = LabelSet(
            codes=rows[take],
            by=by_map[by_idx[take]] if len(by_map) else np.zeros(len(take), np.int32),
            at=at_map[at_idx[take]] if len(at_map) else np.zeros(len(take), np.int32),
        )
        if extra_rows:
            ls.extra = {int(rows[j]): extra_rows[j] for j in take.tolist() if j in extra_rows}
        found[name] = ls
    for name in label_order:
        state.labels[name] = found.pop(name) if name in found else LabelSet()
    state.labels.update(found)
    state.version += 1
    _index_ids(state, images)
    suspects = np.flatnonzero(suspects_found.result())
    release_arrow_memory()
    return state, refuse_untrusted(state, exclude=exclude, where=where, suspects=suspects)


def _index_ids(state: State, images: pa.Table) -> None:
    """Build the state's index of ids, with the stored order of its rows by id when there is
    one (it is checked before use; older snapshots have none)."""
    order = None
    if _ID_ORDER in images.column_names:
        stored = images.column(_ID_ORDER)
        if stored.null_count == 0 and pa.types.is_integer(stored.type):
            order = stored.to_numpy()
    state.index_ids(order)


def release_arrow_memory() -> None:
    """Give Arrow's freed buffers, and the C heap's free pages, back to the system.

    Arrow's allocator keeps freed buffers for reuse; after reading or writing a million-row
    snapshot that is over 100 MB held for nothing. glibc's ``malloc`` (numpy's) keeps the
    temporaries of reading one too once its threshold for mapping big blocks has risen: at ten
    million images that is about a gigabyte, which ``malloc_trim`` hands back in milliseconds.
    """
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None on another C library."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def refuse_untrusted(
    state: State, *, exclude: Sequence[str], where: str, suspects: np.ndarray | None = None
) -> list[str]:
    """Take out of ``state`` what no reader may accept from a store, and say what went.

    Images whose path is not acceptable (see :func:`~.paths.image_path_problem`) are removed
    (with their labels); labels whose name breaks the naming rules are dropped (their images
    stay). A clean state of a million images is checked in milliseconds. ``suspects``, when
    given, are the only rows whose paths need a look (see :func:`~.paths.suspect_mask`).
    """
    problems: list[str] = []
    if suspects is None:
        live = np.flatnonzero(state.alive)
        suspects = live[suspect_mask(state.paths[live])] if len(live) else live
    bad = [
        (int(code), why)
        for code in suspects.tolist()
        if (why := image_path_problem(state.paths[code], exclude=exclude)) is not None
    ]
    if bad:
        state.remove_images(np.asarray([code for code, _ in bad], dtype=np.int64))
        for code, why in bad[:5]:
            problems.append(
                f"{where}: image path {state.paths[code][:200]!r} refused ({why}); image skipped"
            )
        if len(bad) > 5:
            problems.append(f"{where}: {len(bad) - 5} more image paths were refused")
    for name in list(state.labels):
        problem = label_problem(name)
        if problem is not None or name != name.strip():
            shown = repr(name) if len(name) <= 40 else repr(name[:40]) + "…"
            state.drop_label(name)
            problems.append(
                f"{where}: label {shown} breaks the naming rules "
                f"({problem or 'spaces around it'}); it was left off its images"
            )
    return problems
