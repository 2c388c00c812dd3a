"""The one-pass tile of the fused linear cross-entropy as one numba kernel (CPU, imports numba).

Internal: :class:`NumbaTiles` is the :class:`crossentropy.torch._plan.TileOps` that
``linear_cross_entropy(impl="numba")`` (and ``impl="auto"`` on CPU when numba is installed)
uses. Its ``stats_and_grad`` — the one-pass path, a tile of whole rows, index targets — runs
:func:`stats_grad_rows`, rows in parallel; everything else (soft targets, the vocabulary
tiles of the two-pass path) is the torch reference's (:class:`~._tiles.TorchTiles`).

Per row ``i`` of the tile ``z`` (already soft-capped), three passes, the row held in the
core's cache after the first:

1. the maximum ``M`` (``maxnum``, vectorised), the target logit ``z_t``, ``Q = Σ_c w_c z_c``
   (label smoothing only) and, on request, the argmax;
2. ``e_c = exp(z_c − M)`` written over ``z_c`` (not with a soft-cap, whose slope needs
   ``z_c`` in pass 3: there the exp is recomputed), ``S = Σ_c e_c`` in float64 (and
   ``T = Σ_c e_c (z_c − M)`` for the entropy);
3. ``G_c = g s (A + 2ζ lse) e_c / S − g s β m w_c`` in place, times the soft-cap slope
   ``1 − (z_c / cap)²``, and the target's ``− g s α u`` at ``c = t``.

The numbers are :class:`~._tiles.TorchTiles`' (the same ``M``, finite or 0; the same ``P``,
``Q``; ``S`` and ``T`` summed in float64), so the tests run both. The float32 exp is the
kernels' vectorised polynomial (relative error about 3e-7), valid for ``z_c − M ≤ 0``; a row
whose maximum is ``+inf`` takes libm's exp.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

from ..kernels._rowmath import JIT, SUB, cast_like
from ..kernels._simd import FASTMATH, vexp, vmax
from ._common import Rows
from ._plan import OnlineState, RowIndex
from ._tiles import TorchTiles

__all__ = ["NUMBA_TILES", "NumbaTiles", "stats_grad_rows"]


@njit(inline="always", **JIT)
def _scan(row, cw, has_cw, beta, want_arg):
    """Pass 1: ``(M, Q, argmax, max)`` of one row (``M`` ignores NaN; ``Q`` only when ``beta``)."""
    n = row.shape[0]
    ninf = cast_like(row, -np.inf)
    big = ninf
    for c in range(n):
        big = vmax(big, row[c])
    q = _smoothing_sum(row, cw, has_cw) if beta != 0.0 else 0.0
    arg, best = 0, ninf
    if want_arg and n:  # torch's max: the first maximum, a NaN wins
        best = row[0]
        for c in range(1, n):
            v = row[c]
            if best == best and (v > best or v != v):
                best, arg = v, c
    return big, q, arg, best


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _sum_exp(row, ref, store, want_t):
    """Pass 2: ``(S, T)`` with ``e_c = exp(z_c − ref)`` (written over the row when ``store``).

    Compiled on its own with re-association (the sums vectorise), each case its own loop.
    """
    n = row.shape[0]
    total = 0.0
    tsum = 0.0
    zero = cast_like(row, 0.0)
    for s0 in range(0, n, SUB):
        sub = row[s0 : min(s0 + SUB, n)]
        k = sub.shape[0]
        acc = zero
        tacc = zero
        if want_t:  # T = Σ e·(z − ref), with 0·(−inf) = 0
            for c in range(k):
                d = sub[c] - ref
                e = vexp(d)
                acc += e
                tacc += zero if e == zero else e * d
                if store:
                    sub[c] = e
        elif store:
            for c in range(k):
                e = vexp(sub[c] - ref)
                sub[c] = e
                acc += e
        else:
            for c in range(k):
                acc += vexp(sub[c] - ref)
        total += float(acc)
        tsum += float(tacc)
    return total, tsum


@njit(inline="never", cache=True, fastmath=FASTMATH, nogil=True)
def _smoothing_sum(row, cw, has_cw):
    """``Q = Σ_c w_c z_c`` (``0 · z = 0`` where ``w_c = 0``), re-associated to vectorise."""
    n = row.shape[0]
    total = 0.0
    zero = cast_like(row, 0.0)
    for s0 in range(0, n, SUB):
        s1 = min(s0 + SUB, n)
        sub = row[s0:s1]
        acc = zero
        if has_cw:
            ws = cw[s0:s1]
            for c in range(sub.shape[0]):
                wc = ws[c]
                acc += zero if wc == zero else wc * sub[c]
        else:
            for c in range(sub.shape[0]):
                acc += sub[c]
        total += float(acc)
    return total


@njit(inline="always", **JIT)
def _general_exp(row, ref, store, want_t):
    """Pass 2 with libm's exp (a row whose maximum is not finite: ``z_c − ref`` may be > 0)."""
    total = 0.0
    tsum = 0.0
    for c in range(row.shape[0]):
        d = float(row[c]) - float(ref)
        e = math.exp(d)
        total += e
        if want_t and e != 0.0:
            tsum += e * d
        if store:
            row[c] = e
    return total, tsum


@njit(parallel=True, **JIT)
def stats_grad_rows(
    z, t, coef_a, u, mass, gs, cw, has_cw, alpha, beta, zeta, cap, has_cap, want_t, want_arg,
    m_out, s_out, p_out, q_out, t_out, arg_out, best_out,
):  # fmt: skip
    """Per-row statistics of ``z`` into the ``*_out`` arrays, and ``z`` overwritten by the gradient tile."""
    n_rows, n = z.shape
    for i in prange(n_rows):
        row = z[i]
        big, q, arg, best = _scan(row, cw, has_cw, beta, want_arg)
        ti = t[i]
        inside = ti >= 0 and ti < n
        zt = row[ti] if inside else cast_like(row, 0.0)
        coef = u[i] if has_cw else 1.0
        p = coef * float(zt) if (inside and coef != 0.0) else 0.0
        finite = big > cast_like(row, -np.inf) and big < cast_like(row, np.inf)
        ref = big if finite else cast_like(row, 0.0)
        fast = not (big == cast_like(row, np.inf))  # every z_c − ref ≤ 0 (or NaN)
        store = not has_cap
        if fast:
            total, tsum = _sum_exp(row, ref, store, want_t)
        else:
            total, tsum = _general_exp(row, ref, store, want_t)
        lse = float(ref) + math.log(total)
        m_out[i] = ref
        s_out[i] = total
        p_out[i] = p
        q_out[i] = q
        t_out[i] = tsum
        arg_out[i] = arg
        best_out[i] = best
        g = float(gs[i])
        a_i = float(coef_a[i]) + 2.0 * zeta * lse if zeta != 0.0 else float(coef_a[i])
        k = cast_like(row, g * a_i / total)
        b = cast_like(row, g * beta * float(mass[i]))
        et = row[ti] if (inside and store) else cast_like(row, 0.0)  # e_t, before pass 3
        if has_cap:
            inv = cast_like(row, 1.0 / cap)
            for c in range(n):
                x = row[c]
                e = vexp(x - ref) if fast else cast_like(row, math.exp(float(x) - float(ref)))
                wc = cw[c] if has_cw else cast_like(row, 1.0)
                y = x * inv
                row[c] = (k * e - b * wc) * (cast_like(row, 1.0) - y * y)
        elif has_cw:
            for c in range(n):
                row[c] = k * row[c] - b * cw[c]
        else:
            for c in range(n):
                row[c] = k * row[c] - b
        if inside:  # the target's column: ((k e_t − b w_t) − g α u) · slope_t, in torch's order
            slope = 1.0
            if has_cap:
                et = cast_like(row, math.exp(float(zt) - float(ref)))
                y = float(zt) / cap
                slope = 1.0 - y * y
            wt = cw[ti] if has_cw else cast_like(row, 1.0)
            gt = (k * et - b * wt) - cast_like(row, g * alpha * float(u[i]))
            row[ti] = gt * cast_like(row, slope)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().numpy()


class NumbaTiles(TorchTiles):
    """:class:`~._tiles.TorchTiles` with the one-pass tile of index targets in :func:`stats_grad_rows`."""

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
        """As :meth:`TorchTiles.stats_and_grad`; ``z`` becomes the gradient tile in place.

        >>> from crossentropy.torch._common import prepare_rows
        >>> rows = prepare_rows(torch.tensor([1, 0]), num_classes=3, local_classes=3,
        ...     batch_shape=(2,), dtype=torch.float64, device="cpu", class_weight=None,
        ...     sample_weight=None, ignore_index=-100, label_smoothing=0.0, smoothing="uniform",
        ...     divide_by="weight", validate=True)
        >>> z = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], dtype=torch.float64)
        >>> st, g = NUMBA_TILES.stats_and_grad(z.clone(), rows, slice(None), torch.ones(2, dtype=torch.float64), 0.0, None)
        >>> bool(torch.allclose(st.lse(), torch.logsumexp(z, -1)))
        True
        >>> bool(torch.allclose(g, torch.softmax(z, -1) - torch.eye(3, dtype=z.dtype)[[1, 0]]))
        True
        """
        if rows.index is None or z.device.type != "cpu" or not z.is_contiguous():
            return super().stats_and_grad(
                z, rows, r, gs, z_loss, cap, entropy=entropy, argmax=argmax
            )
        n = z.shape[0]
        dt = z.dtype
        new = [torch.empty(n, dtype=dt) for _ in range(6)]
        m, s, p, q, t, best = new
        arg = torch.empty(n, dtype=torch.int64)
        cw = rows.class_weight
        has_cw = cw is not None
        cw_np = _np(cw.to(dt).contiguous()) if cw is not None else np.zeros(1, _np(z).dtype)
        ctx = rows.index[r].contiguous()
        u = rows.u[r].to(dt).contiguous()
        stats_grad_rows(
            _np(z), _np(ctx), _np(rows.A[r].to(dt).contiguous()), _np(u),
            _np(rows.m[r].to(dt).contiguous()), _np(gs.to(dt).contiguous()), cw_np,
            has_cw, float(rows.alpha), float(rows.beta), float(z_loss),
            float(cap) if cap is not None else 1.0, cap is not None, entropy, argmax,
            _np(m), _np(s), _np(p), _np(q), _np(t), _np(arg), _np(best),
        )  # fmt: skip
        st = OnlineState(
            m,
            s,
            p,
            q if rows.beta else None,
            t if entropy else None,
            arg if argmax else None,
            best if argmax else None,
        )
        return st, z


#: The numba tiles (they hold no state).
NUMBA_TILES = NumbaTiles()
