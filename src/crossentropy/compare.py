r"""Two models on the same rows: every metric's difference, with a paired bootstrap interval.

(A little over the ~600-line guide: the mergeable paired sums, the result record and
its verdict wording are one concept, the paired comparison; the CLI lives in ``cli._compare``.)

Models A and B score the same N rows (same targets, same weights). For each metric the
comparison reports ``Δ = metric(B) − metric(A)`` (negative: B has the lower value; for the
losses that is B being better, for accuracy B being worse). From the per-row data it also
gives a **paired Poisson-bootstrap interval** (docs/semantics.md, "Model comparison"):
replicate ``k`` weighs unit ``u`` by the same ``r_uk ~ Poisson(1)`` for both models
(:mod:`crossentropy.bootstrap`: a pure function of ``(seed, u, k)``), and the replicate's
difference of ratio-of-sums metrics is

    Δ_k = Σ_u r_uk L^B_u / Σ_u r_uk W^B_u  −  Σ_u r_uk L^A_u / Σ_u r_uk W^A_u

(``L_u = Σ ℓ_i``, ``W_u = Σ w_i`` over the unit's examples; accuracy and Brier alike with
``Σ w·correct``, ``Σ w·brier``; the ECE from per-bin ``Σ w·conf`` and ``Σ w·correct`` on
uniform bins). The percentile interval of ``Δ_k`` is the interval. Because the replicate
sums are exact integers, the interval is bit-identical for any split of the rows into
batches, files or shards and any merge order (:class:`CompareSums`).

The **per-example NLL difference** ``d_i = ℓ^B_i/w_i − ℓ^A_i/w_i`` (nats) is kept as a
histogram on :data:`DIFF_EDGES` (symmetric, log-spaced, ``[−1e-6, 1e-6)`` in the middle)
with the counts of rows where B is lower (``d < 0``), A is lower, or both are equal.

Saved reports (or Accumulator states) hold no per-row data: ``compare(report_a,
report_b)`` gives the **point differences only**, and says so (``paired=False``).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> y = rng.integers(0, 3, 500)
>>> a = rng.normal(size=(500, 3)); a[np.arange(500), y] += 1.0
>>> b = a.copy(); b[np.arange(500), y] += 1.0          # B is A, more sure of the truth
>>> c = compare(a, b, y, bootstrap=200, seed=0)
>>> c.difference["cross_entropy"] < 0, c.intervals["cross_entropy"][1] < 0
(True, True)
>>> c.verdict().startswith("B has lower cross-entropy than A by")
True
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ._blocks import row_blocks, slice_target, slice_weight
from ._json import decode, encode
from ._options import log_base
from ._types import Kind
from ._validate import check_rows
from .accumulate import Accumulator
from .bootstrap import ReplicateSums, percentile_interval, poisson_weights
from .calibration import bin_index
from .display import metrics, unit
from .report import Histogram, Report

__all__ = ["compare", "CompareSums", "Comparison", "DIFF_EDGES", "POINT_ONLY"]

#: edges (nats) of the per-example NLL-difference histogram: −inf, −1e3 … −1e-6, 1e-6 … 1e3, +inf
DIFF_EDGES = np.concatenate(
    [
        [-math.inf],
        -(10.0 ** np.arange(3.0, -6.0001, -0.5)),
        10.0 ** np.arange(-6.0, 3.0001, 0.5),
        [math.inf],
    ]
)
#: what a comparison of saved reports says about its numbers
POINT_ONLY = (
    "point differences only: saved reports hold no per-row data, so there is no paired "
    "interval (compare the prediction files or arrays for one)"
)
#: the metrics with a paired interval (the names of :func:`crossentropy.display.metrics`)
INTERVAL_METRICS = ("cross_entropy", "accuracy", "brier", "calibration.ece")
_STATE = "crossentropy.compare"
_STATE_VERSION = 1
_CHUNK = 1 << 13  # units per chunk of replicate weights: (chunk × replicates) float64


@dataclass(frozen=True)
class Comparison:
    """B against A on the same rows: ``difference[m] = b[m] − a[m]`` for every scalar metric
    ``m`` of both reports (:func:`crossentropy.display.metrics`), paired ``intervals`` of the
    differences (``paired=True`` only), the per-example NLL-difference ``histogram`` (nats)
    and the row counts ``b_lower`` / ``a_lower`` / ``equal`` of that difference."""

    names: tuple[str, str]
    paired: bool
    n_rows: int
    n_valid: int
    base: Any
    a: dict[str, float]
    b: dict[str, float]
    difference: dict[str, float]
    intervals: dict[str, tuple[float, float]] | None = None
    level: float = 0.95
    bootstrap: int = 0
    seed: int = 0
    histogram: Histogram | None = None
    b_lower: int | None = None
    a_lower: int | None = None
    equal: int | None = None
    note: str | None = None  # what the numbers are not (saved reports: no interval)

    def verdict(self, metric: str = "cross_entropy") -> str:
        """One sentence on ``metric`` (default the cross-entropy) that a person can read.

        Paired: "B has lower cross-entropy than A by 0.031 nats (95% paired interval 0.012
        to 0.05; 1,797 rows)" when the interval excludes 0, else "no difference in
        cross-entropy detectable: …". Point only: the difference, labelled as such.
        """
        A, B = self.names
        what = metric.split(".")[-1].replace("_", "-")
        u = f" {unit(self.base)}" if metric in ("cross_entropy", "nll", "log_likelihood") else ""
        d = self.difference.get(metric, math.nan)
        rows = f"{self.n_valid:,} rows"
        va, vb = self.a.get(metric, math.nan), self.b.get(metric, math.nan)
        if math.isinf(va) and math.isinf(vb):
            return (
                f"{A} and {B} both have an infinite {what} (each gives probability 0 to an "
                "observed class somewhere): there is no difference to measure"
            )
        if math.isnan(d):
            return (
                f"no comparison of {what}: it is undefined for {A} or {B} (no valid rows, or NaN)"
            )
        if math.isinf(d):
            inf, fin = (A, B) if d < 0 else (B, A)
            return (
                f"{fin} has lower {what} than {inf}: {inf}'s is infinite (it gives probability 0 "
                f"to an observed class) and {fin}'s is {_f(min(va, vb), 4)}{u} ({rows})"
            )
        if not self.paired or not self.intervals or metric not in self.intervals:
            return f"{B} − {A} {what}: {_f(d, sign=True)}{u} (point difference; no interval)"
        lo, hi = self.intervals[metric]
        lev = f"{self.level:.0%} paired interval"
        if metric == "cross_entropy" and self.b_lower == 0 and self.a_lower == 0 and d == 0:
            return f"{A} and {B} give the same loss on every one of the {rows}"
        if hi < 0:
            return (
                f"{B} has lower {what} than {A} by {_f(-d)}{u} "
                f"({lev} {_f(-hi)} to {_f(-lo)}; {rows})"
            )
        if lo > 0:
            return (
                f"{B} has higher {what} than {A} by {_f(d)}{u} ({lev} {_f(lo)} to {_f(hi)}; {rows})"
            )
        return (
            f"no difference in {what} detectable: {B} − {A} = {_f(d, sign=True)}{u} "
            f"({lev} {_f(lo, sign=True)} to {_f(hi, sign=True)}; {rows})"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (non-finite floats as ``"inf"``/``"nan"`` strings), with the verdict."""
        out: dict[str, Any] = {"schema": "crossentropy.compare", "schema_version": 1}
        for f in self.__dataclass_fields__:
            out[f] = encode(getattr(self, f))
        out["verdict"] = self.verdict()
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    def __repr__(self) -> str:
        return f"Comparison({self.verdict()})"

    def __str__(self) -> str:
        A, B = self.names
        how = (
            f"paired Poisson bootstrap, {self.bootstrap} replicates, seed {self.seed}"
            if self.paired and self.intervals
            else "paired rows, no bootstrap"
            if self.paired
            else "saved reports"
        )
        lines = [
            f"compare: A = {A}, B = {B}; {self.n_rows:,} rows ({self.n_valid:,} valid); {how}",
            self.verdict(),
        ]
        if not self.paired:
            lines.append(f"note: {self.note or POINT_ONLY}")
        iv = self.intervals or {}
        head = f"  {'metric':<24}{'A':>13}{'B':>13}{'B − A':>13}"
        if iv:
            head += f"   {self.level:.0%} paired interval of B − A"
        lines += ["", head]
        for k, d in self.difference.items():
            s = f"  {k:<24}{_f(self.a[k], 6):>13}{_f(self.b[k], 6):>13}{_f(d, 6, sign=True):>13}"
            if k in iv:
                s += f"   [{_f(iv[k][0], 4, sign=True)}, {_f(iv[k][1], 4, sign=True)}]"
            lines.append(s)
        if self.b_lower is not None:
            lines += [
                "",
                f"per-example NLL difference (B − A): B lower on {self.b_lower:,} rows, "
                f"A lower on {self.a_lower:,}, equal on {self.equal:,}",
            ]
        return "\n".join(lines)


def _f(x: float, digits: int = 3, *, sign: bool = False) -> str:
    if x is None or math.isnan(x):
        return "—"
    if math.isinf(x):
        return ("+" if sign else "") + "inf" if x > 0 else "-inf"
    return f"{x:+.{digits}g}" if sign else f"{x:.{digits}g}"


def _same_rows(a: Any, b: Any, names: tuple[str, str], axis: int) -> None:
    sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
    ax = axis % max(len(sa), 1)
    if len(sa) != len(sb) or sa[:ax] + sa[ax + 1 :] != sb[:ax] + sb[ax + 1 :]:
        msg = (
            f"`{names[0]}` and `{names[1]}` must score the same rows: shapes {sa} and {sb} "
            "differ outside the class axis; pass the two models' predictions of the same examples"
        )
        raise ValueError(msg)


class _Tap:
    """Catches the per-batch row record an Accumulator's statistics receive."""

    name = "_compare_rows"

    def __init__(self) -> None:
        self.rows: Any = None

    def update(self, rows: Any) -> None:
        self.rows = rows


def _rows(acc: Accumulator, pred: Any, target: Any, sw: Any, offset: int | None) -> Any:
    """``acc.update`` on one batch, and the row record its statistics read (ℓ_i, w_i, …)."""
    tap = _Tap()
    stats = cast(dict[str, Any], acc.stats)
    stats[tap.name] = tap
    try:
        acc.update(pred, target, sample_weight=sw, row_offset=offset)
    finally:
        stats.pop(tap.name, None)
    return tap.rows


class CompareSums:
    """Mergeable sums of a comparison: one :class:`~crossentropy.Accumulator` per model (every
    metric's point value), the paired replicate sums and the NLL-difference histogram.

    ``update(pred_a, pred_b, target, sample_weight=, row_offset=)`` / ``merge`` /
    ``to_state`` / ``from_state`` / ``finalize() → Comparison``. ``kind`` is one kind for
    both models, or A's with ``kind_b`` for B's; the other options are
    :class:`~crossentropy.Accumulator`'s. Batches in any split with their ``row_offset``,
    merged in any order, give identical numbers.

    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 2, 60); a = rng.normal(size=(60, 2)); b = rng.normal(size=(60, 2))
    >>> s1, s2 = CompareSums(bootstrap=50), CompareSums(bootstrap=50)
    >>> s1.update(a[:25], b[:25], y[:25]); s2.update(a[25:], b[25:], y[25:], row_offset=25)
    >>> whole = CompareSums(bootstrap=50); whole.update(a, b, y)
    >>> s1.merge(s2).finalize().intervals == whole.finalize().intervals
    True
    """

    def __init__(
        self,
        *,
        kind: Kind = "logits",
        kind_b: Kind | None = None,
        bootstrap: int = 1000,
        seed: int = 0,
        level: float = 0.95,
        names: tuple[str, str] = ("A", "B"),
        **options: Any,
    ):
        if "sequence_axis" in options and options["sequence_axis"] is not None:
            msg = "`sequence_axis` is not supported by compare (the interval resamples examples)"
            raise ValueError(msg)
        kinds = (kind, kind if kind_b is None else kind_b)
        # the per-model accumulators check every option (bootstrap ≥ 0, seed, level, bins, …)
        self.a = Accumulator(kind=kinds[0], bootstrap=0, seed=seed, level=level, **options)
        self.b = Accumulator(kind=kinds[1], bootstrap=0, seed=seed, level=level, **options)
        Accumulator(bootstrap=bootstrap, seed=seed, level=level)  # the same checks, for ours
        self.kinds: tuple[Kind, Kind] = kinds
        self.replicates, self.seed, self.level = int(bootstrap), int(seed), float(level)
        self.names = (str(names[0]), str(names[1]))
        o = self.a.options
        self.bins = o["bins"] if o["strategy"] == "uniform" else 0
        self.paired = ReplicateSums.zeros(self.replicates, 8 + 4 * self.bins)
        self.diff_count = np.zeros(len(DIFF_EDGES) - 1, dtype=np.int64)
        self.diff_weight = np.zeros(len(DIFF_EDGES) - 1)
        self.counts = {"b_lower": 0, "a_lower": 0, "equal": 0, "undefined": 0, "units": 0}

    # ---- update ------------------------------------------------------------------------------
    def update(
        self,
        pred_a: Any,
        pred_b: Any,
        target: Any,
        *,
        sample_weight: Any = None,
        row_offset: int | None = None,
    ) -> None:
        """Add one batch of the same rows scored by A (``pred_a``) and B (``pred_b``)."""
        _same_rows(pred_a, pred_b, ("pred_a", "pred_b"), self.a.options["axis"])
        offset = self.counts["units"] if row_offset is None else row_offset
        ra = _rows(self.a, pred_a, target, sample_weight, offset)
        rb = _rows(self.b, pred_b, target, sample_weight, offset)
        ta, tb = getattr(self.a, "resolved_task", None), getattr(self.b, "resolved_task", None)
        if ta != tb:
            msg = f"A was read as a {ta} task and B as a {tb} task; pass task= to compare them"
            raise ValueError(msg)
        self._add(ra, rb)
        self.counts["units"] = max(self.counts["units"], int(offset) + ra.units)

    def _add(self, ra: Any, rb: Any) -> None:
        if ra.n == 0:
            return
        m = ra.valid & rb.valid & (ra.w > 0) & (rb.w > 0)
        with np.errstate(all="ignore"):
            d = rb.ell[m] / rb.w[m] - ra.ell[m] / ra.w[m]
        ok = ~np.isnan(d)
        c = self.counts
        c["undefined"] += int((~ok).sum())
        c["b_lower"] += int((d[ok] < 0).sum())
        c["a_lower"] += int((d[ok] > 0).sum())
        c["equal"] += int((d[ok] == 0).sum())
        idx = np.clip(
            np.searchsorted(DIFF_EDGES, d[ok], side="right") - 1, 0, len(self.diff_count) - 1
        )
        self.diff_count += np.bincount(idx, minlength=len(self.diff_count))
        self.diff_weight += np.bincount(idx, weights=ra.w[m][ok], minlength=len(self.diff_count))
        if self.replicates:
            self._replicates(ra, rb)

    def _replicates(self, ra: Any, rb: Any) -> None:
        units, B, r = ra.units, self.bins, self.paired
        per_unit = ra.n // units
        K, m = r.shape
        for u0 in range(0, units, _CHUNK):
            u1 = min(units, u0 + _CHUNK)
            nu, sl = u1 - u0, slice(u0 * per_unit, u1 * per_unit)
            vals = np.zeros((nu, m))
            for side, rows in enumerate((ra, rb)):
                cols = (rows.ell, rows.w, rows.w_correct, rows.w_brier)
                for j, col in enumerate(cols):
                    vals[:, 4 * side + j] = col[sl].reshape(nu, per_unit).sum(axis=1)
                if B:
                    v = rows.valid[sl]
                    key = (np.arange(nu).repeat(per_unit) * B + bin_index(rows.conf[sl], B))[v]
                    wv = rows.w[sl][v]
                    for j, val in enumerate((wv * rows.conf[sl][v], rows.w_correct[sl][v])):
                        at = 8 + (2 * side + j) * B
                        vals[:, at : at + B] = np.bincount(
                            key, weights=val, minlength=nu * B
                        ).reshape(nu, B)
            weights = poisson_weights(self.seed, np.arange(ra.offset + u0, ra.offset + u1), K)
            r.add(weights, vals)

    # ---- merge and state ---------------------------------------------------------------------
    def _config(self) -> dict[str, Any]:
        return {
            "kinds": list(self.kinds),
            "bootstrap": self.replicates,
            "seed": self.seed,
            "level": self.level,
            "names": list(self.names),
            "options": encode({k: v for k, v in self.a.options.items() if k != "kind"}),
        }

    def merge(self, other: CompareSums) -> CompareSums:
        """A new statistic holding both (any order; the inputs are unchanged)."""
        if not isinstance(other, CompareSums):
            msg = f"can only merge another CompareSums, got {type(other).__name__}"
            raise TypeError(msg)
        ca, cb = self._config(), other._config()
        diff = [k for k in ca if ca[k] != cb[k] and k != "names"]
        if diff:
            msg = f"cannot merge comparisons built with different {', '.join(diff)}"
            raise ValueError(msg)
        out = CompareSums.__new__(CompareSums)
        out.__dict__.update(self.__dict__)
        out.a, out.b = self.a.merge(other.a), self.b.merge(other.b)
        out.paired = self.paired.merge(other.paired)
        out.diff_count = self.diff_count + other.diff_count
        out.diff_weight = self.diff_weight + other.diff_weight
        out.counts = {k: self.counts[k] + other.counts[k] for k in self.counts}
        out.counts["units"] = max(self.counts["units"], other.counts["units"])
        return out

    def to_state(self) -> dict[str, Any]:
        """Plain JSON-safe values (:meth:`from_state` is the inverse)."""
        return {
            "schema": _STATE,
            "schema_version": _STATE_VERSION,
            **self._config(),
            "a": self.a.to_state(),
            "b": self.b.to_state(),
            "paired": self.paired.to_state(),
            "diff_count": self.diff_count.tolist(),
            "diff_weight": encode(self.diff_weight.tolist()),
            "counts": dict(self.counts),
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> CompareSums:
        """The statistic of :meth:`to_state` (also after a JSON round trip)."""
        if d.get("schema") != _STATE or d.get("schema_version") != _STATE_VERSION:
            msg = (
                f"not a comparison state (schema {d.get('schema')!r}, version "
                f"{d.get('schema_version')!r}; expected {_STATE!r} version {_STATE_VERSION})"
            )
            raise ValueError(msg)
        opts = decode(d["options"])
        out = cls(
            kind=d["kinds"][0],
            kind_b=d["kinds"][1],
            bootstrap=d["bootstrap"],
            seed=d["seed"],
            level=d["level"],
            names=tuple(d["names"]),  # type: ignore[arg-type]
            **{
                k: (tuple(v) if isinstance(v, list) else v)
                for k, v in opts.items()
                if k not in ("bootstrap", "seed", "level")
            },
        )
        out.a, out.b = Accumulator.from_state(d["a"]), Accumulator.from_state(d["b"])
        K, m = out.paired.shape
        out.paired = ReplicateSums.from_state(d["paired"], K, m)
        out.diff_count = np.asarray(d["diff_count"], dtype=np.int64)
        out.diff_weight = np.asarray(decode(d["diff_weight"]), dtype=np.float64)
        out.counts = {k: int(v) for k, v in d["counts"].items()}
        return out

    # ---- finalize ----------------------------------------------------------------------------
    def reports(self) -> tuple[Report, Report]:
        """The two models' own reports (no intervals)."""
        return self.a.finalize(), self.b.finalize()

    def finalize(self) -> Comparison:
        """The :class:`Comparison` of everything seen so far (the state is unchanged)."""
        ra, rb = self.reports()
        ma, mb = metrics(ra), metrics(rb)
        diff = {k: mb[k] - ma[k] for k in ma if k in mb}
        scale = log_base(ra.base)
        intervals = None
        if self.replicates and not ra.empty:
            S = self.paired.values()
            WA, WB = S[:, 1], S[:, 5]
            use = (WA > 0) & (WB > 0)
            S, WA, WB = S[use], WA[use], WB[use]
            with np.errstate(invalid="ignore"):
                parts = {
                    "cross_entropy": (S[:, 4] / WB - S[:, 0] / WA) / scale,
                    "accuracy": S[:, 6] / WB - S[:, 2] / WA,
                    "brier": S[:, 7] / WB - S[:, 3] / WA,
                }
                # the top-label ECE of the rows; other tasks calibrate P(y=1) per label
                if self.bins and getattr(self.a, "resolved_task", "multiclass") == "multiclass":
                    Bn = self.bins
                    ece = [
                        np.abs(S[:, at : at + Bn] - S[:, at + Bn : at + 2 * Bn]).sum(axis=1) / W
                        for at, W in ((8, WA), (8 + 2 * Bn, WB))
                    ]
                    parts["calibration.ece"] = ece[1] - ece[0]
            intervals = {
                k: percentile_interval(v, self.level) for k, v in parts.items() if k in diff
            }
        c = self.counts
        hist = Histogram(
            tuple(float(e) for e in DIFF_EDGES),
            tuple(int(x) for x in self.diff_count),
            tuple(float(x) for x in self.diff_weight),
        )
        return Comparison(
            names=self.names,
            paired=True,
            n_rows=ra.n_rows,
            n_valid=ra.n_valid,
            base=ra.base,
            a=ma,
            b=mb,
            difference=diff,
            intervals=intervals,
            level=self.level,
            bootstrap=self.replicates,
            seed=self.seed,
            histogram=hist,
            b_lower=c["b_lower"],
            a_lower=c["a_lower"],
            equal=c["equal"],
            note=None if self.replicates else "no bootstrap replicates (bootstrap=0): no interval",
        )


def _saved(x: Any, which: str) -> tuple[dict[str, Any], int, int, Any]:
    """(metrics, n_rows, n_valid, base) of a saved report or state."""
    if isinstance(x, Accumulator):
        x = x.finalize()
    if isinstance(x, Report):
        return metrics(x), x.n_rows, x.n_valid, x.base
    if isinstance(x, dict):
        d = x.get("report", x) if x.get("schema") == "crossentropy.evaluate" else x
        if "stats" in d and "options" in d:  # an Accumulator state
            r = Accumulator.from_state(d).finalize()
            return metrics(r), r.n_rows, r.n_valid, r.base
        if "cross_entropy" in d and "n_rows" in d:
            return metrics(d), int(d["n_rows"]), int(d["n_valid"]), d.get("base", "e")
    msg = (
        f"`{which}` must be a Report, an Accumulator or its state, Report.to_dict() or the "
        f"`crossentropy evaluate --format json` object; got {type(x).__name__}"
    )
    raise TypeError(msg)


def compare_saved(a: Any, b: Any, *, names: tuple[str, str] = ("A", "B")) -> Comparison:
    """Point differences of two saved reports or states (no interval: :data:`POINT_ONLY`).

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> y = np.array([0, 1, 1]); ra = evaluate(np.zeros((3, 2)), y)
    >>> rb = evaluate(np.array([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0]]), y)
    >>> c = compare_saved(ra.to_dict(), rb)
    >>> c.paired, round(c.difference["cross_entropy"], 6) == round(rb.cross_entropy - ra.cross_entropy, 6)
    (False, True)
    """
    ma, na, va, base_a = _saved(a, "a")
    mb, nb, vb, base_b = _saved(b, "b")
    if str(base_a) != str(base_b):
        msg = (
            f"the reports use different log bases ({base_a!r} and {base_b!r}); compare in one base"
        )
        raise ValueError(msg)
    if na != nb:
        msg = (
            f"the reports are over different numbers of rows ({na:,} and {nb:,}): a comparison "
            "needs the same rows"
        )
        raise ValueError(msg)
    return Comparison(
        names=(str(names[0]), str(names[1])),
        paired=False,
        n_rows=na,
        n_valid=va,
        base=base_a,
        a=ma,
        b=mb,
        difference={k: mb[k] - ma[k] for k in ma if k in mb},
        note=POINT_ONLY,
    )


def compare(
    a: Any,
    b: Any,
    target: Any = None,
    *,
    kind: Kind = "logits",
    kind_b: Kind | None = None,
    sample_weight: Any = None,
    block_rows: int | None = None,
    bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    names: tuple[str, str] = ("A", "B"),
    **options: Any,
) -> Comparison:
    r"""Compare model B with model A on the same rows: ``metric(B) − metric(A)`` for every metric.

    With a ``target``, ``a`` and ``b`` are the two models' predictions of the same examples
    (``kind`` of both, or of A with ``kind_b`` of B): every metric's point difference, a paired
    Poisson-bootstrap interval (``bootstrap`` replicates, ``seed``, ``level``) of the
    difference of cross-entropy, accuracy, Brier score and (uniform bins) ECE,

        Δ_k = Σ r_uk L^B_u / Σ r_uk W^B_u − Σ r_uk L^A_u / Σ r_uk W^A_u,

    identical for any ``block_rows``, and the per-example NLL-difference histogram. Other
    options are :class:`~crossentropy.Accumulator`'s (``bins``, ``base``, ``ignore_index``,
    …). Without a target, ``a`` and ``b`` are saved reports or states (a
    :class:`~crossentropy.Report`, its ``to_dict()``, the ``evaluate --format json``
    object, an :class:`~crossentropy.Accumulator` or its state): point differences only.

    Examples
    --------
    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> y = np.array([0, 1, 1, 0])
    >>> a = np.zeros((4, 2)); b = np.array([[2.0, 0], [0, 2], [0, 2], [0, 2]])
    >>> c = compare(a, b, y, bootstrap=0)
    >>> c.difference["cross_entropy"] == evaluate(b, y).cross_entropy - evaluate(a, y).cross_entropy
    True
    >>> compare(evaluate(a, y), evaluate(b, y)).paired
    False
    """
    if target is None:
        return compare_saved(a, b, names=names)
    acc = CompareSums(
        kind=kind,
        kind_b=kind_b,
        bootstrap=bootstrap,
        seed=seed,
        level=level,
        names=names,
        **options,
    )
    axis = acc.a.options["axis"]
    for p, name in ((a, "a"), (b, "b")):
        if len(np.shape(p)) == 0:
            msg = f"`{name}` must have a class axis; got a 0-d array"
            raise ValueError(msg)
    _same_rows(a, b, ("a", "b"), axis)
    check_rows(a, target, axis, sample_weight)
    check_rows(b, target, axis, sample_weight)
    nd = len(np.shape(a))
    for start, _, idx in row_blocks(a, axis, block_rows):
        if nd == 1:
            acc.update(a, b, target, sample_weight=sample_weight, row_offset=0)
            continue
        acc.update(
            a[idx],
            b[idx],
            slice_target(target, nd, axis, idx),
            sample_weight=slice_weight(sample_weight, nd, axis, idx),
            row_offset=start,
        )
    return acc.finalize()
