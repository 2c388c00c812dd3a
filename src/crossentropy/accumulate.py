r"""The mergeable evaluation state: ``update`` / ``merge`` / ``finalize`` → :class:`~crossentropy.Report`.

An :class:`Accumulator` holds float64 sums and integer counts only — never a
mean of means — so that any engine (a file stream, Dask partitions, torch
ranks) can feed it batches in any split and merge the partial states in any
order (docs/semantics.md §4):

    Σ ℓ_i, Σ w_i                       → nll, cross_entropy, perplexity, bits
    Σ w_i·correct_i, Σ w_i·brier_i     → accuracy, Brier score
    per-bin Σ w, Σ w·conf, Σ w·correct → ECE / MCE / RMSCE (crossentropy.calibration)
    per-class and histogram sums       → per-class table, plots
    per-replicate exact sums           → bootstrap intervals (crossentropy.bootstrap)

``ℓ_i`` and ``w_i`` come from the core (:func:`crossentropy.chain.loss_terms`'s
preparation and kernels) and the full ``log q`` (confidence, argmax, Brier, probability
of the true class) from :func:`crossentropy.kinds.to_log_probs`; nothing here re-derives
the loss. Large NumPy float logit batches with index targets (at least
``FUSED_MIN_ELEMENTS`` elements, numba installed) take one fused compiled pass instead
(:func:`crossentropy.kernels.eval_rows`: the same online log-sum-exp, every per-row
number in one read of the row, the binned sums added in row order); the two paths agree
to float64 rounding (float32 input: to float32 rounding).

**Units.** The bootstrap resamples *units*: the entries of the batch's first
non-class axis (an example for ``(N, C)`` input, a sequence for ``(B, T, V)``).
A unit's global index (``row_offset`` + its position in the batch) keys its
replicate weights, so the same seed gives the same interval for any split.
Counts (``n_rows``, ``n_ignored``, ``n_valid``) are of examples (positions).

**Perplexity, both ways.** ``perplexity`` is corpus perplexity
``exp(Σℓ/Σw)`` (token-weighted). With ``sequence_axis=`` (an axis of the
prediction without its class axis, e.g. 1 for ``(B, T, V)``) the report also
has ``sequence_perplexity``: the mean over sequences of ``exp(Σ_t ℓ / Σ_t w)``,
HF evaluate's ``mean_perplexity``; sequences with no valid token are left out
of that mean (``n_sequences`` counts those used).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(100, 4)), rng.integers(0, 4, 100)
>>> a, b = Accumulator(), Accumulator()
>>> a.update(x[:30], y[:30]); b.update(x[30:], y[30:], row_offset=30)
>>> r = a.merge(b).finalize()
>>> import crossentropy as ce
>>> bool(np.isclose(r.cross_entropy, ce.cross_entropy(x, y)))
True
>>> r.n_rows, r.num_classes
(100, 4)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ._array import is_numpy, to_numpy
from ._blocks import row_blocks, slice_target, slice_weight
from ._json import decode, encode
from ._prepare import KERNEL_MIN_ELEMENTS, kernel_arrays, prepare, terms
from ._validate import check_option
from .bootstrap import ReplicateSums, percentile_interval, poisson_weights
from .calibration import (
    FINE_BINS,
    STRATEGIES,
    CalibrationSums,
    bin_index,
    check_bins,
)
from .chain import _log_base
from .information import decompose
from .kinds import KINDS, resolve_kind, to_log_probs
from .report import ClassStats, Histogram, Histograms, Report
from .temperature import fit_temperature, loss_options

__all__ = ["Accumulator", "evaluate", "P_TRUE_BINS", "NLL_EDGES"]

P_TRUE_BINS = 50
#: per-example NLL histogram edges (nats): [0, 1e-6), 36 log-spaced bins up to 1e3, [1e3, inf]
NLL_EDGES = np.concatenate([[0.0], 10.0 ** np.arange(-6.0, 3.0001, 0.25), [math.inf]])
_BOOT_CHUNK = 1 << 13  # units per bootstrap chunk: (chunk × replicates) float64 weights


#: use the fused per-row pass (crossentropy.kernels.rowstats) when possible (False: the NumPy path)
FUSED = True
#: smallest batch (elements of the prediction) sent to the fused pass; below it the NumPy path is as
#: fast and numba (its compiler: about 100 MB, a second to load) is not imported. Same rule as the core.
FUSED_MIN_ELEMENTS = KERNEL_MIN_ELEMENTS


def _fused_eligible(p: Any, classwise: bool) -> bool:
    """Whether the fused row pass computes this prepared batch (NumPy float logits, index targets)."""
    if (
        not FUSED
        or classwise
        or p.kind != "logits"
        or p.target_kind != "indices"
        or not is_numpy(p.xp)
    ):
        return False
    if (
        p.x.dtype not in (np.float32, np.float64)
        or math.prod(p.batch_shape) == 0
        or p.num_classes < 1
    ):
        return False
    if math.prod(p.x.shape) < FUSED_MIN_ELEMENTS:
        return False
    from . import kernels

    return kernels.available()


class Accumulator:
    """Mergeable sums for every dataset-level evaluation number.

    Parameters
    ----------
    kind : {"logits", "probs", "log_probs", "auto"}
        What predictions hold (``"auto"`` decides per batch and must decide the same every time).
    num_classes : int, optional
        C; by default taken from the first batch. Every batch must have it.
    axis, ignore_index, label_smoothing, smoothing, weight
        As in :func:`crossentropy.cross_entropy`.
    bins : int
        Calibration bins (default 15).
    strategy : {"uniform", "quantile"}
        Calibration bins (see :mod:`crossentropy.calibration`).
    base : "e" or 2 (or any positive number ≠ 1)
        Unit of nll / cross_entropy / entropy / kl in the report.
    bootstrap : int
        Poisson-bootstrap replicates (0: no intervals).
    seed : int
        Bootstrap seed; with ``row_offset`` the intervals do not depend on the batch split.
    level : float
        Interval level (default 0.95).
    sequence_axis : int, optional
        Axis of the per-example array holding sequence positions, for ``sequence_perplexity``.
    classwise : bool
        Also collect the classwise (one-vs-rest) ECE (C × bins sums).
    validate : bool
        Input validation of the core (default True).

    Examples
    --------
    >>> import numpy as np
    >>> acc = Accumulator(bins=10)
    >>> acc.update(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 0]))
    >>> acc.update(np.zeros((0, 2)), np.zeros(0, dtype=int))   # empty batches are fine
    >>> r = acc.finalize()
    >>> r.n_valid, r.accuracy
    (2, 0.5)
    >>> Accumulator.from_state(acc.to_state()).finalize().to_dict() == r.to_dict()
    True
    """

    def __init__(
        self,
        *,
        kind: str = "logits",
        num_classes: int | None = None,
        axis: int = -1,
        ignore_index: int | None = -100,
        label_smoothing: float = 0.0,
        smoothing: str = "uniform",
        weight: Any = None,
        bins: int = 15,
        strategy: str = "uniform",
        base: Any = "e",
        bootstrap: int = 0,
        seed: int = 0,
        level: float = 0.95,
        sequence_axis: int | None = None,
        classwise: bool = False,
        validate: bool = True,
    ):
        check_option("kind", kind, KINDS)
        check_bins(bins)
        check_option("strategy", strategy, STRATEGIES)
        _log_base(base)
        if (
            isinstance(bootstrap, bool)
            or not isinstance(bootstrap, (int, np.integer))
            or bootstrap < 0
        ):
            msg = f"`bootstrap` must be an integer ≥ 0 (number of replicates); got {bootstrap!r}"
            raise ValueError(msg)
        if (
            isinstance(seed, bool)
            or not isinstance(seed, (int, np.integer))
            or not 0 <= seed < 2**64
        ):
            msg = f"`seed` must be an integer in [0, 2**64); got {seed!r}"
            raise ValueError(msg)
        if not 0 < level < 1:
            msg = f"`level` must be in (0, 1); got {level!r}"
            raise ValueError(msg)
        if num_classes is not None and (
            isinstance(num_classes, bool)
            or not isinstance(num_classes, (int, np.integer))
            or num_classes < 1
        ):
            msg = f"`num_classes` must be a positive integer or None; got {num_classes!r}"
            raise ValueError(msg)
        w = (
            None
            if weight is None
            else tuple(float(v) for v in np.asarray(to_numpy(weight)).reshape(-1))
        )
        self.options: dict[str, Any] = {
            "kind": kind,
            "num_classes": None if num_classes is None else int(num_classes),
            "axis": int(axis),
            "ignore_index": ignore_index,
            "label_smoothing": float(label_smoothing),
            "smoothing": smoothing,
            "weight": w,
            "bins": int(bins),
            "strategy": strategy,
            "base": base,
            "bootstrap": int(bootstrap),
            "seed": int(seed),
            "level": float(level),
            "sequence_axis": sequence_axis,
            "classwise": bool(classwise),
            "validate": bool(validate),
        }
        self.resolved_kind: str | None = None if kind == "auto" else kind
        self.target_kind: str | None = None
        self.num_classes: int | None = self.options["num_classes"]
        self.n_rows = self.n_ignored = self.n_valid = self.n_units = self.n_nan = 0
        self.n_sequences = self.n_empty_sequences = 0
        self.sums = np.zeros(7)  # loss, weight, w·correct, w·brier, entropy, kl, Σ seq perplexity
        self._arrays: dict[str, Any] | None = None
        if self.num_classes is not None:
            self._allocate(self.num_classes)

    # ---- state -------------------------------------------------------------------------------
    _SUM_NAMES = ("loss", "weight", "correct", "brier", "entropy", "kl", "seq_ppl")

    def _allocate(self, C: int) -> None:
        o = self.options
        K = o["bootstrap"]
        self._arrays = {
            "per_class": np.zeros((4, C)),  # count, Σw, Σℓ, Σw·correct
            "cal": CalibrationSums(o["bins"], C, o["classwise"]),
            "p_true": np.zeros((2, P_TRUE_BINS)),
            "nll_hist": np.zeros((2, len(NLL_EDGES) - 1)),
            "boot": ReplicateSums.zeros(K, self._boot_columns()) if K else None,
        }

    def _boot_columns(self) -> int:
        o = self.options
        return 4 + (3 * o["bins"] if o["strategy"] == "uniform" else 0)

    def _check_classes(self, C: int) -> None:
        if self.num_classes is None:
            self.num_classes = C
            self._allocate(C)
        elif C != self.num_classes:
            msg = (
                f"this batch has {C} classes on axis {self.options['axis']} but the accumulator has "
                f"{self.num_classes}; every batch must have the same classes (pass num_classes= to fix it)"
            )
            raise ValueError(msg)

    # ---- update ------------------------------------------------------------------------------
    def update(
        self, pred: Any, target: Any, *, sample_weight: Any = None, row_offset: int | None = None
    ) -> None:
        """Add one batch. ``row_offset``: global index of the batch's first unit (default: units seen so far)."""
        o = self.options
        ndim = len(pred.shape)
        if ndim == 0:
            msg = "`pred` must have a class axis; got a 0-d array"
            raise ValueError(msg)
        axis = o["axis"] % ndim if -ndim <= o["axis"] < ndim else o["axis"]
        kind = (
            resolve_kind(pred, o["kind"], axis=o["axis"], validate=o["validate"])
            if (o["kind"] == "auto" and math.prod(pred.shape) > 0)
            else (self.resolved_kind or o["kind"])
        )
        if kind == "auto":  # an empty first batch under kind="auto": nothing to decide from
            kind = None
        # chain.loss_terms = prepare (validation, masks) + terms; the fused pass replaces terms
        p = prepare(
            pred,
            target,
            kind=kind or "logits",
            axis=o["axis"],
            sample_weight=sample_weight,
            weight=None if o["weight"] is None else np.asarray(o["weight"]),
            ignore_index=o["ignore_index"],
            label_smoothing=o["label_smoothing"],
            smoothing=o["smoothing"],
            validate=o["validate"],
        )
        fused = _fused_eligible(p, o["classwise"])
        if kind is not None:
            if self.resolved_kind is None:
                self.resolved_kind = kind
            elif kind != self.resolved_kind:
                msg = (
                    f"kind='auto' decided {kind!r} for this batch but {self.resolved_kind!r} before; "
                    "pass kind= explicitly"
                )
                raise ValueError(msg)
        C = int(pred.shape[axis])
        self._check_classes(C)
        tnp = to_numpy(target)
        tk = "distribution" if tnp.ndim == ndim else "indices"
        if self.target_kind is None:
            self.target_kind = tk
        elif tk != self.target_kind:
            msg = (
                f"this batch has {tk} targets but earlier batches had {self.target_kind}; "
                "use one target kind per accumulator"
            )
            raise ValueError(msg)
        batch_shape = tuple(p.batch_shape)
        n = math.prod(batch_shape)
        if not fused:
            loss, wsum = terms(p)
            ell = np.asarray(to_numpy(loss), dtype=np.float64)
        units = batch_shape[0] if len(batch_shape) else 1
        offset = self.n_units if row_offset is None else int(row_offset)
        if offset < 0:
            msg = f"`row_offset` must be ≥ 0; got {row_offset}"
            raise ValueError(msg)
        if n == 0:
            self.n_units += units
            return
        if tk == "indices":
            t = tnp.reshape(-1)
            masked = (
                (t == o["ignore_index"])
                if o["ignore_index"] is not None
                else np.zeros(n, dtype=bool)
            )
            true = np.where(masked, 0, t).astype(np.intp)
            ybar = None
        else:
            y = np.moveaxis(tnp, axis, -1).reshape(n, C).astype(np.float64)
            mass = y.sum(axis=1)
            masked = mass == 0
            true = np.argmax(y, axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                ybar = y / np.where(masked, 1.0, mass)[:, None]
        if sample_weight is not None:
            masked = masked | (
                np.asarray(to_numpy(sample_weight), dtype=np.float64).reshape(-1) == 0
            )
        valid = ~masked
        A = self._arrays
        if fused:
            ell, w, wc, wb, conf, ub = self._fused(p, true, valid)
        else:
            w = np.asarray(to_numpy(wsum), dtype=np.float64).reshape(-1)
            ell = ell.reshape(-1)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                lq = to_numpy(to_log_probs(pred, kind=kind, axis=o["axis"], validate=False))
            lq = np.moveaxis(lq, axis, -1).reshape(n, C)
            conf, correct, ub = A["cal"].update(lq, true, w, valid, ybar)
            with np.errstate(invalid="ignore", over="ignore"):
                q = np.exp(lq)
                q_true = np.take_along_axis(q, true[:, None], axis=1)[:, 0]
                if ybar is None:
                    brier = np.einsum("ij,ij->i", q, q) - 2 * q_true + 1
                else:
                    d = q - np.where(masked[:, None], 0.0, ybar)
                    brier = np.einsum("ij,ij->i", d, d)
            del q
            bad = valid & (np.isnan(ell) | np.isnan(conf))
            self.n_nan += int(bad.sum())
            wv = np.where(valid, w, 0.0)
            wc = np.where(valid, w * correct, 0.0)
            wb = np.where(valid, w * brier, 0.0)
            self.sums[0] += ell.sum()
            self.sums[1] += w.sum()
            self.sums[2] += wc.sum()
            self.sums[3] += wb.sum()
            # per class (by true class), histograms
            tv = true[valid]
            pc = A["per_class"]
            pc[0] += np.bincount(tv, minlength=C)
            pc[1] += np.bincount(tv, weights=wv[valid], minlength=C)
            pc[2] += np.bincount(tv, weights=ell[valid], minlength=C)
            pc[3] += np.bincount(tv, weights=wc[valid], minlength=C)
            ok = valid & ~np.isnan(q_true)
            pb = bin_index(q_true[ok], P_TRUE_BINS)
            A["p_true"][0] += np.bincount(pb, minlength=P_TRUE_BINS)
            A["p_true"][1] += np.bincount(pb, weights=wv[ok], minlength=P_TRUE_BINS)
            pos = valid & (w > 0) & ~np.isnan(ell)
            with np.errstate(invalid="ignore", divide="ignore"):
                per = ell[pos] / w[pos]
            nb = np.searchsorted(NLL_EDGES[1:-1], per, side="right")
            A["nll_hist"][0] += np.bincount(nb, minlength=len(NLL_EDGES) - 1)
            A["nll_hist"][1] += np.bincount(nb, weights=w[pos], minlength=len(NLL_EDGES) - 1)
        if tk == "distribution":
            dec = decompose(
                pred,
                target,
                kind=kind,
                axis=o["axis"],
                reduction="sum",
                sample_weight=sample_weight,
                weight=None if o["weight"] is None else np.asarray(o["weight"]),
                label_smoothing=o["label_smoothing"],
                smoothing=o["smoothing"],
                validate=False,
            )
            self.sums[4] += float(to_numpy(dec.entropy))
            self.sums[5] += float(to_numpy(dec.kl))
        if o["sequence_axis"] is not None:
            self._sequences(ell.reshape(batch_shape), w.reshape(batch_shape))
        if A["boot"] is not None:
            self._bootstrap(units, offset, n // units, ell, w, wc, wb, conf, ub, valid)
        self.n_rows += n
        self.n_valid += int(valid.sum())
        self.n_ignored += int(masked.sum())
        self.n_units += units

    def _fused(self, p: Any, true: np.ndarray, valid: np.ndarray):
        """The fused row pass (crossentropy.kernels.eval_rows): adds the batch's sums and returns
        the per-row (ℓ, w, w·correct, w·brier, confidence, uniform bin) the bootstrap and the
        sequence perplexity need. The binned sums are added in row order, as np.bincount does."""
        from . import kernels

        o = self.options
        A = self._arrays
        x2, _, cw, s = kernel_arrays(p)
        rows, binned, n_nan, n_nan_conf = kernels.eval_rows(
            np.ascontiguousarray(x2),
            true,
            valid,
            weight=cw,
            sample_weight=s,
            label_smoothing=p.eps,
            smoothing=p.smoothing,
            bins=o["bins"],
            fine_bins=FINE_BINS,
            p_true_bins=P_TRUE_BINS,
            nll_inner_edges=NLL_EDGES[1:-1],
        )
        ell, w, wc, wb, conf = rows["ell"], rows["w"], rows["wc"], rows["wb"], rows["conf"]
        self.n_nan += n_nan
        cal = A["cal"]
        cal.n_nan += n_nan_conf
        cal.uniform += binned["cal_uniform"]
        cal.fine += binned["cal_fine"]
        A["per_class"] += binned["per_class"]
        A["p_true"] += binned["p_true"]
        A["nll_hist"] += binned["nll_hist"]
        self.sums[0] += ell.sum()
        self.sums[1] += w.sum()
        self.sums[2] += wc.sum()
        self.sums[3] += wb.sum()
        ub = None
        if A["boot"] is not None:
            keep = valid & ~np.isnan(conf)
            ub = bin_index(np.where(keep, conf, 0.0), o["bins"])
        return ell, w, wc, wb, conf, ub

    def _sequences(self, ell: np.ndarray, w: np.ndarray) -> None:
        sa = self.options["sequence_axis"]
        nd = ell.ndim
        if not -nd <= sa < nd or sa % nd == 0:
            msg = (
                f"`sequence_axis`={sa} must name a non-leading axis of the per-example shape {ell.shape} "
                "(e.g. 1 for (batch, time, classes) predictions); the leading axis indexes sequences"
            )
            raise ValueError(msg)
        L = np.moveaxis(ell, sa, -1).reshape(-1, ell.shape[sa]).sum(axis=1)
        W = np.moveaxis(w, sa, -1).reshape(-1, w.shape[sa]).sum(axis=1)
        has = W > 0
        with np.errstate(over="ignore", invalid="ignore"):
            ppl = np.exp(L[has] / W[has])
        self.sums[6] += ppl.sum()
        self.n_sequences += int(has.sum())
        self.n_empty_sequences += int((~has).sum())

    def _bootstrap(self, units, offset, per_unit, ell, w, wc, wb, conf, ub, valid) -> None:
        o = self.options
        B = o["bins"]
        uniform = o["strategy"] == "uniform"
        m = self._boot_columns()
        K = o["bootstrap"]
        boot = self._arrays["boot"]
        for u0 in range(0, units, _BOOT_CHUNK):
            u1 = min(units, u0 + _BOOT_CHUNK)
            nu = u1 - u0
            sl = slice(u0 * per_unit, u1 * per_unit)
            vals = np.zeros((nu, m))
            for j, col in enumerate((ell, w, wc, wb)):
                vals[:, j] = col[sl].reshape(nu, per_unit).sum(axis=1)
            if uniform:
                v = valid[sl]
                key = (np.arange(nu).repeat(per_unit) * B + ub[sl])[v]
                wv = w[sl][v]
                for j, val in enumerate((wv, wv * conf[sl][v], wc[sl][v])):
                    vals[:, 4 + j * B : 4 + (j + 1) * B] = np.bincount(
                        key, weights=val, minlength=nu * B
                    ).reshape(nu, B)
            r = poisson_weights(o["seed"], np.arange(offset + u0, offset + u1), K)
            boot.add(r, vals)

    # ---- merge -------------------------------------------------------------------------------
    def merge(self, other: Accumulator) -> Accumulator:
        """A new accumulator holding both states (associative and commutative; inputs unchanged)."""
        if not isinstance(other, Accumulator):
            msg = f"can only merge another Accumulator, got {type(other).__name__}"
            raise TypeError(msg)
        diff = [
            k for k in self.options if self.options[k] != other.options[k] and k != "num_classes"
        ]
        if diff:
            what = "; ".join(f"{k}: {self.options[k]!r} vs {other.options[k]!r}" for k in diff)
            msg = f"cannot merge accumulators built with different options ({what}); build both with the same options"
            raise ValueError(msg)
        for name in ("num_classes", "resolved_kind", "target_kind"):
            a, b = getattr(self, name), getattr(other, name)
            if a is not None and b is not None and a != b:
                msg = f"cannot merge accumulators with different {name}: {a!r} vs {b!r}"
                raise ValueError(msg)
        out = Accumulator.__new__(Accumulator)
        out.options = dict(self.options)
        out.options["num_classes"] = (
            self.options["num_classes"]
            if self.options["num_classes"] is not None
            else other.options["num_classes"]
        )
        for name in ("num_classes", "resolved_kind", "target_kind"):
            a, b = getattr(self, name), getattr(other, name)
            setattr(out, name, a if a is not None else b)
        for name in (
            "n_rows",
            "n_ignored",
            "n_valid",
            "n_units",
            "n_nan",
            "n_sequences",
            "n_empty_sequences",
        ):
            setattr(out, name, getattr(self, name) + getattr(other, name))
        out.sums = self.sums + other.sums
        A, B = self._arrays, other._arrays
        if A is None or B is None:
            src = A if A is not None else B
            out._arrays = (
                None
                if src is None
                else {
                    k: (
                        v.copy()
                        if isinstance(v, np.ndarray)
                        else v.merge(_empty_like(v))
                        if v is not None
                        else None
                    )
                    for k, v in src.items()
                }
            )
        else:
            out._arrays = {
                "per_class": A["per_class"] + B["per_class"],
                "cal": A["cal"].merge(B["cal"]),
                "p_true": A["p_true"] + B["p_true"],
                "nll_hist": A["nll_hist"] + B["nll_hist"],
                "boot": None if A["boot"] is None else A["boot"].merge(B["boot"]),
            }
        return out

    # ---- serialisation -----------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """The state as plain Python values (JSON-serialisable; non-finite floats as strings)."""
        d: dict[str, Any] = {
            "schema_version": 1,
            "options": {
                k: (list(v) if isinstance(v, tuple) else v) for k, v in self.options.items()
            },
            "resolved_kind": self.resolved_kind,
            "target_kind": self.target_kind,
            "num_classes": self.num_classes,
            "counts": {
                k: getattr(self, k)
                for k in (
                    "n_rows",
                    "n_ignored",
                    "n_valid",
                    "n_units",
                    "n_nan",
                    "n_sequences",
                    "n_empty_sequences",
                )
            },
            "sums": encode(self.sums),
        }
        A = self._arrays
        if A is not None:
            cal = A["cal"]
            d["arrays"] = {
                "per_class": encode(A["per_class"]),
                "p_true": encode(A["p_true"]),
                "nll_hist": encode(A["nll_hist"]),
                "cal_uniform": encode(cal.uniform),
                "cal_fine": encode(cal.fine),
                "cal_n_nan": cal.n_nan,
                "cal_classwise": None if cal.classwise is None else encode(cal.classwise),
                "boot": None if A["boot"] is None else A["boot"].to_state(),
            }
        return d

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> Accumulator:
        """Rebuild an accumulator from :meth:`to_state` (also after a JSON round trip)."""
        if d.get("schema_version") != 1:
            msg = f"unsupported accumulator state schema_version {d.get('schema_version')!r} (expected 1)"
            raise ValueError(msg)
        opts = dict(d["options"])
        out = cls(**opts)
        out.resolved_kind, out.target_kind = d["resolved_kind"], d["target_kind"]
        for k, v in d["counts"].items():
            setattr(out, k, int(v))
        out.sums = np.asarray(decode(d["sums"]), dtype=np.float64)
        if d.get("arrays") is not None:
            C = int(d["num_classes"])
            out.num_classes = C
            out._allocate(C)
            a, A = d["arrays"], out._arrays
            for k in ("per_class", "p_true", "nll_hist"):
                A[k] = np.asarray(decode(a[k]), dtype=np.float64)
            A["cal"].uniform = np.asarray(decode(a["cal_uniform"]), dtype=np.float64)
            A["cal"].fine = np.asarray(decode(a["cal_fine"]), dtype=np.float64)
            A["cal"].n_nan = int(a["cal_n_nan"])
            if a["cal_classwise"] is not None:
                A["cal"].classwise = np.asarray(decode(a["cal_classwise"]), dtype=np.float64)
            if a["boot"] is not None:
                A["boot"] = ReplicateSums.from_state(
                    a["boot"], opts["bootstrap"], out._boot_columns()
                )
        return out

    # ---- finalize ----------------------------------------------------------------------------
    def finalize(self) -> Report:
        """The :class:`~crossentropy.Report` of everything seen so far (the state is unchanged)."""
        o = self.options
        lnb = _log_base(o["base"])
        L, W, Cr, Br, H, KL, SP = (float(v) for v in self.sums)
        C = self.num_classes or 0
        empty = not W > 0

        def ratio(a: float, b: float) -> float:
            return a / b if b > 0 else math.nan

        ce_nats = ratio(L, W)
        nan_rows = self.n_nan > 0
        per_class: tuple[ClassStats, ...] = ()
        calibration = histograms = None
        intervals = None
        A = self._arrays
        if A is not None:
            pc = A["per_class"]
            per_class = tuple(
                ClassStats(
                    c,
                    int(pc[0, c]),
                    float(pc[1, c]),
                    ratio(pc[2, c], pc[1, c]) / lnb,
                    math.nan if nan_rows else ratio(pc[3, c], pc[1, c]),
                )
                for c in range(C)
            )
            cal = A["cal"]
            if not empty:
                cw = cal.classwise_table().error("l1") if cal.classwise is not None else None
                calibration = cal.table(o["strategy"]).summary(cw)
            conf_tab = cal.table(o["strategy"]) if not empty or o["strategy"] == "uniform" else None
            histograms = Histograms(
                p_true=_hist(np.linspace(0, 1, P_TRUE_BINS + 1), A["p_true"]),
                nll=_hist(NLL_EDGES, A["nll_hist"]),
                confidence=Histogram(
                    tuple(float(e) for e in conf_tab.edges),
                    tuple(int(c) for c in conf_tab.count),
                    tuple(float(x) for x in conf_tab.weight),
                )
                if conf_tab is not None
                else Histogram((0.0, 1.0), (0,), (0.0,)),
            )
            if A["boot"] is not None and not empty:
                intervals = self._intervals(A["boot"].values(), lnb)
        soft = self.target_kind == "distribution"
        return Report(
            n_rows=self.n_rows,
            n_ignored=self.n_ignored,
            n_valid=self.n_valid,
            weight_sum=W,
            num_classes=C,
            kind=self.resolved_kind or o["kind"],
            base=o["base"],
            target_kind=self.target_kind or "indices",
            log_likelihood=-L / lnb,
            nll=L / lnb,
            cross_entropy=ce_nats / lnb,
            perplexity=_exp(ce_nats),
            bits_per_example=ce_nats / math.log(2),
            entropy=ratio(H, W) / lnb if soft else None,
            kl=ratio(KL, W) / lnb if soft else None,
            accuracy=math.nan if nan_rows else ratio(Cr, W),
            brier=math.nan if nan_rows else ratio(Br, W),
            per_class=per_class,
            calibration=calibration,
            histograms=histograms,
            intervals=intervals,
            bootstrap=o["bootstrap"],
            seed=o["seed"],
            level=o["level"],
            sequence_perplexity=(ratio(SP, self.n_sequences) if self.n_sequences else math.nan)
            if o["sequence_axis"] is not None
            else None,
            n_sequences=self.n_sequences if o["sequence_axis"] is not None else None,
            options={k: v for k, v in o.items() if k not in ("kind", "num_classes", "base")},
        )

    def _intervals(self, S: np.ndarray, lnb: float) -> dict[str, tuple[float, float]]:
        o = self.options
        Wk = S[:, 1]
        use = Wk > 0
        S, Wk = S[use], Wk[use]
        level = o["level"]
        ce = S[:, 0] / Wk
        out = {
            "cross_entropy": tuple(v / lnb for v in percentile_interval(ce, level)),
            "perplexity": tuple(_exp(v) for v in percentile_interval(ce, level)),
            "accuracy": percentile_interval(S[:, 2] / Wk, level),
            "brier": percentile_interval(S[:, 3] / Wk, level),
        }
        if o["strategy"] == "uniform":
            B = o["bins"]
            conf = S[:, 4 + B : 4 + 2 * B]
            corr = S[:, 4 + 2 * B : 4 + 3 * B]
            out["ece"] = percentile_interval(np.abs(conf - corr).sum(axis=1) / Wk, level)
        return out


def _empty_like(v: Any) -> Any:
    if isinstance(v, CalibrationSums):
        e = CalibrationSums(
            v.bins, None if v.classwise is None else v.classwise.shape[1], v.classwise is not None
        )
        return e
    if isinstance(v, ReplicateSums):
        return ReplicateSums.zeros(*v.shape)
    return v


def _hist(edges: np.ndarray, counts: np.ndarray) -> Histogram:
    return Histogram(
        tuple(float(e) for e in edges),
        tuple(int(c) for c in counts[0]),
        tuple(float(x) for x in counts[1]),
    )


def _exp(x: float) -> float:
    if math.isnan(x):
        return math.nan
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def evaluate(
    pred: Any,
    target: Any,
    *,
    sample_weight: Any = None,
    block_rows: int | None = None,
    temperature: bool = False,
    **options: Any,
) -> Report:
    r"""One pass of an :class:`Accumulator` over in-memory arrays: the :class:`~crossentropy.Report`.

    The arrays are processed in blocks of ``block_rows`` units (default: about 4M
    elements per block), so the extra memory is one block, not N. Options are those
    of :class:`Accumulator` (``kind``, ``bins``, ``bootstrap``, ``seed``, …); with
    ``temperature=True`` the report also carries :func:`crossentropy.fit_temperature`'s
    fit on the same data (logits or log-probabilities only).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 3, 1000)
    >>> x = rng.normal(size=(1000, 3)); x[np.arange(1000), y] += 1.0
    >>> r = evaluate(x, y, bootstrap=50, seed=0)
    >>> lo, hi = r.intervals["cross_entropy"]
    >>> bool(lo < r.cross_entropy < hi)
    True
    >>> r2 = evaluate(x, y, bootstrap=50, seed=0, block_rows=7)     # another split, same interval
    >>> r2.intervals == r.intervals
    True
    """
    acc = Accumulator(**options)
    axis = acc.options["axis"]
    nd = len(pred.shape)
    if nd == 0:
        msg = "`pred` must have a class axis; got a 0-d array"
        raise ValueError(msg)
    for start, _, idx in row_blocks(pred, axis, block_rows):
        if nd == 1:
            acc.update(pred, target, sample_weight=sample_weight, row_offset=0)
            continue
        acc.update(
            pred[idx],
            slice_target(target, nd, axis, idx),
            sample_weight=slice_weight(sample_weight, nd, axis, idx),
            row_offset=start,
        )
    report = acc.finalize()
    if temperature:  # every loss option of the report, in its base (nll_before == cross_entropy)
        loss = loss_options({**acc.options, "kind": acc.resolved_kind or acc.options["kind"]})
        fit = fit_temperature(
            pred,
            target,
            sample_weight=sample_weight,
            base=acc.options["base"],
            bins=acc.options["bins"],
            block_rows=block_rows,
            **loss,
        )
        report = dataclasses.replace(report, temperature=fit)
    return report
