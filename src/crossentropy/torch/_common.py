"""Option checks, target preparation and reductions shared by the PyTorch adapters.

Internal. Everything here follows docs/semantics.md §2–§6: the per-example
loss ``ℓ_i = − s_i Σ_c weight_c y'_ic log q_ic``, its weight in the mean
``w_i = s_i Σ_c weight_c y_ic`` and the ``empty=`` policy of the mean.

Target preparation reduces any target to a handful of per-row numbers, so that
the same formulas serve full logits, vocabulary chunks and vocabulary shards on
other ranks. With ``y'_ic = α y_ic + β m_i`` (``m_i = Σ_c y_ic``, the row's mass)
for both smoothing formulas — ``"uniform"``: ``α = 1 − ε, β = ε / C``;
``"others"``: ``β = ε / (C − 1), α = 1 − ε − β`` — the coefficients
``a_ic = weight_c y'_ic`` give

    Σ_c a_ic       = A_i = α u_i + β m_i W,       u_i = Σ_c weight_c y_ic,  W = Σ_c weight_c
    Σ_c a_ic z_ic  = D_i = α P_i + β m_i Q_i,     P_i = Σ_c weight_c y_ic z_ic,  Q_i = Σ_c weight_c z_ic

and, for logits ``z`` with ``lse_i = logsumexp_c z_ic``, ``ℓ_i = s_i (A_i lse_i − D_i)``.
``P`` and ``Q`` are sums over classes, so they add up over vocabulary chunks and ranks.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import array_api_compat
import torch

from .._validate import (
    EmptyReductionWarning,
    check_class_weight,
    check_index_target,
    check_label_smoothing,
    check_option,
    check_sample_weight,
    check_soft_target,
    positions,
)

REDUCTIONS = ("mean", "sum", "none")
EMPTY = ("nan", "zero", "raise")
DIVIDE_BY = ("weight", "count")
KINDS = ("logits", "log_probs", "probs")


def xp_of(x: torch.Tensor):
    return array_api_compat.array_namespace(x)


def compute_dtype(*tensors: torch.Tensor | None, name: str = "pred") -> torch.dtype:
    """max(float32, promoted floating dtype of ``tensors``) — the table of docs/semantics.md §6."""
    present = [t for t in tensors if t is not None]
    dtype = present[0].dtype
    for t in present[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    if dtype.is_complex:
        msg = f"`{name}` must be real floating point, got complex dtype {dtype}"
        raise TypeError(msg)
    if not dtype.is_floating_point:
        msg = f"`{name}` must be a floating-point tensor of scores, got dtype {dtype}; cast it first, e.g. `{name}.float()`"
        raise TypeError(msg)
    return torch.float64 if dtype == torch.float64 else torch.float32


def legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's mapping of the deprecated ``size_average`` / ``reduce`` flags."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn(
        "size_average and reduce args will be deprecated, please use reduction='"
        + ("none" if reduce is False else "mean" if size_average in (None, True) else "sum")
        + "' instead.",
        UserWarning,
        stacklevel=3,
    )
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def check_common(
    *,
    reduction: str,
    empty: str,
    divide_by: str = "weight",
    z_loss: float = 0.0,
    softcap: float | None = None,
    kind: str = "logits",
) -> None:
    check_option("reduction", reduction, REDUCTIONS)
    check_option("empty", empty, EMPTY)
    check_option("divide_by", divide_by, DIVIDE_BY)
    check_option("kind", kind, KINDS)
    if not (isinstance(z_loss, (int, float)) and math.isfinite(z_loss) and z_loss >= 0):
        msg = f"`z_loss` must be a finite number ≥ 0 (the coefficient on lse²); got {z_loss!r}"
        raise ValueError(msg)
    if softcap is not None and not (
        isinstance(softcap, (int, float)) and math.isfinite(softcap) and softcap > 0
    ):
        msg = f"`softcap` must be None or a finite number > 0 (logits become softcap·tanh(logits/softcap)); got {softcap!r}"
        raise ValueError(msg)
    if kind != "logits" and (z_loss or softcap is not None):
        msg = f"`z_loss` and `softcap` act on logits; they cannot be used with kind={kind!r}"
        raise ValueError(msg)


def smoothing_coefficients(eps: float, smoothing: str, num_classes: int) -> tuple[float, float]:
    """(α, β) with ``y' = α y + β m`` (see the module docstring)."""
    eps = check_label_smoothing(eps, smoothing, num_classes)
    if eps == 0:
        return 1.0, 0.0
    if smoothing == "uniform":
        return 1.0 - eps, eps / num_classes
    beta = eps / (num_classes - 1)
    return 1.0 - eps - beta, beta


@dataclass
class Rows:
    """A target reduced to per-row numbers (N rows) plus what a tile needs for ``a_ic``."""

    index: torch.Tensor | None  # (N,) int64 global class ids; masked / out-of-range rows → -1
    soft: torch.Tensor | None  # (N, C_local) target distribution, compute dtype
    active: torch.Tensor  # (N,) bool: not masked
    bad: torch.Tensor  # (N,) bool: out-of-range index with validate=False (row becomes NaN)
    s: torch.Tensor  # (N,) sample weight, 0 on masked rows
    u: torch.Tensor  # (N,) Σ_c weight_c y_ic (index: weight[y]); soft: local part until completed
    m: torch.Tensor  # (N,) Σ_c y_ic (index: 1); soft: local part until completed
    alpha: float
    beta: float
    class_weight: torch.Tensor | None  # (C_local,) compute dtype
    weight_total: float | torch.Tensor  # W = Σ_c weight_c over the GLOBAL vocabulary
    divide_by: str

    @property
    def A(self) -> torch.Tensor:
        return self.alpha * self.u + self.beta * self.m * self.weight_total

    def divisor_weights(self) -> torch.Tensor:
        """w_i of docs/semantics.md §4 (or the count for ``divide_by="count"``); NaN on bad rows."""
        if self.divide_by == "count":
            w = torch.where(self.active, self.s, torch.zeros_like(self.s))
        else:
            w = torch.where(self.active, self.s * self.u, torch.zeros_like(self.s))
        return torch.where(self.bad, torch.full_like(w, float("nan")), w)

    def finish_soft(self, u: torch.Tensor, m: torch.Tensor) -> None:
        """Install the global (all-ranks) u and m of soft targets and mask all-zero rows."""
        self.u, self.m = u, m
        self.active = self.active & (m != 0)
        self.s = torch.where(self.active, self.s, torch.zeros_like(self.s))


def prepare_rows(
    target: torch.Tensor,
    *,
    num_classes: int,
    local_classes: int,
    batch_shape: tuple,
    dtype: torch.dtype,
    device: torch.device,
    class_weight: torch.Tensor | None,
    sample_weight: torch.Tensor | None,
    ignore_index: int | None,
    label_smoothing: float,
    smoothing: str,
    divide_by: str,
    validate: bool,
    vocab_start: int = 0,
    soft: bool | None = None,
) -> Rows:
    """Validate a target (index or distribution) and reduce it to :class:`Rows`.

    ``target`` has ``batch_shape`` (indices) or ``(*batch_shape, local_classes)``
    (a distribution over this shard's classes ``[vocab_start, vocab_start + local_classes)``),
    the class axis last. ``class_weight`` is the GLOBAL per-class weight (``num_classes``,).
    """
    if not isinstance(target, torch.Tensor):
        msg = f"`target` must be a torch.Tensor; got {type(target).__name__}"
        raise TypeError(msg)
    check_option("divide_by", divide_by, DIVIDE_BY)
    alpha, beta = smoothing_coefficients(label_smoothing, smoothing, num_classes)
    n = math.prod(batch_shape)
    if soft is None:
        soft = target.dtype.is_floating_point and tuple(target.shape) == (
            *batch_shape,
            local_classes,
        )
    xp = xp_of(target)
    cw = None
    weight_total: float | torch.Tensor = float(num_classes)
    if class_weight is not None:
        if not isinstance(class_weight, torch.Tensor):
            class_weight = torch.as_tensor(class_weight)
        check_class_weight(xp_of(class_weight), class_weight, num_classes)
        cw_global = class_weight.to(device=device, dtype=dtype)
        weight_total = cw_global.sum()
        cw = cw_global[vocab_start : vocab_start + local_classes]
    if sample_weight is not None:
        if not isinstance(sample_weight, torch.Tensor):
            sample_weight = torch.as_tensor(sample_weight)
        check_sample_weight(xp_of(sample_weight), sample_weight, tuple(batch_shape))
        s = sample_weight.to(device=device, dtype=dtype).reshape(n)
    else:
        s = torch.ones(n, dtype=dtype, device=device)

    if soft:
        if target.dtype.is_complex or not target.dtype.is_floating_point:
            msg = f"`target` distributions must be floating point; got dtype {target.dtype}"
            raise TypeError(msg)
        check_soft_target(
            xp, target, validate=validate
        ) if local_classes == num_classes else _check_soft_shard(target, validate)
        y = target.reshape(n, local_classes).to(dtype)
        m = y.sum(-1)
        u = m if cw is None else y @ cw
        active = s != 0
        bad = torch.zeros(n, dtype=torch.bool, device=device)
        rows = Rows(None, y, active, bad, s, u, m, alpha, beta, cw, weight_total, divide_by)
        if local_classes == num_classes:
            rows.finish_soft(u, m)
        return rows

    if validate:
        t = check_index_target(xp, target, num_classes, ignore_index, tuple(batch_shape))
    else:
        if target.dtype == torch.bool:
            check_index_target(xp, target, num_classes, ignore_index, tuple(batch_shape))
        if tuple(target.shape) != tuple(batch_shape):
            msg = f"`target` must have shape {tuple(batch_shape)} (the prediction without its class axis); got {tuple(target.shape)}"
            raise ValueError(msg)
        t = target.long()
    t = t.reshape(n).to(device)
    ignored = (
        t == ignore_index if ignore_index is not None else torch.zeros_like(t, dtype=torch.bool)
    )
    bad = ((t < 0) | (t >= num_classes)) & ~ignored
    active = ~ignored & ~bad & (s != 0)
    index = torch.where(active, t, torch.full_like(t, -1))
    if cw is None:
        u = torch.ones(n, dtype=dtype, device=device)
    else:
        u = cw_global[index.clamp(min=0)]
    s = torch.where(active, s, torch.zeros_like(s))
    m = torch.ones(n, dtype=dtype, device=device)
    return Rows(index, None, active, bad, s, u, m, alpha, beta, cw, weight_total, divide_by)


def _check_soft_shard(target: torch.Tensor, validate: bool) -> None:
    if not validate:
        return
    bad = ~torch.isfinite(target) | (target < 0)
    if bool(bad.any()):
        msg = (
            "`target` distributions must be finite and non-negative; got "
            f"{positions(bad, target)}. Soft labels are weights per class"
        )
        raise ValueError(msg)


def reduce_loss(
    loss: torch.Tensor,
    w: torch.Tensor,
    *,
    reduction: str,
    empty: str,
    host_check: bool,
    batch_shape: tuple | None = None,
) -> torch.Tensor:
    """Reduce per-example losses ``ℓ`` with weights ``w`` (docs/semantics.md §4, the ``empty=`` table).

    The mean is ``Σℓ / Σw``; when ``Σw = 0`` it is NaN (``"nan"``) or 0 (``"zero"``) and its
    gradient is exactly zero, computed without a host synchronisation. ``host_check`` adds the
    synchronising checks (the warning of ``"nan"`` and the errors of ``"raise"``).
    """
    if reduction == "none":
        if empty == "raise" and loss.numel() == 0:
            msg = "the batch is empty (N = 0) and empty='raise'"
            raise ValueError(msg)
        return loss if batch_shape is None else loss.reshape(batch_shape)
    total = loss.sum()
    if reduction == "sum":
        if empty == "raise" and not bool(w.sum() != 0):
            msg = (
                "every example is masked (ignored, zero weight or an empty batch) and empty='raise'"
            )
            raise ValueError(msg)
        return total
    denom = w.sum()
    if empty == "raise" or (empty == "nan" and host_check):
        if not bool(denom != 0):
            if empty == "raise":
                msg = (
                    "the mean has no example to average (N = 0, every target ignored or every weight zero) "
                    "and empty='raise'; use empty='nan' (PyTorch) or empty='zero' (Keras) to get a number"
                )
                raise ValueError(msg)
            warnings.warn(
                "mean over no example (empty batch, every target ignored or zero total weight): the loss is "
                "NaN and its gradient is zero; pass empty='zero' to get 0",
                EmptyReductionWarning,
                stacklevel=4,
            )
    ok = denom != 0
    scale = torch.where(
        ok, 1.0 / torch.where(ok, denom, torch.ones_like(denom)), torch.zeros_like(denom)
    )
    fill = torch.where(
        ok, torch.zeros_like(denom), torch.full_like(denom, float("nan") if empty == "nan" else 0.0)
    )
    return total * scale.detach() + fill.detach()
