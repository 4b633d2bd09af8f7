"""Faults on purpose, each ending with every acknowledged action present exactly once.

- the store stops answering in the middle of a session (refused, hanging, answering 500);
- a connection dropped in the middle of a write, and a write that landed but whose answer was lost;
- SIGKILL at every step inside ``save()`` (the crash approach of ``test_durability``);
- 2 and 4 concurrent writers x 500 actions on one store, compacting as they go;
- a corrupt or truncated journal object, manifest line, snapshot marker or Parquet copy.

OBS is moto behind the OBS-like proxy (``obs_proxy``), which injects the faults. Every test
reports what it tried to the ``reliability`` recorder (see ``summary_plugin``), and "actions
lost" is computed here: actions acknowledged minus those a reopened dataset holds.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from actor import Action, Model, actions, start_actor
from imagegen import fill_folder

from jupyter_labeler import Dataset
from jupyter_labeler.errors import StoreUnavailableError
from jupyter_labeler.journal import ACK_TIMEOUT, JOURNAL_DIR, MANIFEST_NAME, SNAPSHOT_DIR
from jupyter_labeler.storage import Store, open_store
from jupyter_labeler.testing import LabelerDriver
from jupyter_labeler.widget import Labeler

pytest_plugins = ["summary_plugin"]

OUTPUT = ".jupyter_labeler"


# -- helpers --------------------------------------------------------------------------------------
def label_sets(ds: Dataset) -> dict[str, set[str]]:
    return {name: set(ds.with_label(name).index) for name in ds.label_names}


def perform(ds: Dataset, action: Action) -> Any:
    kind, label, arg = action
    if kind == "add":
        return ds.add_label(label, arg)  # type: ignore[arg-type]
    if kind == "remove":
        return ds.remove_label(label, arg)  # type: ignore[arg-type]
    return ds.rename_label(label, str(arg))


def found_actions(
    author: str, seed: int, ids: list[str], state: dict[str, set[str]], acknowledged: int
) -> int:
    """How many of the first ``acknowledged`` actions of this actor ``state`` holds.

    The state must equal the model after some prefix of the actions: the answer is that prefix's
    length (capped at ``acknowledged``; one more may have landed just before a kill), or 0 when
    no prefix matches.
    """
    mine = {k: v for k, v in state.items() if k.startswith(author)}
    model = Model()
    best = 0 if not mine else -1
    for n, action in enumerate(itertools.islice(actions(author, seed, ids), acknowledged + 1), 1):
        model.apply(action)
        if model.labels == mine:
            best = n
    return max(0, min(best, acknowledged))


def journal_names(store: Store, writer: str | None = None) -> list[str]:
    names = sorted(
        rel.rsplit("/", 1)[-1][: -len(".json")]
        for rel in store.list(f"{OUTPUT}/{JOURNAL_DIR}")
        if rel.endswith(".json")
    )
    return [n for n in names if writer is None or f"-{writer}-" in n]


def status_text(lab: Labeler) -> str:
    return LabelerDriver(lab).status_text


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def prepare(url: str, options: dict[str, Any], count: int = 30) -> list[str]:
    fill_folder(open_store(url, options).write, count)
    with Dataset.open(url, storage_options=options, author="setup") as ds:
        return sorted(ds.ids("all"))


@pytest.fixture
def obs_dataset(
    obs_proxy: Any, obs_options: dict[str, Any], s3_bucket: str
) -> Iterator[tuple[Dataset, str]]:
    url = f"obs://{s3_bucket}/images"
    fill_folder(open_store(url, obs_options).write, 12)
    ds = Dataset.open(url, storage_options=obs_options, author="alice")
    try:
        yield ds, url
    finally:
        obs_proxy.resume()
        ds.close()


# -- (a) the store stops answering ----------------------------------------------------------------
OUTAGE_ACTIONS: list[Action] = [
    ("add", "a0", ["0", "1", "2"]),
    ("add", "a1", ["2", "3", "4", "5"]),
    ("remove", "a0", ["0"]),
    ("rename", "a1", "a2"),
    ("add", "a0", ["6", "7"]),
]


@pytest.mark.parametrize("mode", ["refuse", "hang", "http500"])
def test_outage_keeps_actions_pending_and_writes_each_once(
    mode: str, obs_proxy: Any, obs_options: dict[str, Any], obs_dataset: Any, reliability: Any
) -> None:
    ds, url = obs_dataset
    ids = sorted(ds.ids())
    by_index = lambda action: (  # noqa: E731
        action[0],
        action[1],
        [ids[int(i)] for i in action[2]] if isinstance(action[2], list) else action[2],
    )
    lab = Labeler(ds, page_size=12, view="all")
    store = open_store(url, obs_options)
    before = journal_names(store)
    model = Model()
    done: list[str] = []
    reliability.case()
    obs_proxy.stop_answering(mode, seconds=3)
    reliability.fault()
    try:
        for k, raw in enumerate(OUTAGE_ACTIONS, 1):
            action = by_index(raw)
            started = time.monotonic()
            result = perform(ds, action)
            elapsed = time.monotonic() - started
            reliability.timing(f"action before 'not yet saved' ({mode})", elapsed)
            assert elapsed < ACK_TIMEOUT + 1.0, f"an action took {elapsed:.1f} s during an outage"
            assert result.saved is False
            assert "not yet saved" in result.message
            assert ds.status.state == "pending"
            assert ds.pending == k
            model.apply(action)
            done.append(result.action)
        # One more through the widget, as a user would: select, type, OK.
        lab.selected = (ids[9],)
        LabelerDriver(lab).type_label("w")
        LabelerDriver(lab).enter_label()
        model.apply(("add", "w", [ids[9]]))
        done.append("add_label")
        n = len(done)
        assert ds.pending == n
        assert f"{n} actions not yet saved (retrying)" in status_text(lab)
        assert label_sets(ds) == model.labels  # visible here while they wait
        if mode != "hang":  # a hanging request holds the head for its whole timeout
            assert ds.flush(timeout=0.3) is False
            assert ds.pending == n
    finally:
        obs_proxy.resume()
    # The journal's background thread writes them in order, without being asked.
    wait_for(lambda: ds.pending == 0, 30, "the background retry to write every action")
    assert ds.flush(timeout=5)
    assert ds.status.state == "saved"
    assert status_text(lab).startswith("All changes saved")
    assert lab.status.last_error is None
    lab.close()

    written = [n for n in journal_names(store) if n not in before]
    assert len(written) == n, "each action must be exactly one journal object"
    events = [orjson.loads(store.read(f"{OUTPUT}/{JOURNAL_DIR}/{name}.json")) for name in written]
    assert [e["action"] for e in events] == done  # in the order they were made
    again = Dataset.open(url, storage_options=obs_options, author="check")
    assert again.problems == []
    assert len(again.replica.applied) == len(set(again.replica.applied))
    state = label_sets(again)
    assert state == model.labels
    reliability.actions(n, n if state == model.labels else 0)


def test_flush_racing_the_retry_thread_writes_every_event(
    memory_url: str, reliability: Any
) -> None:
    """flush() and the background retry both writing the queue's head must not drop the next."""
    fill_folder(open_store(memory_url).write, 6)
    ds = Dataset.open(memory_url, author="alice")
    ids = sorted(ds.ids())
    journal_store = ds.replica.journal.store
    before = journal_names(open_store(memory_url))
    real_write = Store.write
    down = threading.Event()
    down.set()

    def write(self: Store, rel: str, data: bytes, **kw: Any) -> None:
        if rel.startswith(f"{JOURNAL_DIR}/"):
            if down.is_set():
                raise StoreUnavailableError("the store is down (test)", self.url)
            time.sleep(0.15)  # slow enough that both writers overlap on the same head
        real_write(self, rel, data, **kw)

    reliability.case()
    reliability.fault()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(journal_store, "write", write.__get__(journal_store))
        for i in range(4):
            assert ds.add_label(f"l{i}", ids[i : i + 2]).saved is False
        down.clear()
        ds.replica.journal.retry()  # the thread starts on the head now...
        assert ds.flush(timeout=10)  # ...and so does flush
    assert len(set(journal_names(open_store(memory_url))) - set(before)) == 4
    again = Dataset.open(memory_url, author="check")
    assert set(again.label_names) == {"l0", "l1", "l2", "l3"}
    reliability.actions(4, sum(1 for name in again.label_names if name.startswith("l")))


# -- (b) a write cut in the middle, and a write whose answer was lost -----------------------------
@pytest.mark.parametrize("mode", ["drop_mid_body", "http500"])
def test_write_cut_mid_body_is_retried_under_the_same_name(
    mode: str, obs_proxy: Any, obs_options: dict[str, Any], obs_dataset: Any, reliability: Any
) -> None:
    ds, url = obs_dataset
    ids = sorted(ds.ids())
    store = open_store(url, obs_options)
    before = journal_names(store)
    reliability.case()

    def journal_puts(since: int) -> list[str]:
        return [
            r.path
            for r in obs_proxy.requests[since:]
            if r.method == "PUT" and f"/{JOURNAL_DIR}/" in r.path
        ]

    # One cut: the filesystem's own second attempt (or the journal's retry) lands it.
    seen = len(obs_proxy.requests)
    obs_proxy.fail_next(1, mode, method="PUT")
    reliability.fault()
    first = ds.add_label("x", ids[:3])
    assert ds.flush(timeout=10)
    puts = journal_puts(seen)
    assert len(puts) >= 2, puts
    assert len(set(puts)) == 1, "a retried write must reuse the event's name"
    # Enough cuts that the action goes pending; the background retry lands it later.
    seen = len(obs_proxy.requests)
    obs_proxy.fail_next(8, mode, method="PUT")
    reliability.fault(8)
    second = ds.remove_label("x", ids[:1])
    assert second.saved is False
    wait_for(lambda: ds.pending == 0, 30, "the retry after the cut writes")
    puts = journal_puts(seen)
    assert len(puts) >= 9, puts
    assert len(set(puts)) == 1, "a retried write must reuse the event's name"
    assert (first.changed, second.changed) == (3, 1)

    written = [n for n in journal_names(store) if n not in before]
    assert len(written) == 2
    again = Dataset.open(url, storage_options=obs_options, author="check")
    assert len(again.replica.applied) == len(set(again.replica.applied))
    state = label_sets(again)
    assert state == {"x": set(ids[1:3])}
    reliability.actions(2, 2 if state == {"x": set(ids[1:3])} else 0)


def test_write_that_landed_but_whose_answer_was_lost_stays_one_object(
    tmp_path: Path, reliability: Any
) -> None:
    """The PUT reached the store but the client saw an error: the retry overwrites the same
    object, so the action is in the journal once."""
    url = str(tmp_path / "images")
    fill_folder(open_store(url).write, 6)
    ds = Dataset.open(url, author="alice")
    ids = sorted(ds.ids())
    journal_store = ds.replica.journal.store
    real_write = Store.write
    lost_answers = {"left": 3}

    def write(self: Store, rel: str, data: bytes, **kw: Any) -> None:
        real_write(self, rel, data, **kw)
        if rel.startswith(f"{JOURNAL_DIR}/") and lost_answers["left"]:
            lost_answers["left"] -= 1
            raise StoreUnavailableError("the answer was lost (test)", self.url)

    reliability.case()
    reliability.fault(3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(journal_store, "write", write.__get__(journal_store))
        assert ds.add_label("x", ids[:2]).saved is False
        assert ds.rename_label("x", "y").saved is False
        assert ds.flush(timeout=10)
    assert (
        len(journal_names(open_store(url), ds.replica.journal.writer)) == 3
    )  # the sync and these two
    again = Dataset.open(url, author="check")
    assert len(again.replica.applied) == len(set(again.replica.applied))
    assert label_sets(again) == {"y": set(ids[:2])}
    reliability.actions(2, 2 if label_sets(again) == {"y": set(ids[:2])} else 0)


# -- (c) SIGKILL inside save() ----------------------------------------------------------------
CRASH_AT_SAVE = 3
SAVE_EVERY = 4


@pytest.mark.parametrize(
    ("kind", "stage"),
    [
        ("local", "files"),
        ("local", "marker"),
        ("local", "copy"),
        ("local", "remove"),
        ("local", "prune"),
        ("s3", "files"),
        ("s3", "remove"),
    ],
)
def test_sigkill_inside_save_loses_nothing(
    kind: str, stage: str, tmp_path: Path, request: pytest.FixtureRequest, reliability: Any
) -> None:
    if kind == "local":
        url, options = str(tmp_path / "images"), {}
    else:
        bucket = request.getfixturevalue("s3_bucket")
        url, options = f"s3://{bucket}/images", dict(request.getfixturevalue("s3_options"))
    ids = prepare(url, options)
    reliability.case()
    proc = start_actor(
        url, options, "k", 5, 0, SAVE_EVERY, env={"ACTOR_CRASH": f"{stage}:{CRASH_AT_SAVE}"}
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL, err
    reliability.fault()
    saved = [int(line.split()[1]) for line in out.splitlines() if line.startswith("SAVED")]
    compacted = [line for line in out.splitlines() if line.startswith("COMPACTED")]
    acknowledged = saved[-1] + 1
    # The kill came inside the third save, right after the action that triggered it.
    assert acknowledged == CRASH_AT_SAVE * SAVE_EVERY
    assert len(compacted) == CRASH_AT_SAVE - 1

    again = Dataset.open(url, storage_options=options, author="check")
    assert again.problems == []
    state = label_sets(again)
    reliability.actions(acknowledged, found_actions("k", 5, ids, state, acknowledged))
    model = Model()
    for action in itertools.islice(actions("k", 5, ids), acknowledged):
        model.apply(action)
    assert state == model.labels
    assert len(again.replica.applied) == len(set(again.replica.applied))

    # Work goes on over whatever the crash left behind: two more compactions, then a reopen.
    again.add_label("after", ids[:2])
    again.save()
    again.save()
    final = Dataset.open(url, storage_options=options, author="check")
    assert final.problems == []
    assert label_sets(final) == {**model.labels, "after": set(ids[:2])}
    # A crash leaves no manifest missing: the documented one is readable and whole.
    manifest = open_store(url, options).read(f"{OUTPUT}/{MANIFEST_NAME}")
    assert len(manifest.splitlines()) == len(final)


# -- (d) concurrent writers -----------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("writers", "count", "kind", "save_every"),
    [
        (2, 500, "s3", 50),
        (4, 500, "local", 50),
        (4, 150, "s3", 25),
    ],
)
def test_concurrent_writers_keep_every_action(
    writers: int,
    count: int,
    kind: str,
    save_every: int,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    reliability: Any,
) -> None:
    if kind == "local":
        url, options = str(tmp_path / "shared"), {}
    else:
        bucket = request.getfixturevalue("s3_bucket")
        url, options = f"s3://{bucket}/shared", dict(request.getfixturevalue("s3_options"))
    ids = prepare(url, options)
    authors = list(zip("abcd"[:writers], range(1, writers + 1), strict=True))
    reliability.case()
    started = time.monotonic()
    procs = {a: start_actor(url, options, a, seed, count, save_every) for a, seed in authors}
    outputs = {}
    try:
        for author, proc in procs.items():
            outputs[author] = proc.communicate(timeout=300)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for author, (out, err) in outputs.items():
        assert procs[author].returncode == 0, f"{author}: {out[-200:]!r} {err}"
        assert out.strip().endswith("DONE")
        assert out.count("COMPACTED") == count // save_every
    reliability.timing(f"{writers} writers x {count} actions on {kind}", time.monotonic() - started)
    state = label_sets(Dataset.open(url, storage_options=options, author="check"))
    expected: dict[str, set[str]] = {}
    for author, seed in authors:
        model = Model()
        for action in itertools.islice(actions(author, seed, ids), count):
            model.apply(action)
        expected.update(model.labels)
        reliability.actions(count, found_actions(author, seed, ids, state, count))
    assert state == expected


# -- (e) corrupt and truncated objects --------------------------------------------------------
def test_corrupt_journal_objects_are_named_and_the_rest_loads(
    store_location: Any, reliability: Any
) -> None:
    url, options = store_location
    fill_folder(open_store(url, options).write, 8)
    ds = Dataset.open(url, storage_options=options, author="alice")
    ids = sorted(ds.ids())
    for i, name in enumerate(["a", "b", "c", "d"]):
        assert ds.add_label(name, ids[i * 2 : i * 2 + 2]).saved
    store = open_store(url, options)
    names = journal_names(store, ds.replica.journal.writer)[-4:]
    truncated, garbage = (f"{OUTPUT}/{JOURNAL_DIR}/{n}.json" for n in names[1:3])
    store.write(truncated, store.read(truncated)[:25])
    store.write(garbage, b"\x00\xff not json at all")
    reliability.case()
    reliability.fault(2)

    again = Dataset.open(url, storage_options=options, author="check")
    problems = "\n".join(again.problems)
    assert f"{store.url_of(truncated)}: corrupt or truncated journal object" in problems
    assert f"{store.url_of(garbage)}: corrupt or truncated journal object" in problems
    assert label_sets(again) == {"a": set(ids[0:2]), "d": set(ids[6:8])}
    # The two intact actions are there; the two damaged ones were damaged on purpose.
    reliability.actions(2, len({"a", "d"} & set(again.label_names)))


def test_bad_manifest_lines_are_named_by_number_and_the_rest_loads(
    store_location: Any, reliability: Any
) -> None:
    url, options = store_location
    store = open_store(url, options)
    fill_folder(store.write, 5)
    lines = [
        orjson.dumps(
            {
                "source": store.url_of(f"img_{i:03d}.jpg"),
                "annotation": [{"type": "modelarts/image_classification", "name": f"l{i}"}],
            }
        )
        for i in range(5)
    ]
    lines[1] = lines[1][: len(lines[1]) // 2]  # truncated
    lines[3] = b"<html>not a manifest line</html>"
    store.write(f"{OUTPUT}/{MANIFEST_NAME}", b"\n".join(lines) + b"\n")
    reliability.case()
    reliability.fault(2)
    ds = Dataset.open(url, storage_options=options, author="check")
    where = store.url_of(f"{OUTPUT}/{MANIFEST_NAME}")
    problems = "\n".join(ds.problems)
    assert f"{where} line 2: not valid JSON" in problems
    assert f"{where} line 4: not valid JSON" in problems
    assert sorted(ds.label_names) == ["l0", "l2", "l4"]


def test_damaged_snapshot_falls_back_and_says_where(tmp_path: Path, reliability: Any) -> None:
    url = str(tmp_path / "images")
    store = open_store(url)
    fill_folder(store.write, 6)
    ds = Dataset.open(url, author="alice")
    ids = sorted(ds.ids())
    ds.add_label("a", ids[:2])
    ds.save()
    ds.add_label("b", ids[2:4])
    ds.save()
    ds.add_label("c", ids[4:6])
    expected = label_sets(ds)
    ds.close()
    snapshots = sorted(store.list(f"{OUTPUT}/{SNAPSHOT_DIR}"))
    newest = max(r.rsplit("/", 1)[-1].split(".", 1)[0] for r in snapshots)
    reliability.case(2)

    # A Parquet copy that cannot be read: the snapshot's manifest is read instead.
    parquet = f"{OUTPUT}/{SNAPSHOT_DIR}/{newest}.labels.parquet"
    store.write(parquet, store.read(parquet)[:40])
    reliability.fault()
    again = Dataset.open(url, author="check")
    assert any("Parquet copy cannot be read" in p for p in again.problems)
    assert label_sets(again) == expected

    # ...and a line of that manifest cut short: named by URL and line number, the rest loads.
    manifest = f"{OUTPUT}/{SNAPSHOT_DIR}/{newest}.manifest"
    lines = store.read(manifest).splitlines()
    cut = orjson.loads(lines[1])["source"]
    lines[1] = lines[1][:30]
    store.write(manifest, b"\n".join(lines) + b"\n")
    reliability.fault()
    again = Dataset.open(url, author="check")
    assert any(f"{store.url_of(manifest)} line 2: not valid JSON" in p for p in again.problems)
    lost_id = next(i for i in ids if cut.endswith(ds.info(i)["path"]))
    assert label_sets(again) == {k: v - {lost_id} for k, v in expected.items()}

    # A marker that cannot be read: named, and the previous snapshot plus the journal objects
    # it does not cover (kept until two snapshots cover them) give the same state.
    marker = f"{OUTPUT}/{SNAPSHOT_DIR}/{newest}.json"
    store.write(marker, b'{"covered": [')
    reliability.fault()
    again = Dataset.open(url, author="check")
    assert any(f"{store.url_of(marker)}: unreadable snapshot marker" in p for p in again.problems)
    assert label_sets(again) == expected
    reliability.actions(3, sum(1 for n in ("a", "b", "c") if n in again.label_names))
