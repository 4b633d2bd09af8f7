"""Who else is labeling this dataset right now, and where: tiny heartbeat objects in the store.

Each following :class:`~jupyter_labeler.dataset.Dataset` writes ``presence/<writer>.json`` in
the output folder (its author, view and page) at most every :data:`HEARTBEAT_EVERY` seconds.
A reader lists them with the store's own times (not the writers' clocks): an annotator is active
when their heartbeat is younger than :data:`ACTIVE_FOR`. :class:`Presence` is one dataset's side of it: where its annotator is, and who else was seen
at its last heartbeat. Heartbeats are never part of a snapshot
or a manifest; compaction removes the ones older than :data:`EXPIRE_AFTER`. Like everything in a
shared bucket they are untrusted: at most :data:`MAX_HEARTBEAT_BYTES` of each is read (a larger
one is refused and reported), malformed ones are skipped, texts are bounded.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import orjson
import pandas as pd

from .errors import StoreError
from .storage import Store

__all__ = [
    "ACTIVE_FOR",
    "EXPIRE_AFTER",
    "HEARTBEAT_EVERY",
    "MAX_HEARTBEAT_BYTES",
    "PRESENCE_DIR",
    "HeartbeatCache",
    "Presence",
    "read_annotators",
    "remove_stale",
    "write_heartbeat",
]

PRESENCE_DIR = "presence"
HEARTBEAT_EVERY = 15.0
ACTIVE_FOR = 60.0
EXPIRE_AFTER = 600.0
# A heartbeat is some 60 bytes; no more than this is read of one (a ranged read).
MAX_HEARTBEAT_BYTES = 64 * 1024
_WRITER = re.compile(r"[0-9a-z]{1,32}")
_COLUMNS = ["author", "view", "page", "seen_s_ago", "writer"]


def write_heartbeat(store: Store, writer: str, author: str, view: str, page: int) -> None:
    """Say that ``author`` (this ``writer``) is on ``page`` of ``view``, now."""
    body = {"author": author, "view": view, "page": int(page)}
    store.write(f"{PRESENCE_DIR}/{writer}.json", orjson.dumps(body), durable=False)


class HeartbeatCache:
    """The heartbeats last read, by object name, with the listing's tag of the version read.

    :func:`read_annotators` given one reads only the heartbeats written again since (a new tag
    in the listing), not every other annotator's at every beat. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # name -> (tag of the version read, (author, view, page) or None when malformed)
        self._held: dict[str, tuple[str, tuple[str, str, int] | None]] = {}

    def get(self, name: str, tag: str) -> tuple[bool, tuple[str, str, int] | None]:
        """(True, what was read) when the version ``tag`` of ``name`` is held, else (False, None)."""
        with self._lock:
            held = self._held.get(name)
        return (True, held[1]) if held is not None and held[0] == tag else (False, None)

    def keep(self, held: dict[str, tuple[str, tuple[str, str, int] | None]]) -> None:
        """Hold these (name -> tag, what was read) from now on, and forget the others."""
        with self._lock:
            self._held = dict(held)


def _parse(data: object) -> tuple[str, str, int] | None:
    try:
        body = orjson.loads(data) if isinstance(data, bytes) else None
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return None
    author, view, page = body.get("author"), body.get("view"), body.get("page")
    if not isinstance(author, str) or not isinstance(view, str) or not isinstance(page, int):
        return None
    return author[:256], view[:32], page


def read_annotators(
    store: Store,
    *,
    exclude: str = "",
    now: Callable[[], float] = time.time,
    cache: HeartbeatCache | None = None,
    report: Callable[[str], object] | None = None,
) -> pd.DataFrame:
    """The annotators active in the last :data:`ACTIVE_FOR` seconds, most recent first.

    Columns ``author``, ``view``, ``page``, ``seen_s_ago`` (seconds since their heartbeat, by the
    store's clock against this machine's) and ``writer``; ``exclude`` leaves out one writer
    (this one). With a ``cache``, a heartbeat whose version in the listing is the one read last
    time is not read again. A heartbeat larger than :data:`MAX_HEARTBEAT_BYTES` is left out and
    said to ``report`` (the same words each time it is read: a caller tells them once).
    """
    versions = store.list_versions(PRESENCE_DIR)
    current = now()
    fresh = {
        name[: -len(".json")]: (current - stamp, tag)
        for name, (stamp, tag) in versions.items()
        if name.endswith(".json")
        and _WRITER.fullmatch(name[: -len(".json")])
        and name[: -len(".json")] != exclude
        and current - stamp <= ACTIVE_FOR
    }
    parsed: dict[str, tuple[str, str, int] | None] = {}
    to_read = []
    for writer, (_, tag) in fresh.items():
        held, value = cache.get(writer, tag) if cache is not None else (False, None)
        if held:
            parsed[writer] = value
        else:
            to_read.append(writer)
    paths = [f"{PRESENCE_DIR}/{w}.json" for w in to_read]
    got = store.read_many(paths, limit=MAX_HEARTBEAT_BYTES) if to_read else {}
    unread = set()
    for writer in to_read:
        rel = f"{PRESENCE_DIR}/{writer}.json"
        data = got.get(rel)
        if isinstance(data, Exception):
            unread.add(writer)  # not held: read again next time
        elif isinstance(data, bytes) and len(data) > MAX_HEARTBEAT_BYTES:
            data = None  # held as malformed until it is written again
            if report is not None:
                report(f"{store.url_of(rel)}: a heartbeat larger than 64 KB; ignored")
        parsed[writer] = _parse(data)
    if cache is not None:
        cache.keep({w: (fresh[w][1], parsed[w]) for w in fresh if w not in unread})
    rows = [
        (*body, round(max(age, 0.0), 1), writer)
        for writer, (age, _) in fresh.items()
        if (body := parsed[writer]) is not None
    ]
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return table.sort_values("seen_s_ago", kind="stable").reset_index(drop=True)


def remove_stale(store: Store, *, now: Callable[[], float] = time.time) -> None:
    """Remove heartbeats older than :data:`EXPIRE_AFTER` (a failure is left for next time)."""
    try:
        stamps = store.list_modified(PRESENCE_DIR)
    except StoreError:
        return
    old = [f"{PRESENCE_DIR}/{n}" for n, t in stamps.items() if now() - t > EXPIRE_AFTER]
    store.delete(old)


class Presence:
    """One annotator's heartbeat and the others' as last read, for a following dataset.

    ``on_change()`` is called when the others seen change (who, or where they are);
    ``report(line)`` gets each problem met reading their heartbeats (a caller tells it once).
    """

    def __init__(
        self,
        store: Store,
        writer: str,
        author: str,
        *,
        on_change: Callable[[], object],
        report: Callable[[str], object],
    ) -> None:
        self.store = store
        self.writer = writer
        self.author = author
        self._on_change = on_change
        self._report = report
        self._where: tuple[str, int] = ("all", 0)
        self._others: list[tuple[str, str, int]] = []
        self._cache = HeartbeatCache()  # the others' heartbeats read, not read again

    def set(self, view: str, page: int) -> None:
        """Where this annotator is now: told to the others at the next :meth:`beat`."""
        self._where = (str(view)[:32], int(page))

    def beat(self) -> None:
        """Write this annotator's heartbeat and read the others' (see :meth:`others`)."""
        view, page = self._where
        write_heartbeat(self.store, self.writer, self.author, view, page)
        table = self.annotators()
        # The same author in another tab or kernel is not someone else: leave them out.
        table = table[table["author"] != self.author]
        seen = [tuple(row) for row in table[["author", "view", "page"]].itertuples(index=False)]
        if seen != self._others:
            self._others = seen
            self._on_change()

    @property
    def others(self) -> list[tuple[str, str, int]]:
        """(author, view, page) of the other annotators seen at the last :meth:`beat` (this
        author's own other tabs and kernels are left out)."""
        return list(self._others)

    def annotators(self) -> pd.DataFrame:
        """The other annotators active now, read from the store: the columns of
        :func:`read_annotators` but ``writer``."""
        table = read_annotators(
            self.store, exclude=self.writer, cache=self._cache, report=self._report
        )
        return table.drop(columns=["writer"])
