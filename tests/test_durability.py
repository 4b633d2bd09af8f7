"""No acknowledged action is lost: not when the process is killed, not with two writers at once."""

from __future__ import annotations

import itertools
import signal
import time
from pathlib import Path

import pytest
from actor import Model, actions, start_actor
from imagegen import fill_folder

from jupyter_labeler import Dataset
from jupyter_labeler.storage import open_store


def label_sets(ds: Dataset) -> dict[str, set[str]]:
    return {name: set(ds.with_label(name).index) for name in ds.label_names}


def expected_after(author: str, seed: int, ids: list[str], n: int) -> dict[str, set[str]]:
    model = Model()
    for action in itertools.islice(actions(author, seed, ids), n):
        model.apply(action)
    return model.labels


def prepare(url: str, options: dict, count: int = 30) -> list[str]:
    store = open_store(url, options)
    fill_folder(store.write, count)
    return sorted(Dataset.open(url, storage_options=options, author="setup").ids("all"))


@pytest.fixture(params=["local", "s3"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict]:
    if request.param == "local":
        return str(tmp_path / "images"), {}
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/images", dict(request.getfixturevalue("s3_options"))


@pytest.mark.parametrize("kill_after", [7, 23])
def test_sigkill_loses_no_saved_action(location: tuple[str, dict], kill_after: int) -> None:
    url, options = location
    ids = prepare(url, options)
    proc = start_actor(url, options, "k", seed=kill_after, count=0, save_every=5)
    saved = -1
    try:
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while saved < kill_after and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("SAVED"):
                saved = int(line.split()[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
    assert saved >= kill_after, err
    # The process may have finished one more action than it reported before the kill landed.
    state = label_sets(Dataset.open(url, storage_options=options, author="check"))
    candidates = [expected_after("k", kill_after, ids, n) for n in (saved + 1, saved + 2)]
    assert state in candidates


def test_two_writers_at_once_keep_every_action(s3_bucket: str, s3_options: dict) -> None:
    url = f"s3://{s3_bucket}/shared"
    ids = prepare(url, s3_options)
    count = 60
    procs = {
        author: start_actor(url, s3_options, author, seed, count, save_every=17)
        for author, seed in (("a", 1), ("b", 2))
    }
    for author, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{author}: {err}"
        assert out.strip().endswith("DONE")
    state = label_sets(Dataset.open(url, storage_options=s3_options, author="check"))
    expected = {**expected_after("a", 1, ids, count), **expected_after("b", 2, ids, count)}
    assert state == expected
