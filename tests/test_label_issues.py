"""Finding wrong labels by confident learning, on planted clusters with known flipped labels.

Each class is a cluster of feature vectors around its own random centre; some labels are then
changed to another class at random (seeded). Well separated clusters make every flip findable
in principle; the margins asserted (recall at least 0.8, precision at least 0.9 over several
seeds) leave room for what the method gives up on purpose: it flags about as many images as
it estimates are wrong, so an estimate one or two short misses one or two flips.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_labeler.label_issues import (
    find_label_issues,
    issues_from_probabilities,
    out_of_fold_probabilities,
)

COLUMNS = ["given_label", "likely_label", "given_confidence", "likely_confidence"]


def clusters(
    labels: int, per_label: int, *, dim: int = 16, spread: float = 4.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Features (float32) and true classes: ``per_label`` images around each class's centre."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((labels, dim)) * spread
    truth = np.repeat(np.arange(labels), per_label)
    x = centres[truth] + rng.standard_normal((len(truth), dim))
    return x.astype(np.float32), truth


def flip(truth: np.ndarray, labels: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``truth`` with ``count`` labels changed to another class; the changed rows."""
    rng = np.random.default_rng(1000 + seed)
    rows = rng.choice(len(truth), count, replace=False)
    given = truth.copy()
    given[rows] = (truth[rows] + rng.integers(1, labels, count)) % labels
    return given, np.sort(rows)


def precision_recall(found: pd.Index, flipped: np.ndarray) -> tuple[float, float]:
    hits = len(set(found.tolist()) & set(flipped.tolist()))
    return hits / max(len(found), 1), hits / len(flipped)


@pytest.mark.parametrize("seed", range(4))
def test_flipped_labels_are_found_among_separated_clusters(seed: int) -> None:
    x, truth = clusters(5, 40, seed=seed)
    given, flipped = flip(truth, 5, 20, seed)
    issues = find_label_issues(x, given)
    precision, recall = precision_recall(issues.index, flipped)
    assert recall >= 0.8
    assert precision >= 0.9
    assert list(issues.columns) == COLUMNS
    assert issues.index.name == "row"
    # The likely label is the true one, and the given label is what the image was given.
    found = issues.index.to_numpy()
    assert (issues["given_label"].to_numpy() == given[found]).all()
    right = issues.index.isin(flipped)
    assert (issues["likely_label"].to_numpy()[right] == truth[found[right]]).all()
    # Most suspicious first, probabilities that mean what they say.
    confidence = issues["given_confidence"].to_numpy()
    assert (np.diff(confidence) >= 0).all()
    assert (issues["likely_confidence"] > issues["given_confidence"]).all()
    assert ((confidence >= 0) & (confidence <= 1)).all()
    assert issues.attrs["folds"] == 5
    assert issues.attrs["checked"] == len(x)
    assert issues.attrs["not_checked"] == []
    assert 15 <= issues.attrs["estimated_issues"] <= 25
    assert issues.attrs["flagged_labels"] == len(issues)


def test_clean_labels_give_few_issues() -> None:
    x, truth = clusters(4, 50, seed=7)
    issues = find_label_issues(x, truth)
    assert len(issues) <= 2
    assert issues.attrs["estimated_issues"] <= 2


def test_two_labels() -> None:
    recalls, precisions = [], []
    for seed in range(3):
        x, truth = clusters(2, 100, seed=seed)
        given, flipped = flip(truth, 2, 20, seed)
        issues = find_label_issues(x, given)
        precision, recall = precision_recall(issues.index, flipped)
        precisions.append(precision)
        recalls.append(recall)
        # With two labels, the likely label is the other one.
        assert (issues["likely_label"].to_numpy() == 1 - issues["given_label"].to_numpy()).all()
    assert min(recalls) >= 0.8
    assert min(precisions) >= 0.9


def test_one_label_has_nothing_to_compare() -> None:
    x, _ = clusters(1, 30)
    issues = find_label_issues(x, np.zeros(30, np.int64))
    assert issues.empty
    assert list(issues.columns) == COLUMNS
    assert "two labels" in issues.attrs["reason"]
    assert issues.attrs["estimated_issues"] == 0
    assert issues.attrs["checked"] == 0


def test_one_label_beside_labels_too_small_to_take_part() -> None:
    x, _ = clusters(2, 30)
    given = np.repeat([0, 1], 30)
    given[30:33] = 1
    given[33:] = -1  # label 1 keeps three images
    issues = find_label_issues(x, given)
    assert issues.empty
    assert issues.attrs["not_checked"] == [1]
    assert "1 label has 5 images or more" in issues.attrs["reason"]


def test_empty_input() -> None:
    issues = find_label_issues(np.zeros((0, 8), np.float32), np.zeros(0, np.int64))
    assert issues.empty
    assert list(issues.columns) == COLUMNS
    assert issues.attrs["reason"] == "no image has a label"
    unlabeled = find_label_issues(np.ones((4, 8), np.float32), np.full(4, -1))
    assert unlabeled.attrs["reason"] == "no image has a label"
    assert issues_from_probabilities(np.zeros(0, np.int64), np.zeros((0, 3))).empty


def test_labels_with_fewer_than_five_images_are_neither_checked_nor_proposed() -> None:
    x, truth = clusters(4, 40, seed=3)
    given, flipped = flip(truth, 3, 12, seed=3)
    given[truth == 3] = 3
    # Label 3 keeps four images; the others of its cluster are labeled 0, wrongly.
    few = np.flatnonzero(truth == 3)
    given[few[4:]] = 0
    issues = find_label_issues(x, given, names=["cat", "dog", "fox", "owl"])
    assert issues.attrs["not_checked"] == ["owl"]
    assert "owl" not in set(issues["given_label"]) | set(issues["likely_label"])
    assert not set(issues.index) & set(few[:4].tolist())
    assert issues.attrs["checked"] == len(x) - 4
    # Still checked: the rest, with the flips among clusters 0-2 found.
    _, recall = precision_recall(issues.index, flipped[truth[flipped] != 3])
    assert recall >= 0.8


def test_min_per_label_two_keeps_every_fold_and_still_works() -> None:
    x, truth = clusters(3, 3, seed=1)
    issues = find_label_issues(x, truth, min_per_label=2)
    assert issues.attrs["folds"] == 5
    assert issues.attrs["not_checked"] == []
    tiny = find_label_issues(x[[0, 1, 3, 4]], np.asarray([0, 0, 1, 1]), min_per_label=2)
    assert tiny.attrs["folds"] == 4
    assert tiny.attrs["checked"] == 4


def two_attributes(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every image has an animal (labels 0-2) and a background (labels 3-4): the features are
    both parts side by side."""
    rng = np.random.default_rng(seed)
    animal = rng.integers(0, 3, n)
    background = rng.integers(3, 5, n)
    a = rng.standard_normal((3, 8)) * 4
    b = rng.standard_normal((2, 8)) * 4
    x = np.concatenate([a[animal], b[background - 3]], axis=1) + rng.standard_normal((n, 16))
    return x.astype(np.float32), animal, background


def test_several_labels_an_image_each_pair_is_checked() -> None:
    recalls, precisions = [], []
    for seed in range(4):
        x, animal, background = two_attributes(seed=seed)
        n = len(x)
        rng = np.random.default_rng(100 + seed)
        wrong = np.sort(rng.choice(n, 20, replace=False))
        given_animal = animal.copy()
        given_animal[wrong] = (animal[wrong] + rng.integers(1, 3, 20)) % 3
        rows = np.concatenate([np.arange(n), np.arange(n)])
        codes = np.concatenate([given_animal, background])
        ids = np.asarray([f"img{i:03d}" for i in range(n)], dtype=object)
        issues = find_label_issues(x, (rows, codes), ids=ids)
        precision, recall = precision_recall(issues.index, ids[wrong])
        precisions.append(precision)
        recalls.append(recall)
        assert issues.index.name == "image_id"
        assert not issues.index.duplicated().any()
        found = np.searchsorted(ids, issues.index.to_numpy())
        assert (issues["given_label"].to_numpy() == given_animal[found]).all()
        # The likely label is the true animal, not the background the image carries too.
        assert (issues["likely_label"].to_numpy() == animal[found]).mean() >= 0.9
        assert issues.attrs["flagged_labels"] >= len(issues)
    # Every image carries two labels, each with about half the model's probability: judged
    # given the image's other label, a right pair is as sure as a single label (without
    # that, nearly every image was flagged).
    assert min(precisions) >= 0.9
    assert np.mean(recalls) >= 0.8
    assert min(recalls) >= 0.7


def test_a_wrong_second_label_is_flagged_and_the_right_one_kept() -> None:
    recalls, precisions = [], []
    for seed in range(4):
        x, truth = clusters(4, 50, seed=seed)
        rng = np.random.default_rng(seed)
        extra = np.sort(rng.choice(len(x), 8, replace=False))
        wrong = (truth[extra] + rng.integers(1, 4, len(extra))) % 4
        # Eight images get a second, wrong label beside their right one.
        rows = np.concatenate([np.arange(len(x)), extra])
        codes = np.concatenate([truth, wrong])
        issues = find_label_issues(x, (rows, codes))
        precision, recall = precision_recall(issues.index, extra)
        precisions.append(precision)
        recalls.append(recall)
        flagged = issues[issues.index.isin(extra)]
        where = np.searchsorted(extra, flagged.index.to_numpy())
        # The wrong one is flagged; the likely label is the right one, which the image has.
        assert (flagged["given_label"].to_numpy() == wrong[where]).all()
        assert (flagged["likely_label"].to_numpy() == truth[extra][where]).all()
    assert min(precisions) >= 0.9
    assert np.mean(recalls) >= 0.75
    assert min(recalls) >= 0.6


def test_a_right_second_label_is_kept() -> None:
    # Images halfway between two clusters carrying both labels are right, and not flagged.
    x, truth = clusters(4, 50, seed=11)
    rng = np.random.default_rng(11)
    both = np.sort(rng.choice(len(x), 10, replace=False))
    second = (truth[both] + 1) % 4
    centres = np.stack([x[truth == c].mean(axis=0) for c in range(4)])
    x[both] = (centres[truth[both]] + centres[second]) / 2
    rows = np.concatenate([np.arange(len(x)), both])
    codes = np.concatenate([truth, second])
    issues = find_label_issues(x, (rows, codes))
    assert not set(issues.index.tolist()) & set(both.tolist())


def test_ids_and_names_label_the_result() -> None:
    x, truth = clusters(3, 30, seed=2)
    given, _ = flip(truth, 3, 6, seed=2)
    plain = find_label_issues(x, given)
    assert len(plain)
    ids = pd.Index([f"id-{i}" for i in range(len(x))])
    names = ["a", "b", "c"]
    issues = find_label_issues(x, given, ids=ids, names=names)
    assert issues.index.name == "image_id"
    assert issues.index.tolist() == ids[plain.index].tolist()
    for column in ("given_label", "likely_label"):
        assert isinstance(issues[column].dtype, pd.CategoricalDtype)
        assert list(issues[column].cat.categories) == names
        assert issues[column].tolist() == [names[c] for c in plain[column]]
    assert issues.attrs == plain.attrs


def test_same_input_same_result_and_the_seed_is_used() -> None:
    x, truth = clusters(4, 30, spread=1.5, seed=9)
    given, _ = flip(truth, 4, 12, seed=9)
    first = find_label_issues(x, given)
    again = find_label_issues(x, given)
    pd.testing.assert_frame_equal(first, again)
    assert first.attrs == again.attrs


def test_a_classifier_of_ones_own() -> None:
    from sklearn.neighbors import KNeighborsClassifier

    x, truth = clusters(3, 40, seed=4)
    given, flipped = flip(truth, 3, 12, seed=4)
    issues = find_label_issues(x, given, classifier=KNeighborsClassifier(10))
    precision, recall = precision_recall(issues.index, flipped)
    assert recall >= 0.8
    assert precision >= 0.9


def test_per_label_bounds_each_folds_training_set() -> None:
    x, truth = clusters(3, 400, seed=6)
    given, flipped = flip(truth, 3, 60, seed=6)
    issues = find_label_issues(x, given, per_label=50)
    precision, recall = precision_recall(issues.index, flipped)
    assert recall >= 0.8
    assert precision >= 0.9


def test_out_of_fold_probabilities() -> None:
    x, truth = clusters(3, 20, seed=8)
    given = truth.copy()
    given[:2] = -1
    given[40:] = 5  # label 5: twenty images; labels 3 and 4 are none
    p = out_of_fold_probabilities(x, given)
    assert list(p.columns) == [0, 1, 5]
    assert list(p.index) == list(range(2, 60))
    assert p.dtypes.eq(np.float32).all()
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
    assert (p.to_numpy().argmax(axis=1) == truth[2:]).mean() > 0.95


def test_issues_from_probabilities_follow_the_confident_joint() -> None:
    # Given 0: four sure of 0, one sure of 1. Given 1: five fairly sure of 1.
    # t0 = (4 * 0.9 + 0.05) / 5 = 0.73, t1 = 0.9: the confident joint is [[4, 1], [0, 5]],
    # one wrong label estimated, and the image with the largest margin p1 - p0 is row 4.
    p = np.asarray([[0.9, 0.1]] * 4 + [[0.05, 0.95]] + [[0.1, 0.9]] * 5)
    labels = np.asarray([0] * 5 + [1] * 5)
    issues = issues_from_probabilities(labels, p)
    assert issues.index.tolist() == [4]
    assert issues.attrs["estimated_issues"] == 1
    row = issues.loc[4]
    assert (row["given_label"], row["likely_label"]) == (0, 1)
    assert row["given_confidence"] == pytest.approx(0.05)
    assert row["likely_confidence"] == pytest.approx(0.95)


def test_an_image_below_every_threshold_is_not_confidently_elsewhere() -> None:
    # Row 4 leans to 1 (0.8) but less than the images given 1 do (t1 = 0.9): not counted.
    p = np.asarray([[0.9, 0.1]] * 4 + [[0.2, 0.8]] + [[0.1, 0.9]] * 5)
    issues = issues_from_probabilities(np.asarray([0] * 5 + [1] * 5), p)
    assert issues.empty
    assert issues.attrs["estimated_issues"] == 0


def test_every_label_keeps_an_image() -> None:
    # Every image given 0 is confidently 1 (t1 = 0.7): one of them stays, the least suspicious.
    p = np.asarray([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7]] + [[0.3, 0.7]] * 4)
    issues = issues_from_probabilities(np.asarray([0, 0, 0, 1, 1, 1, 1]), p)
    assert sorted(issues.index.tolist()) == [0, 1]


def test_pairs_are_taken_given_the_images_other_labels() -> None:
    # Image 0 carries {0, 1} and the model splits it between them: right for both.
    # Image 1 carries {0, 2} but looks like 1 and 2: its 0 is wrong, and 1 (not 2, which it
    # already has) is the likely label.
    p = np.asarray(
        [[0.5, 0.5, 0.0], [0.02, 0.49, 0.49]]
        + [[0.9, 0.05, 0.05]] * 4
        + [[0.05, 0.9, 0.05]] * 4
        + [[0.05, 0.05, 0.9]] * 4
    )
    rows = np.asarray([0, 0, 1, 1, *range(2, 14)])
    codes = np.asarray([0, 1, 0, 2] + [0] * 4 + [1] * 4 + [2] * 4)
    issues = issues_from_probabilities((rows, codes), p, names=["a", "b", "c"])
    assert issues.index.tolist() == [1]
    assert (issues.loc[1, "given_label"], issues.loc[1, "likely_label"]) == ("a", "b")
    assert issues.loc[1, "likely_confidence"] == pytest.approx(0.49 / 0.51)


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (np.zeros(5), np.zeros(5, np.int64), "2-D"),
        (np.zeros((5, 2)), np.zeros(4, np.int64), "5 codes"),
        (np.zeros((5, 2)), np.full(5, -2), "-1 for no label"),
        (np.zeros((5, 2)), (np.asarray([0, 9]), np.asarray([0, 1])), "between 0 and 4"),
        (np.zeros((5, 2)), (np.asarray([0, 1]), np.asarray([0])), "equal length"),
    ],
)
def test_bad_input_is_refused(features: np.ndarray, labels: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_label_issues(features, labels)  # type: ignore[arg-type]


def test_float_codes_and_non_finite_features_are_refused() -> None:
    with pytest.raises(TypeError, match="integers"):
        find_label_issues(np.zeros((4, 2)), np.zeros(4))
    x, truth = clusters(2, 10)
    x[3, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        find_label_issues(x, truth)
    with pytest.raises(ValueError, match="folds"):
        find_label_issues(x, truth, folds=1)
    with pytest.raises(ValueError, match="no name"):
        find_label_issues(x, truth, names=["only"])


def test_confirmed_pairs_are_never_flagged_and_counted() -> None:
    x, truth = clusters(4, 30, seed=1)
    given, _ = flip(truth, 4, 8, 1)
    issues = find_label_issues(x, given)
    kept = issues.index[:3].to_numpy()
    confirmed = find_label_issues(x, given, confirmed=(kept, given[kept]))
    assert not set(kept.tolist()) & set(confirmed.index.tolist())
    assert set(confirmed.index) == set(issues.index) - set(kept.tolist())
    assert confirmed.attrs["confirmed"] == 3
    assert confirmed.attrs["estimated_issues"] == issues.attrs["estimated_issues"]
    assert issues.attrs["confirmed"] == 0
    # a confirmed pair of another label than the flagged one keeps nothing out
    other = (given[kept] + 1) % 4
    assert set(find_label_issues(x, given, confirmed=(kept, other)).index) == set(issues.index)
