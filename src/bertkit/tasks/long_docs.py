"""Long documents (ClinicalBERT, chapter 8): split into windows, predict each, combine the window probabilities.

ClinicalBERT's readmission score for a document cut into n windows:

    P = (P_max + P_mean * n / c) / (1 + n / c)

P_max alone is noisy for long documents (one window can be an outlier) and P_mean alone dilutes one strong
window; the scaling n / c shifts weight towards the mean as the document grows (c = 2 in the paper).
"""
from __future__ import annotations

import numpy as np

from bertkit.errors import InputError

COMBINE = ("clinical", "mean", "max")


def combine_windows(probs: np.ndarray, how: str = "clinical", c: float = 2.0) -> np.ndarray:
    """probs: (n, C) per-window class probabilities of one document -> (C,) combined, class by class.

    'clinical' applies the formula above to each class; 'mean' and 'max' are the plain reductions. The
    result is not renormalised: with 'max' or 'clinical' the classes need not sum to 1 (argmax still ranks them).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape[0] == 0:
        raise InputError("cannot combine zero windows")
    if how == "mean":
        return p.mean(0)
    if how == "max":
        return p.max(0)
    if how == "clinical":
        if c <= 0:
            raise InputError(f"the ClinicalBERT scaling c must be > 0, got {c}")
        n = p.shape[0]
        return (p.max(0) + p.mean(0) * n / c) / (1 + n / c)
    raise InputError(f"window combination must be one of {COMBINE}, got {how!r}")
