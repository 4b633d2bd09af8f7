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


def test_the_probabilities_are_the_fitted_models() -> None:
    features, truth = planted({"a": 60, "b": 60, "c": 60})
    model = suggest.fit(pairs_of(features, truth, np.arange(0, 180, 2)), features)
    assert model is not None
    compact = suggest.index_of(features).vectors
    rows = np.arange(1, 180, 2)
    ours = model.probabilities(compact, rows)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, model.model.predict_proba(compact[rows]), atol=1e-4)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)


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
