"""Following other annotators on one bucket: their actions arrive by themselves, a store outage
pauses the follower without losing it, and presence appears and expires."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import orjson
import pytest
from imagegen import image_bytes

from jupyter_labeler import Change, Dataset
from jupyter_labeler.presence import (
    EXPIRE_AFTER,
    HeartbeatCache,
    read_annotators,
    remove_stale,
    write_heartbeat,
)
from jupyter_labeler.storage import open_store

WRITER = textwrap.dedent(
    """
    import sys, orjson
    from jupyter_labeler import Dataset
    url, options, label = sys.argv[1], orjson.loads(sys.argv[2]), sys.argv[3]
    ds = Dataset.open(url, storage_options=options, author="bob")
    ids = sorted(ds.images.index)[:2]
    result = ds.add_label(label, ids)
    print("SAVED" if result.saved else "PENDING", flush=True)
    ds.close()
    """
)


def fill(url: str, options: dict[str, Any], count: int = 4) -> None:
    store = open_store(url, options)
    for i in range(count):
        store.write(f"img_{i:03d}.jpg", image_bytes(i))


def wait_for(condition: Any, timeout: float = 30.0) -> bool:
    """Wait for ``condition()`` (a bound on a hang, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_another_process_labels_and_the_follower_applies_it(
    s3_bucket: str, s3_options: dict[str, Any]
) -> None:
    url = f"s3://{s3_bucket}/src"
    fill(url, s3_options)
    alice = Dataset.open(url, storage_options=s3_options, author="alice")
    seen: list[int] = []
    applied = threading.Event()

    def observer(change: Change) -> None:
        if change.kind in ("labels", "reload") and "roses" in alice.label_names:
            assert alice.follower is not None
            seen.append(alice.follower.polls)
            applied.set()

    alice.observe(observer)
    alice.follow(0.3)
    try:
        done = subprocess.run(
            [sys.executable, "-c", WRITER, url, orjson.dumps(s3_options).decode(), "roses"],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        assert done.stdout.strip() == "SAVED", done.stderr
        assert alice.follower is not None
        polls_at_ack = alice.follower.polls
        assert applied.wait(30)
        # Applied by the first poll that started after the write was acknowledged, or by the
        # one after it when a poll was already listing at that moment.
        assert seen[0] - polls_at_ack <= 1
        assert len(alice.with_label("roses")) == 2
        assert alice.recent_activity()[0].startswith("bob: Added roses to 2 images, ")
    finally:
        alice.close()


def test_a_follower_pauses_through_an_outage_and_resumes(
    s3_bucket: str, obs_proxy: Any, obs_options: dict[str, Any], s3_options: dict[str, Any]
) -> None:
    fill(f"s3://{s3_bucket}/src", s3_options)
    follower = Dataset.open(f"obs://{s3_bucket}/src", storage_options=obs_options, author="a")
    writer = Dataset.open(f"s3://{s3_bucket}/src", storage_options=s3_options, author="bob")
    follower.follow(0.2)
    try:
        obs_proxy.stop_answering("refuse")
        assert wait_for(lambda: follower.follow_error is not None)
        assert follower.following
        assert writer.add_label("tulips", writer.images.index[:3]).saved
        obs_proxy.resume()
        assert wait_for(lambda: "tulips" in follower.label_names)
        assert wait_for(lambda: follower.follow_error is None)
        assert len(follower.with_label("tulips")) == 3
    finally:
        obs_proxy.resume()
        follower.close()
        writer.close()


def test_presence_appears_and_expires(s3_bucket: str, s3_options: dict[str, Any]) -> None:
    url = f"s3://{s3_bucket}/src"
    fill(url, s3_options)
    alice = Dataset.open(url, storage_options=s3_options, author="alice")
    bob = Dataset.open(url, storage_options=s3_options, author="bob")
    alice.set_presence("unlabeled", 2)
    alice.follow(0.2)
    try:
        assert wait_for(lambda: len(bob.annotators()) == 1)
        row = bob.annotators().iloc[0].to_dict()
        assert (row["author"], row["view"], row["page"]) == ("alice", "unlabeled", 2)
        assert alice.annotators().empty  # nobody but herself
    finally:
        alice.close()
    output = open_store(url + "/.jupyter_labeler", s3_options)
    later = time.time() + 120
    assert read_annotators(output, now=lambda: later).empty  # not seen for 2 minutes
    # Heartbeats never reach a snapshot or the manifest, and compaction clears old ones.
    bob.add_label("x", bob.images.index[:1])
    bob.save()
    assert b"alice" not in output.read("dataset.manifest")
    assert output.list("presence")
    remove_stale(output, now=lambda: time.time() + EXPIRE_AFTER + 1)
    assert not output.list("presence")


def test_a_heartbeat_round_reads_only_the_heartbeats_that_changed(
    s3_bucket: str, obs_proxy: Any, obs_options: dict[str, Any]
) -> None:
    store = open_store(f"obs://{s3_bucket}/out", obs_options)
    for writer, author in [("aaa", "alice"), ("bbb", "bob"), ("ccc", "carol")]:
        write_heartbeat(store, writer, author, "all", 0)
    store.write("presence/ddd.json", b"not json")
    cache = HeartbeatCache()

    def presence_gets() -> list[str]:
        return [r.path for r in obs_proxy.requests if r.method == "GET" and "/presence/" in r.path]

    def heartbeat_round() -> tuple[list[str], list[str]]:
        obs_proxy.reset()
        table = read_annotators(store, exclude="ccc", cache=cache)
        return sorted(presence_gets()), table["author"].tolist()

    reads, seen = heartbeat_round()
    assert [p.rsplit("/", 1)[-1] for p in reads] == ["aaa.json", "bbb.json", "ddd.json"]
    assert sorted(seen) == ["alice", "bob"]
    # Beats that wrote the same bytes again, and a malformed one: nothing is read again.
    write_heartbeat(store, "aaa", "alice", "all", 0)
    reads, seen = heartbeat_round()
    assert reads == []
    assert sorted(seen) == ["alice", "bob"]
    assert obs_proxy.counts["GET"] == 1  # the listing alone
    # Bob moved: his heartbeat alone is read, and says where he is now.
    write_heartbeat(store, "bbb", "bob", "labeled", 4)
    reads, _ = heartbeat_round()
    assert [p.rsplit("/", 1)[-1] for p in reads] == ["bbb.json"]
    table = read_annotators(store, exclude="ccc", cache=cache)
    assert table.set_index("author").loc["bob", ["view", "page"]].tolist() == ["labeled", 4]
    # Held heartbeats still expire by the store's time.
    later = time.time() + 120
    assert read_annotators(store, cache=cache, now=lambda: later).empty


def test_malformed_heartbeats_are_skipped(tmp_path: Any) -> None:
    store = open_store(str(tmp_path))
    store.write("presence/abc.json", b"[1, 2]")
    store.write("presence/def.json", orjson.dumps({"author": 5, "view": "x", "page": 1}))
    store.write("presence/BAD NAME.json", orjson.dumps({"author": "x", "view": "x", "page": 1}))
    store.write("presence/fed.json", orjson.dumps({"author": "eve", "view": "all", "page": 0}))
    assert read_annotators(store)["author"].tolist() == ["eve"]


def test_follow_none_stops_and_a_bad_interval_is_refused(tmp_path: Any) -> None:
    fill(str(tmp_path), {})
    ds = Dataset.open(tmp_path, author="me")
    ds.follow(0.1)
    assert ds.following
    ds.follow(None)
    assert not ds.following
    with pytest.raises(ValueError, match="interval must be a positive number"):
        ds.follow(0)


def _labels(ds: Dataset) -> dict[str, list[str]]:
    table = ds.annotations()
    out: dict[str, list[str]] = {}
    for image, label in zip(table["image_id"], table["label"], strict=True):
        out.setdefault(str(image), []).append(str(label))
    return {k: sorted(v) for k, v in sorted(out.items())}


def test_an_action_named_before_others_is_put_in_its_place_without_rereading(
    tmp_path: Any,
) -> None:
    """With many writers an action's PUT may land after newer ones were listed (or its writer's
    clock is behind): the follower undoes the newer ones and does them again in name order,
    so it shows what a fresh open shows, without re-reading the journal."""
    fill(str(tmp_path), {})
    alice = Dataset.open(tmp_path, author="alice")
    bob = Dataset.open(tmp_path, author="bob")
    carol = Dataset.open(tmp_path, author="carol")  # has listed nothing newer than the sync
    carol.replica.journal.clock = lambda: time.time() - 3600  # an hour behind
    first, second = sorted(alice.images.index)[:2]
    kinds: list[str] = []
    alice.observe(lambda change: kinds.append(change.kind))
    time.sleep(0.01)
    assert bob.add_label("cat", [first]).saved
    bob.flush()  # its feed entry follows the acknowledgement
    assert alice.poll()
    assert alice.rename_label("cat", "feline").saved  # alice's own, named after bob's
    assert carol.add_label("cat", [second]).saved  # named before both, written after both
    carol.flush()  # its feed entry follows the acknowledgement
    names = alice.replica.journal.list_events()
    assert names.index(carol.replica.applied[-1]) < names.index(bob.replica.applied[-1])
    assert alice.poll()
    # In name order: carol gives cat to the second image, bob to the first, alice renames it.
    assert _labels(alice) == {first: ["feline"], second: ["feline"]}
    assert "cat" not in alice.label_names
    assert "reload" not in kinds
    fresh = Dataset.open(tmp_path, author="dan")
    assert _labels(fresh) == _labels(alice)
    assert list(fresh.label_names) == list(alice.label_names)


def test_a_follower_finds_a_late_action_at_its_next_poll(tmp_path: Any) -> None:
    """A poll lists from a little before the newest name seen: an action named before it but
    written after that listing is applied by the next poll, not only by the full refresh."""
    fill(str(tmp_path), {})
    alice = Dataset.open(tmp_path, author="alice")
    bob = Dataset.open(tmp_path, author="bob")
    carol = Dataset.open(tmp_path, author="carol")
    carol.replica.journal.clock = lambda: time.time() - 2  # its names sort 2 s back
    image = sorted(alice.images.index)[0]
    time.sleep(0.01)
    assert bob.add_label("cat", [image]).saved
    bob.flush()  # its feed entry follows the acknowledgement
    assert alice.poll()
    assert carol.add_label("dog", [image]).saved
    carol.flush()  # its feed entry follows the acknowledgement
    assert carol.replica.applied[-1][:13] < alice.replica.newest_seen
    assert alice.poll()
    assert _labels(alice) == {image: ["cat", "dog"]}


def test_an_own_action_written_during_a_reload_stays_in_view(tmp_path: Any) -> None:
    """An action made while a reload reads the journal is neither in its listing nor waiting
    any more when the reload ends: it must still be shown."""
    fill(str(tmp_path), {})
    alice = Dataset.open(tmp_path, author="alice")
    image = sorted(alice.images.index)[0]
    read_events = alice.replica.journal.read_events
    acted: list[bool] = []

    def read_and_act(names: list[str]) -> Any:
        got = read_events(names)
        if not acted:
            acted.append(alice.add_label("roses", [image]).saved)
        return got

    alice.replica.journal.read_events = read_and_act  # type: ignore[method-assign]
    alice.replica.reload()
    assert acted == [True]
    assert _labels(alice) == {image: ["roses"]}
    alice.replica.journal.read_events = read_events  # type: ignore[method-assign]
    alice.replica.reload()
    assert _labels(alice) == {image: ["roses"]}
    assert alice.replica.applied.count(alice.replica.applied[-1]) == 1
