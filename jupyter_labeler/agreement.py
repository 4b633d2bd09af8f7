"""Inter-annotator agreement: Cohen's kappa for two annotators, Fleiss' kappa for more.

Inputs are the own labels of overlap images (see :mod:`.team`) as long columns: image code,
annotator, label. Only images that every one of their annotators labeled count. Per label, each
annotator's rating of an image is whether they gave it that label (yes / no); overall, it is
the whole set of labels they gave it (for single-label classification: the class).

Nothing here does I/O or knows about the Dataset: :meth:`Dataset.agreement` and
:meth:`Dataset.disagreements` take the ratings of its state (:func:`ratings`, with its lock
held) and call :func:`agreement_table` or :func:`disagreement_table` on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .team import rated

if TYPE_CHECKING:
    from .state import State

__all__ = [
    "agreement_table",
    "cohen_kappa",
    "disagreement_table",
    "fleiss_kappa",
    "rating_table",
    "ratings",
]

OVERALL = "(overall)"


def cohen_kappa(a: Sequence[object], b: Sequence[object]) -> float:
    """Cohen's kappa of two raters' categories for the same items (NaN when chance agreement
    is certain, as when both give every item the same category)."""
    a_codes, cats = pd.factorize(pd.Series(list(a) + list(b), dtype=object))
    n = len(a)
    if n == 0:
        return float("nan")
    x, y = a_codes[:n], a_codes[n:]
    k = len(cats)
    observed = float((x == y).mean())
    pa_ = np.bincount(x, minlength=k) / n
    pb_ = np.bincount(y, minlength=k) / n
    expected = float((pa_ * pb_).sum())
    if expected >= 1.0:
        return float("nan")
    return (observed - expected) / (1.0 - expected)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa of an items x categories table of how many raters chose each category
    (every row sums to the same number of raters, at least 2)."""
    counts = np.asarray(counts, dtype=np.float64)
    n_items = counts.shape[0]
    if n_items == 0:
        return float("nan")
    raters = counts[0].sum()
    if raters < 2 or not np.allclose(counts.sum(axis=1), raters):
        raise ValueError("every item needs the same number of raters, at least 2")
    p_j = counts.sum(axis=0) / (n_items * raters)
    p_i = ((counts * counts).sum(axis=1) - raters) / (raters * (raters - 1))
    p_bar, p_e = float(p_i.mean()), float((p_j * p_j).sum())
    if p_e >= 1.0:
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def rating_table(
    codes: np.ndarray, who: np.ndarray, labels: np.ndarray, assignees: np.ndarray
) -> pd.DataFrame:
    """One row per (image, annotator) of the images that all their annotators labeled.

    Columns ``code``, ``who``, ``labels`` (a sorted tuple); ``raters`` is how many annotators
    the image has.
    """
    if not len(codes):
        return pd.DataFrame({"code": [], "who": [], "labels": [], "raters": []})
    # Sorted by image, annotator, then label name; each (image, annotator) run is one rating.
    names = sorted(set(labels.tolist()))
    rank = pd.Categorical(labels, categories=names).codes
    order = np.lexsort((rank, who, codes))
    codes, who, labels, assignees = codes[order], who[order], labels[order], assignees[order]
    first = np.ones(len(codes), dtype=bool)
    first[1:] = (codes[1:] != codes[:-1]) | (who[1:] != who[:-1])
    starts = np.flatnonzero(first)
    stops = np.append(starts[1:], len(codes))
    values = labels.tolist()
    sets = pd.DataFrame(
        {
            "code": codes[starts],
            "who": who[starts],
            "labels": [
                tuple(values[a:b]) for a, b in zip(starts.tolist(), stops.tolist(), strict=True)
            ],
            "raters": assignees[starts],
        }
    )
    done = sets.groupby("code")["who"].transform("size")
    return sets[done == sets["raters"]].reset_index(drop=True)


def ratings(state: State) -> pd.DataFrame:
    """:func:`rating_table` of the own labels of ``state`` (see :func:`~.team.rated`), with
    each row's ``image_id`` and ``annotator`` name."""
    codes, who, labels, raters = rated(state)
    authors = np.asarray(state.authors.values, dtype=object)
    table = rating_table(codes, who, labels, raters)
    table["image_id"] = state.ids[table["code"].to_numpy(dtype=np.int64)]
    table["annotator"] = authors[table["who"].to_numpy(dtype=np.int64)]
    return table


def disagreement_table(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`ratings` of the images whose annotators did not all give the same
    labels: ``image_id``, ``annotator``, ``labels`` (a list, sorted)."""
    if not table.empty:
        joined = table["labels"].map("\x1f".join)
        differ = joined.groupby(table["code"]).transform("nunique") > 1
        table = table[differ]
    return pd.DataFrame(
        {
            "image_id": pd.array(table["image_id"].tolist(), dtype=object),
            "annotator": pd.array(table["annotator"].tolist(), dtype=object),
            "labels": pd.array([list(t) for t in table["labels"]], dtype=object),
        }
    )


def agreement_table(table: pd.DataFrame, label_names: list[str]) -> pd.DataFrame:
    """Kappa per label and overall from :func:`rating_table`'s rows.

    Images are grouped by how many annotators they have; the group with most images is used
    (Fleiss' kappa needs the same number of raters per image). Two annotators in all give
    Cohen's kappa; more give Fleiss'.
    """
    columns = ["kappa", "method", "images", "annotators", "agree"]
    if table.empty:
        return pd.DataFrame(
            {c: pd.Series([], dtype=object) for c in columns},
            index=pd.Index([], name="label", dtype=object),
        )
    sizes = table.drop_duplicates("code")["raters"].value_counts()
    raters = int(sizes.index[0])
    rows = table[table["raters"] == raters]
    people = sorted(set(rows["who"].tolist()))
    images = rows["code"].nunique()
    cohen = len(people) == 2
    out: dict[str, list[object]] = {c: [] for c in columns}
    index: list[str] = []
    overall = rows["labels"].map(lambda t: "\x1f".join(t))
    targets: list[tuple[str, pd.Series]] = [(OVERALL, overall)]
    for name in label_names:
        targets.append((name, rows["labels"].map(lambda t, n=name: n in t)))
    for name, rating in targets:
        if cohen:
            wide = pd.DataFrame({"code": rows["code"], "who": rows["who"], "r": rating}).pivot(
                index="code", columns="who", values="r"
            )
            kappa = cohen_kappa(wide[people[0]].tolist(), wide[people[1]].tolist())
            agree = float((wide[people[0]] == wide[people[1]]).mean())
        else:
            counts = pd.crosstab(rows["code"], rating.astype(str)).to_numpy()
            kappa = fleiss_kappa(counts)
            agree = float((counts.max(axis=1) == raters).mean())
        index.append(name)
        out["kappa"].append(kappa)
        out["method"].append("cohen" if cohen else "fleiss")
        out["images"].append(images)
        out["annotators"].append(len(people))
        out["agree"].append(agree)
    result = pd.DataFrame(out, index=pd.Index(index, name="label", dtype=object))
    result["kappa"] = result["kappa"].astype("float64")
    result["images"] = result["images"].astype("int64")
    result["annotators"] = result["annotators"].astype("int64")
    result["agree"] = result["agree"].astype("float64")
    return result
