"""Which rows of a batch an evaluation keeps: :class:`RowFilter` (the rows that fail
validation, by reason, on :mod:`crossentropy._validate`'s row masks: raise or reject them)
and the :class:`Counts` of rows read, evaluated, missing and rejected."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _validate as v
from . import io
from .evaluate_options import EvaluateOptions

__all__ = ["Counts", "RowFilter"]


def _non_finite_rows(pred: np.ndarray) -> np.ndarray:
    """Rows that may hold a non-finite value: a superset (a row of finite values whose sum
    overflows is in it too), found from one row sum instead of elementwise passes; callers
    check these rows exactly. ``einsum`` rather than ``pred @ ones``: a BLAS product starts
    its own threads, which contend with the kernels' threads (measured: 2× slower passes)."""
    with np.errstate(all="ignore"):
        return ~np.isfinite(np.einsum("ij->i", pred))


@dataclass
class Counts:
    """Rows read, evaluated, missing, rejected (by reason) and the cells worth a note."""

    read: int = 0
    evaluated: int = 0
    missing_labels: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    neg_inf_cells: int = 0  # −inf logits/log-probs or 0 probabilities: legal, counted
    clamped_cells: int = 0  # probabilities within 10·eps outside [0, 1], set to the bound

    def merge(self, other: Counts) -> Counts:
        reasons = dict(self.by_reason)
        for k, n in other.by_reason.items():
            reasons[k] = reasons.get(k, 0) + n
        sums = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in dataclasses.fields(self)
            if f.name != "by_reason"
        }
        return Counts(**sums, by_reason=reasons)

    def add_cells(self, pred: np.ndarray, kind: str) -> None:
        if kind == "probs":
            self.neg_inf_cells += int(np.count_nonzero(pred == 0))
            self.clamped_cells += int(np.count_nonzero((pred < 0) | (pred > 1)))
        else:
            rows = _non_finite_rows(pred)
            self.neg_inf_cells += (
                int(np.count_nonzero(np.isneginf(pred[rows]))) if rows.any() else 0
            )


@dataclass(frozen=True)
class RowFilter:
    """The rows of a batch that fail validation, by reason (``_validate``'s row masks), and
    what to do with them: ``on_invalid="error"`` raises naming the first reason and its rows,
    ``"skip"`` rejects them and counts them."""

    kind: str
    num_classes: int
    options: EvaluateOptions = EvaluateOptions()
    task: str = "multiclass"

    def _prediction(self, pred: np.ndarray) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        if self.kind == "logits" and pred.ndim == 2:  # the common case: screen rows first
            rows = np.flatnonzero(_non_finite_rows(pred))
            if rows.size:
                screened = pred[rows]
                for hit, reason in (
                    v.nan_rows(screened),
                    v.bad_logit_rows(screened),
                    v.no_finite_logit_rows(screened),
                ):
                    if hit.any():
                        mask = np.zeros(pred.shape[0], dtype=bool)
                        mask[rows[hit]] = True
                        out[reason] = mask
            return out
        nan, reason = v.nan_rows(pred)
        if nan.any():
            out[reason] = nan
        check = {"probs": v.bad_prob_rows, "log_probs": v.bad_log_prob_rows}
        bad, reason = check.get(self.kind, v.bad_logit_rows)(pred)
        bad &= ~nan
        if bad.any():
            out[reason] = bad
        if self.kind == "logits":
            empty, reason = v.no_finite_logit_rows(pred)
            if empty.any():
                out[reason] = empty
        return out

    def problems(self, batch: io.Batch) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """Reasons → masks of the rows to reject (or raise on), and the missing labels to ignore."""
        problems = self._prediction(batch.pred)
        missing = batch.missing
        if batch.label_problems:  # io's reasons (not an index or name, not whole, beyond int64)
            problems.update(batch.label_problems)
        elif batch.bad_labels is not None:
            vals = ", ".join(repr(x) for x in batch.bad_label_values)
            problems[
                f"label is not a class index or class name (found {vals}; pass --classes "
                "NAMES for named classes, or --na-values to mark missing labels)"
            ] = batch.bad_labels
        if missing is not None and self.options.missing_labels == "error":
            problems[
                "label is missing (pass --missing-labels ignore to count such rows as ignored)"
            ] = missing
            missing = None
        t = batch.target
        if t.ndim == 1:
            C = 2 if self.task == "binary" else self.num_classes
            out, reason = v.bad_label_rows(t, C, self.options.ignore_index)
            for known in (batch.bad_labels, batch.missing):
                if known is not None:
                    out &= ~known
            if out.any():
                found = sorted({int(x) for x in t[out][:5]})
                problems[
                    f"{reason} (found {found}; --ignore-index is {self.options.ignore_index})"
                ] = out
        elif self.task in ("binary", "multilabel"):
            with np.errstate(invalid="ignore"):
                bad = (~((t == 0) | (t == 1))).any(axis=1)
            if bad.any():
                found = sorted({float(x) for x in t[bad][~((t[bad] == 0) | (t[bad] == 1))][:5]})
                problems[f"label is not 0 or 1 (found {found})"] = bad
        else:
            bad, reason = v.bad_soft_target_rows(t)
            if bad.any():
                problems[reason] = bad
        if batch.weight is not None:
            bad, reason = v.bad_weight_rows(batch.weight)
            if bad.any():
                problems[reason] = bad
        return problems, missing

    def __call__(self, batch: io.Batch, counts: Counts) -> tuple[np.ndarray, np.ndarray, Any]:
        """``(pred, target, weight)`` of the rows that pass; missing labels set to ignore_index."""
        problems, missing = self.problems(batch)
        pred, target, weight = batch.pred, batch.target, batch.weight
        if missing is not None:
            target = target.copy()
            target[missing] = self.options.ignore_index
            counts.missing_labels += int(missing.sum())
        if not problems:
            return pred, target, weight
        if self.options.on_invalid == "error":
            reason, mask = next(iter(problems.items()))
            more = len(problems) - 1
            raise io.DataError(
                f"{batch.path}: {reason} at {io.format_rows(np.flatnonzero(mask), batch.offset)}"
                + (f" (and {more} other problem{'s' if more > 1 else ''})" if more else "")
                + "; fix the file or pass --on-invalid skip to reject such rows"
            )
        reject = np.zeros(len(batch), dtype=bool)
        for reason, mask in problems.items():
            key = reason.split(" (")[0]
            counts.by_reason[key] = counts.by_reason.get(key, 0) + int(mask.sum())
            reject |= mask
        counts.rejected += int(reject.sum())
        keep = ~reject
        return pred[keep], target[keep], None if weight is None else weight[keep]
