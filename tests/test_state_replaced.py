"""An action planned on one state and recorded after the state was read again names the same
images.

A Dataset plans an action with its lock held, lets the lock go, then hands the plan to the
replica. Meanwhile another thread (following other annotators, a save) may read the state
again from the store: after another writer's compaction the rows are numbered anew (a
snapshot keeps live images only). The plan's operations name images by id; they must reach
the images with those ids, never the rows that had their numbers before.
"""

from __future__ import annotations

from imagegen import fill_folder

from jupyter_labeler import Dataset, label_plans
from jupyter_labeler.storage import open_store


def test_plan_recorded_after_a_reload_reaches_its_own_images(memory_url: str) -> None:
    fill_folder(open_store(memory_url).write, 6)
    alice = Dataset.open(memory_url, author="alice")
    bob = Dataset.open(memory_url, author="bob")
    ids = list(alice.ids("all"))
    # Bob removes the first image and compacts: in his snapshot every later image moves up
    # one row.
    bob.remove_images([ids[0]])
    bob.save()

    replica = alice.replica
    with replica.lock:
        plan = label_plans.add_label(replica.state, "alice", "cat", [ids[3]])
        before = replica.state
    assert alice.refresh()  # reads Bob's snapshot: a new state
    assert replica.state is not before
    replica.record(plan)

    assert list(alice.with_label("cat").index) == [ids[3]]
    labels = alice.labels_of(ids[1:])
    assert labels == {i: (["cat"] if i == ids[3] else []) for i in ids[1:]}
    again = Dataset.open(memory_url, author="carol")
    assert again.labels_of(ids[1:]) == labels
