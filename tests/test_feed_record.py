"""The feed is a hint and the journal the record: what a hostile co-annotator can write into the
shared output folder (feed entries naming others' actions, names from the far future, entries
naming nothing) never outranks a journal object, never reaches a snapshot, never moves a
follower's cursor or a writer's clock past the store's own clock, and costs a poll one read at
most, said once in ``problems``.

On a local folder and on moto over HTTP (the ETags of S3 listings check the feed's actions
without reading them there).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from imagegen import image_bytes
from obs_proxy import ObsProxy

from jupyter_labeler import Dataset
from jupyter_labeler.journal import FEED_DIR, feed_name
from jupyter_labeler.storage import Store, open_store

OUT = ".jupyter_labeler"


@pytest.fixture(params=["local", "s3"])
def bucket(request: pytest.FixtureRequest, tmp_path: Any) -> dict[str, Any]:
    """A folder of six images shared with a hostile writer, who reaches every object of the
    output folder through ``out`` (a Store) behind the annotators' backs."""
    if request.param == "local":
        url, options = str(tmp_path / "src"), {}
    else:
        url = f"s3://{request.getfixturevalue('s3_bucket')}/src"
        options = dict(request.getfixturevalue("s3_options"))
    src = open_store(url, options)
    for i in range(6):
        src.write(f"img_{i:03d}.jpg", image_bytes(i))
    return {"url": url, "options": options, "out": src.child(OUT)}


def open_as(bucket: dict[str, Any], author: str) -> Dataset:
    return Dataset.open(bucket["url"], storage_options=bucket["options"], author=author)


def now_ms() -> int:
    return int(time.time() * 1000)


def action(author: str, ops: list[dict[str, Any]], action: str = "add_label") -> bytes:
    return orjson.dumps(
        {"v": 2, "action": action, "author": author, "time": "2026-12-01 10:00:00", "ops": ops}
    )


def journal_names(out: Store) -> list[str]:
    return sorted(n.rsplit("/", 1)[-1][: -len(".json")] for n in out.list("journal"))


def author_of(out: Store, name: str) -> str:
    return str(orjson.loads(out.read(f"journal/{name}.json"))["author"])


def feed_entries(out: Store) -> list[str]:
    return sorted(n.rsplit("/", 1)[-1] for n in out.list(FEED_DIR))


def forge(out: Store, name: str, payload: bytes, *, ms: int | None = None) -> str:
    """Write a feed entry that names journal object ``name`` and carries ``payload``."""
    entry = feed_name(now_ms() if ms is None else ms, name, payload, 255)
    assert "~d" in entry  # small enough to be carried
    out.write(f"{FEED_DIR}/{entry}", b"")
    return entry


def labels(ds: Dataset) -> dict[str, list[str]]:
    return {ds.paths_of([i])[i]: ls for i, ls in ds.labels_of(ds.images.index).items() if ls}


# -- 1. a feed entry never outranks the journal -------------------------------------------------
def test_a_forged_entry_for_anothers_action_is_replaced_by_the_journal_and_never_saved(
    bucket: dict[str, Any],
) -> None:
    out = bucket["out"]
    alice, bob, carol = (open_as(bucket, who) for who in ("alice", "bob", "carol"))
    first, second = sorted(bob.images.index)[:2]
    paths = bob.paths_of([first, second])
    assert carol.add_label("dog", [first]).saved  # another author's earlier label
    carol.flush()
    # Bob acts 2 ms after carol's feed entry at least, so that the entry forged below, timed 1 ms
    # before his, still comes after hers (else it is applied before carol's label exists).
    carols = next(n for n in journal_names(out) if author_of(out, n) == "carol")
    carol_ms = max(int(e[:13]) for e in feed_entries(out) if e.split("~")[1] == carols)
    while now_ms() <= carol_ms + 2:
        time.sleep(0.001)
    assert bob.add_label("cat", [first, second]).saved
    bob.flush()
    honest = next(n for n in journal_names(out) if author_of(out, n) == "bob")
    assert honest.split("-")[1] in {e.split("~")[1].split("-")[1] for e in feed_entries(out)}
    # The hostile writer takes bob's feed entry away and writes one in its place, timed before
    # it, that names bob's journal object but takes carol's label off instead.
    for entry in feed_entries(out):
        if entry.split("~")[1] == honest:
            out.delete([f"{FEED_DIR}/{entry}"])
            ms = int(entry[:13]) - 1
    forged = action("bob", [{"op": "label-", "label": "dog", "ids": [first]}], "remove_label")
    forge(out, honest, forged, ms=ms)

    assert alice.poll()
    assert alice.labels_of([first])[first] == []  # the hint is applied at once
    assert alice.poll(wide=True)  # the listing shows what bob's object holds
    assert alice.labels_of([first])[first] == ["dog", "cat"]
    assert alice.labels_of([second])[second] == ["cat"]
    said = [p for p in alice.problems if honest in p]
    assert len(said) == 1
    assert "the journal's action applies" in said[0]
    for _ in range(3):
        alice.poll(wide=True)
    assert len([p for p in alice.problems if honest in p]) == 1  # said once

    # Two compactions: bob's object goes only once a snapshot built from it covers it.
    alice.save()
    alice.save()
    reader = open_as(bucket, "reader")
    assert labels(reader) == {paths[first]: ["dog", "cat"], paths[second]: ["cat"]}
    assert reader.annotations().equals(alice.annotations())


def test_save_checks_the_feeds_actions_before_the_snapshot(bucket: dict[str, Any]) -> None:
    """A save right after a poll, before any wide poll, still writes the journal's actions."""
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    first = sorted(bob.images.index)[0]
    assert bob.add_label("cat", [first]).saved
    bob.flush()
    honest = journal_names(out)[-1]
    for entry in feed_entries(out):
        out.delete([f"{FEED_DIR}/{entry}"])
    forge(out, honest, action("bob", [{"op": "label+", "label": "wolf", "ids": [first]}]))
    assert alice.poll()
    assert alice.labels_of([first])[first] == ["wolf"]  # the hint, for now
    alice.save()
    assert alice.labels_of([first])[first] == ["cat"]
    assert "wolf" not in open_as(bucket, "reader").label_names
    published = out.read("dataset.manifest")
    assert b'"cat"' in published
    assert b"wolf" not in published


def test_an_entry_naming_no_journal_object_is_taken_back_and_never_saved(
    bucket: dict[str, Any],
) -> None:
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    first = sorted(alice.images.index)[0]
    assert bob.add_label("cat", [first]).saved  # bob's writer id, visible in the journal
    bob.flush()
    writer = journal_names(out)[-1].split("-")[1]
    ghost = f"{now_ms():013d}-{writer}-00000099"
    forge(out, ghost, action("bob", [{"op": "label+", "label": "wolf", "ids": [first]}]))
    seen: list[str] = []
    alice.observe(lambda change: seen.append(change.kind))
    assert alice.poll()
    assert "wolf" in alice.labels_of([first])[first]
    # A listing that misses an object could come from a lagging replica: the second one that
    # misses it takes the action back.
    assert not alice.poll(wide=True)
    assert alice.poll(wide=True)
    assert alice.labels_of([first])[first] == ["cat"]
    assert not [a for a in alice.recent_activity() if "wolf" in a]
    assert len([p for p in alice.problems if ghost in p]) == 1
    # Listed again at later polls, it is not applied again, read again, or said again.
    before = len(seen)
    for _ in range(4):
        assert not alice.poll()
        assert not alice.poll(wide=True)
    assert len(seen) == before
    assert len([p for p in alice.problems if ghost in p]) == 1
    alice.save()
    reader = open_as(bucket, "reader")
    assert reader.labels_of([first])[first] == ["cat"]
    assert "wolf" not in reader.label_names


def test_entries_of_one_action_that_disagree_send_the_reader_to_the_journal(
    bucket: dict[str, Any],
) -> None:
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    first = sorted(alice.images.index)[0]
    assert bob.add_label("cat", [first]).saved
    bob.flush()
    honest = journal_names(out)[-1]
    written = next(int(e[:13]) for e in feed_entries(out) if e.split("~")[1] == honest)
    forge(
        out,
        honest,
        action("bob", [{"op": "label+", "label": "wolf", "ids": [first]}]),
        ms=written - 1,
    )
    assert alice.poll()
    assert alice.labels_of([first])[first] == ["cat"]
    assert any(honest in p and "carry different actions" in p for p in alice.problems)


# -- 2. time is bounded by the store's own clock ------------------------------------------------
FAR = 9_999_999_999_990


@pytest.mark.parametrize("ms", [FAR, None])
def test_a_name_from_the_far_future_moves_no_cursor_and_no_clock(
    bucket: dict[str, Any], ms: int | None
) -> None:
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    ids = sorted(alice.images.index)
    when = FAR if ms is not None else now_ms() + 3_600_000  # an hour ahead
    stranger = f"{when:013d}-0badc0de-00000001"
    forge(
        out, stranger, action("mallory", [{"op": "label+", "label": "wolf", "ids": ids}]), ms=when
    )
    out.write(f"journal/{stranger}.json", action("mallory", [{"op": "label", "label": "fox"}]))
    assert not alice.poll()
    assert not alice.poll(wide=True)
    assert "wolf" not in alice.label_names
    assert "fox" not in alice.label_names
    # Every honest action still arrives, at the next poll, for many polls.
    for i in range(3):
        assert bob.add_label(f"cat{i}", [ids[i]]).saved
        bob.flush()
        assert alice.poll()
        assert alice.labels_of([ids[i]])[ids[i]] == [f"cat{i}"]
    # Nobody's clock went to the stranger's time: names stay by the store's clock.
    assert alice.add_label("dog", [ids[3]]).saved
    assert all(int(n[:13]) <= now_ms() + 60_000 for n in journal_names(out) if n != stranger)
    said = [p for p in alice.problems if "ahead of the store's clock" in p]
    assert len(said) == 2  # the feed entry and the journal object, each once
    for _ in range(3):
        alice.poll(wide=True)
    assert len([p for p in alice.problems if "ahead of the store's clock" in p]) == 2
    # A removal made after seeing an add stays removed on reopen, whoever compacts.
    assert bob.add_label("owl", [ids[4]]).saved
    bob.flush()
    alice.poll()
    assert alice.remove_label("owl", [ids[4]]).saved
    for ds in (open_as(bucket, "reader"), bob):
        ds.refresh()
        assert ds.labels_of([ids[4]])[ids[4]] == []
    bob.save()
    late = open_as(bucket, "late")
    assert late.labels_of([ids[4]])[ids[4]] == []
    assert "fox" not in late.label_names
    assert any(stranger in p and "ahead of the store's clock" in p for p in late.problems)
    # A follower opened now still receives what bob does.
    assert bob.add_label("bee", [ids[5]]).saved
    bob.flush()
    assert late.poll()
    assert late.labels_of([ids[5]])[ids[5]] == ["bee"]


def test_digits_of_other_scripts_are_no_time(bucket: dict[str, Any]) -> None:
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    first = sorted(alice.images.index)[0]
    arabic = "".join(chr(0x660 + int(d)) for d in f"{now_ms():013d}")  # Arabic-Indic digits
    name = f"{now_ms():013d}-0badc0de-00000001"
    out.write(f"{FEED_DIR}/{arabic}~{name}~", b"")
    out.write(
        f"journal/{arabic}-0badc0de-00000001.json",
        action("mallory", [{"op": "label", "label": "fox"}]),
    )
    assert not alice.poll()
    assert bob.add_label("cat", [first]).saved
    bob.flush()
    assert alice.poll()  # the cursor did not go back to 0, nor anywhere else
    assert alice.labels_of([first])[first] == ["cat"]
    assert "fox" not in open_as(bucket, "reader").label_names


def test_a_writer_whose_clock_is_ahead_names_by_the_stores(bucket: dict[str, Any]) -> None:
    """An honest annotator whose machine is an hour fast must not have its work refused as
    'from the future': it names its actions by the store's clock."""
    ahead = open_as(bucket, "ahead")
    ahead.replica.journal.clock = lambda: time.time() + 3600
    ahead.refresh()  # any listing tells it the store's clock
    first = sorted(ahead.images.index)[0]
    assert ahead.add_label("cat", [first]).saved
    ahead.flush()
    assert all(int(n[:13]) <= now_ms() + 60_000 for n in journal_names(bucket["out"]))
    assert open_as(bucket, "reader").labels_of([first])[first] == ["cat"]


# -- 3. broken objects cost one read, said once --------------------------------------------------
def test_entries_naming_nothing_cost_one_read_each_once(
    obs_proxy: ObsProxy, s3_bucket: str, obs_options: dict[str, Any]
) -> None:
    url = f"obs://{s3_bucket}/src"
    src = open_store(url, obs_options)
    for i in range(3):
        src.write(f"img_{i:03d}.jpg", image_bytes(i))
    out = src.child(OUT)
    alice = Dataset.open(url, storage_options=obs_options, author="alice")
    bob = Dataset.open(url, storage_options=obs_options, author="bob")
    first = sorted(alice.images.index)[0]
    start = now_ms()
    for i in range(300):  # not carried: each says "read the journal object"
        out.write(f"{FEED_DIR}/{start:013d}~{start - i:013d}-0badc0de-{i:08d}~", b"")
    assert bob.add_label("cat", [first]).saved
    bob.flush()

    def reads() -> int:
        return sum(
            r.method == "GET" and "/journal/" in r.path and "list-type" not in r.query
            for r in obs_proxy.requests
        )

    obs_proxy.reset()
    alice.poll()
    assert alice.labels_of([first])[first] == ["cat"]  # the real action is received
    assert reads() == 256  # one batch a poll at most; the rest wait
    alice.poll()
    assert reads() == 300
    said = len(alice.problems)
    assert said == 300
    for _ in range(3):
        alice.poll()
        alice.poll(wide=True)
    assert reads() == 300  # never read again
    assert len(alice.problems) == said


def test_an_entry_named_in_the_past_does_not_reload_at_every_poll(bucket: dict[str, Any]) -> None:
    out = bucket["out"]
    alice, bob = open_as(bucket, "alice"), open_as(bucket, "bob")
    first = sorted(alice.images.index)[0]
    assert bob.add_label("cat", [first]).saved
    bob.flush()
    alice.poll()
    past = f"{now_ms() - 3_600_000:013d}-0badc0de-00000001"
    forge(out, past, action("mallory", [{"op": "label+", "label": "wolf", "ids": [first]}]))
    kinds: list[str] = []
    alice.observe(lambda change: kinds.append(change.kind))
    for _ in range(10):
        assert not alice.poll()
    assert kinds == ["problems"]  # said once; no re-read of the journal, no re-render
    assert "wolf" not in alice.label_names
    assert len([p for p in alice.problems if past in p]) == 1


def test_compaction_clears_the_feed_of_what_no_reader_takes(bucket: dict[str, Any]) -> None:
    out = bucket["out"]
    alice = open_as(bucket, "alice")
    first = sorted(alice.images.index)[0]
    out.write(f"{FEED_DIR}/zzzz-not-an-entry", b"")
    stranger = f"{FAR:013d}-0badc0de-00000001"
    forge(out, stranger, action("mallory", [{"op": "label", "label": "fox"}]), ms=FAR)
    assert alice.add_label("cat", [first]).saved
    alice.save()
    alice.save()
    assert feed_entries(out) == []
