"""Nobody reviews their own work: the API refuses it, and the Review view leaves those
images out (saying how many) for another reviewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from imagegen import image_folder

from jupyter_labeler import Dataset, SelfReviewError

COLUMNS = ["labels", "assigned_to", "review", "reviewed_by", "review_reason"]


# -- helpers ---------------------------------------------------------------------------------------
def table(ds: Dataset) -> Any:
    return ds.images[COLUMNS].astype(str)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return image_folder(tmp_path, 12)


@pytest.fixture
def team(folder: Path) -> tuple[Dataset, list[str]]:
    """Images 0-3 shared by alice and bob (alice says cat on all, bob cat on 0-1 and dog on
    2-3), images 4-5 alice's alone (cat), the rest nobody's. The lead reviews."""
    lead = Dataset.open(folder, author="lead")
    ids = list(lead.ids())
    lead.assign(["alice", "bob"], ids=ids[:4], overlap=1.0, seed=0)
    lead.assign(["alice"], ids=ids[4:6])
    alice = Dataset.open(folder, author="alice")
    alice.add_label("cat", ids[:6])
    bob = Dataset.open(folder, author="bob")
    bob.add_label("cat", ids[:2])
    bob.add_label("dog", ids[2:4])
    lead.refresh()
    return lead, ids


# -- reviews -------------------------------------------------------------------------------------
def test_nobody_reviews_their_own_work_in_the_api(
    folder: Path, team: tuple[Dataset, list[str]]
) -> None:
    lead, ids = team
    alice = Dataset.open(folder, author="alice")
    before = table(alice)
    with pytest.raises(SelfReviewError) as caught:
        alice.review(ids[4:7])  # 4 and 5 are hers; 6 is nobody's: nothing is reviewed
    assert caught.value.author == "alice"
    assert caught.value.ids == ids[4:6]
    assert "nobody reviews their own work" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert table(alice).equals(before)
    assert not alice.can_undo
    # her review view leaves them out, and says how many it leaves out
    assert not set(alice.ids("review")) & set(ids[:6])
    assert alice.review_excluded() == 6
    assert set(lead.ids("review")) == set(ids[:6])
    assert lead.review_excluded() == 0
    assert alice.view_counts()["review"] == 0
    # others' images she may review
    bob = Dataset.open(folder, author="bob")
    bob.review(ids[4:5], accept=False, reason="a dog")
    assert bob.images.loc[ids[4], "reviewed_by"] == "bob"
