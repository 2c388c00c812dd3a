"""Per-tile arithmetic: the partial sums of a block of logits and its gradient.

Internal. A *tile* holds the logits ``z`` (compute dtype) of rows ``r`` (an index
tensor or a slice of the batch) and classes ``[v0, v0 + V_t)``. Its partial sums
(running max ``M``, rescaled ``S = Σ exp(z − M)``, ``P``, ``Q`` of
:mod:`crossentropy.torch._common`) combine over vocabulary chunks (online
log-sum-exp) and over ranks (an all-reduce), and the tile's gradient needs only
the row's final ``lse``:

    ∂ℓ_i/∂z_ic = s_i (A_i q_ic − a_ic) + 2 ζ s_i lse_i q_ic,   q_ic = exp(z_ic − lse_i)

(``ζ`` the z-loss coefficient), scaled by the upstream gradient of row i.
Products ``a_ic · z_ic`` with ``a_ic = 0`` count as 0 even when ``z_ic = −inf``.

:class:`TorchTiles` is the torch implementation of :class:`crossentropy.torch._plan.TileOps`
(the Triton one is ``crossentropy.torch.triton_kernels.TritonTiles``); the functions below
are its parts, also used on full logits by :mod:`crossentropy.torch.autograd` and
:mod:`crossentropy.torch.parallel`.
"""

from __future__ import annotations

import torch

from ._common import Rows
from ._plan import OnlineState, RowIndex

__all__ = [
    "TORCH_TILES",
    "TorchTiles",
    "capped_slope",
    "max_sumexp",
    "merge_entropy_sum",
    "merge_max_sumexp",
    "partial_pq",
    "shifted_entropy_sum",
    "softcap",
    "softcap_slope",
    "tile_argmax",
    "tile_grad_",
]


def softcap(z: torch.Tensor, cap: float | None) -> torch.Tensor:
    """``cap · tanh(z / cap)`` (Gemma 2's logit soft-capping); ``z`` itself when ``cap`` is None."""
    return z if cap is None else torch.tanh(z / cap).mul_(cap)


def softcap_slope(x: torch.Tensor, cap: float) -> torch.Tensor:
    """d softcap(x) / dx = 1 − tanh²(x / cap)."""
    t = torch.tanh(x / cap)
    return 1 - t * t


def capped_slope(z: torch.Tensor, cap: float) -> torch.Tensor:
    """The same slope from the already-capped logits ``z = softcap(x)``: ``1 − (z / cap)²``.

    >>> capped_slope(torch.tensor([0.0, 1.0]), 2.0).tolist()
    [1.0, 0.75]
    """
    t = z / cap
    return t.mul_(t).neg_().add_(1)


def _guarded_dot(coef: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Σ_c coef_c z_c with 0 · (±inf) = 0 (coef broadcast against z)."""
    prod = coef * z
    return torch.where(coef == 0, torch.zeros_like(prod), prod).sum(-1)


def max_sumexp(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row max (set to 0 where not finite; 0 for a tile without columns) and Σ exp(z − max).

    >>> m, s = max_sumexp(torch.tensor([[0.0, 0.0], [float("-inf"), float("-inf")]]))
    >>> m.tolist(), s.tolist()
    ([0.0, 0.0], [2.0, 0.0])
    """
    m = z.amax(-1) if z.shape[-1] else z.new_zeros(z.shape[:-1])
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return m, torch.exp(z - m[:, None]).sum(-1)


def merge_max_sumexp(M, S, m, s):
    """Merge two online-LSE states."""
    new = torch.maximum(M, m)
    return new, S * torch.exp(M - new) + s * torch.exp(m - new)


def partial_pq(z: torch.Tensor, rows: Rows, r, v0: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """P and Q (``None`` when no smoothing) of a tile: rows ``r``, classes ``[v0, v0 + z.shape[1])``."""
    vt = z.shape[1]
    cw = None if rows.class_weight is None else rows.class_weight[v0 : v0 + vt]
    if rows.index is not None:
        col = rows.index[r] - v0
        inside = (col >= 0) & (col < vt)
        zt = (
            z.gather(1, col.clamp(0, max(vt - 1, 0))[:, None])[:, 0]
            if vt
            else torch.zeros_like(col, dtype=z.dtype)
        )
        coef = rows.u[r] if cw is not None else torch.ones_like(zt)
        p = torch.where(inside & (coef != 0), coef * zt, torch.zeros_like(zt))
    else:
        y = rows.soft_columns(r, v0, vt)
        coef = y if cw is None else y * cw
        p = _guarded_dot(coef, z)
    q = None
    if rows.beta:
        q = z.sum(-1) if cw is None else _guarded_dot(cw, z)
    return p, q


def tile_grad_(
    z: torch.Tensor,
    lse: torch.Tensor,
    gs: torch.Tensor,
    rows: Rows,
    r,
    v0: int,
    z_loss: float,
    inv_sum: torch.Tensor | None = None,
) -> torch.Tensor:
    """Overwrite the logits tile ``z`` with ∂(Σ g_i ℓ_i)/∂z, where ``gs = g_i s_i`` for rows ``r``.

    ``z`` must be a buffer this code owns (it is modified in place). With ``inv_sum`` given,
    ``z`` already holds ``exp(z − M)`` and ``q = z · inv_sum`` (one pass saved).
    """
    vt = z.shape[1]
    cw = None if rows.class_weight is None else rows.class_weight[v0 : v0 + vt]
    coef_q = rows.A[r]
    if z_loss:
        coef_q = coef_q + 2.0 * z_loss * lse
    coef_q = gs * coef_q
    if inv_sum is None:
        g = z.sub_(lse[:, None]).exp_().mul_(coef_q[:, None])
    else:
        g = z.mul_((coef_q * inv_sum)[:, None])
    if rows.beta:
        sm = (gs * rows.beta * rows.m[r])[:, None]
        g.sub_(sm * cw if cw is not None else sm)
    if rows.index is not None:
        col = rows.index[r] - v0
        inside = (col >= 0) & (col < vt)
        val = gs * rows.alpha * rows.u[r]
        val = torch.where(inside, val, torch.zeros_like(val))
        g.scatter_add_(1, col.clamp(0, max(vt - 1, 0))[:, None], -val[:, None])
    else:
        y = rows.soft_columns(r, v0, vt)
        a = y * (gs * rows.alpha)[:, None]
        g.sub_(a * cw if cw is not None else a)
    return g


def shifted_entropy_sum(e: torch.Tensor, zs: torch.Tensor) -> torch.Tensor:
    """``T = Σ_c e_c · zs_c`` with ``e = exp(zs)`` and ``0 · (−inf) = 0``: the entropy's sum of a tile.

    >>> zs = torch.tensor([[0.0, float("-inf")]])
    >>> shifted_entropy_sum(torch.exp(zs), zs).tolist()
    [0.0]
    """
    prod = e * zs
    return torch.where(e == 0, torch.zeros_like(prod), prod).sum(-1)


def merge_entropy_sum(M, S, T, m, s, t, new):
    """``T`` of two merged states (both relative to their shift) relative to the new shift ``new``.

    ``Σ e^{z − new}(z − new) = e^{M − new} (T + (M − new) S)`` for each side (a side with
    ``S = 0`` adds 0).
    """

    def side(ref, s_, t_):
        d = ref - new
        v = torch.exp(d) * (t_ + d * s_)
        return torch.where(s_ == 0, torch.zeros_like(v), v)

    return side(M, S, T) + side(m, s, t)


def tile_argmax(z: torch.Tensor, v0: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(max, v0 + argmax)`` of each row of a tile (the first maximum on ties; ``(−inf, v0)`` with no columns)."""
    if not z.shape[1]:
        n = z.shape[0]
        return z.new_full((n,), float("-inf")), torch.full(
            (n,), v0, dtype=torch.int64, device=z.device
        )
    best, arg = z.max(-1)
    return best, arg + v0


def _merge_argmax(state: OnlineState, best: torch.Tensor, arg: torch.Tensor):
    """The running (max, argmax) with a tile's: the tile wins only with a strictly larger max."""
    if state.best is None or state.arg is None:
        return best, arg
    take = best > state.best
    return torch.where(take, best, state.best), torch.where(take, arg, state.arg)


class TorchTiles:
    """:class:`crossentropy.torch._plan.TileOps` in torch: the reference implementation."""

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
        """Fold the tile into ``state``: :func:`max_sumexp` merged, ``P`` and ``Q`` summed.

        ``entropy`` also folds ``T`` (:func:`merge_entropy_sum`), ``argmax`` the running
        maximum and its class.
        """
        best = arg = None
        if argmax:
            best, arg = tile_argmax(z, v0)
        p, q = partial_pq(z, rows, r, v0)
        t = None
        if entropy:
            m = z.amax(-1) if z.shape[-1] else z.new_zeros(z.shape[:-1])
            m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
            zs = z - m[:, None]
            e = torch.exp(zs)
            s = e.sum(-1)
            t = shifted_entropy_sum(e, zs)
            del zs, e
        else:
            m, s = max_sumexp(z)
        if state is None:
            return OnlineState(m, s, p, q, t, arg, best)
        M, S = merge_max_sumexp(state.m, state.s, m, s)
        if t is not None and state.t is not None:
            t = merge_entropy_sum(state.m, state.s, state.t, m, s, t, M)
        if arg is not None and best is not None:
            best, arg = _merge_argmax(state, best, arg)
        q_new = None if q is None or state.q is None else state.q + q
        return OnlineState(M, S, state.p + p, q_new, t, arg, best)

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
        """:func:`tile_grad_` times the soft-cap slope :func:`capped_slope` (in place on ``z``)."""
        slope = capped_slope(z, cap) if cap is not None else None
        g = tile_grad_(z, lse, gs, rows, r, v0, z_loss)
        return g if slope is None else g.mul_(slope)

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
        """One pass over whole rows: ``exp(z − max)`` gives both ``S`` and, rescaled, the gradient."""
        p, q = partial_pq(z, rows, r, 0)
        slope = capped_slope(z, cap) if cap is not None else None
        best = arg = None
        if argmax:  # one pass gives the max (for the shift) and the argmax
            best, arg = tile_argmax(z, 0)
            m = best
        else:
            m = z.amax(-1) if z.shape[-1] else z.new_zeros(z.shape[:-1])
        m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
        zs = z.sub_(m[:, None])
        t = None
        if entropy:
            # T = Σ_c e^{zs_c} zs_c as a batched row dot (no product tile); −inf → the most
            # negative float first, so that 0 · zs stays 0 (its exp is 0 either way; NaN is kept)
            zs.clamp_(min=torch.finfo(zs.dtype).min)
            e = torch.exp(zs)
            t = torch.bmm(e.unsqueeze(1), zs.unsqueeze(2)).view(-1)
            del zs
            z = e  # the gradient tile is written over exp(z − m)
        else:
            z = zs.exp_()  # z now holds exp(z − m)
        s = z.sum(-1)
        st = OnlineState(m, s, p, q, t, arg, best)
        g = tile_grad_(z, st.lse(), gs, rows, r, 0, z_loss, inv_sum=1.0 / s)
        return st, (g if slope is None else g.mul_(slope))


#: The torch tiles (they hold no state).
TORCH_TILES = TorchTiles()
