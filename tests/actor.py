"""A scripted annotator for the crash and concurrency tests, run as a separate process.

``python actor.py URL OPTIONS_JSON AUTHOR SEED COUNT SAVE_EVERY`` opens the dataset at URL, performs
COUNT deterministic label actions (COUNT 0: until killed) and prints ``SAVED <k>`` after action k
returned saved. Every SAVE_EVERY actions it also compacts with ``save()``, so that a kill can land
in the middle of a compaction too.

The same :func:`actions` generator, run in the test, says what the actions were, and
:class:`Model` says what state they must leave: label -> set of image ids.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Iterator

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


def main() -> None:
    url, options, author, seed, count, save_every = sys.argv[1:7]
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


if __name__ == "__main__":
    main()
