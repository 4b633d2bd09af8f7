"""A scripted annotator for the crash and concurrency tests, run as a separate process.

``python actor.py URL OPTIONS_JSON AUTHOR SEED COUNT SAVE_EVERY`` opens the dataset at URL, performs
COUNT deterministic label actions (COUNT 0: until killed) and prints ``SAVED <k>`` after action k
returned saved. Every SAVE_EVERY actions it also compacts with ``save()``, so that a kill can land
in the middle of a compaction too.

``ACTOR_CRASH=<stage>:<n>`` in the environment makes the process SIGKILL itself at one point of
its n-th ``save()``: ``files`` (snapshot files written, marker not yet), ``marker`` (marker
written, ``dataset.manifest`` not yet copied), ``copy`` (snapshot complete, covered journal
objects not yet removed), ``remove`` (half of them removed) or ``prune`` (half of the older
snapshot files removed). The kill goes through the real code paths: only the store's methods
are wrapped.

The same :func:`actions` generator, run in the test, says what the actions were, and
:class:`Model` says what state they must leave: label -> set of image ids.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

Action = tuple[str, str, object]


class Model:
    """What a sequence of actions must leave: label -> image ids (labels may be empty)."""

    def __init__(self) -> None:
        self.labels: dict[str, set[str]] = {}

    def apply(self, action: Action) -> None:
        kind, label, arg = action
        if kind == "add":
            self.labels.setdefault(label, set()).update(arg)  # type: ignore[arg-type]
        elif kind == "remove":
            self.labels[label] -= set(arg)  # type: ignore[arg-type]
        elif kind == "rename":
            moved = self.labels.pop(label)
            self.labels.setdefault(str(arg), set()).update(moved)


def actions(author: str, seed: int, ids: list[str]) -> Iterator[Action]:
    """An endless, deterministic mix of adds, removes and renames on this author's own labels."""
    rng = random.Random(seed)
    model = Model()
    pool = [f"{author}{i}" for i in range(6)]
    while True:
        roll = rng.random()
        existing = sorted(model.labels)
        if roll < 0.6 or not existing:
            action: Action = ("add", rng.choice(pool), sorted(rng.sample(ids, rng.randint(1, 8))))
        elif roll < 0.9:
            label = rng.choice(existing)
            have = sorted(model.labels[label]) or ids[:1]
            action = ("remove", label, sorted(rng.sample(have, max(1, len(have) // 2))))
        else:
            action = ("rename", rng.choice(existing), rng.choice(pool))
            if action[1] == action[2]:
                continue
        model.apply(action)
        yield action


CRASH_STAGES = ("files", "marker", "copy", "remove", "prune")


def arm_crash(spec: str) -> None:
    """Make this process SIGKILL itself inside its n-th save(), as ``ACTOR_CRASH`` says."""
    import os
    import signal

    from jupyter_labeler import Dataset
    from jupyter_labeler.journal import Journal
    from jupyter_labeler.storage import Store

    stage, _, nth = spec.partition(":")
    if stage not in CRASH_STAGES:
        raise SystemExit(f"ACTOR_CRASH stage must be one of {CRASH_STAGES}, not {stage!r}")
    saves = 0
    armed = False
    pruning = False

    def die() -> None:
        if armed:
            os.kill(os.getpid(), signal.SIGKILL)

    real_save, real_write, real_copy = Dataset.save, Store.write, Store.copy
    real_delete, real_prune = Store.delete, Journal.remove_snapshots_before

    def save(self: Dataset) -> str:
        nonlocal saves, armed
        saves += 1
        armed = saves == int(nth or 1)
        try:
            return real_save(self)
        finally:
            armed = False

    def write(self: Store, rel: str, data: bytes, **kw: object) -> None:
        marker = rel.startswith("snapshots/") and rel.endswith(".json")
        if marker and stage == "files":
            die()
        real_write(self, rel, data, **kw)  # type: ignore[arg-type]
        if marker and stage == "marker":
            die()

    def copy(self: Store, src: str, dst: str) -> None:
        real_copy(self, src, dst)
        if stage == "copy":
            die()

    def delete(self: Store, rels: object) -> dict:
        rels = list(rels)  # type: ignore[call-overload]
        journal = bool(rels) and all(r.startswith("journal/") for r in rels)
        if (stage == "remove" and journal) or (stage == "prune" and pruning):
            real_delete(self, rels[: len(rels) // 2])
            die()
        return real_delete(self, rels)

    def prune(self: Journal, key: str) -> None:
        nonlocal pruning
        pruning = True
        try:
            real_prune(self, key)
        finally:
            pruning = False

    Dataset.save = save  # type: ignore[method-assign]
    Store.write = write  # type: ignore[method-assign]
    Store.copy = copy  # type: ignore[method-assign]
    Store.delete = delete  # type: ignore[method-assign]
    Journal.remove_snapshots_before = prune  # type: ignore[method-assign]


def start_actor(
    url: str,
    options: dict[str, Any],
    author: str,
    seed: int,
    count: int,
    save_every: int,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """Run this script as another process, with pipes for its output."""
    args = [url, orjson.dumps(options).decode(), author, str(seed), str(count), str(save_every)]
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **(env or {})},
    )


def main() -> None:
    import os

    url, options, author, seed, count, save_every = sys.argv[1:7]
    if os.environ.get("ACTOR_CRASH"):
        arm_crash(os.environ["ACTOR_CRASH"])
    from jupyter_labeler import Dataset

    ds = Dataset.open(url, storage_options=orjson.loads(options), author=author)
    ids = sorted(ds.ids("all"))
    total = int(count) or None
    for k, (kind, label, arg) in enumerate(
        itertools.islice(actions(author, int(seed), ids), total)
    ):
        if kind == "add":
            result = ds.add_label(label, arg)
        elif kind == "remove":
            result = ds.remove_label(label, arg)
        else:
            result = ds.rename_label(label, str(arg))
        if not result.saved and not ds.flush(timeout=30):
            print(f"UNSAVED {k}", flush=True)
            sys.exit(3)
        print(f"SAVED {k}", flush=True)
        if int(save_every) and (k + 1) % int(save_every) == 0:
            ds.save()
            print(f"COMPACTED {k}", flush=True)
    ds.close()
    print("DONE", flush=True)
    # Everything is saved and said. Skip interpreter teardown: under heavy load it has been seen
    # to abort (SIGABRT, "terminate called without an active exception") inside a native
    # library's thread-pool destructor, after DONE, which says nothing about saved actions.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
