"""The feature files: one embedder's vectors as Parquet files in the output folder, checked.

Vectors live in the output folder, one Parquet file per computed batch::

    features/<embedder>/<time ms>-<random>.parquet    image_id, size, ok, sha, phash, vector

Anyone who can write to the output folder can put a file here, so each file is checked on its
own when read (:class:`FeatureStore`): its size, its schema, its vectors' length and that their
numbers are finite. A bad file is skipped and named in the problems of what
:meth:`FeatureStore.load` returns; it never replaces another file's rows. What is loaded is a
:class:`Features`. :func:`prune` drops the rows of images that left the dataset. See
:mod:`.features` for the whole.
"""

from __future__ import annotations

import io
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .embedding import BUILTIN, BUILTIN_DIM, MAX_DIM, Embedder
from .parquet import parquet_file
from .storage import Store

__all__ = [
    "FEATURES_DIR",
    "MAX_FEATURES_FILE_BYTES",
    "MAX_FEATURES_FILE_UNPACKED",
    "MAX_FILE_NUMBERS",
    "MAX_FILE_ROWS",
    "FeatureStore",
    "Features",
    "check_name",
    "embedder_name",
    "embedders",
    "prune",
]

# Named as features.py named it before the split: users filter logs by this name.
log = logging.getLogger("jupyter_labeler.features")

FEATURES_DIR = "features"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_FILE = re.compile(r"^[0-9]{13}-[0-9a-f]{32}\.parquet$")

# Anyone who can write to the output folder can put a file under features/: each is checked on
# its own before it is used, and read only when it keeps within these bounds (and MAX_DIM
# numbers a vector). An honest batch file is far below them: 1,000 images of 4,096 numbers are
# 8 MB.
MAX_FILE_ROWS = 1 << 17
MAX_FILE_NUMBERS = 1 << 25  # rows x numbers a vector: 64 MB of float16
MAX_FEATURES_FILE_BYTES = 1 << 27  # 128 MB as stored...
MAX_FEATURES_FILE_UNPACKED = 1 << 28  # ...and 256 MB once decompressed
_COLUMNS = ("image_id", "size", "ok", "sha", "phash", "vector")
_MB = 1 << 20


def check_name(name: object) -> str:
    """``name`` if it can name a folder of features; ValueError saying what can otherwise."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            "name the embedder's features with name=: 1 to 64 letters, digits, '.', '_' or '-' "
            f"(not {name!r})"
        )
    return name


def embedder_name(embedder: str | Embedder, name: str | None = None) -> str:
    """The folder name of an embedder's features: ``name``, "builtin", or the callable's name."""
    if isinstance(embedder, str) and embedder != BUILTIN:
        raise ValueError(f"embedder must be {BUILTIN!r} or a callable, not {embedder!r}")
    if name is None:
        name = embedder if isinstance(embedder, str) else getattr(embedder, "__name__", "")
    if callable(embedder) and name == BUILTIN:
        raise ValueError(f"{BUILTIN!r} names the built-in embedder's features: name yours")
    return check_name(name)


@dataclass
class Features:
    """The features of one embedder as loaded: arrays aligned by row (one row per image id).

    ``files`` are the files taken into account (read, or skipped as bad); ``problems`` says
    what was skipped and why; ``unknown`` holds the ids of rows left out because no image of
    the dataset had them when they were read. ``search_index`` holds what
    :func:`~.suggest.index_of` made of the vectors, kept with them so that it is made once per
    loaded set (None until then).
    """

    ids: np.ndarray  # object (str)
    sizes: np.ndarray  # int64
    ok: np.ndarray  # bool
    sha: np.ndarray  # object (str)
    phash: np.ndarray  # uint64
    vectors: np.ndarray  # float16 (n, d)
    files: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()
    unknown: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object), repr=False)
    _row: pd.Index | None = field(default=None, repr=False)
    search_index: Any = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return f"<Features: {len(self.ids)} images, {self.vectors.shape[1]} numbers each>"

    @property
    def dim(self) -> int:
        """Numbers a vector (0 while there are none)."""
        return int(self.vectors.shape[1]) if len(self.ids) else 0

    def rows(self, ids: Iterable[str]) -> np.ndarray:
        """The row of each id, -1 where it has none."""
        if self._row is None:
            # A pandas hash index: a million lookups take a fraction of a second.
            self._row = pd.Index(self.ids, dtype=object)
        wanted = ids if isinstance(ids, pd.Index | np.ndarray) else list(ids)
        return np.asarray(self._row.get_indexer(wanted), dtype=np.int64)

    @classmethod
    def empty(cls, files: frozenset[str] = frozenset(), problems: tuple[str, ...] = ()) -> Features:
        """No features (yet): ``files`` were read and gave no usable row."""
        return cls(
            ids=np.zeros(0, dtype=object),
            sizes=np.zeros(0, np.int64),
            ok=np.zeros(0, bool),
            sha=np.zeros(0, dtype=object),
            phash=np.zeros(0, np.uint64),
            vectors=np.zeros((0, 0), np.float16),
            files=files,
            problems=problems,
        )

    @classmethod
    def from_table(cls, table: pa.Table, files: frozenset[str] = frozenset()) -> Features:
        """The features of a table of checked rows (see :meth:`FeatureStore.read`)."""
        if not table.num_rows:
            return cls.empty(files)
        vec = table.column("vector").combine_chunks()
        dim = vec.type.list_size
        flat = np.asarray(vec.flatten())
        return cls(
            ids=np.asarray(table.column("image_id").to_pylist(), dtype=object),
            sizes=table.column("size").to_numpy(),
            ok=table.column("ok").to_numpy(zero_copy_only=False),
            sha=np.asarray(table.column("sha").to_pylist(), dtype=object),
            phash=table.column("phash").to_numpy(),
            vectors=flat.astype(np.float16, copy=False).reshape(-1, dim),
            files=files,
        )


@dataclass
class _Part:
    """One file's checked rows: ``dim`` numbers a vector."""

    name: str
    table: pa.Table
    dim: int


@dataclass
class _Checked:
    """Files read and checked: their rows, what was wrong, and the files to read again."""

    parts: list[_Part] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    unknown: list[np.ndarray] = field(default_factory=list)


def _type_problem(column: str, kind: pa.DataType) -> str | None:
    if column in ("image_id", "sha"):
        good = pa.types.is_string(kind) or pa.types.is_large_string(kind)
        want = "text"
    elif column == "size":
        good, want = pa.types.is_integer(kind), "whole numbers"
    elif column == "ok":
        good, want = pa.types.is_boolean(kind), "true/false"
    elif column == "phash":
        good, want = kind == pa.uint64(), "64-bit unsigned whole numbers"
    else:
        good = pa.types.is_fixed_size_list(kind) and pa.types.is_floating(kind.value_type)
        want = "vectors of one fixed length"
    return None if good else f"its {column} column holds {kind}, not {want}"


def _schema_problem(schema: pa.Schema, dim: int | None, embedder: str) -> str | None:
    """What makes a file's schema unusable for ``embedder`` (``dim`` numbers when known)."""
    missing = [c for c in _COLUMNS if schema.get_field_index(c) < 0]
    if missing:
        return f"no {', '.join(missing)} column"
    for column in _COLUMNS:
        if len(schema.get_all_field_indices(column)) > 1:
            return f"two {column} columns"
        problem = _type_problem(column, schema.field(column).type)
        if problem is not None:
            return problem
    length = schema.field("vector").type.list_size
    if not 1 <= length <= MAX_DIM:
        return f"vectors of {length:,} numbers (at most {MAX_DIM:,})"
    if dim is not None and length != dim:
        return f"vectors of {length:,} numbers, where the {embedder} embedder's have {dim}"
    return None


def _check_file(
    data: bytes, columns: Sequence[str] | None, dim: int | None, embedder: str
) -> tuple[_Part | None, list[str]]:
    """The rows of a features file, checked, in the types this module writes (name unset)."""
    if len(data) > MAX_FEATURES_FILE_BYTES:
        return None, [f"larger than {MAX_FEATURES_FILE_BYTES // _MB} MB"]
    try:
        parquet = parquet_file(data)
        schema, meta = parquet.schema_arrow, parquet.metadata
        unpacked = sum(
            meta.row_group(g).column(c).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        )
    except Exception as exc:  # anything pyarrow says of bytes that are no Parquet file
        return None, [f"not a Parquet file ({str(exc)[:200]})"]
    problem = _schema_problem(schema, dim, embedder)
    if problem is not None:
        return None, [problem]
    length = schema.field("vector").type.list_size
    rows = meta.num_rows
    if rows > MAX_FILE_ROWS or rows * length > MAX_FILE_NUMBERS:
        return None, [f"{rows:,} vectors of {length:,} numbers: more than a file may hold"]
    if unpacked > MAX_FEATURES_FILE_UNPACKED:
        return None, [f"larger than {MAX_FEATURES_FILE_UNPACKED // _MB} MB once decompressed"]
    wanted = list(_COLUMNS if columns is None else columns)
    try:
        table = parquet.read(columns=wanted)
    except Exception as exc:  # damaged pages, a bad encoding: the file, not the others
        return None, [f"cannot be read ({str(exc)[:200]})"]
    if table.num_rows != rows:
        return None, [f"holds {table.num_rows:,} rows where it says {rows:,}"]
    empty = [c for c in wanted if table.column(c).null_count]
    if "vector" in wanted and not empty:
        values = table.column("vector").combine_chunks().values
        if values.null_count:
            empty.append("vector")
    if empty:
        return None, [f"empty values in its {', '.join(empty)} column"]
    columns_out = {}
    problems = []
    keep: np.ndarray | None = None
    for column in wanted:
        values = table.column(column).combine_chunks()
        if column == "vector":
            numbers = np.asarray(values.values).astype(np.float16)  # too large for float16: inf
            numbers = numbers.reshape(rows, length)
            finite = np.asarray(np.isfinite(numbers).all(axis=1))
            if not finite.all():
                keep = finite
                problems.append(
                    f"{int((~finite).sum()):,} of {rows:,} vectors hold numbers that are not "
                    "finite; those images' rows were skipped"
                )
            values = pa.FixedSizeListArray.from_arrays(pa.array(numbers.ravel()), length)
        elif column in ("image_id", "sha"):
            values = values.cast(pa.string())
        elif column == "size":
            try:
                values = values.cast(pa.int64())
            except pa.ArrowInvalid:
                return None, ["its sizes do not fit 64 bits"]
        columns_out[column] = values
    checked = pa.table(columns_out)
    if keep is not None:
        checked = checked.filter(pa.array(keep))
    return _Part("", checked, length), problems


def _choose_dim(parts: list[_Part]) -> int:
    """The length most images' vectors have (on a tie, that of the newest file)."""
    ids_of: dict[int, set[str]] = {}
    newest: dict[int, int] = {}
    for i, part in enumerate(parts):
        ids = part.table.column("image_id").to_pylist()
        ids_of.setdefault(part.dim, set()).update(ids)
        newest[part.dim] = i
    return max(ids_of, key=lambda d: (len(ids_of[d]), newest[d]))


class FeatureStore:
    """The Parquet files of one embedder under ``features/<name>/`` in the output folder.

    Each file is checked on its own when read (see :meth:`read`): one that is damaged, too
    large, of another schema, of vectors of another length than the embedder's, or of vectors
    with numbers that are not finite never replaces the rows of the others; it is named in the
    problems of what :meth:`load` returns, and its images count as having no features (so that
    :func:`compute` computes them again).
    """

    def __init__(self, output: Store, name: str) -> None:
        self.output = output
        self.name = check_name(name)
        self.folder = f"{FEATURES_DIR}/{self.name}"
        # The built-in descriptor's length is known; a callable's is the one most images have.
        self.dim: int | None = BUILTIN_DIM if self.name == BUILTIN else None

    def files(self) -> list[str]:
        """This embedder's batch files, oldest first: by the time in their names, but never
        after the store wrote them (a file named in the far future must not outrank every
        file written after it), so the rows of a file written later win."""
        versions = self.output.list_versions(self.folder)
        names = [n for n in versions if _FILE.match(n)]

        def written(name: str) -> tuple[int, str]:
            return min(int(name[:13]), int(versions[name][0] * 1000)), name

        return sorted(names, key=written)

    def write(self, table: pa.Table) -> list[str]:
        """Store ``table`` as one file, or several when it holds more than a file may."""
        dim = max(1, table.schema.field("vector").type.list_size)
        step = max(1, min(MAX_FILE_ROWS, MAX_FILE_NUMBERS // dim))
        names = []
        for start in range(0, max(table.num_rows, 1), step):
            name = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex}.parquet"
            out = io.BytesIO()
            pq.write_table(table.slice(start, step), out, compression="zstd")
            self.output.write(f"{self.folder}/{name}", out.getvalue(), durable=False)
            names.append(name)
        return names

    def check(
        self,
        names: Sequence[str],
        columns: Sequence[str] | None = None,
        known: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> _Checked:
        """Read and check these files one by one; with ``known`` (ids -> bool), rows of other
        ids are left out."""
        out = _Checked()
        if not names:
            return out
        got = self.output.read_many(
            [f"{self.folder}/{n}" for n in names], limit=MAX_FEATURES_FILE_BYTES
        )
        for n in names:
            rel = f"{self.folder}/{n}"
            data = got[rel]
            if isinstance(data, Exception):
                # Pruned by another writer meanwhile, or the store failed: read it next time.
                log.warning("features %s: skipped for now (%s)", rel, data)
                out.unread.append(n)
                continue
            part, problems = _check_file(data, columns, self.dim, self.name)
            where = self.output.url_of(rel)
            skipped = "" if part is not None else "; skipped"
            out.problems += [f"{where}: {p}{skipped}" for p in problems]
            if part is None:
                continue
            part.name = n
            if known is not None and part.table.num_rows:
                ids = np.asarray(part.table.column("image_id").to_pylist(), dtype=object)
                mask = np.asarray(known(ids), dtype=bool)
                if not mask.all():
                    out.unknown.append(ids[~mask])
                    part.table = part.table.filter(pa.array(mask))
            out.parts.append(part)
        return out

    def _combine(self, checked: _Checked, dim: int | None) -> tuple[pa.Table | None, int]:
        """The newest row of each id among the parts of one length: ``dim``, or (unknown) the
        length most images have; parts of another length are named in ``checked.problems``."""
        parts = [p for p in checked.parts if p.table.num_rows]
        if not parts:
            return None, dim or 0
        if dim is None:
            dim = _choose_dim(parts)
        for part in parts:
            if part.dim != dim:
                where = self.output.url_of(f"{self.folder}/{part.name}")
                checked.problems.append(
                    f"{where}: vectors of {part.dim:,} numbers, where most images' have "
                    f"{dim:,}; skipped"
                )
        kept = [p.table for p in parts if p.dim == dim]
        return _newest_per_id(pa.concat_tables(kept, promote_options="none")), dim

    def read(self, names: list[str], columns: list[str] | None = None) -> pa.Table | None:
        """The checked rows of these files, the newest row of each image id; None when there
        are none. Files that are not usable are left out (see the class docstring)."""
        checked = self.check(names, columns)
        for problem in checked.problems:
            log.warning("%s", problem)
        return self._combine(checked, self.dim)[0]

    def load(
        self,
        cached: Features | None = None,
        *,
        known: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> Features | None:
        """Every stored feature, reading only files that ``cached`` has not read yet; None when
        there is no file. With ``known`` (ids -> bool: is it an image of the dataset?) rows of
        other ids are left out, and read again once their images come."""
        names = self.files()
        if not names:
            return None
        if cached is not None and known is not None and len(cached.unknown):
            # Images came whose rows were left out: read everything again.
            came = np.asarray(known(cached.unknown), dtype=bool).any()
            cached = None if came else cached
        if cached is not None and cached.files == frozenset(names):
            return cached
        if cached is not None and cached.files <= frozenset(names):
            new = [n for n in names if n not in cached.files]
            checked = self.check(new, known=known)
            lengths = {p.dim for p in checked.parts if p.table.num_rows}
            if not cached.dim or lengths <= {cached.dim} or self.dim is not None:
                table, _ = self._combine(checked, cached.dim or self.dim)
                files = frozenset(names) - frozenset(checked.unread)
                found = Features.from_table(table) if table is not None else Features.empty()
                return _merge(cached, found, files, checked)
            # Vectors of another length came: which length most images have may have changed.
        checked = self.check(names, known=known)
        table, _ = self._combine(checked, self.dim)
        files = frozenset(names) - frozenset(checked.unread)
        found = Features.from_table(table) if table is not None else Features.empty()
        return _merge(Features.empty(), found, files, checked)


def _newest_per_id(table: pa.Table) -> pa.Table:
    ids = table.column("image_id").to_numpy(zero_copy_only=False)
    if len(ids) == len(set(ids.tolist())):
        return table
    # Later rows (newer files) win: keep the last occurrence of each id.
    reverse = ids[::-1]
    _, first = np.unique(reverse, return_index=True)
    keep = np.sort(len(ids) - 1 - first)
    return table.take(pa.array(keep))


def _merge(old: Features, new: Features, files: frozenset[str], checked: _Checked) -> Features:
    """``old`` with ``new``'s rows (which win), and what ``checked`` found besides."""
    problems = tuple(dict.fromkeys([*old.problems, *checked.problems]))
    unknown = np.unique(np.concatenate([old.unknown, *checked.unknown]).astype(str)).astype(object)
    if not len(old):
        merged = new
    elif not len(new):
        merged = old
    else:
        keep = ~np.isin(old.ids, new.ids)
        merged = Features(
            ids=np.concatenate([old.ids[keep], new.ids]),
            sizes=np.concatenate([old.sizes[keep], new.sizes]),
            ok=np.concatenate([old.ok[keep], new.ok]),
            sha=np.concatenate([old.sha[keep], new.sha]),
            phash=np.concatenate([old.phash[keep], new.phash]),
            vectors=np.concatenate([old.vectors[keep], new.vectors]),
        )
    return Features(
        ids=merged.ids,
        sizes=merged.sizes,
        ok=merged.ok,
        sha=merged.sha,
        phash=merged.phash,
        vectors=merged.vectors,
        files=files,
        problems=problems,
        unknown=unknown,
        _row=merged._row if merged is old else None,
        search_index=merged.search_index if merged is old else None,
    )


def embedders(output: Store) -> list[str]:
    """The embedders with features stored in ``output``."""
    found = output.list(FEATURES_DIR, recursive=True)
    names = {rel.split("/")[1] for rel in found if rel.count("/") == 2}
    return sorted(n for n in names if _NAME.match(n))


def prune(output: Store, alive_ids: Sequence[str] | np.ndarray | pa.Array) -> int:
    """Drop the rows of images not in ``alive_ids`` from every feature file; rows dropped.

    A file with such rows is rewritten without them (the new file first, then the old one goes),
    so that a reader never misses a row of a live image.
    """
    names = embedders(output)
    if not names:
        return 0
    alive = (
        alive_ids
        if isinstance(alive_ids, pa.Array)
        else pa.array(np.asarray(alive_ids, dtype=object), pa.string())
    )
    dropped = 0
    for embedder in names:
        store = FeatureStore(output, embedder)
        for file in store.files():
            # The ids alone first: most files hold no gone image and are not read further.
            ids = store.read([file], columns=["image_id"])
            if ids is None or pc.all(pc.is_in(ids.column("image_id"), value_set=alive)).as_py():
                continue
            table = store.read([file])
            if table is None:
                continue
            keep = pc.is_in(table.column("image_id"), value_set=alive)
            kept = int(pc.sum(keep).as_py() or 0)
            if kept:
                store.write(table.filter(keep))
            output.delete([f"{store.folder}/{file}"])
            dropped += table.num_rows - kept
    return dropped
