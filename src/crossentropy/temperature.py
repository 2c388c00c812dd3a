r"""Temperature scaling: the ``T > 0`` minimising the NLL of ``softmax(x / T)``, and its record.

Dividing logits by ``T`` never changes the argmax, hence the accuracy; it only
sharpens (``T < 1``) or flattens (``T > 1``) the distribution. The fit optimises
``t = log T`` by safeguarded Newton steps whose value, slope and curvature are
sums over examples (:func:`temperature_sums`), so the same fit runs over a
stream of files, Dask partitions or torch ranks: :func:`fit_log_temperature`
takes any function that returns the summed values at a given ``t``, and
:func:`fit_from_passes` is the one driver that turns such a function into a
:class:`Temperature` record (every engine of the library goes through it).

**The sums.** The loss is the library's (docs/semantics.md §4-5), with class
weights, label smoothing and sample weights: with ``β = 1/T = e^{−t}``,

    ℓ_i(β) = − s_i Σ_c a_ic log softmax(β x_i)_c,      a_ic = weight_c · y'_ic

Write ``k_ic = s_i a_ic``, ``K_i = Σ_c k_ic``, ``q_i = softmax(β x_i)``,
``μ_i = E_q[x_i]``, ``v_i = Var_q[x_i]`` and ``Y_i = Σ_c k_ic x_ic``. Since
``ℓ_i = K_i · lse(β x_i) − β Y_i`` and ``d lse(β x)/dβ = μ``, ``dμ/dβ = v``:

    dℓ_i/dβ = K_i μ_i − Y_i          d²ℓ_i/dβ² = K_i v_i ≥ 0        (convex in β)
    dℓ_i/dt = −β · dℓ_i/dβ          d²ℓ_i/dt² = β² · d²ℓ_i/dβ² + β · dℓ_i/dβ

``k_ic`` is minus the gradient of ``ℓ_i`` with respect to log-probabilities
(:func:`crossentropy.cross_entropy_grad` with ``kind="log_probs"``), so the
coefficients come from the core's own smoothing and weighting rules.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 3, 500)
>>> x = 4.0 * rng.normal(size=(500, 3)); x[np.arange(500), y] += 2.0   # over-confident logits
>>> fit = fit_temperature(x, y)
>>> fit.T > 1, fit.nll_after < fit.nll_before, fit.converged
(True, True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, get_args

import numpy as np

from ._array import to_numpy
from ._blocks import row_blocks, slice_target, slice_weight
from ._options import IGNORE_INDEX, log_base
from ._types import Base, Smoothing, TemperatureKind
from ._validate import check_float64_weights, check_option, check_rows
from .calibration import CalibrationSums, top_label_inputs
from .chain import loss_terms
from .gradients import cross_entropy_grad
from .kinds import to_log_probs

__all__ = [
    "Temperature",
    "TemperatureSums",
    "temperature_sums",
    "fit_log_temperature",
    "fit_from_passes",
    "fit_temperature",
    "LOSS_OPTIONS",
    "loss_options",
]

#: the loss options of :func:`temperature_sums` / :func:`fit_temperature` (those of
#: :func:`crossentropy.loss_terms` but the arrays and ``impl``): :func:`loss_options`
#: picks all of them from an Accumulator's options, so that none can be dropped
LOSS_OPTIONS = (
    "kind",
    "axis",
    "weight",
    "ignore_index",
    "label_smoothing",
    "smoothing",
    "validate",
)


@dataclass(frozen=True)
class Temperature:
    """A fitted temperature ``T`` (divide logits by it), with the fit set's mean NLL and ECE.

    ``nll_before`` (at T = 1) and ``nll_after`` (at the fitted ``T``) are means
    ``Σℓ_i / Σw_i`` over the fit set, with the loss options of the report, in the
    unit of ``base``: nats for ``"e"``, bits for 2 (the value in nats divided by
    ``ln base``). So for the same data and options
    ``report.temperature.nll_before == report.cross_entropy`` (to rounding), whichever
    engine made the report. ``ece_before`` / ``ece_after`` are the top-label l1 ECE
    (uniform bins) at T = 1 and at ``T``; NaN when not computed. ``converged`` is False
    also when ``T`` reaches a bound (1e-4 or 1e4: e.g. perfectly separable data).
    """

    T: float
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float
    iterations: int
    converged: bool
    base: Base = "e"


class TemperatureSums(NamedTuple):
    """Sums over examples at one ``t = log T``: NLL ``Σℓ``, ``dΣℓ/dt``, ``d²Σℓ/dt²`` and ``Σw``."""

    nll: float
    grad: float
    hess: float
    weight: float


def check_temperature_kind(kind: str) -> None:
    """Temperature scaling needs logits or log-probabilities; ``"probs"`` raises with the fix."""
    if kind == "probs":
        msg = (
            "temperature scaling needs logits or log-probabilities, got kind='probs'; pass "
            "np.log(p) with kind='log_probs' (log p is a valid logit vector up to a constant)"
        )
        raise ValueError(msg)
    check_option("kind", kind, get_args(TemperatureKind))


def loss_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Every entry of :data:`LOSS_OPTIONS` from ``options`` (e.g. ``Accumulator.options``).

    A missing key raises ``KeyError``: the caller must hold every loss option. A class
    ``weight`` stored as a tuple becomes an array.

    >>> loss_options({"kind": "logits", "axis": -1, "weight": (1.0, 2.0), "ignore_index": -100,
    ...               "label_smoothing": 0.1, "smoothing": "uniform", "validate": True,
    ...               "bins": 15})["weight"]
    array([1., 2.])
    """
    out = {k: options[k] for k in LOSS_OPTIONS}
    if out["weight"] is not None:
        out["weight"] = np.asarray(out["weight"], dtype=np.float64)
    return out


def temperature_sums(
    pred: Any,
    target: Any,
    log_T: float,
    *,
    kind: TemperatureKind = "logits",
    axis: int = -1,
    sample_weight: Any = None,
    weight: Any = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    validate: bool = True,
) -> TemperatureSums:
    r"""Mergeable sums for the temperature fit at ``t = log T`` (add them across batches).

    ``Σℓ_i`` and ``Σw_i`` of the scaled logits ``x / T`` as
    :func:`crossentropy.loss_terms` computes them (every loss option as there), and the
    first two derivatives of ``Σℓ_i`` in ``t`` (formulas in the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[2.0, 0.0], [0.0, 1.0]]); y = np.array([0, 0])
    >>> s = temperature_sums(x, y, 0.0, weight=np.array([1.0, 3.0]), label_smoothing=0.2)
    >>> h = 1e-6
    >>> up = temperature_sums(x, y, h, weight=np.array([1.0, 3.0]), label_smoothing=0.2)
    >>> dn = temperature_sums(x, y, -h, weight=np.array([1.0, 3.0]), label_smoothing=0.2)
    >>> bool(abs((up.nll - dn.nll) / (2 * h) - s.grad) < 1e-8)
    True
    """
    check_temperature_kind(kind)
    check_rows(pred, target, axis, sample_weight)  # the flattening below must not hide a mismatch
    beta = math.exp(-float(log_T))
    if kind == "log_probs" and validate:
        to_log_probs(pred, kind="log_probs", axis=axis, validate=True)
    x = np.moveaxis(to_numpy(pred).astype(np.float64), axis, -1)
    C = x.shape[-1]
    x = x.reshape(-1, C)
    t = _flat_target(target, axis, C, len(pred.shape))
    opts = {
        "sample_weight": None if sample_weight is None else to_numpy(sample_weight).reshape(-1),
        "weight": weight,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
        "smoothing": smoothing,
    }
    with np.errstate(invalid="ignore", over="ignore"):
        z = x * beta
    terms = loss_terms(z, t, kind="logits", axis=-1, validate=validate and kind == "logits", **opts)
    lq = np.asarray(to_log_probs(z, kind="logits", axis=-1, validate=False))
    # k_ic = s_i a_ic = −∂ℓ_i/∂(log q_ic): zero on masked rows, NaN on invalid ones
    k = -np.asarray(
        cross_entropy_grad(lq, t, kind="log_probs", reduction="none", validate=False, **opts),
        dtype=np.float64,
    )
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        q = np.exp(lq)
        pos = q > 0
        mu = np.where(pos, q * x, 0.0).sum(axis=1)
        d = np.where(pos, x - mu[:, None], 0.0)
        var = np.where(pos, q * d * d, 0.0).sum(axis=1)
        K = k.sum(axis=1)
        Y = np.where(k != 0, k * x, 0.0).sum(axis=1)
        on = K != 0  # masked rows (K = 0) add nothing, whatever their prediction holds
        dfb = np.where(on, K * mu - Y, 0.0).sum()
        d2fb = np.where(on, K * var, 0.0).sum()
    ell = np.asarray(to_numpy(terms.loss), dtype=np.float64)
    w = np.asarray(to_numpy(terms.weight), dtype=np.float64)
    check_float64_weights(w.reshape(-1))
    return TemperatureSums(
        float(ell.sum()), float(-beta * dfb), float(beta * beta * d2fb + beta * dfb), float(w.sum())
    )


def _flat_target(target: Any, axis: int, C: int, pred_ndim: int) -> np.ndarray:
    t = to_numpy(target)
    if t.ndim == pred_ndim:
        return np.moveaxis(t, axis, -1).reshape(-1, C)
    return t.reshape(-1)


def fit_log_temperature(
    sums: Callable[[float], TemperatureSums],
    *,
    tol: float = 1e-10,
    max_iter: int = 50,
    bounds: tuple[float, float] = (-math.log(1e4), math.log(1e4)),
) -> tuple[float, float, float, float, int, bool]:
    """Minimise ``Σℓ(t)`` over ``t = log T`` given a function returning :class:`TemperatureSums`.

    Safeguarded Newton: the step is ``−g/h`` when ``h > 0`` (else a unit step downhill), capped
    at 2 in ``t``, and halved until the NLL does not increase; ``t`` stays in ``bounds``. It starts
    at ``t = 0`` (T = 1) and only accepts steps that do not increase the NLL, so the result is never
    worse than T = 1 on the fit set. Converged when the Newton step ``|g/h|`` is at most ``tol``
    (or the NLL is flat: ``g = h = 0``); not converged after ``max_iter`` steps, at a bound, or
    when every loss underflows to 0 (separable data, whose optimum is T → 0).

    Returns ``(t, nll_at_0, nll_at_t, weight, iterations, converged)``.

    >>> import numpy as np
    >>> x = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]]); y = np.array([0, 0, 0])
    >>> t, f0, f, w, it, ok = fit_log_temperature(lambda t: temperature_sums(x, y, t, validate=False))
    >>> ok and f <= f0
    True
    """
    cur = sums(0.0)
    f0 = cur.nll
    t = 0.0
    if not cur.weight > 0 or not math.isfinite(cur.nll):
        return t, f0, cur.nll, cur.weight, 0, False
    converged = False
    it = 0
    lo, hi = bounds
    for it in range(1, max_iter + 1):  # noqa: B007
        g, h = cur.grad, cur.hess
        if not (math.isfinite(g) and math.isfinite(h)):
            break
        if cur.nll == 0:  # every loss underflowed: separable data, the optimum is T → 0
            break
        if (h > 0 and abs(g / h) <= tol) or (g == 0 and h == 0):  # Newton step below tol, or flat
            converged = True
            break
        step = -g / h if h > 0 else -math.copysign(1.0, g)
        step = max(-2.0, min(2.0, step))
        accepted = False
        for _ in range(60):
            t_new = min(hi, max(lo, t + step))
            if t_new == t:
                break
            new = sums(t_new)
            if new.nll <= cur.nll:
                accepted = True
                break
            step /= 2
        if not accepted:  # no decrease left to find: at the minimum up to rounding, or stuck
            converged = h > 0 and abs(g / h) <= max(tol, 1e-8)
            break
        t, cur = t_new, new
    if t in (lo, hi):
        converged = False
    return t, f0, cur.nll, cur.weight, it, converged


def fit_from_passes(
    sums_at: Callable[[float], TemperatureSums],
    *,
    ece_at: Callable[[float], float] | None = None,
    ece_before: float | None = None,
    base: Base = "e",
    tol: float = 1e-10,
    max_iter: int = 50,
) -> Temperature:
    """The temperature fit of any engine: the one place a :class:`Temperature` record is built.

    ``sums_at(t)`` is one pass over the data at ``t = log T`` returning the summed
    :class:`TemperatureSums` (in memory, over a file stream, over Dask partitions);
    :func:`fit_log_temperature` calls it once per trial step. ``ece_at(T)`` is the
    top-label ECE of the logits divided by ``T``: called with ``1.0`` (unless
    ``ece_before`` is given, e.g. the report's own ECE) and then once with the fitted
    ``T``; without it both ECEs are NaN. The NLLs are ``Σℓ/Σw`` in the unit of ``base``
    (see :class:`Temperature`).

    >>> import math
    >>> import numpy as np
    >>> x = np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 0.0]]); y = np.array([0, 0, 0])
    >>> fit = fit_from_passes(lambda t: temperature_sums(x, y, t), base=2)
    >>> ce_bits = float(np.mean(np.log1p(np.exp(-(x[:, 0] - x[:, 1]))))) / np.log(2)
    >>> bool(np.isclose(fit.nll_before, ce_bits, rtol=1e-12)), fit.base, math.isnan(fit.ece_after)
    (True, 2, True)
    """
    lnb = log_base(base)
    t, f0, f, w, iterations, converged = fit_log_temperature(sums_at, tol=tol, max_iter=max_iter)
    T = math.exp(t)

    def mean(total: float) -> float:
        return total / w / lnb if w > 0 else math.nan

    if ece_before is None:
        ece_before = ece_at(1.0) if ece_at is not None else math.nan
    ece_after = ece_at(T) if ece_at is not None else math.nan
    return Temperature(
        T, mean(f0), mean(f), float(ece_before), float(ece_after), iterations, converged, base
    )


def fit_temperature(
    pred: Any,
    target: Any,
    *,
    kind: TemperatureKind = "logits",
    axis: int = -1,
    sample_weight: Any = None,
    weight: Any = None,
    ignore_index: int | None = IGNORE_INDEX,
    label_smoothing: float = 0.0,
    smoothing: Smoothing = "uniform",
    validate: bool = True,
    base: Base = "e",
    tol: float = 1e-10,
    max_iter: int = 50,
    bins: int = 15,
    block_rows: int | None = None,
) -> Temperature:
    r"""Fit the temperature ``T`` minimising the NLL of ``softmax(x / T)`` on (pred, target).

    The loss options (``sample_weight``, class ``weight``, ``ignore_index``,
    ``label_smoothing``, ``smoothing``) are those of :func:`crossentropy.cross_entropy`,
    so ``nll_before`` is ``cross_entropy(pred, target, **options)`` in the unit of
    ``base``. ``T > 0`` because the fit is over ``t = log T`` (:func:`fit_log_temperature`),
    from T = 1, with steps that never increase the NLL, so ``nll_after ≤ nll_before``;
    the argmax (accuracy) never changes. The sums run over row blocks of ``pred``
    (:func:`temperature_sums`), so the extra memory is one block. ``kind="probs"`` raises:
    pass ``log(p)`` with ``kind="log_probs"``.

    Returns
    -------
    Temperature
        ``T``, the mean NLL and the top-label ECE (``bins`` uniform bins) before and
        after, the iteration count and whether it converged.

    Examples
    --------
    >>> import numpy as np
    >>> import crossentropy as ce
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 500)
    >>> x = 4.0 * rng.normal(size=(500, 3)); x[np.arange(500), y] += 2.0
    >>> w = np.array([1.0, 2.0, 0.5])
    >>> fit = fit_temperature(x, y, weight=w, label_smoothing=0.1, base=2)
    >>> ref = ce.cross_entropy(x, y, weight=w, label_smoothing=0.1) / np.log(2)
    >>> bool(np.isclose(fit.nll_before, ref, rtol=1e-12)), fit.T > 1
    (True, True)
    """
    check_temperature_kind(kind)
    loss = {
        "kind": kind,
        "axis": axis,
        "weight": weight,
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
        "smoothing": smoothing,
    }
    check_rows(pred, target, axis, sample_weight)  # blocks must not cut a longer target
    nd = len(pred.shape)
    first = [validate]

    def sums_at(t: float) -> TemperatureSums:
        tot = np.zeros(4)
        for _, _, idx in row_blocks(pred, axis, block_rows):
            tot += temperature_sums(
                pred[idx],
                slice_target(target, nd, axis, idx),
                t,
                sample_weight=slice_weight(sample_weight, nd, axis, idx),
                validate=first[0],
                **loss,
            )
        first[0] = False
        return TemperatureSums(*(float(v) for v in tot))

    def ece_at(scale: float) -> float:
        acc = CalibrationSums(bins)
        for _, _, idx in row_blocks(pred, axis, block_rows):
            with np.errstate(all="ignore"):
                z = to_numpy(pred[idx]).astype(np.float64) / scale
            acc.update(
                *top_label_inputs(
                    z,
                    slice_target(target, nd, axis, idx),
                    kind="logits",
                    axis=axis,
                    sample_weight=slice_weight(sample_weight, nd, axis, idx),
                    weight=weight,
                    ignore_index=ignore_index,
                    validate=False,
                )
            )
        return acc.table().error("l1")

    return fit_from_passes(sums_at, ece_at=ece_at, base=base, tol=tol, max_iter=max_iter)
