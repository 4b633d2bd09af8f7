"""Train / eval / test splits, as ModelArts ExeML keeps them in each sample's ``usage``.

:func:`plan_split` decides, for the labeled images, which part each goes to: stratified per
label (each image counts for its rarest label, so that a multi-label dataset's small classes
are spread too), reproducible for a ``seed``, and keeping the usage an image already has unless
told to reassign. Nothing here does I/O; :meth:`Dataset.split` records the plan as one action.
"""

from __future__ import annotations

import numpy as np

__all__ = ["USAGES", "normalize_usage", "plan_split"]

USAGES = ("TRAIN", "EVAL", "TEST")
"""The parts of a split, as written into a manifest's ``usage``."""


def normalize_usage(usage: object) -> str:
    """``"train"`` -> ``"TRAIN"``; None or ``""`` -> ``""`` (no part); anything else: ValueError."""
    if usage is None or usage == "":
        return ""
    if isinstance(usage, str) and usage.strip().upper() in USAGES:
        return usage.strip().upper()
    raise ValueError(f"usage must be one of {', '.join(USAGES)} or None, not {usage!r}")


def _check_share(name: str, value: float) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value < 1:
        raise ValueError(f"{name} must be a share from 0 up to (not including) 1, not {value!r}")
    return float(value)


def plan_split(
    codes: np.ndarray,
    strata: np.ndarray,
    usage: np.ndarray,
    *,
    eval: float,
    test: float,
    seed: int,
    reassign: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The images whose usage changes, and their new usage.

    ``codes`` are the labeled images, ``strata`` the label each counts for (its rarest), and
    ``usage`` their current usage. In each stratum of n images, ``round(eval * n)`` go to EVAL
    (at least one when ``eval > 0`` and n >= 2, so that the eval part has every label that can
    spare an image), ``round(test * n)`` to TEST likewise, and the rest to TRAIN; at least one
    image of each stratum stays in TRAIN. Images already in a part count towards it and stay,
    unless ``reassign``.
    """
    eval_share, test_share = _check_share("eval", eval), _check_share("test", test)
    if eval_share + test_share >= 1:
        raise ValueError(f"eval + test must leave a share for TRAIN, not {eval + test!r}")
    rng = np.random.default_rng(seed)
    new_codes: list[np.ndarray] = []
    new_usage: list[np.ndarray] = []
    order = np.lexsort((codes, strata))
    codes, strata, usage = codes[order], strata[order], usage[order]
    bounds = np.flatnonzero(np.diff(strata)) + 1
    for members, current in zip(np.split(codes, bounds), np.split(usage, bounds), strict=True):
        n = len(members)
        want = {"EVAL": _wanted(eval_share, n), "TEST": _wanted(test_share, n)}
        while want["EVAL"] + want["TEST"] > max(n - 1, 0):  # keep one for TRAIN
            part = "TEST" if want["TEST"] >= want["EVAL"] and want["TEST"] else "EVAL"
            want[part] -= 1
        keep = np.isin(current, USAGES) if not reassign else np.zeros(n, dtype=bool)
        free = np.flatnonzero(~keep)
        rng.shuffle(free)
        target = np.empty(n, dtype=object)
        target[keep] = current[keep]
        start = 0
        for part in ("EVAL", "TEST"):
            need = max(0, want[part] - int((current[keep] == part).sum()))
            target[free[start : start + need]] = part
            start += need
        target[free[start:]] = "TRAIN"
        changed = target != current
        new_codes.append(members[changed])
        new_usage.append(target[changed])
    if not new_codes:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    return np.concatenate(new_codes), np.concatenate(new_usage)


def _wanted(share: float, n: int) -> int:
    if share <= 0 or n < 2:
        return 0
    return max(1, round(share * n))
