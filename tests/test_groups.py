"""Groups of look-alike images: k-means on planted blobs, numbered stably.

"Stable" is tested as the module promises it: the same vectors, in the same or in any other
order (with their ids moved along), give every vector the same group number, the same sizes
and the same representatives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_labeler import groups as groups_module
from jupyter_labeler.groups import groups


def blobs(
    sizes: list[int], *, dim: int = 8, spread: float = 10.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32) of blobs of the given sizes around random centres, and each blob."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), dim)) * spread
    blob = np.repeat(np.arange(len(sizes)), sizes)
    x = centres[blob] + rng.standard_normal((len(blob), dim))
    return x.astype(np.float32), blob


def purity(group: np.ndarray, truth: np.ndarray) -> float:
    """Share of images whose group's most common blob is theirs."""
    table = pd.crosstab(group, truth)
    return float(table.max(axis=1).sum() / len(truth))


def test_separated_blobs_are_found() -> None:
    x, blob = blobs([40, 40, 40, 40])
    group = groups(x, 4)
    assert purity(group.to_numpy(), blob) == 1.0
    assert group.attrs["k"] == 4
    assert group.attrs["method"] == "KMeans"
    assert group.name == "group"
    assert group.index.name == "row"
    assert group.dtype == np.int64
    # More groups than blobs split blobs, never mix them.
    assert purity(groups(x, 8).to_numpy(), blob) == 1.0


def test_groups_are_numbered_by_size_largest_first() -> None:
    x, blob = blobs([20, 60, 40])
    group = groups(x, 3)
    assert group.attrs["sizes"] == [60, 40, 20]
    assert (group.to_numpy()[blob == 1] == 0).all()
    assert (group.to_numpy()[blob == 2] == 1).all()
    assert (group.to_numpy()[blob == 0] == 2).all()
    assert group.value_counts().sort_index().tolist() == [60, 40, 20]


def test_representative_is_the_member_nearest_the_centre() -> None:
    line = np.asarray([[-1.0, 0], [0.1, 0], [1.0, 0], [50, 50], [51, 50], [52.2, 50]])
    group = groups(line, 2, ids=["a", "b", "c", "d", "e", "f"])
    assert group.index.name == "image_id"
    assert sorted(group.attrs["representatives"]) == ["b", "e"]
    reps = group.attrs["representatives"]
    assert [group[r] for r in reps] == [0, 1]


def same_grouping(a: pd.Series, b: pd.Series) -> None:
    pd.testing.assert_series_equal(a, b)
    assert a.attrs == b.attrs


def test_the_same_input_gives_the_same_numbers() -> None:
    x, _ = blobs([30, 30, 30, 30, 30], spread=1.5, seed=3)  # overlapping: k-means could wander
    same_grouping(groups(x, 5), groups(x, 5))
    same_grouping(groups(x), groups(x))


@pytest.mark.parametrize("k", [3, 6, None])
def test_any_order_of_the_input_gives_each_vector_the_same_number(k: int | None) -> None:
    x, _ = blobs([30, 30, 30, 25, 25, 25], spread=2.0, seed=5)  # equal sizes: ties numbered
    ids = np.asarray([f"img{i:03d}" for i in range(len(x))], dtype=object)
    first = groups(x, k, ids=ids)
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(x))
        moved = groups(x[order], k, ids=ids[order])
        same_grouping(moved.loc[first.index], first)
        # Without ids, row positions: the same numbers, in the moved order.
        plain = groups(x[order], k)
        assert (plain.to_numpy() == first.to_numpy()[order]).all()
        assert plain.attrs["sizes"] == first.attrs["sizes"]


def test_equal_groups_are_numbered_by_their_centres() -> None:
    x = np.asarray([[5.0, 0], [5.1, 0], [0, 0], [0.1, 0], [0, 9], [0.1, 9]])
    group = groups(x, 3)
    # Sizes tie at 2: the centre with the smaller first number, then the second, comes first.
    assert group.tolist() == [2, 2, 0, 0, 1, 1]


@pytest.mark.parametrize("k", [3, 5, 7])
def test_k_none_finds_the_number_of_blobs(k: int) -> None:
    x, blob = blobs([50] * k, seed=k)
    group = groups(x)
    assert group.attrs["k"] == k
    assert purity(group.to_numpy(), blob) == 1.0
    silhouettes = group.attrs["silhouettes"]
    assert max(silhouettes, key=silhouettes.get) == k
    assert min(silhouettes) == 2


def test_k_none_on_uneven_blobs() -> None:
    x, _ = blobs([200, 80, 30, 12], seed=2)
    group = groups(x)
    assert group.attrs["k"] == 4
    assert group.attrs["sizes"] == [200, 80, 30, 12]


def test_empty_input() -> None:
    for k in (None, 3):
        group = groups(np.zeros((0, 4), np.float32), k)
        assert group.empty
        assert group.attrs["k"] == 0
        assert group.attrs["sizes"] == []
        assert group.attrs["representatives"] == []
    with_ids = groups(np.zeros((0, 4)), ids=[])
    assert with_ids.index.name == "image_id"


def test_k_larger_than_the_images() -> None:
    x = np.asarray([[0.0, 0], [10, 0], [0, 10]])
    group = groups(x, 10)
    assert group.attrs["k"] == 3
    assert sorted(group.tolist()) == [0, 1, 2]
    assert group.attrs["sizes"] == [1, 1, 1]
    assert groups(x[:1]).tolist() == [0]
    assert groups(x[:2]).attrs["k"] == 2


def test_the_same_vector_twice_shares_a_group() -> None:
    x = np.asarray([[0.0, 0], [0, 0], [0, 0], [10, 0], [10, 0]])
    group = groups(x, 4)
    assert group.attrs["k"] == 2
    assert group.tolist() == [0, 0, 0, 1, 1]
    assert groups(x[:3]).tolist() == [0, 0, 0]
    # -0.0 is the same number as 0.0.
    assert groups(np.asarray([[0.0, 1], [-0.0, 1]]), 2).attrs["k"] == 1


def test_many_images_go_through_mini_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    # The large path on small data: a lower threshold and a smaller sample for the centres.
    monkeypatch.setattr(groups_module, "MINI_BATCH_FROM", 1000)
    monkeypatch.setattr(groups_module, "FIT_SAMPLE", 1500)
    x, blob = blobs([900, 700, 500, 300], seed=4)
    group = groups(x, 4)
    assert group.attrs["method"] == "MiniBatchKMeans"
    assert purity(group.to_numpy(), blob) == 1.0
    assert group.attrs["sizes"] == [900, 700, 500, 300]
    order = np.random.default_rng(0).permutation(len(x))
    moved = groups(x[order], 4)
    assert (moved.to_numpy() == group.to_numpy()[order]).all()
    assert groups(x).attrs["k"] == 4


def test_bad_input_is_refused() -> None:
    x, _ = blobs([5, 5])
    for k in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="k must be"):
            groups(x, k)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2-D"):
        groups(np.zeros(4))
    with pytest.raises(ValueError, match="ids"):
        groups(x, 2, ids=["a"])
    x[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        groups(x, 2)
