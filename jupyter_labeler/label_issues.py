"""Which labels look wrong: confident learning on the images' feature vectors.

The method is Northcutt, Jiang and Chuang's (2021, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 70), with its default rule, "prune by noise rate":

1. Out-of-fold probabilities. The images are split into K folds (:data:`FOLDS`, 5), each label's
   images spread evenly over them (stratified); a classifier trained on the other folds gives
   each image its probability of every label, so no image is judged by a model that saw its
   label. The classifier is a logistic regression on standardised features (as the suggester's
   model, :mod:`jupyter_labeler.suggest`); any scikit-learn classifier with ``predict_proba``
   can take its place. Each fold trains on at most ``per_label`` images a label (2,000, as the
   suggester), drawn at random (seeded): a million images cost five fits no larger than a few
   thousand images a label cost, and predicting the rest (3 s on two cores for 64 numbers an
   image and 10 labels, 11 s with the cores shared with other work: bench_quality.py).
2. Thresholds: t_j, the mean probability of label j over the images given label j (their
   "self-confidence").
3. The confident joint C[i][j]: images given label i whose probability of j reaches t_j (among
   several such labels, the likeliest). Its rows are calibrated to the given label counts, and
   the joint distribution of given and true labels Q is that, normalised. ``n * sum(Q[i][j])``
   over i != j is the estimated number of wrong labels (``attrs["estimated_issues"]``).
4. Prune by noise rate: for every given label i and other label j, the ``round(n * Q[i][j])``
   images given i with the largest margin p_j - p_i are flagged. Only images with a positive
   margin (some other label likelier than the given one) are flagged, and every label keeps at
   least one image unflagged.

Flagged images come most suspicious first: lowest probability of their given label first.
On scanned digits with 10% of the labels flipped, its precision and recall are 0.87 and 0.86,
an F1 within 2% of cleanlab's on the same classifier (``benchmarks/bench_quality.py``).

Choices this module makes, and why:

- Labels with fewer than ``min_per_label`` images (5, as the suggester and the readiness rule)
  take no part: their images are neither checked nor trained on, and no image is told it
  should carry them (``attrs["not_checked"]`` names them). A handful of examples makes a poor
  model of a label, and its images would be flagged for that, not for their labels. One label
  (or none) taking part leaves nothing to compare: the result is empty and
  ``attrs["reason"]`` says why. Two labels is the binary case of the same method.
- Folds: K stays at ``folds`` however few images a label has (each label's images are dealt
  round the folds, so a label of c < K images has one image in each of c folds and every one
  of them is predicted by a model that saw the other c - 1); K falls only when there are
  fewer images than folds. Fewer folds would shrink every label's training set to help none.
- Several labels on an image: each (image, label) pair is a sample, and an image is flagged
  when one of its labels is. The classifier trains on every pair (one multinomial model, as the
  suggester does while such images are few), so an image rightly carrying {a, b} may have
  about half its probability on each: its pairs would look unsure, and each would look
  "confidently" the other. So a pair (image, a) of an image with g labels weighs two kinds of
  alternative to a:

  - labels the image lacks, which share with a what the image's other labels leave (R, one
    minus their probabilities): these, and a's own, are scaled by 1 / R, but by g at most.
    A right label of a two-label image is then as sure as a single label, and a wrong one in
    place of a right one points to it; where the other labels leave almost nothing, a is not
    needed at all and its score stays low;
  - labels the image already carries, by their own probability: an image the model takes to
    be just that label should not carry a as well (``likely_label`` is then one of the
    image's own labels: the given one should go).

  On planted clusters this finds eight in ten wrong second labels, as the plain probabilities
  do (renormalising alone found none), and keeps its precision (0.99) where every image
  carries two labels, where the plain probabilities' falls to 0.07. The row shown for an image
  is its least confident flagged label; ``attrs["flagged_labels"]`` counts the flagged pairs,
  ``attrs["estimated_issues"]`` the estimated wrong pairs. Missing labels (an image that
  should carry one more) are not looked for.

Example::

    issues = find_label_issues(vectors, codes, names=["cat", "dog", "fox"])
    issues.head()        # given_label, likely_label, given_confidence, likely_confidence
    issues.attrs["estimated_issues"]
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FOLDS",
    "MIN_PER_LABEL",
    "find_label_issues",
    "issues_from_probabilities",
    "out_of_fold_probabilities",
]

FOLDS = 5
MIN_PER_LABEL = 5
# Images a label trains on in each fold, at most, as the suggester's PER_LABEL: at a million
# images (10 labels, overlapping clusters) 8,000 a label gains a point of F1 for twice the time.
PER_LABEL = 2000
# Inverse regularisation of the logistic regression on standardised features. A model that
# fits the flipped labels it trains on hides them: on scanned digits (10% flipped) F1 was
# 0.87 at C = 0.03 to 0.1, 0.81 at 1 and 0.76 at 100; on small planted clusters recall fell
# from 0.95 to 0.89 from 0.1 to 1. At 20,000 images and more, C barely matters.
_C = 0.1
_MAX_ITER = 1000
_BLOCK = 262_144  # rows predicted at a time

Labels = np.ndarray | Sequence[int] | tuple[Any, Any]


# -- the input --------------------------------------------------------------------------------
def _pairs(labels: Labels, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, codes): one entry per (image, label), without repeats, sorted by row then code."""
    if isinstance(labels, tuple):
        if len(labels) != 2:
            raise ValueError("labels as a tuple must be (rows, codes): two arrays of equal length")
        rows, codes = (np.asarray(a) for a in labels)
        if rows.ndim != 1 or codes.ndim != 1 or len(rows) != len(codes):
            raise ValueError("labels as (rows, codes) must be two 1-D arrays of equal length")
        for name, a in (("rows", rows), ("codes", codes)):
            if len(a) and not np.issubdtype(a.dtype, np.integer):
                raise TypeError(f"label {name} must be integers, not {a.dtype}")
        rows, codes = rows.astype(np.int64), codes.astype(np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise ValueError(f"label rows must be between 0 and {n - 1}")
        if len(codes) and codes.min() < 0:
            raise ValueError("label codes must be 0 or more")
    else:
        codes = np.asarray(labels)
        if codes.ndim != 1 or len(codes) != n:
            raise ValueError(f"labels must be {n} codes (one a row, -1 for none), or (rows, codes)")
        if len(codes) and not np.issubdtype(codes.dtype, np.integer):
            raise TypeError(f"label codes must be integers, not {codes.dtype}")
        codes = codes.astype(np.int64)
        if len(codes) and codes.min() < -1:
            raise ValueError("label codes must be 0 or more, or -1 for no label")
        rows = np.flatnonzero(codes >= 0)
        codes = codes[rows]
    if not len(rows):
        return rows, codes
    width = int(codes.max()) + 1
    key = np.unique(rows * width + codes)
    return key // width, key % width


def _index(
    ids: Sequence[Any] | np.ndarray | pd.Index | None, n: int
) -> tuple[np.ndarray | None, str]:
    if ids is None:
        return None, "row"
    array = np.asarray(ids, dtype=object) if not isinstance(ids, pd.Index) else ids.to_numpy()
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"ids must be {n} values, one a row of features")
    return array, "image_id"


def _features(features: Any) -> np.ndarray:
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D array (images x numbers), not {x.ndim}-D")
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"features must be real numbers, not {x.dtype}")
    return x


# -- the result -------------------------------------------------------------------------------
def _empty(index_name: str, names: Sequence[str] | None, **attrs: Any) -> pd.DataFrame:
    frame = _frame(
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0),
        np.zeros(0),
        None,
        index_name,
        names,
    )
    frame.attrs.update(attrs)
    return frame


def _frame(
    rows: np.ndarray,
    given: np.ndarray,
    likely: np.ndarray,
    given_p: np.ndarray,
    likely_p: np.ndarray,
    ids: np.ndarray | None,
    index_name: str,
    names: Sequence[str] | None,
) -> pd.DataFrame:
    def label(codes: np.ndarray) -> Any:
        if names is None:
            return codes.astype(np.int64)
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(names), dtype=object))

    index = pd.Index(rows if ids is None else ids[rows], name=index_name)
    if ids is None:
        index = index.astype(np.int64)
    return pd.DataFrame(
        {
            "given_label": label(given),
            "likely_label": label(likely),
            "given_confidence": np.asarray(given_p, np.float64),
            "likely_confidence": np.asarray(likely_p, np.float64),
        },
        index=index,
    )


# -- confident learning -----------------------------------------------------------------------
def _given_others(
    probabilities: np.ndarray, sample_image: np.ndarray, codes: np.ndarray
) -> np.ndarray:
    """Each pair's scores of every label, given its image's other labels.

    For a pair of an image with g labels: the labels the image does not carry, and the pair's
    own, are scaled by 1 / R (at most by g), R being what the image's other labels leave of
    the probability; the image's other labels keep their own probability. ``sample_image`` and
    ``codes`` are sorted by image; pairs of single-label images are returned as they are.
    """
    n_images = int(sample_image.max()) + 1 if len(sample_image) else 0
    per_image = np.bincount(sample_image, minlength=n_images)
    which = np.flatnonzero(per_image[sample_image] > 1)
    if not len(which):
        return probabilities
    first = np.searchsorted(sample_image, sample_image[which], side="left")
    count = per_image[sample_image[which]]
    # Which labels are the image's others, for each pair of a several-label image: walk its
    # image's pairs as offsets from the image's first pair.
    others = np.zeros((len(which), probabilities.shape[1]), dtype=bool)
    for offset in range(int(count.max())):
        has = np.flatnonzero(offset < count)
        other = first[has] + offset
        differ = other != which[has]
        others[has[differ], codes[other[differ]]] = True
    mine = probabilities[which]
    rest = np.where(others, 0.0, mine)
    left = rest.sum(axis=1, keepdims=True)
    rest *= np.minimum(1 / np.maximum(left, 1e-12), count[:, None])
    out = probabilities.copy()
    out[which] = np.where(others, mine, rest)
    return out


def _prune_by_noise_rate(
    given: np.ndarray, probabilities: np.ndarray
) -> tuple[np.ndarray, float, np.ndarray]:
    """Flagged samples (bool), the estimated number of wrong labels, and the thresholds."""
    n, m = probabilities.shape
    counts = np.bincount(given, minlength=m)
    self_confidence = probabilities[np.arange(n), given]
    with np.errstate(invalid="ignore", divide="ignore"):
        thresholds = np.bincount(given, weights=self_confidence, minlength=m) / counts
    # A label no sample is given is never where a sample confidently belongs.
    thresholds[counts == 0] = np.inf
    above = probabilities >= thresholds
    best = np.where(above, probabilities, -1.0).argmax(axis=1)
    confident = above.any(axis=1)
    joint = (
        np.bincount(given[confident] * m + best[confident], minlength=m * m)
        .reshape(m, m)
        .astype(np.float64)
    )
    # Calibrated: each row sums to its label's count. A label with no confident sample says
    # nothing about its noise: taken as all right.
    totals = joint.sum(axis=1)
    calibrated = np.where(
        (totals > 0)[:, None],
        joint / np.maximum(totals, 1)[:, None] * counts[:, None],
        np.diag(counts.astype(np.float64)),
    )
    # Q = calibrated / calibrated.sum() and calibrated.sum() == n: n * Q is the calibrated joint.
    estimated = float(calibrated.sum() - np.trace(calibrated))
    flagged = np.zeros(n, dtype=bool)
    order = np.argsort(given, kind="stable")
    bounds = np.searchsorted(given[order], np.arange(m + 1))
    remove = np.rint(calibrated).astype(np.int64)
    for i in range(m):
        members = order[bounds[i] : bounds[i + 1]]
        if len(members) < 2:
            continue
        mine = probabilities[members, i]
        for j in np.flatnonzero(remove[i]):
            if j == i:
                continue
            margin = probabilities[members, j] - mine
            positive = np.flatnonzero(margin > 0)
            take = min(int(remove[i, j]), len(positive))
            if not take:
                continue
            if take < len(positive):
                top = np.argpartition(-margin[positive], take - 1)[:take]
                positive = positive[top]
            flagged[members[positive]] = True
        # Every label keeps at least one image: unflag its most confident flagged ones.
        hit = np.flatnonzero(flagged[members])
        if len(hit) >= len(members):
            keep = hit[np.argsort(-mine[hit], kind="stable")[: len(hit) - len(members) + 1]]
            flagged[members[keep]] = False
    return flagged, estimated, thresholds


def _issues(
    sample_image: np.ndarray,
    codes: np.ndarray,
    probabilities: np.ndarray,
    kept: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, int, int]:
    """Flagged images (as sample_image values, most suspicious first), their flagged label,
    likely label, and both probabilities; the estimated wrong labels; the flagged pairs; the
    pairs ``kept`` (a mask of the samples: never flagged) kept out."""
    probabilities = _given_others(probabilities, sample_image, codes)
    flagged, estimated, thresholds = _prune_by_noise_rate(codes, probabilities)
    kept_out = 0
    if kept is not None:
        kept_out = int((flagged & kept).sum())
        flagged &= ~kept
    hit = np.flatnonzero(flagged)
    rows = np.arange(len(hit))
    mine = probabilities[hit, codes[hit]]
    others = probabilities[hit].copy()
    # The likely label: the likeliest of those the image is confidently (at or above their
    # threshold), else the likeliest other.
    below = others < thresholds
    others[below] -= 2.0
    others[rows, codes[hit]] = -np.inf
    others[:, ~np.isfinite(thresholds)] = -np.inf  # labels no image is given
    likely = others.argmax(axis=1)
    likely_p = probabilities[hit, likely]
    # Most suspicious first; an image with several flagged labels shows its weakest one.
    order = np.lexsort((codes[hit], sample_image[hit], mine))
    hit, mine, likely, likely_p = hit[order], mine[order], likely[order], likely_p[order]
    _, first = np.unique(sample_image[hit], return_index=True)
    first.sort()
    pairs = len(hit)
    hit, mine, likely, likely_p = hit[first], mine[first], likely[first], likely_p[first]
    return sample_image[hit], codes[hit], likely, mine, likely_p, estimated, pairs, kept_out


def issues_from_probabilities(
    labels: Labels,
    probabilities: Any,
    *,
    ids: Sequence[Any] | np.ndarray | pd.Index | None = None,
    names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Confident learning on probabilities you already have (see the module docstring).

    ``probabilities`` (n, labels) must be out-of-sample: each row predicted by a model that did
    not train on that image. ``labels`` are as for :func:`find_label_issues`; every column is a
    label, and a label no image is given is never proposed. The result is
    :func:`find_label_issues`' table, with ``attrs["estimated_issues"]`` and
    ``attrs["flagged_labels"]``.
    """
    p = _features(probabilities)
    n, m = p.shape
    ids_array, index_name = _index(ids, n)
    rows, codes = _pairs(labels, n)
    if len(codes) and codes.max() >= m:
        raise ValueError(f"label codes must be below {m}, the number of probability columns")
    if names is not None and len(names) != m:
        raise ValueError(f"names must name the {m} labels, not {len(names)}")
    if not len(rows):
        return _empty(index_name, names, estimated_issues=0, flagged_labels=0)
    images, flagged, likely, mine, likely_p, estimated, pairs, _ = _issues(
        np.unique(rows, return_inverse=True)[1], codes, np.asarray(p[rows], np.float32)
    )
    frame = _frame(
        np.unique(rows)[images], flagged, likely, mine, likely_p, ids_array, index_name, names
    )
    frame.attrs.update(estimated_issues=round(estimated), flagged_labels=pairs)
    return frame


# -- out-of-fold probabilities ----------------------------------------------------------------
def _folds(strata: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """A fold per image: each stratum's images, in random order, dealt round the k folds."""
    key = rng.random(len(strata))
    order = np.lexsort((key, strata))
    fold = np.empty(len(strata), np.int64)
    fold[order] = np.arange(len(strata)) % k
    return fold


def _training(
    pair_fold: np.ndarray, by_label: np.ndarray, codes_sorted: np.ndarray, f: int, per_label: int
) -> np.ndarray:
    """Pairs the model of fold ``f`` trains on: at most ``per_label`` a label, none of fold f.

    ``by_label`` orders the pairs by label, then by a random key; ``codes_sorted`` is their
    labels in that order.
    """
    out = pair_fold[by_label] != f
    chosen = by_label[out]
    label = codes_sorted[out]
    rank = np.arange(len(chosen)) - np.searchsorted(label, label, side="left")
    return chosen[rank < per_label]


def _default_classifier() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=_C, max_iter=_MAX_ITER))


def _out_of_fold(
    x: np.ndarray,
    image_rows: np.ndarray,
    pair_image: np.ndarray,
    codes: np.ndarray,
    m: int,
    k: int,
    per_label: int,
    classifier: Any,
    rng: np.random.Generator,
) -> np.ndarray:
    """(images, m) out-of-fold probabilities of the images at ``image_rows`` of ``x``."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    counts = np.bincount(codes, minlength=m)
    # Stratified by each image's rarest label, so that a rare label is spread over the folds.
    rarity = np.lexsort((codes, counts[codes], pair_image))
    first = np.searchsorted(pair_image[rarity], np.arange(len(image_rows)))
    fold = _folds(codes[rarity][first], k, rng)
    pair_fold = fold[pair_image]
    by_label = np.lexsort((rng.random(len(image_rows))[pair_image], codes))
    codes_sorted = codes[by_label]
    out = np.zeros((len(image_rows), m), np.float32)
    # Fits of tens of thousands of rows: threads gain little on them, and on a busy machine
    # their waiting made fits many times slower (see the suggester).
    with threadpool_limits(limits=1), warnings.catch_warnings():
        # A fit stopped at _MAX_ITER still ranks images well: not worth a warning to the user.
        warnings.simplefilter("ignore", ConvergenceWarning)
        for f in range(k):
            train = _training(pair_fold, by_label, codes_sorted, f, per_label)
            model = clone(classifier)
            model.fit(x[image_rows[pair_image[train]]], codes[train])
            columns = np.asarray(model.classes_, dtype=np.int64)
            test = np.flatnonzero(fold == f)
            for a in range(0, len(test), _BLOCK):
                block = test[a : a + _BLOCK]
                out[np.ix_(block, columns)] = model.predict_proba(x[image_rows[block]])
    return out


class _Checked:
    """What :func:`find_label_issues` and :func:`out_of_fold_probabilities` share: the input
    checked, the labels taking part, and (when two or more do) the pairs they train on."""

    def __init__(
        self,
        features: Any,
        labels: Labels,
        ids: Sequence[Any] | np.ndarray | pd.Index | None,
        names: Sequence[str] | None,
        folds: int,
        min_per_label: int,
        per_label: int,
    ) -> None:
        self.x = _features(features)
        n = len(self.x)
        self.ids, self.index_name = _index(ids, n)
        self.names = names
        if not isinstance(folds, int | np.integer) or folds < 2:
            raise ValueError(f"folds must be a whole number, 2 or more, not {folds!r}")
        if not isinstance(min_per_label, int | np.integer) or min_per_label < 2:
            raise ValueError(
                f"min_per_label must be a whole number, 2 or more, not {min_per_label!r}"
            )
        if not isinstance(per_label, int | np.integer) or per_label < 1:
            raise ValueError(f"per_label must be a whole number, 1 or more, not {per_label!r}")
        self.per_label = int(per_label)
        rows, codes = _pairs(labels, n)
        if names is not None and len(codes) and codes.max() >= len(names):
            raise ValueError(f"label code {int(codes.max())} has no name: {len(names)} names given")
        counts = np.bincount(codes, minlength=len(names) if names is not None else 0)
        present = np.flatnonzero(counts)
        self.taking_part = present[counts[present] >= min_per_label]
        few = present[counts[present] < min_per_label]
        self.not_checked = [names[c] if names is not None else int(c) for c in few]
        self.reason = ""
        if not len(present):
            self.reason = "no image has a label"
        elif len(self.taking_part) < 2:
            some = f"{len(self.taking_part)} label has" if len(self.taking_part) else "no label has"
            self.reason = (
                f"{some} {min_per_label} images or more: a label's images are checked against "
                "the others', so two labels at least must take part"
            )
        keep = np.isin(codes, self.taking_part)
        rows, codes = rows[keep], codes[keep]
        if not np.isfinite(self.x[np.unique(rows)]).all():
            raise ValueError("features of labeled images must be finite numbers (no NaN or inf)")
        # Labels renumbered 0..m-1 among those taking part; pairs sorted by image.
        self.codes = np.searchsorted(self.taking_part, codes)
        self.image_rows, self.pair_image = np.unique(rows, return_inverse=True)
        self.folds = int(min(folds, len(self.image_rows)))

    def label(self, compact: np.ndarray) -> Any:
        return self.taking_part[compact]

    def kept(self, pairs: tuple[Any, Any] | None) -> np.ndarray | None:
        """Which of the pairs taking part are among ``pairs`` ((rows, codes)), or None."""
        if pairs is None:
            return None
        rows, codes = _pairs(pairs, len(self.x))
        width = int(max(codes.max(initial=0), self.taking_part.max(initial=0))) + 1
        mine = self.image_rows[self.pair_image] * width + self.taking_part[self.codes]
        return np.isin(mine, rows * width + codes)

    def probabilities(self, classifier: Any, random_state: int) -> np.ndarray:
        return _out_of_fold(
            self.x,
            self.image_rows,
            self.pair_image,
            self.codes,
            len(self.taking_part),
            self.folds,
            self.per_label,
            _default_classifier() if classifier is None else classifier,
            np.random.default_rng(random_state),
        )


def out_of_fold_probabilities(
    features: Any,
    labels: Labels,
    *,
    ids: Sequence[Any] | np.ndarray | pd.Index | None = None,
    names: Sequence[str] | None = None,
    folds: int = FOLDS,
    min_per_label: int = MIN_PER_LABEL,
    per_label: int = PER_LABEL,
    classifier: Any = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Step 1 alone: each labeled image's out-of-fold probability of every label taking part.

    Arguments as for :func:`find_label_issues`. One row per image with a label taking part
    (index: ``ids`` or row positions), one float32 column per label taking part (its name, or
    code); ``attrs``: ``folds``, ``not_checked`` and, when fewer than two labels take part (no
    rows then), ``reason``.
    """
    checked = _Checked(features, labels, ids, names, folds, min_per_label, per_label)
    columns: list[Any] = [names[c] if names is not None else int(c) for c in checked.taking_part]
    if checked.reason:
        p = np.zeros((0, len(columns)), np.float32)
        rows = np.zeros(0, np.int64)
    else:
        p = checked.probabilities(classifier, random_state)
        rows = checked.image_rows
    index = pd.Index(rows if checked.ids is None else checked.ids[rows], name=checked.index_name)
    frame = pd.DataFrame(p, index=index, columns=pd.Index(columns, dtype=object))
    frame.attrs.update(
        folds=0 if checked.reason else checked.folds, not_checked=checked.not_checked
    )
    if checked.reason:
        frame.attrs["reason"] = checked.reason
    return frame


def find_label_issues(
    features: Any,
    labels: Labels,
    *,
    ids: Sequence[Any] | np.ndarray | pd.Index | None = None,
    names: Sequence[str] | None = None,
    folds: int = FOLDS,
    min_per_label: int = MIN_PER_LABEL,
    per_label: int = PER_LABEL,
    classifier: Any = None,
    random_state: int = 0,
    confirmed: tuple[Any, Any] | None = None,
) -> pd.DataFrame:
    """The images whose given label looks wrong, most suspicious first.

    ``features`` is (n, d), one vector a row (float32 is enough). ``labels`` is either n integer
    codes, one a row (-1: no label, not checked), or ``(rows, codes)``, one entry per
    annotation, for images with several labels. ``names`` (optional) names the codes: the
    result's labels are then categorical names, else codes. ``ids`` (optional, n values) index
    the result, else row positions do (index name ``row``).

    Returns a DataFrame, one row per flagged image, lowest confidence in its label first:

    - ``given_label``: its label (for an image with several, the least likely flagged one);
    - ``likely_label``: the label it more likely has: the likeliest of those its probability
      reaches the threshold of, else the likeliest other (for an image with several labels,
      it may be one the image carries: the given one should then go);
    - ``given_confidence``: the out-of-fold probability of the given label (for an image
      with several labels, its share of what the image's other labels leave);
    - ``likely_confidence``: the same of the likely label (its own probability, if the image
      carries it).

    ``attrs``: ``estimated_issues`` (wrong labels estimated from the calibrated confident
    joint; flagging stops near it), ``flagged_labels`` (flagged (image, label) pairs),
    ``folds`` (K used), ``checked`` (images checked), ``not_checked`` (labels taking no part:
    fewer than ``min_per_label`` images) and, when nothing could be checked, ``reason``.

    ``classifier`` (any scikit-learn classifier with ``predict_proba``, cloned for each fold)
    replaces the default logistic regression; ``per_label`` bounds each fold's training set;
    ``random_state`` seeds the folds and the sample, so the same input gives the same result.

    ``confirmed`` (optional, ``(rows, codes)`` as ``labels``) names (image, label) pairs that
    someone checked and kept: they count as all others (in training and in
    ``estimated_issues``) but are never flagged; ``attrs["confirmed"]`` says how many flagged
    pairs they kept out.
    """
    checked = _Checked(features, labels, ids, names, folds, min_per_label, per_label)
    if checked.reason:
        return _empty(
            checked.index_name,
            names,
            estimated_issues=0,
            flagged_labels=0,
            folds=0,
            checked=0,
            not_checked=checked.not_checked,
            confirmed=0,
            reason=checked.reason,
        )
    probabilities = checked.probabilities(classifier, random_state)
    images, flagged, likely, mine, likely_p, estimated, pairs, confirmed_out = _issues(
        checked.pair_image,
        checked.codes,
        probabilities[checked.pair_image],
        checked.kept(confirmed),
    )
    frame = _frame(
        checked.image_rows[images],
        checked.label(flagged),
        checked.label(likely),
        mine,
        likely_p,
        checked.ids,
        checked.index_name,
        names,
    )
    frame.attrs.update(
        estimated_issues=round(estimated),
        flagged_labels=pairs,
        folds=checked.folds,
        checked=len(checked.image_rows),
        not_checked=checked.not_checked,
        confirmed=confirmed_out,
    )
    return frame
