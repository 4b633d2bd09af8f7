"""Views and planners as plain functions of a State: no Dataset, no store unless a planner reads one."""

from __future__ import annotations

import numpy as np
import pytest

from jupyter_labeler import image_actions, label_plans, syncing, views
from jupyter_labeler.errors import UnknownImageError
from jupyter_labeler.plan import Plan
from jupyter_labeler.results import ActionResult
from jupyter_labeler.scan import Scan
from jupyter_labeler.state import ImageRows, State
from jupyter_labeler.storage import open_store


def make_state(n: int = 6) -> State:
    state = State()
    paths = [f"img_{i}.jpg" for i in range(n)]
    state.add_images(
        ImageRows(
            ids=[f"{i:016x}" for i in range(n)],
            paths=paths,
            sizes=[100 + i for i in range(n)],
            usage=[""] * n,
            added_at=[""] * n,
            extra=[None] * n,
        )
    )
    return state


def test_the_long_table_path_gives_the_labels_of_the_per_image_path() -> None:
    state = make_state()
    state.add_label("roses", np.arange(4), 0, 0)
    state.add_label("red", np.arange(2, 6), 0, 0)
    codes = state.view_codes("all")
    small = views.table(state, codes)
    large = views.table(state, codes, per_code_limit=0)
    assert large["labels"].tolist() == small["labels"].tolist()
    assert small["labels"].map(len).sum() == 8


def test_remembered_answers_last_until_the_state_changes() -> None:
    state, other = make_state(), make_state()
    made: list[int] = []

    def make() -> int:
        made.append(1)
        return len(made)

    assert views.remember(state, "k", make) == views.remember(state, "k", make) == 1
    before = views.revision(state)
    assert before == views.revision(state)
    assert before != views.revision(other)
    state.add_label("roses", np.arange(2), 0, 0)
    assert views.revision(state) != before
    assert views.remember(state, "k", make) == 2


def test_asking_about_an_author_does_not_make_them_an_annotator() -> None:
    state = make_state()
    assert views.author_code(state, "alice") == -1
    assert "alice" not in state.authors.values
    state.add_label("roses", np.arange(2), state.authors.code("alice"), 0)
    assert views.author_code(state, "human/alice/alice") == views.author_code(state, "alice") >= 0


def test_planners_say_when_there_is_nothing_to_do() -> None:
    state = make_state()
    plan = label_plans.add_label(state, "alice", "roses", ["0000000000000000"])
    assert isinstance(plan, Plan)
    assert plan.describe == "Added roses to 1 image"
    assert plan.ops[0]["ids"] == ["0000000000000000"]
    state.add_label("roses", np.arange(1), 0, 0)
    again = label_plans.add_label(state, "alice", "roses", "0000000000000000")
    assert again == ActionResult("add_label", 0, True, "every image already has roses")
    assert isinstance(label_plans.set_usage(state, [], "train"), ActionResult)
    with pytest.raises(UnknownImageError):
        label_plans.remove_label(state, "alice", "roses", ["nope"])


def test_only_true_itself_plans_deleting_source_files() -> None:
    state = make_state()
    for value, files in ((True, ["img_1.jpg"]), (1, []), ("yes", []), (False, [])):
        plan = image_actions.remove_images(state, ["0000000000000001"], value)  # type: ignore[arg-type]
        assert isinstance(plan, Plan)
        assert image_actions.files_to_delete(plan) == files
        assert bool(plan.irreversible) == bool(files)


def test_a_sync_plan_removes_adds_and_labels_from_txt_files(memory_url: str) -> None:
    source = open_store(memory_url)
    source.write("new.txt", b"roses\n")
    source.write("img_0.txt", b"red\nbad label!\n")
    state = make_state(3)
    scan = Scan(
        images={"img_0.jpg": 100, "img_1.jpg": 101, "new.jpg": 5},
        sidecars={"new.jpg": "new.txt", "img_0.jpg": "img_0.txt"},
    )
    work = syncing.plan_sync(scan, syncing.live_images(state), source, "alice")
    summary = work.summary
    assert (summary.removed, summary.added, summary.labeled_from_sidecars) == (1, 1, 2)
    assert work.total == 2
    assert [line for line in summary.skipped if "img_0.txt line 2" in line], summary.skipped
    steps = list(work.steps)
    assert [s.done for s in steps] == [1, 2, None]
    assert steps[0].plan.ops == [{"op": "images-", "ids": ["0000000000000002"]}]
    added = steps[1].plan.ops
    assert added[0]["rows"][0]["path"] == "new.jpg"
    assert added[1]["label"] == "roses"
    assert added[1]["by"] == "alice"
    assert steps[2].plan.ops[0]["ids"] == ["0000000000000000"]
    assert steps[2].plan.ops[0]["label"] == "red"
