r"""Mergeable Poisson bootstrap: counter-based replicate weights and exact replicate sums.

The Poisson bootstrap gives unit ``u`` (a row of the batch's leading axis: an
example for ``(N, C)`` input, a sequence for ``(B, T, V)`` input) an integer
weight ``r_uk ~ Poisson(1)`` in replicate ``k``; a statistic's replicate value
is the statistic computed with those weights, e.g. for the cross-entropy

    CE_k = Σ_u r_uk · L_u / Σ_u r_uk · W_u      (L_u = Σ ℓ_i, W_u = Σ w_i over the unit's examples)

and the percentile interval is read off the replicate values.

Two things make the intervals identical for any split of the data into batches,
files, Dask partitions or torch ranks, and for any merge order:

* **Counter-based weights.** ``r_uk`` is a pure function of ``(seed, u, k)``:
  a SplitMix64-style hash of the global unit index and the replicate number,
  turned into a uniform 53-bit number and then into a Poisson(1) draw by
  inverse-CDF lookup. No generator state travels between batches; the caller
  only needs each unit's global index (``row_offset=`` of
  :meth:`crossentropy.Accumulator.update`).
* **Exact replicate sums.** Each per-unit value is written as four signed
  32-bit limbs of a fixed-point number with resolution ``2**-64`` (values are
  truncated towards zero below that resolution, a deterministic per-unit
  quantisation), and ``Σ_u r_uk · limb_u`` is computed by a float64 matrix
  product whose partial sums are integers below ``2**53`` — hence exact in any
  summation order — and then carried into int64 limbs. Integer sums are
  associative, so merging is exact. Non-finite values are counted per
  replicate instead (NaN → the replicate is NaN; +inf → +inf); per-unit values
  of magnitude ``≥ 2**64`` (≈ 1.8e19) count as ±inf.

>>> import numpy as np
>>> w = poisson_weights(seed=0, units=np.arange(5), replicates=3)
>>> w.shape, w.dtype
((5, 3), dtype('float64'))
>>> bool(np.array_equal(w[2:], poisson_weights(seed=0, units=np.arange(2, 5), replicates=3)))
True
>>> s = ReplicateSums.zeros(replicates=3, columns=1)
>>> s.add(w, np.array([[1.0], [2.0], [3.0], [4.0], [5.0]]))
>>> bool(np.allclose(s.values()[:, 0], w.T @ np.arange(1.0, 6.0)))
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "poisson_weights",
    "uniform53",
    "ReplicateSums",
    "percentile_interval",
    "POISSON1_CDF",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STREAM = np.uint64(0xD1B54A32D192ED03)


def _mix64(z: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser (a bijection of uint64), vectorised; wraps modulo 2**64."""
    z = z ^ (z >> np.uint64(30))
    z = z * _M1
    z = z ^ (z >> np.uint64(27))
    z = z * _M2
    return z ^ (z >> np.uint64(31))


def _seed_key(seed: int) -> np.uint64:
    if (
        isinstance(seed, bool)
        or not isinstance(seed, (int, np.integer))
        or seed < 0
        or seed >= 2**64
    ):
        msg = f"`seed` must be an integer in [0, 2**64); got {seed!r}"
        raise ValueError(msg)
    with np.errstate(over="ignore"):
        return _mix64(np.array([seed], dtype=np.uint64) + _GOLDEN)[0]


def uniform53(seed: int, units: np.ndarray, replicates: int) -> np.ndarray:
    """Uniform numbers in [0, 1) keyed on ``(seed, unit, replicate)``: shape ``(len(units), replicates)``.

    ``u = mix(mix(key(seed) ^ mix(unit·φ + c)) + (k+1)·φ') >> 11 · 2**-53`` with the
    SplitMix64 finaliser ``mix``; a pure function of its three integers.

    >>> import numpy as np
    >>> u = uniform53(7, np.array([0, 1]), 4)
    >>> bool(((u >= 0) & (u < 1)).all()), u.shape
    (True, (2, 4))
    """
    units = np.asarray(units)
    if units.size and (units.min() < 0):
        msg = f"unit indices must be ≥ 0; got minimum {units.min()} (check `row_offset`)"
        raise ValueError(msg)
    key = _seed_key(seed)
    with np.errstate(over="ignore"):
        u = units.astype(np.uint64).reshape(-1, 1)
        h_unit = _mix64(u * _GOLDEN + _STREAM) ^ key
        h_unit = _mix64(h_unit)
        k = (np.arange(1, replicates + 1, dtype=np.uint64) * _STREAM).reshape(1, -1)
        h = _mix64(h_unit + k)
    return (h >> np.uint64(11)).astype(np.float64) * (2.0**-53)


def _poisson1_cdf() -> np.ndarray:
    # P(X ≤ k) for X ~ Poisson(1), k = 0..; stops when the CDF rounds to 1 in float64.
    cdf, p, total, k = [], math.exp(-1.0), 0.0, 0
    while total < 1.0 and k < 40:
        total = math.fsum([total, p])
        cdf.append(min(total, 1.0))
        k += 1
        p = p / k
    return np.array(cdf)


POISSON1_CDF = _poisson1_cdf()


def poisson_weights(seed: int, units: np.ndarray, replicates: int) -> np.ndarray:
    """Poisson(1) replicate weights ``r_uk`` for global unit indices ``units``: ``(n, replicates)`` float64.

    The draw is ``min{k : u < P(X ≤ k)}`` for the uniform ``u`` of :func:`uniform53`,
    so the same ``(seed, unit, k)`` always gives the same weight, whatever batch
    the unit arrives in. Weights are small integers (at most ``len(POISSON1_CDF)``).

    >>> import numpy as np
    >>> w = poisson_weights(0, np.arange(100_000), 1)
    >>> bool(abs(w.mean() - 1) < 0.01 and abs(w.var() - 1) < 0.02)
    True
    """
    u = uniform53(seed, units, replicates)
    return np.searchsorted(POISSON1_CDF, u, side="right").astype(np.float64)


# ---- exact replicate sums --------------------------------------------------------------------

_LIMB_BITS = 32
_NLIMBS = 4
_SCALE_EXP = 64  # fixed point: value = Σ_j limb_j · 2**(32 j − 64)
_LIMIT = 2.0**64  # per-unit magnitudes at or above this count as ±inf
# r ≤ len(POISSON1_CDF) < 2**5 and |limb| < 2**32, so a block of 2**15 units keeps every
# partial sum of the float64 matrix product below 2**52: exact in any summation order.
_BLOCK = 2**15


def _limbs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(limbs (n, m, 4) float64 integers, nan (n, m), posinf (n, m), neginf (n, m)) of ``values`` (n, m)."""
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    big = ~nan & (np.abs(v) >= _LIMIT)
    posinf = big & (v > 0)
    neginf = big & (v < 0)
    finite = ~(nan | big)
    a = np.where(finite, np.abs(v), 0.0) * 2.0**_SCALE_EXP  # exact: power-of-two scaling
    sign = np.where(v < 0, -1.0, 1.0)
    out = np.empty((*v.shape, _NLIMBS), dtype=np.float64)
    rem = a
    for j in range(_NLIMBS - 1, -1, -1):
        unit = 2.0 ** (_LIMB_BITS * j)
        limb = np.floor(rem / unit)  # exact: division by a power of two, then floor
        rem = rem - limb * unit  # exact: a remainder of the same float's bits
        out[..., j] = limb * sign
    return out, nan, posinf, neginf


class ReplicateSums:
    """Exact, mergeable per-replicate sums ``S_kc = Σ_u r_uk · v_uc`` (see the module docstring).

    State: ``limbs`` int64 ``(K, m, 4)`` in carried form, and per-replicate counts
    of NaN, +inf and −inf contributions ``(K, m)``.
    """

    def __init__(self, limbs: np.ndarray, nan: np.ndarray, posinf: np.ndarray, neginf: np.ndarray):
        self.limbs = limbs
        self.nan = nan
        self.posinf = posinf
        self.neginf = neginf

    @classmethod
    def zeros(cls, replicates: int, columns: int) -> ReplicateSums:
        z = np.zeros((replicates, columns), dtype=np.int64)
        return cls(np.zeros((replicates, columns, _NLIMBS), dtype=np.int64), z, z.copy(), z.copy())

    @property
    def shape(self) -> tuple[int, int]:
        return self.nan.shape

    def _carry(self) -> None:
        lim = self.limbs
        for j in range(_NLIMBS - 1):
            carry = lim[..., j] >> _LIMB_BITS  # floor division by 2**32 (arithmetic shift)
            lim[..., j] -= carry << _LIMB_BITS
            lim[..., j + 1] += carry

    def add(self, weights: np.ndarray, values: np.ndarray) -> None:
        """Add ``Σ_u weights[u, k] · values[u, c]``; ``weights`` (n, K) small integers, ``values`` (n, m)."""
        n = values.shape[0]
        K, m = self.shape
        for start in range(0, n, _BLOCK):
            r = weights[start : start + _BLOCK]
            limbs, nan, pinf, ninf = _limbs(values[start : start + _BLOCK])
            nb = limbs.shape[0]
            prod = r.T @ limbs.reshape(nb, m * _NLIMBS)  # exact integers < 2**53
            self.limbs += prod.reshape(K, m, _NLIMBS).astype(np.int64)
            flags = np.concatenate([nan, pinf, ninf], axis=1).astype(np.float64)
            counts = (r.T @ flags).astype(np.int64)
            self.nan += counts[:, :m]
            self.posinf += counts[:, m : 2 * m]
            self.neginf += counts[:, 2 * m :]
            self._carry()

    def merge(self, other: ReplicateSums) -> ReplicateSums:
        if other.shape != self.shape:
            msg = f"cannot merge bootstrap sums of shape {other.shape} into {self.shape}"
            raise ValueError(msg)
        out = ReplicateSums(
            self.limbs + other.limbs,
            self.nan + other.nan,
            self.posinf + other.posinf,
            self.neginf + other.neginf,
        )
        out._carry()
        return out

    def values(self) -> np.ndarray:
        """The sums as float64 ``(K, m)``: the exact integer correctly rounded, then non-finite rules."""
        K, m = self.shape
        out = np.empty((K, m), dtype=np.float64)
        lim = self.limbs
        for k in range(K):
            for c in range(m):
                total = 0
                for j in range(_NLIMBS):
                    total += int(lim[k, c, j]) << (_LIMB_BITS * j)
                out[k, c] = math.ldexp(float(total), -_SCALE_EXP) if total else 0.0
        nan = (self.nan > 0) | ((self.posinf > 0) & (self.neginf > 0))
        out = np.where(self.posinf > 0, math.inf, out)
        out = np.where(self.neginf > 0, -math.inf, out)
        return np.where(nan, math.nan, out)

    def to_state(self) -> dict[str, Any]:
        return {
            "limbs": self.limbs.tolist(),
            "nan": self.nan.tolist(),
            "posinf": self.posinf.tolist(),
            "neginf": self.neginf.tolist(),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any], replicates: int, columns: int) -> ReplicateSums:
        out = cls(
            np.asarray(d["limbs"], dtype=np.int64).reshape(replicates, columns, _NLIMBS),
            np.asarray(d["nan"], dtype=np.int64).reshape(replicates, columns),
            np.asarray(d["posinf"], dtype=np.int64).reshape(replicates, columns),
            np.asarray(d["neginf"], dtype=np.int64).reshape(replicates, columns),
        )
        return out


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval ``(lo, hi)`` of bootstrap replicate values.

    ``lo`` is the lower order statistic at ``(1 − level)/2`` and ``hi`` the upper one
    at ``(1 + level)/2`` (no interpolation, so ±inf replicates stay meaningful).
    Undefined replicates must be removed by the caller; any NaN gives ``(nan, nan)``.

    >>> percentile_interval(np.arange(101.0), level=0.9)
    (5.0, 95.0)
    """
    s = np.asarray(samples, dtype=np.float64)
    if not 0 < level < 1:
        msg = f"`level` must be in (0, 1); got {level!r}"
        raise ValueError(msg)
    if s.size == 0 or np.isnan(s).any():
        return (math.nan, math.nan)
    a = round((1 - level) / 2, 12)  # 0.1/2 is 0.04999..., not 0.05
    lo = float(np.quantile(s, a, method="lower"))
    hi = float(np.quantile(s, 1 - a, method="higher"))
    return (lo, hi)
