"""Times kept as text (an annotation's ``creation-time``), read as times where a table needs them.

The manifest keeps each time as the text it was given: this package writes
``YYYY-MM-DD HH:MM:SS`` in UTC, but a manifest made by another tool, or imported from one, may
say ``2024-03-01T10:00:00Z``, ``2024-03-01T18:00:00.250+08:00``, ``2024-03-01`` or anything
else. Every ISO 8601 form (``T`` or a space, ``Z``, offsets, fractions, a date alone) is read;
a time with an offset is converted to UTC and one without is taken as UTC (as this package
writes them); the result is naive, in UTC. Text that is no time becomes NaT, and the caller
reports it once (:class:`UnreadableTimes`), never as an exception: a stray value in a foreign
manifest must not break a table.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["UnreadableTimes", "now_text", "parse_times"]

#: Examples of unreadable times named in a problem line, at most.
_EXAMPLES = 3


def now_text() -> str:
    """The time now, in UTC, as this package writes times: ``YYYY-MM-DD HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def parse_times(values: Sequence[str] | np.ndarray) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """``values`` as naive UTC times (NaT where empty or unreadable), and which were unreadable.

    Empty text (or blanks, or no string at all) is no time given: NaT, not unreadable."""
    text = np.asarray(values, dtype=object)
    if len(text) and pd.api.types.infer_dtype(text, skipna=False) != "string":
        text = np.asarray([v if isinstance(v, str) else "" for v in text], dtype=object)
    out = _iso(text)  # blanks around a time are no matter to it
    unreadable = np.isnat(out) & (text != "")
    if unreadable.any():
        rows = np.flatnonzero(unreadable)
        left = np.asarray([v.strip() for v in text[rows]], dtype=object)
        # Tried again alone: one value with nanoseconds makes pandas read every value in
        # nanoseconds, where a year before 1677 or after 2262 does not fit.
        out[rows] = _iso(np.asarray([_NANOSECONDS.sub(r"\1", v) for v in left], dtype=object))
        unreadable[rows] = np.isnat(out[rows]) & (left != "")
    return pd.DatetimeIndex(out), unreadable


_NANOSECONDS = re.compile(r"(\.\d{6})\d+")


def _iso(text: np.ndarray) -> np.ndarray:
    """datetime64[us] (naive, UTC) of each ISO 8601 text; NaT where it is none."""
    if not len(text):
        return np.empty(0, dtype="datetime64[us]")
    parsed = pd.to_datetime(
        pd.Index(text, dtype=object), format="ISO8601", utc=True, errors="coerce"
    )
    return np.array(parsed.tz_convert(None).as_unit("us").to_numpy(), dtype="datetime64[us]")


class UnreadableTimes:
    """Remembers the unreadable times already reported, so that each is reported once.

    ``report(values, where)`` returns one problem line for those of ``values`` not reported
    before (None when there are none): not a line per row, nor per call.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def clear(self) -> None:
        """Forget what was reported (the problems were read again from the store)."""
        self._seen.clear()

    def report(self, values: Iterable[str], where: str) -> str | None:
        new = sorted({str(v) for v in values} - self._seen)
        if not new:
            return None
        self._seen.update(new)
        shown = ", ".join(repr(v[:40]) for v in new[:_EXAMPLES])
        more = f" and {len(new) - _EXAMPLES} more" if len(new) > _EXAMPLES else ""
        n = len(new)
        return (
            f"{where}: {n} {'time' if n == 1 else 'times'} cannot be read as a time "
            f"({shown}{more}), so {'it counts' if n == 1 else 'they count'} as none (NaT); "
            "ISO 8601 is expected, such as '2024-03-01 10:00:00' or '2024-03-01T10:00:00Z'"
        )
