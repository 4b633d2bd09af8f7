"""Reads from the bucket are bounded, whatever another writer put there: heartbeats are read
with a range.

Memory is measured with tracemalloc (numpy reports its arrays to it), as a bound far below what
the unbounded way takes; never time.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from imagegen import fill_folder, image_folder

from jupyter_labeler import Dataset
from jupyter_labeler.presence import MAX_HEARTBEAT_BYTES, write_heartbeat
from jupyter_labeler.storage import Store, open_store

MB = 1 << 20


def peak_of(run: Callable[[], Any]) -> tuple[Any, int]:
    """What ``run()`` returns, and the most memory it held at once (bytes, by tracemalloc)."""
    tracemalloc.start()
    try:
        got = run()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- heartbeats ------------------------------------------------------------------------------------
def heartbeat(author: str, size: int = 0) -> bytes:
    """A well-formed heartbeat, padded to ``size`` bytes."""
    body = orjson.dumps({"author": author, "view": "all", "page": 0, "pad": ""})
    return body[:-2] + b"x" * max(0, size - len(body)) + b'"}'


def test_the_padding_helper_makes_heartbeats_of_the_size_asked() -> None:
    assert len(heartbeat("eve", MAX_HEARTBEAT_BYTES)) == MAX_HEARTBEAT_BYTES
    assert orjson.loads(heartbeat("eve", 1000))["author"] == "eve"


@pytest.fixture
def local(tmp_path: Path) -> Iterator[tuple[Dataset, Store]]:
    ds = Dataset.open(image_folder(tmp_path, 3), output=str(tmp_path / "out"), author="alice")
    yield ds, open_store(str(tmp_path / "out"))
    ds.close()


def test_a_heartbeat_larger_than_64_kb_is_not_read_whole_and_is_told_once(
    local: tuple[Dataset, Store],
) -> None:
    ds, output = local
    write_heartbeat(output, "bob0", "bob", "labeled", 2)
    output.write("presence/carol0.json", heartbeat("carol", MAX_HEARTBEAT_BYTES))  # the most
    output.write("presence/eve0.json", heartbeat("eve", 20 * MB))

    def three_rounds() -> list[str]:
        return [sorted(ds.annotators()["author"]) for _ in range(3)][-1]

    seen, peak = peak_of(three_rounds)
    assert seen == ["bob", "carol"]
    assert peak < 2 * MB  # the 20 MB are never held
    lines = [p for p in ds.problems if "eve0.json" in p]
    assert len(lines) == 1
    assert lines[0].endswith("presence/eve0.json: a heartbeat larger than 64 KB; ignored")
    # Written again, still too large: read again (64 KB of it), still told once.
    output.write("presence/eve0.json", heartbeat("eve", MB))
    assert sorted(ds.annotators()["author"]) == ["bob", "carol"]
    assert len([p for p in ds.problems if "eve0.json" in p]) == 1
    # Made small: eve is seen.
    write_heartbeat(output, "eve0", "eve", "all", 0)
    assert sorted(ds.annotators()["author"]) == ["bob", "carol", "eve"]


def test_heartbeats_on_obs_are_ranged_reads_and_a_broken_one_is_read_once(
    s3_bucket: str, obs_proxy: Any, obs_options: dict[str, Any]
) -> None:
    url = f"obs://{s3_bucket}/images"
    fill_folder(open_store(url, obs_options).write, 2)
    ds = Dataset.open(url, storage_options=obs_options, author="alice")
    output = open_store(f"{url}/.jupyter_labeler", obs_options)
    try:
        write_heartbeat(output, "bob0", "bob", "all", 1)
        output.write("presence/eve0.json", heartbeat("eve", 3 * MB))
        output.write("presence/empty0.json", b"")  # 416 to a ranged read: empty, not an error
        obs_proxy.reset()
        assert ds.annotators()["author"].tolist() == ["bob"]
        gets = [r for r in obs_proxy.requests if r.method == "GET" and "/presence/" in r.path]
        assert sorted(r.path.rsplit("/", 1)[-1] for r in gets) == [
            "bob0.json",
            "empty0.json",
            "eve0.json",
        ]
        assert {r.headers.get("range") for r in gets} == {f"bytes=0-{MAX_HEARTBEAT_BYTES}"}
        # The next rounds read nothing but the listing: nothing is broken again and again.
        for _ in range(2):
            obs_proxy.reset()
            assert ds.annotators()["author"].tolist() == ["bob"]
            assert obs_proxy.counts["GET"] == 1
        lines = [p for p in ds.problems if "presence/" in p]
        assert len(lines) == 1
        assert "eve0.json: a heartbeat larger than 64 KB" in lines[0]
    finally:
        ds.close()
