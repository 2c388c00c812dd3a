"""Triton kernels for the per-tile work of cross-entropy (fused linear CE, or plain logits).

The matrix products stay with torch (cuBLAS on a GPU); these kernels do the
element-wise work on a *tile* of logits ``z`` — rows ``i`` of a chunk of tokens,
columns ``[v0, v0 + V_t)`` of the vocabulary (a whole ``(N, C)`` logits matrix is
the tile with ``v0 = 0``). The forward has one program per row, walking its columns
in blocks of ``BLOCK_V``; the backward one program per (row, block of columns).
Blocks are masked: ``V_t`` need not be a multiple of the block, and no load or store
leaves the tile. Row offsets are 64-bit (``row.to(int64) · stride``).

**Forward** (:func:`online_update_`): per-row online log-sum-exp state, updated in place
over successive tiles of the same rows,

    M ← max(M, max_c z_ic),   S ← S · exp(R_old − R_new) + Σ_c exp(z_ic − R_new)

(``R`` is ``M`` where finite, else 0, so ``lse = R + log S`` is −inf for an all −inf
row and +inf with a +inf logit), plus the sums the loss needs (docs/semantics.md §4–§5,
notation of :mod:`crossentropy.torch._common`):

    P_i += Σ_c weight_c y_ic z_ic     (index target: weight[y_i] · z_{i, y_i}, gathered
                                        when y_i falls in the tile)
    Q_i += Σ_c weight_c z_ic          (only with label smoothing)

with ``0 · (±inf) = 0``. An index target equal to −1 means "no target" (masked row);
any other index outside ``[0, C)`` makes ``P`` NaN, hence the row's loss NaN.

**Backward** (:func:`grad_tile_`): the tile of ``∂(Σ_i g_i ℓ_i)/∂z``,

    G_ic = gs_i · ((A_i + 2 ζ lse_i) · exp(z_ic − lse_i) − a_ic) · (1 − (z_ic / cap)²)

(``gs_i = g_i s_i``, ``a_ic = weight_c y'_ic``; the last factor only with a soft-cap,
``z`` being the capped logits), written in place over ``z`` or into ``out``. Rows with
``gs_i = 0`` (masked rows) get exact zeros whatever their logits; a −inf logit with zero
target coefficient gets 0; an out-of-range index gives a NaN row.

:class:`TritonTiles` runs these two kernels on the prepared rows of
``crossentropy.torch._common.Rows``: it is the Triton implementation of the
``TileOps`` protocol of ``crossentropy.torch._plan`` that ``linear_cross_entropy(impl="triton")``
loops over (the torch one is ``crossentropy.torch._tiles.TorchTiles``). The fused linear
distillation's divergence tile has its own kernel, in ``crossentropy.torch._triton_distill``.

Triton is imported when a kernel is first needed: this module imports without it, and
:func:`require` raises an ``ImportError`` naming what to install. The kernels run on
CUDA tensors, or on CPU tensors in Triton's interpreter (``TRITON_INTERPRET=1`` set
before the kernels are first imported: Triton fixes the mode when a kernel is defined) — that is how the test suite checks them without a GPU.

Examples
--------
>>> import torch
>>> from crossentropy.torch import triton_kernels as tk
>>> tk.usable_on(torch.device("meta"))  # neither CUDA nor the CPU interpreter
False
"""

import functools
import importlib.util
import os

import torch

from ._common import Rows
from ._plan import OnlineState, RowIndex

__all__ = [
    "BLOCK_V",
    "OnlineState",
    "TRITON_TILES",
    "TritonTiles",
    "available",
    "interpreter_enabled",
    "usable_on",
    "require",
    "online_update_",
    "grad_tile_",
]

#: Columns per block inside a kernel (a power of two). Tests lower it to exercise the masks.
BLOCK_V = 1024

INSTALL_HINT = "the Triton kernels need the `triton` package: `pip install triton` (Linux x86-64, with a CUDA build of torch)"


def available() -> bool:
    """Whether the ``triton`` package can be found (it is not imported).

    >>> isinstance(available(), bool)
    True
    """
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):  # a blocked or half-imported module
        return False


def interpreter_enabled() -> bool:
    """Whether Triton's CPU interpreter is requested (``TRITON_INTERPRET=1`` in the environment).

    >>> isinstance(interpreter_enabled(), bool)
    True
    """
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def usable_on(device: torch.device) -> bool:
    """Whether the kernels can run on ``device``: triton installed and CUDA, or CPU with the interpreter.

    >>> usable_on(torch.device("meta"))
    False
    """
    if not available():
        return False
    if device.type == "cuda":
        return True
    return device.type == "cpu" and interpreter_enabled()


def require() -> None:
    """Raise an ``ImportError`` naming the package to install when triton is missing.

    >>> try:
    ...     require()
    ... except ImportError as e:
    ...     assert "pip install triton" in str(e)
    """
    if not available():
        raise ImportError(INSTALL_HINT)


@functools.cache
def _kernels():
    """(triton, stats_kernel, grad_kernel), imported once; an ImportError names what to install."""
    require()
    try:
        import triton

        from . import _triton_jit
    except ImportError as exc:  # pragma: no cover - a broken installation
        raise ImportError(INSTALL_HINT) from exc
    if _triton_jit.triton is None:  # pragma: no cover - imported before triton was installed
        raise ImportError(INSTALL_HINT)
    return triton, _triton_jit.stats_kernel, _triton_jit.grad_kernel


def check_tile(z: torch.Tensor, name: str = "z") -> None:
    if z.dim() != 2:
        msg = f"`{name}` must be a 2-D tile of logits (rows, classes); got shape {tuple(z.shape)}"
        raise ValueError(msg)
    if z.dtype not in (torch.float32, torch.float64):
        msg = (
            f"`{name}` must be float32 or float64 (the compute dtype); got {z.dtype}; cast it first"
        )
        raise TypeError(msg)
    if not usable_on(z.device):
        require()
        msg = (
            f"the Triton kernels need a CUDA tensor (or Triton's CPU interpreter: TRITON_INTERPRET=1); "
            f"`{name}` is on {z.device}"
        )
        raise ValueError(msg)


def _row_vec(x, n: int, dtype, device, name: str) -> torch.Tensor:
    """A contiguous (n,) per-row vector (scalars are expanded)."""
    t = torch.as_tensor(x, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.expand(n)
    if tuple(t.shape) != (n,):
        msg = f"`{name}` must have one entry per row ({n},); got shape {tuple(t.shape)}"
        raise ValueError(msg)
    return t.contiguous()


def cols_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` with unit stride along its last axis (a copy only when needed)."""
    return t if t.shape[-1] <= 1 or t.stride(-1) == 1 else t.contiguous()


def online_update_(
    z: torch.Tensor,
    state: OnlineState,
    *,
    v0: int = 0,
    n_classes: int | None = None,
    target: torch.Tensor | None = None,
    target_coef: torch.Tensor | None = None,
    soft: torch.Tensor | None = None,
    class_weight: torch.Tensor | None = None,
    want_q: bool = False,
    want_t: bool = False,
    want_arg: bool = False,
    block_v: int | None = None,
) -> OnlineState:
    """Fold a tile of logits into the per-row online state (see the module docstring).

    With ``want_t`` also ``T_i ← e^{R^{old}_i − R_i}(T_i + (R^{old}_i − R_i) S_i) + Σ_c e^{z_ic − R_i}(z_ic − R_i)``
    (``state.t``; the entropy is ``log S − T/S``), with ``want_arg`` the class of the first
    maximum (``state.arg``, int64: a later column wins only with a strictly larger logit).

    .. math::

        M_i ← \\max(M_i, \\max_c z_{ic}),\\ S_i ← S_i e^{R^{old}_i − R_i} + \\sum_c e^{z_{ic} − R_i},\\
        P_i \\mathrel{+}= \\sum_c w_c y_{ic} z_{ic},\\ Q_i \\mathrel{+}= \\sum_c w_c z_{ic}

    Parameters
    ----------
    z : Tensor
        ``(R, V_t)`` logits of classes ``[v0, v0 + V_t)`` (float32/float64, CUDA or the interpreter).
    state : OnlineState
        Updated in place (and returned).
    v0 : int
        Global class id of the tile's first column.
    n_classes : int, optional
        The number of classes C (default ``v0 + V_t``); index targets outside ``[0, C)``
        other than −1 give a NaN ``P``.
    target : Tensor, optional
        ``(R,)`` int64 global class ids (−1: no target) — or ``soft``, an ``(R, V_t)``
        distribution over the tile's columns.
    target_coef : Tensor, optional
        ``(R,)`` coefficient of the target logit in ``P`` (``weight[y_i]``; default 1).
    class_weight : Tensor, optional
        ``(V_t,)`` class weights of the tile's columns (``P`` of soft targets and ``Q``).
    want_q : bool
        Accumulate ``Q`` (needed with label smoothing).

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch.triton_kernels import OnlineState, online_update_
    >>> st = OnlineState.empty(2, torch.float32, "cpu")
    >>> try:  # CPU tensors need TRITON_INTERPRET=1 (or use CUDA tensors)
    ...     _ = online_update_(torch.zeros(2, 3), st, target=torch.tensor([0, 2]))
    ...     ok = bool(torch.allclose(st.lse(), torch.log(torch.tensor([3.0, 3.0]))))
    ... except (ImportError, ValueError):
    ...     ok = True
    >>> ok
    True
    """
    check_tile(z)
    triton, stats_kernel, _ = _kernels()
    R, vt = z.shape
    if R == 0:
        return state
    dt, dev = z.dtype, z.device
    z = cols_last(z)
    names = ["m", "s", "p", "q"] + (["t"] if want_t else [])
    for name in names:
        t = getattr(state, name)
        if (
            t is None
            or t.dtype != dt
            or tuple(t.shape) != (R,)
            or not t.is_contiguous()
            or t.device != dev
        ):
            got = "None" if t is None else f"{t.dtype} {tuple(t.shape)}"
            msg = f"`state.{name}` must be a contiguous ({R},) {dt} tensor on {dev}; got {got}"
            raise ValueError(msg)
    if target is not None and soft is not None:
        msg = "pass either `target` (class ids) or `soft` (a distribution), not both"
        raise ValueError(msg)
    if want_arg:
        a = state.arg
        if a is None or a.dtype != torch.int64 or tuple(a.shape) != (R,) or not a.is_contiguous():
            got = "None" if a is None else f"{a.dtype} {tuple(a.shape)}"
            msg = f"`state.arg` must be a contiguous ({R},) int64 tensor on {dev}; got {got}"
            raise ValueError(msg)
    C = v0 + vt if n_classes is None else int(n_classes)
    tgt = _row_vec(target, R, torch.int64, dev, "target") if target is not None else z
    u = (
        _row_vec(1.0 if target_coef is None else target_coef, R, dt, dev, "target_coef")
        if target is not None
        else z
    )
    y = cols_last(soft.to(dt)) if soft is not None else z
    if soft is not None and tuple(y.shape) != (R, vt):
        msg = f"`soft` must have the tile's shape {(R, vt)}; got {tuple(y.shape)}"
        raise ValueError(msg)
    cw = class_weight.to(device=dev, dtype=dt).contiguous() if class_weight is not None else z
    if class_weight is not None and tuple(cw.shape) != (vt,):
        msg = f"`class_weight` must have one entry per tile column ({vt},); got {tuple(cw.shape)}"
        raise ValueError(msg)
    stats_kernel[(R,)](
        z, z.stride(0), vt, v0, C,
        state.m, state.s, state.p, state.q,
        tgt, u, y, y.stride(0) if soft is not None else 0, cw,
        state.t if want_t else z, state.arg if want_arg else tgt,
        HAS_TGT=target is not None, HAS_SOFT=soft is not None, HAS_CW=class_weight is not None,
        WANT_Q=bool(want_q), BLOCK=block_size(block_v, vt, triton),
        WANT_T=bool(want_t), WANT_ARG=bool(want_arg),
    )  # fmt: skip
    return state


def grad_tile_(
    z: torch.Tensor,
    lse: torch.Tensor,
    row_scale: torch.Tensor,
    coef_q: torch.Tensor,
    *,
    v0: int = 0,
    n_classes: int | None = None,
    smooth: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    target_value: torch.Tensor | None = None,
    soft: torch.Tensor | None = None,
    alpha: float = 1.0,
    class_weight: torch.Tensor | None = None,
    cap: float | None = None,
    out: torch.Tensor | None = None,
    block_v: int | None = None,
) -> torch.Tensor:
    """The gradient tile ``G = gs · (c_q · exp(z − lse) − a) · (1 − (z/cap)²)`` (``out``, default in place).

    .. math::

        a_{ic} = σ_i w_c + [c = y_i] τ_i + α w_c y_{ic}

    with ``σ = smooth`` (``β m_i``), ``τ = target_value`` (``α weight[y_i]``) and the soft
    term for ``soft``; ``w_c`` is ``class_weight`` (1 without it). Rows with ``row_scale = 0``
    get exact zeros; an index outside ``[0, C)`` other than −1 gives a NaN row.

    Examples
    --------
    >>> import torch
    >>> from crossentropy.torch.triton_kernels import grad_tile_
    >>> z = torch.tensor([[0.0, 0.0]])
    >>> try:  # softmax − one-hot; needs CUDA tensors or TRITON_INTERPRET=1
    ...     g = grad_tile_(z.clone(), torch.log(torch.tensor([2.0])), torch.ones(1), torch.ones(1),
    ...                    target=torch.tensor([1]), target_value=torch.ones(1))
    ...     ok = g.tolist() == [[0.5, -0.5]]
    ... except (ImportError, ValueError):
    ...     ok = True
    >>> ok
    True
    """
    check_tile(z)
    triton, _, grad_kernel = _kernels()
    R, vt = z.shape
    dt, dev = z.dtype, z.device
    if z.shape[-1] > 1 and z.stride(-1) != 1:
        if out is None:
            msg = "`z` must have unit stride along its columns to be overwritten; pass `out=`"
            raise ValueError(msg)
        z = z.contiguous()
    if out is None:
        out = z
    elif tuple(out.shape) != (R, vt) or out.dtype != dt or (vt > 1 and out.stride(-1) != 1):
        msg = f"`out` must be a {dt} tensor of shape {(R, vt)} with unit column stride"
        raise ValueError(msg)
    if R == 0 or vt == 0:
        return out
    C = v0 + vt if n_classes is None else int(n_classes)
    lse = _row_vec(lse, R, dt, dev, "lse")
    gs = _row_vec(row_scale, R, dt, dev, "row_scale")
    cq = _row_vec(coef_q, R, dt, dev, "coef_q")
    sm = _row_vec(smooth, R, dt, dev, "smooth") if smooth is not None else z
    tgt = _row_vec(target, R, torch.int64, dev, "target") if target is not None else z
    tv = _row_vec(target_value, R, dt, dev, "target_value") if target is not None else z
    y = cols_last(soft.to(dt)) if soft is not None else z
    cw = class_weight.to(device=dev, dtype=dt).contiguous() if class_weight is not None else z
    block = block_size(block_v, vt, triton)
    grad_kernel[(R, triton.cdiv(vt, block))](
        z, z.stride(0), out, out.stride(0), vt, v0, C,
        lse, gs, cq, sm, tv, tgt, y, y.stride(0) if soft is not None else 0, float(alpha), cw,
        1.0 if cap is None else float(cap),
        HAS_TGT=target is not None, HAS_SOFT=soft is not None, HAS_CW=class_weight is not None,
        HAS_BETA=smooth is not None, HAS_CAP=cap is not None, BLOCK=block,
    )  # fmt: skip
    return out


def block_size(block_v, vt: int, triton) -> int:
    b = BLOCK_V if block_v is None else int(block_v)
    if b < 1 or b & (b - 1):
        msg = f"the block size must be a power of two; got {b}"
        raise ValueError(msg)
    b = max(16, min(b, triton.next_power_of_2(max(vt, 1))))
    # CUDA grids allow at most 65,535 blocks along axis 1 (the backward's column blocks)
    return max(b, triton.next_power_of_2(triton.cdiv(vt, 65_535)))


# ---- TileOps: the Rows-level entry points used by crossentropy.torch.linear ----------------


#: Rows already map masked and out-of-range targets to -1 (their loss is set to NaN outside).
_NO_BOUND = 1 << 62


def _rows_target(rows: Rows, r: RowIndex, v0: int, vt: int):
    """(target ids, target coef, soft tile, class-weight tile) of rows r and classes [v0, v0 + vt)."""
    cw = None if rows.class_weight is None else rows.class_weight[v0 : v0 + vt]
    if rows.index is not None:
        return rows.index[r], rows.u[r], None, cw
    return None, None, rows.soft_columns(r, v0, vt), cw


class TritonTiles:
    """:class:`crossentropy.torch._plan.TileOps` on the kernels above: :func:`online_update_`, :func:`grad_tile_`.

    ``P`` and ``Q`` are those of ``crossentropy.torch._tiles.partial_pq`` summed over the
    tiles seen; the gradient tile equals ``crossentropy.torch._tiles.TorchTiles.grad``, the
    soft-cap factor applied inside the kernel.

    >>> callable(TRITON_TILES.stats) and callable(TRITON_TILES.grad)
    True
    """

    def stats(
        self,
        z: torch.Tensor,
        rows: Rows,
        r: RowIndex,
        v0: int,
        state: OnlineState | None,
        *,
        entropy: bool = False,
        argmax: bool = False,
    ) -> OnlineState:
        """Fold the tile into ``state`` (an empty state when None) with :func:`online_update_`."""
        if state is None:
            state = OnlineState.empty(z.shape[0], z.dtype, z.device, entropy=entropy, argmax=argmax)
        tgt, coef, soft, cw = _rows_target(rows, r, v0, z.shape[1])
        return online_update_(
            z, state, v0=v0, n_classes=_NO_BOUND, target=tgt, target_coef=coef, soft=soft,
            class_weight=cw, want_q=bool(rows.beta), want_t=entropy, want_arg=argmax,
        )  # fmt: skip

    def grad(
        self,
        z: torch.Tensor,
        lse: torch.Tensor,
        gs: torch.Tensor,
        rows: Rows,
        r: RowIndex,
        v0: int,
        z_loss: float,
        cap: float | None,
    ) -> torch.Tensor:
        """The gradient tile with :func:`grad_tile_`, in place on ``z``."""
        tgt, _, soft, cw = _rows_target(rows, r, v0, z.shape[1])
        cq = rows.A[r]
        if z_loss:
            cq = cq + 2.0 * z_loss * lse
        smooth = rows.beta * rows.m[r] if rows.beta else None
        tv = rows.alpha * rows.u[r] if tgt is not None else None
        return grad_tile_(
            z, lse, gs, cq, v0=v0, n_classes=_NO_BOUND, smooth=smooth, target=tgt, target_value=tv,
            soft=soft, alpha=rows.alpha, class_weight=cw, cap=cap,
        )  # fmt: skip

    def stats_and_grad(
        self,
        z: torch.Tensor,
        rows: Rows,
        r: RowIndex,
        gs: torch.Tensor,
        z_loss: float,
        cap: float | None,
        *,
        entropy: bool = False,
        argmax: bool = False,
    ) -> tuple[OnlineState, torch.Tensor]:
        """:meth:`stats` of the whole rows, then :meth:`grad` from their ``lse`` (two kernels)."""
        st = self.stats(z, rows, r, 0, None, entropy=entropy, argmax=argmax)
        return st, self.grad(z, st.lse(), gs, rows, r, 0, z_loss, cap)


#: The Triton tiles (they hold no state).
TRITON_TILES = TritonTiles()
