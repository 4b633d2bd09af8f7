"""The team in files: the snapshot's team file, and the team's keys of a manifest's samples.

A snapshot stores the team tables as one small Parquet file (:func:`write_team`,
:func:`read_team`); a manifest carries them in each sample's ``property``
(:func:`property_texts`, :func:`team_from_manifest`), while its ``annotation`` list stays what
the image shows, one classification annotation per label, as in a dataset labeled by one
person. What a file gives is checked as the journal's team operations are (see
:mod:`.operations`): a value the rules would refuse is left out and named once.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..names import annotator_of, label_problem
from ..parquet import parquet_file
from ..state import member, sorted_unique
from .queries import visible_own
from .tables import (
    ACCEPTED,
    MAX_HELD,
    MAX_NAME,
    REJECTED,
    REVIEWS,
    Team,
    annotator_problem,
    assignments_by_name,
    intern_texts,
    pair_key,
    team_of,
)

if TYPE_CHECKING:
    from ..state import State

__all__ = [
    "MAX_TEAM_ROWS_PER_IMAGE",
    "PROPERTY_PREFIX",
    "load",
    "property_texts",
    "read_team",
    "team_from_manifest",
    "write_team",
]

# Keys of a manifest sample's ``property`` that hold the team's data.
PROPERTY_PREFIX = "@jupyter_labeler:"
_ASSIGNED = PROPERTY_PREFIX + "assigned_to"
_REVIEW = PROPERTY_PREFIX + "review"
_REVIEWED_BY = PROPERTY_PREFIX + "reviewed_by"
_REVIEWED_AT = PROPERTY_PREFIX + "reviewed_at"
_REASON = PROPERTY_PREFIX + "review_reason"
# on a shared image: each of its annotators -> {label: when} of their own labels
_LABELS_BY = PROPERTY_PREFIX + "labels_by"

_I64 = np.empty(0, dtype=np.int64)


# -- the snapshot's team file ---------------------------------------------------------------------
_KINDS = ("assign", "own", "review")


def _dict_array(indices: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    """A dictionary-encoded column; -1 is a null."""
    indices = np.asarray(indices, dtype=np.int32)
    return pa.DictionaryArray.from_arrays(
        pa.array(indices, pa.int32(), mask=indices < 0), pa.array(list(values), pa.string())
    )


_HELD = pa.list_(
    pa.struct(
        [("value", pa.string()), ("who", pa.string()), ("at", pa.string()), ("reason", pa.string())]
    )
)
# A team file holds a review, the assignees and their own labels of each image: far fewer rows
# than this an image. A file with more (a few kilobytes of Parquet can say millions of rows) is
# not read: the snapshot's manifest is read instead.
MAX_TEAM_ROWS_PER_IMAGE = 64


def write_team(state: State) -> bytes | None:
    """The team tables of the live images as Parquet (rows renumbered as in the snapshot), or
    None when there is nothing to keep. Columns: ``kind`` (assign / own / review), ``row``,
    ``who``, ``label`` (own), ``value`` (review), ``at`` (own, review), ``reason`` (review),
    ``held`` (review: the reviews the image held before, see :class:`~.tables.Team`; a review
    row with no ``value`` carries only those). Own labels are those the dataset shows (see
    :func:`~.queries.visible_own`), as in the manifest."""
    team = state.team
    if team is None or team.empty:
        return None
    alive = np.flatnonzero(state.alive)
    renumber = np.full(state.n_rows, -1, dtype=np.int64)
    renumber[alive] = np.arange(len(alive))
    shown = visible_own(state, team)
    o_codes, o_label, o_who, o_at = (
        team.o_codes[shown],
        team.o_label[shown],
        team.o_who[shown],
        team.o_at[shown],
    )
    o_names, o_index = np.unique(o_label.astype(str), return_inverse=True)
    held = np.asarray(sorted(team.held), dtype=np.int64)
    reviewed = np.union1d(np.flatnonzero(team.review), held).astype(np.int64)
    value = team.reviews_of(reviewed).astype(np.int64)
    value[value == 0] = -1
    none = np.full(0, -1, dtype=np.int64)

    def nulls(n: int) -> np.ndarray:
        return np.full(n, -1, dtype=np.int64)

    def of(array: np.ndarray) -> np.ndarray:
        out = nulls(len(reviewed))
        inside = reviewed < len(array)
        out[inside] = array[reviewed[inside]]
        out[value < 0] = -1
        return out

    parts = [
        # kind, rows, who, label, value, at
        (
            0,
            team.a_codes,
            team.a_who,
            nulls(len(team.a_codes)),
            nulls(len(team.a_codes)),
            nulls(len(team.a_codes)),
        ),
        (1, o_codes, o_who, o_index.reshape(-1), nulls(len(o_codes)), o_at),
        (2, reviewed, of(team.review_by), nulls(len(reviewed)), value, of(team.review_at)),
    ]
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("kind", "row", "who", "label", "value", "at")
    }
    for kind, rows, who, label, val, at in parts:
        live = renumber[rows] >= 0 if len(rows) else np.zeros(0, dtype=bool)
        columns["kind"].append(np.full(int(live.sum()), kind))
        columns["row"].append(renumber[rows][live])
        for name, values in (("who", who), ("label", label), ("value", val), ("at", at)):
            columns[name].append(np.asarray(values, dtype=np.int64)[live] if len(values) else none)
    flat = {k: np.concatenate(v) for k, v in columns.items()}
    live_reviews = reviewed[renumber[reviewed] >= 0]
    n_other = len(flat["row"]) - len(live_reviews)
    reasons = [team.reasons.get(c) or None for c in live_reviews.tolist()]
    authors, times = state.authors.values, state.times.values
    history = [
        [
            {"value": REVIEWS[v], "who": authors[w], "at": times[t], "reason": why}
            for v, w, t, why in team.held[c]
        ]
        if c in team.held
        else None
        for c in live_reviews.tolist()
    ]
    table = pa.table(
        {
            "kind": _dict_array(flat["kind"], _KINDS),
            "row": pa.array(flat["row"], pa.int64()),
            "who": _dict_array(flat["who"], authors),
            "label": _dict_array(flat["label"], o_names.tolist()),
            "value": _dict_array(flat["value"], REVIEWS),
            "at": _dict_array(flat["at"], times),
            "reason": pa.concat_arrays(
                [pa.nulls(n_other, pa.string()), pa.array(reasons, pa.string())]
            ),
            "held": pa.concat_arrays([pa.nulls(n_other, _HELD), pa.array(history, _HELD)]),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _read_dict(table: pa.Table, name: str) -> tuple[np.ndarray, list[Any]]:
    """Indices (-1 for null) and dictionary of a column, dictionary-encoded or not."""
    column = table.column(name).combine_chunks()
    if not pa.types.is_dictionary(column.type):
        column = column.dictionary_encode()
    indices = pc.fill_null(column.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, column.dictionary.to_pylist()


class _Refused:
    """Rows of a team file or manifest refused, counted per reason with the first image."""

    def __init__(self, state: State, where: str) -> None:
        self.state, self.where = state, where
        self.found: dict[str, list[int]] = {}

    def add(self, why: str, codes: np.ndarray) -> None:
        """Count ``codes`` (image codes) as refused for ``why``."""
        if len(codes):
            seen = self.found.setdefault(why, [0, int(codes[0])])
            seen[0] += len(codes)

    def lines(self) -> list[str]:
        """One sentence per reason: where, what, how many, and the first image."""
        return [
            f"{self.where}: {why}: {count} refused (the first on image "
            f"{self.state.ids[first]}); the rest was read"
            for why, (count, first) in self.found.items()
        ]


def _text_or_empty(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_NAME else ""


def read_team(state: State, data: bytes, where: str = "team file") -> list[str]:
    """Put the team tables of :func:`write_team` into ``state`` (rows = its codes), checked
    against it as the journal's team operations are (see :func:`~.operations.check_review`
    and :func:`~.operations.check_own_add`); returns a sentence per kind of row refused. A
    malformed file, or one of more than :data:`MAX_TEAM_ROWS_PER_IMAGE` rows an image (judged
    from its metadata, before any row is read), raises ValueError: the snapshot's manifest is
    read instead."""
    file = parquet_file(data)
    n = state.n_rows
    declared = file.metadata.num_rows
    if declared > n * MAX_TEAM_ROWS_PER_IMAGE:
        raise ValueError(
            f"its team file holds {declared} rows for {n} images "
            f"(at most {MAX_TEAM_ROWS_PER_IMAGE} an image)"
        )
    names = set(file.schema_arrow.names)
    wanted = ["kind", "row", "who", "label", "value", "at", "reason", "held"]
    table = file.read(columns=[c for c in wanted if c in names])
    refused = _Refused(state, where)
    rows = table.column("row").to_numpy(zero_copy_only=False)
    if len(rows) and (rows.dtype.kind not in "iu" or rows.min() < 0 or rows.max() >= n):
        raise ValueError("a team row names an image row that does not exist")
    rows = rows.astype(np.int64)
    kind_idx, kinds = _read_dict(table, "kind")
    if set(kinds) - set(_KINDS) or (kind_idx < 0).any():
        raise ValueError(f"unknown team row kinds {sorted(set(kinds) - set(_KINDS))}")
    kind = np.asarray([_KINDS.index(k) for k in kinds] + [-1], dtype=np.int64)[kind_idx]
    who_idx, whos = _read_dict(table, "who")
    named = [annotator_problem(w) is None for w in whos]
    good = np.asarray([*named, False])[who_idx]
    who = np.asarray(
        [state.authors.code(w) if ok else -1 for w, ok in zip(whos, named, strict=True)] + [-1]
    )
    who = who[who_idx].astype(np.int32)
    at_idx, ats = _read_dict(table, "at")
    at = np.asarray([state.times.code(_text_or_empty(t)) for t in ats] + [state.times.code("")])
    at = at[at_idx].astype(np.int32)

    team = team_of(state)
    pick = kind == 0
    refused.add("assignments to no annotator's name", rows[pick & ~good])
    pick &= good
    if pick.any():
        team.set_assignment(sorted_unique(rows[pick]), rows[pick], who[pick])
    pairs = pair_key(team.a_codes, team.a_who)
    shared = team.overlap_codes()
    label_idx, labels = _read_dict(table, "label")
    for k, name in enumerate(labels):
        chosen = (kind == 1) & (label_idx == k)
        if not chosen.any():
            continue
        codes = rows[chosen]
        labelset = state.labels.get(name) if isinstance(name, str) else None
        if labelset is None or label_problem(name) is not None:
            refused.add("own labels of no label of the dataset", codes)
            continue
        ok = good[chosen]
        refused.add("own labels of no annotator's name", codes[~ok])
        carried = member(codes, labelset.codes)
        refused.add("own labels of a label their image does not carry", codes[ok & ~carried])
        ok &= carried
        assigned = np.isin(pair_key(codes, who[chosen]), pairs) & member(codes, shared)
        refused.add(
            "own labels of someone who is not one of the image's several annotators",
            codes[ok & ~assigned],
        )
        ok &= assigned
        if ok.any():
            team.add_own(codes[ok], name, who[chosen][ok], at[chosen][ok])
    value_idx, values = _read_dict(table, "value")
    state_of = np.asarray(
        [REVIEWS.index(v) if v in (ACCEPTED, REJECTED) else -1 for v in values] + [0]
    )[value_idx]
    pick = kind == 2
    refused.add("reviews of no known value", rows[pick & (state_of < 0)])
    reviewing = pick & (state_of > 0)
    refused.add("reviews by no annotator's name", rows[reviewing & ~good])
    own_work = np.isin(pair_key(rows, who), pairs)
    refused.add(
        "reviews by an annotator the image is assigned to (nobody reviews their own work)",
        rows[reviewing & good & own_work],
    )
    accept = reviewing & good & ~own_work
    team.grow(n)
    if accept.any():
        codes = rows[accept]
        team.review[codes] = state_of[accept]
        team.review_by[codes] = who[accept]
        team.review_at[codes] = at[accept]
        if "reason" in names:
            reason = table.column("reason").to_numpy(zero_copy_only=False)[accept]
            for k in np.flatnonzero(pd.notna(reason)).tolist():
                if isinstance(reason[k], str) and reason[k]:
                    team.reasons[int(codes[k])] = reason[k][:MAX_NAME]
    if "held" in names:
        _read_held(state, team, table, rows, pick, refused)
    if team.empty:
        state.team = None
    state.mark_changed()
    return refused.lines()


def _read_held(
    state: State, team: Team, table: pa.Table, rows: np.ndarray, pick: np.ndarray, refused: _Refused
) -> None:
    """The reviews each image held before, from the ``held`` column of its review row."""
    column = table.column("held").combine_chunks()
    if not pa.types.is_list(column.type):
        refused.add("review histories of another form", rows[pick])
        return
    where = np.flatnonzero(pick & ~column.is_null().to_numpy(zero_copy_only=False))
    for k in where.tolist():
        entries = column[k].as_py()
        kept: list[tuple[int, int, int, str]] = []
        for entry in entries[-MAX_HELD:] if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            value, who = entry.get("value"), entry.get("who")
            if value not in (ACCEPTED, REJECTED) or not isinstance(who, str):
                continue
            if annotator_problem(who) is not None:
                continue
            kept.append(
                (
                    REVIEWS.index(value),
                    state.authors.code(who),
                    state.times.code(_text_or_empty(entry.get("at"))),
                    _text_or_empty(entry.get("reason")),
                )
            )
        if not isinstance(entries, list) or len(kept) < len(entries):
            refused.add("earlier reviews that are no review", rows[k : k + 1])
        if kept:
            team.held[int(rows[k])] = kept


# -- the team's keys of a manifest's samples ------------------------------------------------------
def load(
    state: State,
    assign: list[tuple[int, str]],
    reviews: list[tuple[int, str, str, str, str]],
    own: dict[str, list[tuple[int, str, str]]],
) -> None:
    """Fill the state's team from plain rows (code, ...), as read from a file."""
    if not assign and not reviews and not own:
        return
    team = team_of(state)
    if assign:
        codes = np.asarray([c for c, _ in assign], dtype=np.int64)
        who = intern_texts(state.authors, np.asarray([w for _, w in assign], dtype=object))
        team.set_assignment(sorted_unique(codes), codes, who)
    if reviews:
        team.grow(state.n_rows)
        for code, value, who_text, at, reason in reviews:
            team.review[code] = REVIEWS.index(value)
            team.review_by[code] = state.authors.code(who_text)
            team.review_at[code] = state.times.code(at)
            if reason:
                team.reasons[code] = reason[:MAX_NAME]
    for label, rows in own.items():
        team.add_own(
            np.asarray([r[0] for r in rows], dtype=np.int64),
            label,
            intern_texts(state.authors, np.asarray([r[1] for r in rows], dtype=object)),
            intern_texts(state.times, np.asarray([r[2] for r in rows], dtype=object)),
        )
    state.mark_changed()


def property_texts(state: State) -> tuple[np.ndarray, pa.Array] | None:
    """The team's keys of each image's ``property``, as JSON members without braces:
    (sorted image codes, one text each). Built with Arrow's string kernels, never one Python
    object per image: a million assigned images take a fraction of a second."""
    team = state.team
    if team is None or team.empty:
        return None
    join = pc.binary_join_element_wise
    reviewed = np.flatnonzero(team.review)
    assigned = sorted_unique(team.a_codes)
    shared = team.overlap_codes()
    shared = shared[state.alive[shared]] if len(shared) else shared
    codes = np.union1d(np.union1d(assigned, reviewed), shared).astype(np.int64)
    names = pa.array([orjson.dumps(v).decode() for v in state.authors.values], pa.string())
    times = pa.array([orjson.dumps(v).decode() for v in state.times.values], pa.string())
    parts: list[pa.Array] = []
    if len(assigned):
        starts = np.searchsorted(team.a_codes, assigned)
        offsets = np.append(starts, len(team.a_codes)).astype(np.int32)
        who = team.a_who[assignments_by_name(state, team)]
        lists = pa.ListArray.from_arrays(pa.array(offsets), names.take(pa.array(who)))
        texts = join(f'"{_ASSIGNED}":[', pc.binary_join(lists, ","), "]", "")
        parts.append(_aligned_texts(codes, assigned, texts))
    if len(reviewed):
        values = pa.array([orjson.dumps(v).decode() for v in REVIEWS], pa.string())
        reasons = [""] * len(reviewed)
        if team.reasons:
            at = {int(c): k for k, c in enumerate(reviewed.tolist())}
            for code, why in team.reasons.items():
                if code in at and why:
                    reasons[at[code]] = f',"{_REASON}":{orjson.dumps(why).decode()}'
        texts = join(
            f'"{_REVIEW}":',
            values.take(pa.array(team.review[reviewed].astype(np.int32))),
            f',"{_REVIEWED_BY}":',
            names.take(pa.array(team.review_by[reviewed])),
            f',"{_REVIEWED_AT}":',
            times.take(pa.array(team.review_at[reviewed])),
            pa.array(reasons, pa.string()),
            "",
        )
        parts.append(_aligned_texts(codes, reviewed, texts))
    if len(shared):
        parts.append(_aligned_texts(codes, shared, _labels_by_texts(state, team, shared, names)))
    if not parts:  # what reviews held before, and nothing else: no property
        return None
    out = parts[0]
    for part in parts[1:]:
        both = pc.and_(pc.not_equal(out, ""), pc.not_equal(part, ""))
        out = join(out, pc.if_else(both, ",", ""), part, "")
    return codes, out


def _labels_by_texts(state: State, team: Team, shared: np.ndarray, names: pa.Array) -> pa.Array:
    """``"@jupyter_labeler:labels_by":{"alice":{"cat":"<when>"},...}`` for each of the sorted
    live ``shared`` images: its annotators' own labels, by annotator name then label order
    (``{}`` while none gave one: a reader then knows not to take them from the annotations)."""
    join = pc.binary_join_element_wise
    keep = visible_own(state, team)
    codes, who, label, at = (
        team.o_codes[keep],
        team.o_who[keep],
        team.o_label[keep],
        team.o_at[keep],
    )
    if not len(codes):
        return pa.array([f'"{_LABELS_BY}":{{}}'] * len(shared), pa.string())
    distinct, which = np.unique(label.astype(str), return_inverse=True)
    which = which.reshape(-1)
    place = {name: k for k, name in enumerate(state.labels)}
    label_rank = np.asarray([place.get(n, len(place)) for n in distinct.tolist()])[which]
    who_rank = np.argsort(np.argsort(np.asarray(state.authors.values, dtype=object)))[who]
    order = np.lexsort((label_rank, who_rank, codes))
    codes, who, which, at = codes[order], who[order], which[order], at[order]
    labels_json = pa.array([orjson.dumps(n).decode() for n in distinct.tolist()], pa.string())
    times = pa.array([orjson.dumps(v).decode() for v in state.times.values], pa.string())
    items = join(labels_json.take(pa.array(which)), ":", times.take(pa.array(at)), "")
    key = pair_key(codes, who)
    firsts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    per_who = pa.ListArray.from_arrays(
        pa.array(np.append(firsts, len(key)).astype(np.int32)), items
    )
    who_texts = join(names.take(pa.array(who[firsts])), ":{", pc.binary_join(per_who, ","), "}", "")
    who_codes = codes[firsts]
    starts = np.flatnonzero(np.concatenate([[True], who_codes[1:] != who_codes[:-1]]))
    per_image = pa.ListArray.from_arrays(
        pa.array(np.append(starts, len(who_codes)).astype(np.int32)), who_texts
    )
    texts = join(f'"{_LABELS_BY}":{{', pc.binary_join(per_image, ","), "}", "")
    found = _aligned_texts(shared, who_codes[starts], texts)
    return pc.if_else(pc.equal(found, ""), f'"{_LABELS_BY}":{{}}', found)


def _aligned_texts(codes: np.ndarray, have: np.ndarray, texts: pa.Array) -> pa.Array:
    """``texts`` (one per sorted code of ``have``) placed at ``codes``; "" elsewhere."""
    found = member(codes, have)
    where = np.minimum(np.searchsorted(have, codes), len(have) - 1)
    return pc.if_else(pa.array(found), texts.take(pa.array(where)), "")


def team_from_manifest(
    state: State,
    rows: np.ndarray,
    names: list[str],
    by: list[str],
    at: list[str],
    where: str = "manifest",
) -> list[str]:
    """Take the team's data out of the rows' ``property`` (read from a manifest) into
    ``state.team``. The own labels of a shared image come from its ``labels_by`` key; a
    manifest written before that key (one annotation per annotator) gives them as the
    annotations of the image's annotators (``rows``, ``names``, ``by``, ``at``: every
    classification annotation, in file order). Values that the journal's rules would refuse
    are left out; returns a sentence per kind of them."""
    refused = _Refused(state, where)
    extra = state.extra
    present = np.flatnonzero(pd.notna(extra)) if len(extra) else _I64
    assign: list[tuple[int, str]] = []
    reviews: list[tuple[int, str, str, str, str]] = []
    given_own: list[tuple[int, str, str, str]] = []  # code, annotator, label, when
    said: set[int] = set()  # the rows whose property says their own labels (none inferred there)
    for code in present.tolist():
        row_extra = extra[code]
        if not isinstance(row_extra, dict) or not isinstance(row_extra.get("property"), dict):
            continue
        prop = row_extra["property"]
        ours = {
            k: prop[k] for k in list(prop) if isinstance(k, str) and k.startswith(PROPERTY_PREFIX)
        }
        if not ours:
            continue
        rest = {k: v for k, v in prop.items() if k not in ours}
        new_extra = {k: v for k, v in row_extra.items() if k != "property"}
        if rest:
            new_extra["property"] = rest
        extra[code] = new_extra or None
        one = np.asarray([code], dtype=np.int64)
        given = ours.get(_ASSIGNED)
        if given is not None:
            names_given = given if isinstance(given, list) else []
            good = [w for w in names_given if annotator_problem(w) is None]
            if len(good) < len(names_given) or not isinstance(given, list):
                refused.add("assignments to no annotator's name", one)
            assign += [(code, w) for w in good]
        if _LABELS_BY in ours:
            said.add(code)
            given_own += _labels_by(ours[_LABELS_BY], code, one, refused)
        value = ours.get(_REVIEW)
        if value in (None, ""):
            continue
        reviewer = ours.get(_REVIEWED_BY)
        texts = [ours.get(k) for k in (_REVIEWED_AT, _REASON)]
        if value not in (ACCEPTED, REJECTED):
            refused.add("reviews of no known value", one)
        elif annotator_problem(reviewer) is not None:
            refused.add("reviews by no annotator's name", one)
        else:
            if any(t is not None and _text_or_empty(t) != t for t in texts):
                refused.add("review times or reasons that are no short text", one)
            when, why = (_text_or_empty(t) for t in texts)
            reviews.append((code, str(value), str(reviewer), when, why))
    state.team = None
    load(state, assign, [], {})
    team = state.team
    if team is not None and reviews:
        own_work = [state.authors.find(r[2], -2) in team.assignees(r[0]) for r in reviews]
        refused.add(
            "reviews by an annotator the image is assigned to (nobody reviews their own work)",
            np.asarray([r[0] for r, bad in zip(reviews, own_work, strict=True) if bad], np.int64),
        )
        reviews = [r for r, bad in zip(reviews, own_work, strict=True) if not bad]
    own: dict[str, list[tuple[int, str, str]]] = {}
    if team is not None and len(rows):
        overlap = team.overlap_codes()
        overlap = overlap[~np.isin(overlap, np.fromiter(said, np.int64, len(said)))]
        for k in np.flatnonzero(member(rows, overlap)).tolist():
            code, name = int(rows[k]), names[k]
            who = annotator_of(by[k])
            if name not in state.labels or label_problem(name) is not None:
                continue
            if who in [state.authors.values[w] for w in team.assignees(code)]:
                own.setdefault(name, []).append((code, who, at[k]))
    if given_own:
        _check_given_own(state, given_own, own, refused)
    load(state, [], reviews, own)
    return refused.lines()


def _labels_by(
    value: Any, code: int, one: np.ndarray, refused: _Refused
) -> list[tuple[int, str, str, str]]:
    """The (code, annotator, label, when) of a ``labels_by`` value well formed."""
    if not isinstance(value, dict):
        refused.add("own labels that are no map of annotators to their labels", one)
        return []
    out: list[tuple[int, str, str, str]] = []
    for who, labels in value.items():
        if annotator_problem(who) is not None:
            refused.add("own labels of no annotator's name", one)
        elif not isinstance(labels, dict) or not all(isinstance(k, str) for k in labels):
            refused.add("own labels that are no map of labels to when they were given", one)
        else:
            out += [(code, who, label, _text_or_empty(when)) for label, when in labels.items()]
    return out


def _check_given_own(
    state: State,
    given: list[tuple[int, str, str, str]],
    own: dict[str, list[tuple[int, str, str]]],
    refused: _Refused,
) -> None:
    """Add to ``own`` the own labels of ``labels_by`` that the rules allow: of a label the
    image carries, by one of the several annotators it is assigned to."""
    team = state.team
    pairs = pair_key(team.a_codes, team.a_who) if team is not None else _I64
    shared = team.overlap_codes() if team is not None else _I64
    for code, who, label, when in given:
        one = np.asarray([code], dtype=np.int64)
        labelset = state.labels.get(label) if label_problem(label) is None else None
        if labelset is None or not member(one, labelset.codes)[0]:
            refused.add("own labels of a label their image does not carry", one)
        elif not (
            member(one, shared)[0]
            and np.isin(pair_key(one, state.authors.find_all([annotator_of(who)], -2)), pairs)[0]
        ):
            refused.add(
                "own labels of someone who is not one of the image's several annotators", one
            )
        else:
            own.setdefault(label, []).append((code, who, when))
