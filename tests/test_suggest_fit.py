"""The suggestion model's training set: at most PER_LABEL images a label, chosen by the data
alone; and which images make the fit one-vs-rest.

The vectors are planted: each class is a cluster around its own random centre, stored as the
built-in features are (256 float16 numbers, unit length).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jupyter_labeler import suggest
from jupyter_labeler.features import Features


def planted(counts: dict[str, int], seed: int = 0) -> tuple[Features, np.ndarray]:
    """Features of ``sum(counts)`` images, ids ``img<k>``, and each image's class name."""
    rng = np.random.default_rng(seed)
    names = list(counts)
    cls = np.repeat(np.arange(len(names)), list(counts.values()))
    centres = rng.standard_normal((len(names), 256)).astype(np.float32)
    x = centres[cls] + 1.2 * rng.standard_normal((len(cls), 256)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    n = len(cls)
    features = Features(
        ids=np.asarray([f"img{k}" for k in range(n)], dtype=object),
        sizes=np.zeros(n, np.int64),
        ok=np.ones(n, bool),
        sha=np.full(n, "", dtype=object),
        phash=np.zeros(n, np.uint64),
        vectors=x.astype(np.float16),
    )
    return features, np.asarray(names, dtype=object)[cls]


def pairs_of(features: Features, truth: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"image_id": features.ids[rows], "label": truth[rows]})


def test_a_label_with_many_images_is_sampled_and_every_label_kept() -> None:
    features, truth = planted({"big": 500, "mid": 40, "small": 6})
    pairs = pairs_of(features, truth, np.arange(len(truth)))
    chosen = suggest.training_sample(pairs, 30)
    kept = pairs[chosen]["label"].value_counts().to_dict()
    assert kept == {"big": 30, "mid": 30, "small": 6}
    assert suggest.training_sample(pairs, 1000).all()


def test_the_sample_depends_on_the_data_not_on_its_order() -> None:
    features, truth = planted({"a": 300, "b": 300})
    pairs = pairs_of(features, truth, np.arange(len(truth)))
    first = set(pairs[suggest.training_sample(pairs, 50)]["image_id"])
    shuffled = pairs.sample(frac=1.0, random_state=7)
    again = set(shuffled[suggest.training_sample(shuffled, 50)]["image_id"])
    assert again == first
    # Not simply the first rows: the choice is spread over the label's images.
    assert first != set(pairs["image_id"][:50]) | set(pairs["image_id"][300:350])
    # One more labeled image changes the choice by at most one image a label.
    more = pd.concat([pairs, pd.DataFrame({"image_id": ["extra"], "label": ["a"]})])
    after = set(more[suggest.training_sample(more, 50)]["image_id"])
    assert len(after - first) <= 1
    assert len(first - after) <= 1


def test_an_image_chosen_by_one_label_trains_all_of_its_labels() -> None:
    pairs = pd.DataFrame(
        {
            "image_id": [f"i{k}" for k in range(10)] + ["i0", "i1", "i2"],
            "label": ["a"] * 10 + ["b"] * 3,
        }
    )
    chosen = suggest.training_sample(pairs, 2)
    images = set(pairs[chosen]["image_id"])
    picked = pairs[chosen]
    for image_id in images:
        assert set(picked[picked["image_id"] == image_id]["label"]) == set(
            pairs[pairs["image_id"] == image_id]["label"]
        )
    assert (picked["label"] == "b").sum() >= 2


def test_a_capped_fit_still_suggests_the_planted_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    features, truth = planted({"cats": 1500, "dogs": 300, "owls": 60})
    labeled = np.r_[0:1400, 1500:1750, 1800:1840]
    rest = np.setdiff1d(np.arange(len(truth)), labeled)
    monkeypatch.setattr(suggest, "PER_LABEL", 40)
    model = suggest.fit(pairs_of(features, truth, labeled), features)
    assert model is not None
    assert not model.multi_label
    table = suggest.suggestions(model, features, features.ids[rest])
    assert len(table) == len(rest)
    assert (table["label"].to_numpy() == truth[rest]).mean() >= 0.98
    # The same data, in another order, gives the same model.
    shuffled = pairs_of(features, truth, labeled).sample(frac=1.0, random_state=3)
    again = suggest.fit(shuffled, features)
    assert again is not None
    np.testing.assert_allclose(again.weights, model.weights, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_the_probabilities_are_the_fitted_models(k: int) -> None:
    features, truth = planted({f"c{i}": 60 for i in range(k)}, seed=k)
    n = 60 * k
    model = suggest.fit(pairs_of(features, truth, np.arange(0, n, 2)), features)
    assert model is not None
    assert not model.multi_label
    assert model.labels == [f"c{i}" for i in range(k)]
    compact = suggest.index_of(features).vectors
    rows = np.arange(1, n, 2)
    ours = model.probabilities(compact, rows)
    assert ours.dtype == np.float32
    assert ours.shape == (len(rows), k)
    # The model's classes are label codes, in the order of model.labels.
    assert model.model.classes_.tolist() == list(range(k))
    np.testing.assert_allclose(ours, model.model.predict_proba(compact[rows]), atol=1e-4)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    table = suggest.suggestions(model, features, features.ids[rows])
    names = np.asarray(model.labels, dtype=object)
    assert table["label"].tolist() == names[model.model.predict(compact[rows])].tolist()
    assert (table["label"].to_numpy() == truth[rows]).mean() >= 0.95
    assert set(table["label"]) == set(model.labels)


def test_two_labels_are_each_suggested_where_they_belong() -> None:
    features, truth = planted({"cat": 100, "dog": 100}, seed=5)
    labeled = np.r_[0:10, 100:110]
    rest = np.setdiff1d(np.arange(200), labeled)
    model = suggest.fit(pairs_of(features, truth, labeled), features)
    table = suggest.suggestions(model, features, features.ids[rest])
    assert (table["label"].to_numpy() == truth[rest]).mean() >= 0.95
    sure = table[table["confidence"] >= 0.9]
    assert set(sure["label"]) == {"cat", "dog"}
    assert (sure["label"].to_numpy() == pd.Series(truth, index=features.ids)[sure.index]).all()
    least = suggest.least_certain(model, features, features.ids[rest], 5)
    assert least["certainty"].is_monotonic_increasing
    rows = features.rows(least.index.tolist())
    proba = model.model.predict_proba(suggest.index_of(features).vectors[rows])
    np.testing.assert_allclose(least["certainty"], proba.max(axis=1), atol=1e-4)


@pytest.mark.parametrize("k", [2, 3])
def test_one_vs_rest_probabilities_are_the_fitted_models(k: int) -> None:
    features, truth = planted({f"c{i}": 60 for i in range(k)}, seed=10 + k)
    n = 60 * k
    labeled = np.arange(0, n, 2)
    pairs = pairs_of(features, truth, labeled)
    # A tenth of the labeled images carry the next label too.
    extra = labeled[::10]
    nxt = np.asarray([f"c{(int(t[1:]) + 1) % k}" for t in truth[extra]], dtype=object)
    both = pd.concat([pairs, pd.DataFrame({"image_id": features.ids[extra], "label": nxt})])
    model = suggest.fit(both, features)
    assert model is not None
    assert model.multi_label
    compact = suggest.index_of(features).vectors
    rows = np.arange(1, n, 2)
    ours = model.probabilities(compact, rows)
    assert ours.shape == (len(rows), k)
    np.testing.assert_allclose(ours, model.model.predict_proba(compact[rows]), atol=1e-4)
    table = suggest.suggestions(model, features, features.ids[rows])
    best = table[~table.index.duplicated(keep="first")]
    assert (best["label"].to_numpy() == truth[rows]).mean() >= 0.9


def test_a_label_on_every_labeled_image_is_not_suggested() -> None:
    features, truth = planted({"a": 60, "b": 60, "c": 60}, seed=2)
    labeled = np.arange(0, 180, 2)
    pairs = pairs_of(features, truth, labeled)
    everywhere = pd.DataFrame({"image_id": features.ids[labeled], "label": "outdoor"})
    model = suggest.fit(pd.concat([pairs, everywhere]), features)
    assert model is not None
    assert model.labels == ["a", "b", "c"]
    assert not model.multi_label
    rows = np.arange(1, 180, 2)
    table = suggest.suggestions(model, features, features.ids[rows])
    assert table.attrs["not_suggested"] == ["outdoor"]
    assert (table["label"].to_numpy() == truth[rows]).mean() >= 0.95
    # Two labels, both on every image: nothing to tell apart.
    twice = pd.concat([everywhere, everywhere.assign(label="photo")])
    assert suggest.fit(twice, features) is None


def test_a_stray_image_with_two_labels_keeps_one_label_an_image() -> None:
    features, truth = planted({"a": 200, "b": 200, "c": 200})
    labeled = np.r_[0:100, 200:300, 400:500]
    pairs = pairs_of(features, truth, labeled)
    stray = pd.DataFrame({"image_id": [features.ids[0]], "label": ["b"]})
    model = suggest.fit(pd.concat([pairs, stray]), features)
    assert model is not None
    assert not model.multi_label
    rest = np.setdiff1d(np.arange(600), labeled)
    table = suggest.suggestions(model, features, features.ids[rest])
    assert not table.index.duplicated().any()
    assert (table["label"].to_numpy() == truth[rest]).mean() >= 0.98


def test_many_images_with_two_labels_fit_one_vs_rest() -> None:
    features, truth = planted({"a": 200, "b": 200, "c": 200})
    labeled = np.r_[0:100, 200:300, 400:500]
    pairs = pairs_of(features, truth, labeled)
    # "warm" on every labeled "a" and "c" image: a third of the labeled images have two labels.
    warm = labeled[truth[labeled] != "b"]
    both = pd.concat([pairs, pd.DataFrame({"image_id": features.ids[warm], "label": "warm"})])
    model = suggest.fit(both, features)
    assert model is not None
    assert model.multi_label
    rest = np.setdiff1d(np.arange(600), labeled)
    table = suggest.suggestions(model, features, features.ids[rest])
    got = table.groupby(level=0)["label"].agg(set)
    kinds = pd.Series(truth[rest], index=features.ids[rest])
    right = [
        kinds[i] in labels and (("warm" in labels) == (kinds[i] != "b"))
        for i, labels in got.items()
    ]
    assert np.mean(right) >= 0.95
    ours = model.probabilities(suggest.index_of(features).vectors, rest)
    np.testing.assert_allclose(
        ours, model.model.predict_proba(suggest.index_of(features).vectors[rest]), atol=1e-4
    )
