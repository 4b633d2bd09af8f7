"""The journal's feed: each action carried in the name of an empty object, so that one listing
gives a follower every new action without reading one object per action."""

from __future__ import annotations

import base64
import time
import zlib
from typing import Any

import orjson
import pytest
from imagegen import image_bytes
from obs_proxy import ObsProxy

from jupyter_labeler import Dataset
from jupyter_labeler.follow import LOOKBACK, MIN_LOOKBACK, FeedCursor
from jupyter_labeler.journal import FEED_DIR, feed_name, read_feed_name
from jupyter_labeler.storage import open_store

NAME = "1764320000000-abcdef012345-00000001"
MS = 1764320000123


def fill(url: str, options: dict[str, Any], count: int = 100) -> None:
    store = open_store(url, options)
    for i in range(count):
        store.write(f"img_{i:03d}.jpg", image_bytes(i))


def event(ids: list[str], label: str = "roses") -> dict[str, Any]:
    return {
        "v": 2,
        "action": "add_label",
        "author": "alice",
        "describe": f"Added {label} to {len(ids)} images",
        "time": "2026-11-28 10:00:00",
        "ops": [{"op": "label+", "label": label, "ids": ids, "by": "alice", "at": "2026-11-28"}],
    }


def test_an_event_comes_back_from_its_feed_name() -> None:
    small = event([f"{i:016x}" for i in range(3)], label="玫瑰")
    entry = feed_name(MS, NAME, orjson.dumps(small), 1024)
    assert entry.startswith(f"{MS}~{NAME}~d")
    assert len(entry) < 200  # three images: a small part of a key's 1,024 bytes
    assert read_feed_name(entry) == (str(MS), NAME, small)


def test_an_event_too_big_for_a_name_says_read_the_journal() -> None:
    big = event([f"{i:016x}" for i in range(500)])
    entry = feed_name(MS, NAME, orjson.dumps(big), 1024)
    assert entry == f"{MS}~{NAME}~"
    assert read_feed_name(entry) == (str(MS), NAME, None)
    # A local file name holds 255 bytes: the limit is the caller's.
    assert feed_name(MS, NAME, orjson.dumps(event(["a" * 16])), 60) == f"{MS}~{NAME}~"


@pytest.mark.parametrize(
    "entry",
    [
        "not-a-feed-entry",
        f"{NAME}~",  # no time
        f"{MS}~{NAME}",  # no separator after the name
        f"{MS}~{NAME}~x123",  # an encoding of another letter
        f"../{MS}~{NAME}~",
        f"{MS}~{NAME}~d!!",
        f"{MS}~../{NAME}~",
    ],
)
def test_names_that_are_not_feed_entries_are_not_read_as_events(entry: str) -> None:
    assert read_feed_name(entry) is None


def _packed(raw: bytes) -> str:
    from jupyter_labeler import journal

    packer = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, journal._FEED_DICT)
    return base64.urlsafe_b64encode(packer.compress(raw) + packer.flush()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "payload",
    [
        "d" + base64.urlsafe_b64encode(b"\x00garbage").rstrip(b"=").decode(),  # not deflate
        "dAAAA",
        "d" + "_packed",  # replaced below: JSON that is not an event
        "d" + "_bomb",  # replaced below: inflates past the bound
    ],
)
def test_an_undecodable_entry_sends_the_reader_to_the_journal(payload: str) -> None:
    if payload == "d_packed":
        payload = "d" + _packed(b"[1, 2, 3]")
    elif payload == "d_bomb":
        payload = "d" + _packed(b" " * 10_000_000)
    assert read_feed_name(f"{MS}~{NAME}~{payload}") == (str(MS), NAME, None)


def journal_reads(proxy: ObsProxy) -> list[str]:
    """The journal objects read through the proxy (GETs of objects, not listings)."""
    return [
        r.path
        for r in proxy.requests
        if r.method == "GET" and "/journal/" in r.path and "list-type" not in r.query
    ]


def test_a_follower_on_obs_reads_no_journal_object_for_small_actions(
    obs_proxy: ObsProxy, s3_bucket: str, obs_options: dict[str, Any]
) -> None:
    url = f"obs://{s3_bucket}/src"
    fill(url, obs_options)
    alice = Dataset.open(url, storage_options=obs_options, author="alice")
    bob = Dataset.open(url, storage_options=obs_options, author="bob")
    ids = sorted(alice.images.index)
    try:
        assert bob.add_label("roses", ids[:3]).saved
        assert bob.remove_label("roses", ids[:1]).saved
        assert bob.rename_label("roses", "rose").saved
        bob.flush()
        obs_proxy.reset()
        assert alice.poll()
        assert journal_reads(obs_proxy) == []  # all three came in the feed's names
        assert sorted(alice.with_label("rose").index) == ids[1:3]
        assert alice.recent_activity()[0].startswith("bob: Renamed roses to rose")
        # An action on 100 images does not fit in a key: it is read from the journal.
        assert bob.add_label("tulips", ids).saved
        bob.flush()
        assert alice.poll()
        assert len(journal_reads(obs_proxy)) == 1
        assert len(alice.with_label("tulips")) == len(ids)
        # The wide poll checks the three actions the feed carried against the journal: its
        # listing shows their ETags (the MD5 of their bytes), so none is read.
        assert not alice.poll(wide=True)
        assert len(journal_reads(obs_proxy)) == 1
        assert not any("feed entry" in p for p in alice.problems)
        fresh = Dataset.open(url, storage_options=obs_options, author="carol")
        assert alice.annotations().equals(fresh.annotations())
    finally:
        alice.close()
        bob.close()


def test_an_action_listed_before_its_feed_entry_landed_is_not_read(
    obs_proxy: ObsProxy, s3_bucket: str, obs_options: dict[str, Any]
) -> None:
    """The wide poll lists an action whose feed entry has not landed yet; when the entry comes
    at the next poll, the action is taken from it, and checked by a listing: no read."""
    url = f"obs://{s3_bucket}/src"
    fill(url, obs_options, count=3)
    alice = Dataset.open(url, storage_options=obs_options, author="alice")
    bob = Dataset.open(url, storage_options=obs_options, author="bob")
    out = open_store(url, obs_options).child(".jupyter_labeler")
    try:
        assert bob.add_label("roses", sorted(bob.images.index)[:1]).saved
        bob.flush()
        entry = max(out.list(FEED_DIR))
        assert out.delete([entry]) == {}  # as if it had not landed yet
        obs_proxy.reset()
        assert not alice.poll(wide=True)  # listed in the journal, left for the feed
        out.write(entry, b"")
        obs_proxy.reset()
        assert alice.poll()
        assert list(alice.with_label("roses").index) == sorted(bob.images.index)[:1]
        assert not alice.poll(wide=True)
        assert journal_reads(obs_proxy) == []
    finally:
        alice.close()
        bob.close()


def test_a_hostile_feed_entry_is_checked_like_a_journal_object(tmp_path: Any) -> None:
    fill(str(tmp_path), {}, count=2)
    alice = Dataset.open(tmp_path, author="alice")
    image = sorted(alice.images.index)[0]
    bad = event([image], label="no spaces allowed")
    now = int(time.time() * 1000)
    later = f"{now}-abcdef012345-00000001"
    entry = feed_name(now, later, orjson.dumps(bad), 255)
    alice.output.write(f"{FEED_DIR}/{entry}", b"")
    alice.poll()
    assert "no spaces allowed" not in alice.label_names
    assert any("breaks the naming rules" in p for p in alice.problems)


def test_a_writer_that_writes_no_feed_is_found_by_the_wide_and_full_polls(tmp_path: Any) -> None:
    """An annotator on a version without the feed writes only the journal: followers find its
    recent actions at their wide poll (every third), older ones at the full poll, and lose
    none."""
    fill(str(tmp_path), {}, count=2)
    alice = Dataset.open(tmp_path, author="alice")
    old = Dataset.open(tmp_path, author="old")
    old.replica.journal.feed = False
    first, second = sorted(old.images.index)
    assert old.add_label("cat", [first]).saved
    assert not alice.poll()
    assert not alice.poll(wide=True)  # listed, and left a poll for its feed entry
    assert alice.poll()  # none came: read from the journal
    assert list(alice.with_label("cat").index) == [first]
    # Named a minute before the newest action alice has seen (her clock is ahead): the look
    # back goes by the store's clock, not by her names, so the wide poll still lists it.
    alice.replica.journal.clock = lambda: time.time() + 59
    assert alice.add_label("bird", [first]).saved
    assert old.add_label("dog", [second]).saved
    assert not alice.poll(wide=True)
    assert alice.poll()
    assert list(alice.with_label("dog").index) == [second]
    # One named before the look back (a writer whose PUT waited a minute) is found by the
    # full poll.
    late = f"{int(time.time() * 1000) - 60_000}-abcdef012345-00000001"
    made = {**event([]), "ops": [{"op": "label", "label": "fish"}]}
    open_store(str(tmp_path)).write(f".jupyter_labeler/journal/{late}.json", orjson.dumps(made))
    assert not alice.poll(wide=True)
    assert not alice.poll()
    assert alice.poll(full=True)
    assert "fish" in alice.label_names
    fresh = Dataset.open(tmp_path, author="carol")
    assert alice.annotations().equals(fresh.annotations())


def test_compaction_removes_the_feed_of_the_events_it_removes(tmp_path: Any) -> None:
    fill(str(tmp_path), {}, count=3)
    alice = Dataset.open(tmp_path, author="alice")
    ids = sorted(alice.images.index)
    for i, label in enumerate(["a", "b", "c"]):
        assert alice.add_label(label, [ids[i]]).saved
    alice.flush()
    feed = alice.output
    events = (
        alice.replica.journal.list_events()
    )  # the three, and the images found at the first open
    assert sorted(n.split("~")[1] for n in feed.list(FEED_DIR)) == events
    # An entry left behind by a compaction that listed the feed too early, long ago.
    old = "0000000001000-abcdef012345-00000001"
    orphan = feed_name(1000, old, orjson.dumps(event([ids[0]])), 255)
    feed.write(f"{FEED_DIR}/{orphan}", b"")
    alice.save()  # covers the events; they stay until a second snapshot covers them too
    assert len(feed.list(FEED_DIR)) == len(events)
    alice.save()
    assert feed.list(FEED_DIR) == {}
    assert alice.replica.journal.list_events() == []


def test_the_feed_cursor_looks_back_as_far_as_entries_have_been_late() -> None:
    cursor = FeedCursor()
    assert cursor.start("") == ""
    assert cursor.start(NAME) == f"{MS - 123 - int(MIN_LOOKBACK * 1000):013d}"
    cursor.listed([str(MS)])
    assert cursor.lookback == MIN_LOOKBACK
    cursor.listed([str(MS - 1500), str(MS + 100)])  # one landed 1.5 s after a newer one
    assert cursor.lookback == pytest.approx(MIN_LOOKBACK + 3.0)
    assert cursor.start("") == f"{MS + 100 - int(cursor.lookback * 1000):013d}"
    cursor.listed([str(MS - 60_000)])  # a clock a minute behind: bounded
    assert cursor.lookback == LOOKBACK
    for _ in range(30):  # the late ones are long past: back to the least
        cursor.listed([])
    assert cursor.lookback == MIN_LOOKBACK


def test_a_feed_entry_later_than_the_look_back_is_read_after_the_wide_poll(
    tmp_path: Any,
) -> None:
    fill(str(tmp_path), {}, count=2)
    alice = Dataset.open(tmp_path, author="alice")
    bob = Dataset.open(tmp_path, author="bob")
    first, second = sorted(alice.images.index)
    assert bob.add_label("cat", [first]).saved
    bob.flush()
    assert alice.poll()
    # bob's next entry is written with a time far behind the newest alice listed.
    bob.replica.journal.feed = False
    assert bob.add_label("dog", [second]).saved
    name = bob.replica.applied[-1]
    late = feed_name(1000, name, bob.output.read(f"journal/{name}.json"), 255)
    bob.output.write(f"{FEED_DIR}/{late}", b"")
    assert not alice.poll()
    assert not alice.poll(wide=True)
    assert alice.poll()
    assert list(alice.with_label("dog").index) == [second]
