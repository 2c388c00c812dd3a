r"""ROC AUC and average precision from mergeable score histograms, with a stated error bound.

A streaming evaluation cannot keep every score, so the scores are binned on a fixed grid
of their **logit** ``s = log p − log(1 − p)`` (monotone in ``p``): :data:`SCORE_BINS`
bins of width 1/256 on ``[−16, 16)``, one bin below (``s < −16``, ``p = 0`` included) and
one above (``s ≥ 16``, ``p = 1`` included). Per bin ``b`` the state holds ``P_b`` and
``N_b``, the summed sample weights of positives and negatives: sums, so batches and shards
merge exactly and the numbers do not depend on the split.

Pairs in different bins are ordered exactly; only pairs inside one bin are unknown, and
the estimates treat them as ties (as scikit-learn treats equal scores). With ``P = Σ P_b``,
``N = Σ N_b``, bins in increasing score order and ``N_{<b} = Σ_{b' < b} N_{b'}``:

    AUC   = Σ_b P_b (N_{<b} + ½ N_b) / (P N)
    |AUC − AUC_exact| ≤ auc_bound = ½ Σ_b P_b N_b / (P N)

and average precision (scikit-learn's step sum ``Σ_n (R_n − R_{n−1}) P_n`` over
thresholds), with ``T_b``, ``C_b`` the positive and total weight in the bins above ``b``:

    AP    = Σ_b a_b / P,   a_b = P_b (T_b + P_b) / (C_b + P_b + N_b)
    |AP − AP_exact| ≤ ap_bound = Σ_b max(h_b − a_b, a_b − l_b) / P

where bin ``b``'s exact share of ``P·AP`` lies in ``[l_b, h_b]``: at most
``h_b = P_b (T_b + P_b)/(C_b + P_b)`` (every positive of the bin before its negatives) and at
least ``l_b = ∫_0^{P_b} (T_b + u)/(D_b + u) du = P_b − (D_b − T_b) ln(1 + P_b/D_b)`` with
``D_b = C_b + N_b`` (every negative first; ``l_b = P_b`` when ``D_b = 0``). Both
bounds come from the state itself and are reported beside the values; they are 0 when
every bin holds one distinct score (or only one class). AUC and AP are NaN without both
classes (AP: without a positive).

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1]); s = np.array([-2.0, 0.5, 0.3, 3.0])
>>> pos, neg = score_histograms(s, y.astype(bool), np.ones(4))
>>> r = ranking(pos, neg)
>>> r.auc, r.auc_bound, round(r.ap, 6)      # sklearn: roc_auc_score 0.75, AP 0.833333
(0.75, 0.0, 0.833333)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["SCORE_BINS", "SCORE_LIMIT", "Ranking", "score_bin", "score_histograms", "ranking"]

#: inner bins of the logit grid, and the grid's half-width (logits beyond it share a bin)
SCORE_BINS = 8192
SCORE_LIMIT = 16.0
#: every bin: below, the inner grid, above
N_BINS = SCORE_BINS + 2


@dataclass(frozen=True)
class Ranking:
    """ROC AUC and average precision from binned scores, each with its error bound."""

    auc: float
    auc_bound: float
    ap: float
    ap_bound: float


def score_bin(logit: np.ndarray) -> np.ndarray:
    """The bin of each logit: 0 below ``−SCORE_LIMIT``, ``N_BINS − 1`` from ``SCORE_LIMIT`` up.

    >>> score_bin(np.array([-np.inf, -16.0, 0.0, 15.999, 16.0, np.inf])).tolist()
    [0, 1, 4097, 8192, 8193, 8193]
    """
    scale = SCORE_BINS / (2 * SCORE_LIMIT)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.floor((np.nan_to_num(logit, nan=0.0) + SCORE_LIMIT) * scale)
    return (np.clip(k, -1, SCORE_BINS) + 1).astype(np.intp)


def score_histograms(
    logit: np.ndarray, positive: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(P_b, N_b)``: summed weights of positives and negatives per score bin (1-D inputs).

    >>> pos, neg = score_histograms(np.array([0.0, 0.0, 1.0]), np.array([True, False, True]), np.ones(3))
    >>> float(pos.sum()), float(neg.sum()), int((pos > 0).sum())
    (2.0, 1.0, 2)
    """
    b = score_bin(logit)
    pos = np.bincount(b, weights=np.where(positive, w, 0.0), minlength=N_BINS)
    neg = np.bincount(b, weights=np.where(positive, 0.0, w), minlength=N_BINS)
    return pos, neg


def ranking(pos: np.ndarray, neg: np.ndarray) -> Ranking:
    """AUC and AP (and their bounds) of score histograms in increasing score order."""
    P, N = float(pos.sum()), float(neg.sum())
    if not (P > 0 and N > 0):
        auc = bound = math.nan
    else:
        below = np.cumsum(neg) - neg
        auc = float((pos * (below + 0.5 * neg)).sum() / (P * N))
        bound = float(0.5 * (pos * neg).sum() / (P * N))
    if not P > 0:
        return Ranking(auc, bound, math.nan, math.nan)
    # descending thresholds: T, C = positive and total weight strictly above each bin
    p_desc, n_desc = pos[::-1], neg[::-1]
    T = np.cumsum(p_desc) - p_desc
    C = np.cumsum(p_desc + n_desc) - (p_desc + n_desc)
    has = p_desc > 0
    Tb, Cb, Pb, Nb = T[has], C[has], p_desc[has], n_desc[has]
    est = Pb * (Tb + Pb) / (Cb + Pb + Nb)
    hi = Pb * (Tb + Pb) / (Cb + Pb)
    D = Cb + Nb
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(D > 0, Pb - (D - Tb) * np.log1p(Pb / np.where(D > 0, D, 1.0)), Pb)
    err = np.maximum(hi - est, est - lo)
    return Ranking(auc, bound, float(est.sum() / P), float(err.sum() / P))
