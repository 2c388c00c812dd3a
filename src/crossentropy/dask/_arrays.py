"""``evaluate`` on dask arrays: an Accumulator per partition, merged in a tree; temperature passes."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import dask
import numpy as np

from .. import _validate as v
from .._options import LossOptions
from .._types import Base
from ..report import Report
from ..temperature import Temperature
from ._lazy import _as_dask
from ._tree import _compute, _key, _merge_states, _tree


def _acc_part(x, t, s, *, offset: int, options: dict, where: str) -> Any:
    from ..accumulate import Accumulator

    acc = Accumulator(**options)
    try:
        acc.update(x, t, sample_weight=s, row_offset=offset)
    except (ValueError, TypeError) as e:
        raise type(e)(f"{where}: {e}") from None
    return acc


def _temp_part(x, t, s, *, log_T: float, loss: dict) -> np.ndarray:
    from ..temperature import temperature_sums

    if math.prod(x.shape) == 0:
        return np.zeros(4)
    r = temperature_sums(x, t, log_T, sample_weight=s, **loss)
    return np.asarray(tuple(r), dtype=np.float64)


def _cal_part(x, t, s, *, scale: float, loss: dict, bins: int) -> Any:
    from ..calibration import CalibrationSums, top_label_inputs

    out = CalibrationSums(bins)
    if math.prod(x.shape) == 0:
        return out
    with np.errstate(all="ignore"):
        z = np.asarray(x, dtype=np.float64) / scale
    lq, true, w, valid, obs = top_label_inputs(
        z,
        t,
        kind="logits",
        axis=loss["axis"],
        sample_weight=s,
        weight=loss["weight"],
        ignore_index=loss["ignore_index"],
        validate=False,
    )
    out.update(lq, true, w, valid, obs)
    return out


def _sum_arrays(*a: np.ndarray) -> np.ndarray:
    out = a[0].copy()
    for b in a[1:]:
        out = out + b
    return out


def _merge_cal(*c: Any) -> Any:
    out = c[0]
    for b in c[1:]:
        out = out.merge(b)
    return out


class _Parts:
    """The partitions of (pred, target, sample_weight) along the unit axis, as delayed blocks."""

    def __init__(self, pred, target, sample_weight, axis: int):
        from .._blocks import unit_axis

        pred = _as_dask(pred, "pred")
        nd = pred.ndim
        if nd < 2:
            msg = (
                f"`pred` must have a unit axis and a class axis (got shape {tuple(pred.shape)}); "
                "for one example use crossentropy.evaluate"
            )
            raise ValueError(msg)
        ax = v.check_axis(pred, axis)
        ua = unit_axis(nd, ax)
        # whole units per partition: only the unit axis keeps its chunks
        pred = pred.rechunk({i: (pred.chunks[ua] if i == ua else -1) for i in range(nd)})
        target = _as_dask(target, "target")
        if target.ndim == nd:
            target = target.rechunk(pred.chunks)
        else:
            tua = ua if ua < ax else ua - 1
            target = target.rechunk(
                {i: (pred.chunks[ua] if i == tua else -1) for i in range(target.ndim)}
            )
        self.pred, self.target, self.ax, self.ua = pred, target, ax, ua
        sw = _as_dask(sample_weight, "sample_weight")
        if sw is not None:
            tua = ua if ua < ax else ua - 1
            sw = sw.rechunk({i: (pred.chunks[ua] if i == tua else -1) for i in range(sw.ndim)})
        self.sw = sw
        sizes = pred.chunks[ua]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int).tolist()
        self.n = len(sizes)
        self._p = pred.to_delayed().reshape(-1)
        self._t = target.to_delayed().reshape(-1)
        self._s = None if sw is None else sw.to_delayed().reshape(-1)
        if len(self._t) != self.n or (self._s is not None and len(self._s) != self.n):
            msg = (
                f"`target` {tuple(target.shape)} / `sample_weight` do not line up with `pred` "
                f"{tuple(pred.shape)} along the unit axis {ua}"
            )
            raise ValueError(msg)

    def blocks(self, i: int) -> tuple:
        return self._p[i], self._t[i], (None if self._s is None else self._s[i])

    def where(self, i: int) -> str:
        a, b = self.offsets[i], self.offsets[i + 1]
        return (
            f"partition {i} of {self.n} (units {a}–{b - 1} on axis {self.ua})"
            if b > a
            else f"partition {i} of {self.n} (empty)"
        )


def evaluate(
    pred: Any,
    target: Any,
    *,
    sample_weight: Any = None,
    temperature: bool = False,
    progress: bool = False,
    **options: Any,
) -> Report:
    r"""The :class:`~crossentropy.Report` of dask arrays: an Accumulator per partition, states merged in a tree.

    Partitions are the chunks of the unit axis (the first non-class axis); the other
    axes are rechunked to one chunk so that a partition holds whole units (examples or
    sequences). Partition ``k`` is added with ``row_offset`` = its first unit, so
    bootstrap intervals equal the in-memory ones for the same seed. Options are those
    of :class:`~crossentropy.Accumulator`; ``temperature=True`` adds the temperature fit
    (a few more passes, one per Newton step). ``progress=True`` shows Dask's progress
    bar on stderr. Errors name the partition.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import crossentropy as ce
    >>> rng = np.random.default_rng(1)
    >>> y = rng.integers(0, 3, 1000)
    >>> x = rng.normal(size=(1000, 3)); x[np.arange(1000), y] += 1.0
    >>> r = evaluate(da.from_array(x, chunks=(137, 3)), da.from_array(y, chunks=400), bootstrap=50)
    >>> r0 = ce.evaluate(x, y, bootstrap=50)
    >>> bool(np.isclose(r.cross_entropy, r0.cross_entropy, rtol=1e-12)), r.intervals == r0.intervals
    (True, True)
    """
    from ..accumulate import Accumulator

    Accumulator(**options)  # validates the options before any graph is built
    parts = _Parts(pred, target, sample_weight, options.get("axis", LossOptions.axis))
    prefix = _key("crossentropy-acc-part")
    states = [
        dask.delayed(_acc_part, pure=True)(
            *parts.blocks(i),
            offset=parts.offsets[i],
            options=dict(options),
            where=parts.where(i),
            dask_key_name=f"{prefix}-{i}",
        )
        for i in range(parts.n)
    ]
    report = _compute(_tree(states, _merge_states, "crossentropy-acc"), progress).finalize()
    if temperature:  # every loss option of the report, in its base (nll_before == cross_entropy)
        from ..temperature import check_temperature_kind, loss_options

        check_temperature_kind(report.kind)
        loss = loss_options({**report.options, "kind": report.kind, "axis": parts.ax})
        fit = _fit_temperature_parts(
            parts, loss=loss, bins=report.options["bins"], base=report.base, progress=progress
        )
        report = dataclasses.replace(report, temperature=fit)
    return report


def _fit_temperature_parts(
    parts: _Parts, *, loss: dict, bins: int, base: Base, progress: bool
) -> Temperature:
    """temperature.fit_from_passes with one Dask pass over the partitions per call."""
    from ..temperature import TemperatureSums, fit_from_passes

    first = [loss["validate"]]

    def sums(t: float) -> TemperatureSums:
        ds = [
            dask.delayed(_temp_part, pure=True)(
                *parts.blocks(i), log_T=t, loss={**loss, "validate": first[0]}
            )
            for i in range(parts.n)
        ]
        first[0] = False
        tot = _compute(_tree(ds, _sum_arrays, "crossentropy-tsum"), progress)
        return TemperatureSums(*(float(v) for v in tot))

    def ece(scale: float) -> float:
        cs = [
            dask.delayed(_cal_part, pure=True)(*parts.blocks(i), scale=scale, loss=loss, bins=bins)
            for i in range(parts.n)
        ]
        return _compute(_tree(cs, _merge_cal, "crossentropy-ece"), progress).table().error("l1")

    return fit_from_passes(sums, ece_at=ece, base=base)
