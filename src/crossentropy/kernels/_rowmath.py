"""Compiled per-row helpers shared by the softmax kernels and the evaluation row pass.

Imported only when numba is. A row's log-probabilities are formed as
``log q_c = (x_c - M) - log S`` from the online log-sum-exp ``(M, log S)``;
smoothing enters as the ``(α, β)`` of :func:`crossentropy._rows.smoothing_coefficients`:
for an index target ``t`` the smoothed target is ``y'_t = α + β`` and ``y'_c = β``
elsewhere, times the class weight ``w_c``.
"""

from typing import TypedDict

from numba import njit
from numba.extending import overload

from ._simd import FASTMATH

#: length of the sub-blocks summed in the row's dtype before the float64 running sum
#: (terms are <= 1: worst-case relative error of S is 128 * 2**-24 = 7.6e-6; the compiled
#: loop sums in independent vector lanes, so in practice it is about 1e-7).
SUB = 128


class JitOptions(TypedDict):
    """The keyword arguments of ``numba.njit`` that every kernel passes."""

    cache: bool
    fastmath: set[str]
    nogil: bool


#: compile options of every kernel but the exp-sums. Re-association is allowed only inside
#: the exp-sums (compiled on their own, so their instructions keep their flags). Everywhere
#: else the order of operations is kept: ``(x_c - M) - log S`` re-associated to
#: ``x_c - (M + log S)`` loses every digit when |M| >> log S (e.g. logits [1e30, 1e30]
#: would give log q = 0 instead of -log 2).
JIT: JitOptions = {"cache": True, "fastmath": FASTMATH - {"reassoc"}, "nogil": True}


def cast_like(arr, v):  # pragma: no cover - replaced by the overload in compiled code
    """``v`` converted to ``arr``'s dtype; only callable from compiled code."""
    return arr.dtype.type(v)


@overload(cast_like)
def _cast_like_overload(arr, v):
    dt = arr.dtype

    def impl(arr, v):
        return dt(v)

    return impl


@njit(inline="always", **JIT)
def wdot(row, w, has_w, big, logs, lo, hi):
    """sum_{lo <= c < hi} w_c * log q_c with 0 * log q = 0 (log q_c = x_c - M - log S).

    Loops over slices indexed from 0 (no negative-index wrap-around: they vectorise).
    """
    acc = 0.0
    seg = row[lo:hi]
    if has_w:
        wseg = w[lo:hi]
        for c in range(seg.shape[0]):
            d = (float(seg[c]) - big) - logs
            wc = wseg[c]
            acc += wc * d if wc != 0.0 else 0.0
    else:
        for c in range(seg.shape[0]):
            acc += (float(seg[c]) - big) - logs
    return acc


@njit(inline="always", **JIT)
def index_row_loss(row, t, w, has_w, alpha, beta, big, logs):
    """sum_c a_c log q_c for index target t, a_c = w_c (α [c = t] + β) (no sample weight)."""
    n = row.shape[0]
    at = (w[t] if has_w else 1.0) * (alpha + beta)
    acc = 0.0
    if at != 0.0:
        acc = at * ((float(row[t]) - big) - logs)
    if beta != 0.0:
        other = wdot(row, w, has_w, big, logs, 0, t) + wdot(row, w, has_w, big, logs, t + 1, n)
        acc += beta * other
    return acc
