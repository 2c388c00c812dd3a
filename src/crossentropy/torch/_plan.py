"""The tile plan shared by the fused linear and the vocab-parallel linear cross-entropies.

Internal. Neither loss forms the ``N × V`` logits ``h Wᵀ + b``: a :class:`Plan` cuts them
into *tiles* (rows ``r`` of the batch × classes ``[v0, v1)``), forms each tile with the
matrix products (torch), and hands its element-wise work to a :class:`TileOps`:

- ``stats`` folds a tile into the per-row :class:`OnlineState` (online log-sum-exp and the
  partial sums ``P``, ``Q`` of :mod:`crossentropy.torch._common`; on request the entropy's
  sum ``T`` and the argmax, for the per-token statistics);
- ``grad`` overwrites a tile with ``∂(Σ_i g_i ℓ_i)/∂z``, the soft-cap factor included;
- ``stats_and_grad`` does both for a tile of whole rows (the one-pass path, where the
  gradient is formed in the forward).

Two implementations: ``crossentropy.torch._tiles.TorchTiles`` (the torch reference) and
``crossentropy.torch.triton_kernels.TritonTiles`` (Triton kernels). This module holds the
loops over tiles, the gradient accumulation and the per-row loss, shared by
:mod:`crossentropy.torch.linear` and :mod:`crossentropy.torch.parallel`; it does no
arithmetic inside a tile.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import torch

from ._common import Rows

#: Rows of a tile: a slice of the batch, or a tensor of row indices (the active rows).
RowIndex = slice | torch.Tensor


def chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` pairs covering ``range(n)`` in steps of ``size`` (Python ints, no overflow).

    >>> list(chunks(10, 4))
    [(0, 4), (4, 8), (8, 10)]
    >>> next(iter(chunks(2**40 + 3, 2**39)))[1] == 2**39
    True
    """
    if size < 1:
        msg = f"chunk sizes must be ≥ 1; got {size}"
        raise ValueError(msg)
    for start in range(0, n, size):
        yield start, min(start + size, n)


#: The last-level cache assumed where none can be read (bytes).
FALLBACK_CACHE = 32 << 20


@functools.cache
def _host_cache_bytes() -> int:
    """The largest CPU cache of cpu0 (sysfs, then ``sysconf``), or :data:`FALLBACK_CACHE`."""
    import os
    from pathlib import Path

    best = 0
    for f in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*/size"):
        try:
            text = f.read_text().strip().upper()
        except OSError:
            continue
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        digits = text.rstrip("KMG")
        if digits.isdigit():
            best = max(best, int(digits) * mult)
    if not best:
        for name in ("SC_LEVEL3_CACHE_SIZE", "SC_LEVEL2_CACHE_SIZE"):
            try:
                best = max(best, int(os.sysconf(name)))
            except (ValueError, OSError, AttributeError):
                continue
    return best if best > 0 else FALLBACK_CACHE


def cache_bytes(device: torch.device) -> int:
    """The last-level cache of ``device``: the GPU's L2, or the host's largest CPU cache.

    >>> cache_bytes(torch.device("cpu")) > 0
    True
    """
    if device.type == "cuda":
        try:
            return int(torch.cuda.get_device_properties(device).L2_cache_size) or FALLBACK_CACHE
        except (AttributeError, RuntimeError):
            return FALLBACK_CACHE
    return _host_cache_bytes()


#: Bounds of the automatic rows per chunk of the one-pass path (the ``Gᵀ·h`` product has
#: ``K = rows``: below ~256 the matrix products lose their efficiency; measured in the report).
MIN_AUTO_ROWS, MAX_AUTO_ROWS = 256, 1024


def auto_rows(n_active: int, num_classes: int, itemsize: int, device: torch.device) -> int:
    """Rows per chunk when the whole vocabulary is one tile (the one-pass path), from N, V and the cache.

    ``2 · cache / (V · itemsize)`` rounded down to a power of two — the tile is about twice the
    last-level cache: its element-wise passes stream through memory anyway once it is larger
    than the cache, and larger chunks make the two weight-side products efficient — clamped to
    ``[MIN_AUTO_ROWS, MAX_AUTO_ROWS]`` and to the active rows.

    >>> auto_rows(2048, 32_000, 4, torch.device("meta")) in (256, 512, 1024)
    True
    >>> auto_rows(10, 32_000, 4, torch.device("cpu"))
    10
    """
    budget = 2 * cache_bytes(device) // max(1, num_classes * itemsize)
    rows = 1 << max(0, int(budget).bit_length() - 1) if budget >= 1 else 1
    rows = min(MAX_AUTO_ROWS, max(MIN_AUTO_ROWS, rows))
    return max(1, min(rows, max(n_active, 1)))


@dataclass
class OnlineState:
    """Per-row online log-sum-exp state of the tiles seen so far (all ``(R,)``, compute dtype).

    ``lse = ref + log s``, where ``ref`` is ``m`` where finite, else 0, and
    ``s = Σ_c exp(z_c − ref)``. ``m`` is the running max (the Triton kernels keep it as is,
    ±inf included; the torch tiles replace a non-finite tile max by 0). ``p`` and ``q`` are
    the running ``P = Σ_c weight_c y_c z_c`` and ``Q = Σ_c weight_c z_c``; ``q`` is only
    meaningful with label smoothing (the torch tiles leave it None without).

    >>> st = OnlineState(torch.tensor([1.0, float("-inf")]), torch.tensor([2.0, 0.0]),
    ...                  torch.zeros(2), None)
    >>> st.reference().tolist(), [round(v, 6) for v in st.lse().tolist()]
    ([1.0, 0.0], [1.693147, -inf])
    """

    m: torch.Tensor
    s: torch.Tensor
    p: torch.Tensor
    q: torch.Tensor | None
    #: ``T = Σ_c exp(z_c − ref)·(z_c − ref)`` (0·(−inf) = 0): the entropy's sum, when asked for
    t: torch.Tensor | None = None
    #: the class of the largest logit seen (int64; the first one on ties), when asked for
    arg: torch.Tensor | None = None
    #: the largest logit seen, unshifted (the torch tiles' argmax needs it; the Triton ones keep it in ``m``)
    best: torch.Tensor | None = None

    @classmethod
    def empty(
        cls,
        n: int,
        dtype: torch.dtype,
        device: torch.device | str,
        *,
        entropy: bool = False,
        argmax: bool = False,
    ) -> OnlineState:
        """The state before any tile: ``m = −inf``, ``s = p = q = 0`` (and ``t = 0``, ``arg = 0``).

        >>> OnlineState.empty(1, torch.float32, "cpu").lse().tolist()
        [-inf]
        """
        zeros = functools.partial(torch.zeros, n, dtype=dtype, device=device)
        m = torch.full((n,), float("-inf"), dtype=dtype, device=device)
        t = zeros() if entropy else None
        arg = torch.zeros(n, dtype=torch.int64, device=device) if argmax else None
        return cls(m, zeros(), zeros(), zeros(), t, arg)

    def reference(self) -> torch.Tensor:
        """``m`` where finite, else 0 (the shift ``s`` is relative to)."""
        return torch.where(torch.isfinite(self.m), self.m, torch.zeros_like(self.m))

    def lse(self) -> torch.Tensor:
        """``log Σ_c exp(z_c)`` of every row over the tiles seen."""
        return self.reference() + torch.log(self.s)

    def entropy(self) -> torch.Tensor:
        """``H(q) = −Σ_c q_c log q_c = log s − T / s`` over the tiles seen (needs ``t``).

        >>> z = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
        >>> e = torch.exp(z - 2.0)
        >>> st = OnlineState(torch.tensor([2.0]), e.sum(-1), torch.zeros(1), None, (e * (z - 2.0)).sum(-1))
        >>> q = torch.softmax(z, -1)
        >>> bool(torch.isclose(st.entropy(), -(q * q.log()).sum(-1)))
        True
        """
        if self.t is None:
            msg = "this state was built without the entropy's sum (pass entropy=True to the tiles)"
            raise ValueError(msg)
        return torch.log(self.s) - self.t / self.s


class TileOps(Protocol):
    """The element-wise work on a tile ``z`` of logits: rows ``r``, classes ``[v0, v0 + z.shape[1])``.

    ``z`` is a fresh compute-dtype buffer (already soft-capped with ``cap``): every method
    may overwrite it. ``gs = g_i s_i`` is the upstream gradient of row i times its sample
    weight, and the gradient tile is

        G_ic = gs_i · ((A_i + 2 ζ lse_i) · exp(z_ic − lse_i) − a_ic) · (1 − (z_ic / cap)²)

    (``a_ic = weight_c y'_ic``, ``ζ = z_loss``; the last factor only with a soft-cap).
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
        """Fold the tile into ``state`` (None: the first tile of these rows).

        ``entropy``: also fold ``T`` (:attr:`OnlineState.t`); ``argmax``: also the class of
        the largest logit (:attr:`OnlineState.arg`).
        """
        ...

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
        """The gradient tile ``G`` (written over ``z``), given the rows' final ``lse``."""
        ...

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
        """``stats`` and ``grad`` of a tile holding whole rows (``v0 = 0``, all classes)."""
        ...


#: The per-token statistics ``return_stats=`` may name (docs/semantics.md §15).
STATS: tuple[str, ...] = ("loss", "weight", "log_prob", "logsumexp", "entropy", "argmax")


class TokenStats(NamedTuple):
    """Per-token statistics of :func:`linear_cross_entropy` (``return_stats=``), batch-shaped.

    The fields of :class:`crossentropy.TokenStats`; a statistic not asked for is None.
    Masked tokens (skipped by the fused loss) hold ``loss = weight = log_prob = 0``, NaN
    ``logsumexp`` and ``entropy``, ``argmax = −1`` and ``correct = False``.
    """

    loss: torch.Tensor | None
    weight: torch.Tensor | None
    log_prob: torch.Tensor | None
    logsumexp: torch.Tensor | None
    entropy: torch.Tensor | None
    argmax: torch.Tensor | None
    correct: torch.Tensor | None


class StatsSink:
    """Per-token buffers the forwards fill, chunk by chunk, for ``return_stats=`` (no autograd)."""

    def __init__(self, want: frozenset[str], n: int, dtype: torch.dtype, device) -> None:
        self.want = want
        nan = functools.partial(torch.full, (n,), float("nan"), dtype=dtype, device=device)
        self.lse = nan() if want & {"logsumexp", "log_prob"} else None
        self.log_prob = torch.zeros(n, dtype=dtype, device=device) if "log_prob" in want else None
        self.entropy = nan() if "entropy" in want else None
        self.argmax = (
            torch.full((n,), -1, dtype=torch.int64, device=device) if "argmax" in want else None
        )
        self.loss: torch.Tensor | None = None

    def record(self, plan: Plan, r: RowIndex, st: OnlineState, lse: torch.Tensor) -> None:
        rows = plan.rows
        if self.lse is not None:
            self.lse[r] = lse
        if self.log_prob is not None:
            if rows.index is not None:  # P = weight[y] z_y (z_y without class weights)
                zy = st.p if rows.class_weight is None else st.p / rows.u[r]
                self.log_prob[r] = zy - lse
            else:  # P = Σ_c y_c z_c (no class weights: refused before)
                self.log_prob[r] = st.p - rows.m[r] * lse
        if self.entropy is not None:
            self.entropy[r] = st.entropy()
        if self.argmax is not None and st.arg is not None:
            self.argmax[r] = st.arg

    def result(self, plan: Plan, target, soft: bool, batch_shape, truth=None) -> TokenStats:
        """The statistics in the batch shape; skipped (masked) rows get their fill values.

        ``truth``: the target's global class ids (default ``rows.index``; the vocabulary-parallel
        loss holds shard-local ones there).
        """
        rows = plan.rows
        nan = float("nan")
        off = ~rows.active
        for name, fill in (("lse", nan), ("entropy", nan), ("log_prob", 0.0), ("argmax", -1)):
            t = getattr(self, name)
            if t is not None:
                setattr(self, name, t.masked_fill(off, fill))
        log_prob = self.log_prob
        if log_prob is not None:
            log_prob = torch.where(rows.bad, torch.full_like(log_prob, nan), log_prob)
        correct = None
        if self.argmax is not None:
            if truth is None:
                truth = target.reshape(-1, target.shape[-1]).argmax(-1) if soft else rows.index
            correct = (self.argmax == truth) & rows.active

        def shaped(t, name):
            return None if t is None or name not in self.want else t.reshape(batch_shape)

        weight = rows.divisor_weights() if "weight" in self.want else None
        return TokenStats(
            shaped(self.loss, "loss"),
            shaped(weight, "weight"),
            shaped(log_prob, "log_prob"),
            shaped(self.lse, "logsumexp"),
            shaped(self.entropy, "entropy"),
            shaped(self.argmax, "argmax"),
            None if correct is None else correct.reshape(batch_shape),
        )


def wanted_stats(return_stats) -> frozenset[str]:
    """The statistics named by ``return_stats`` (True: all of :data:`STATS`)."""
    if return_stats is True:
        return frozenset(STATS)
    if return_stats is False or return_stats is None:
        return frozenset()
    if isinstance(return_stats, str) or not isinstance(return_stats, Collection):
        msg = (
            f"`return_stats` must be a bool or a collection of names from {STATS}; got "
            f"{return_stats!r} (for one statistic pass a one-element tuple, e.g. ('entropy',))"
        )
        raise TypeError(msg)
    unknown = sorted(str(x) for x in return_stats if x not in STATS)
    if unknown:
        msg = f"`return_stats` names unknown statistics {unknown}; choose from {STATS}"
        raise ValueError(msg)
    return frozenset(return_stats)


def row_dot(rows: Rows, r: RowIndex, p: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
    """``D_i = α P_i + β m_i Q_i``: the target side ``Σ_c a_ic z_ic`` from the partial sums.

    >>> from crossentropy.torch._common import prepare_rows
    >>> rows = prepare_rows(torch.tensor([0]), num_classes=2, local_classes=2, batch_shape=(1,),
    ...     dtype=torch.float64, device="cpu", class_weight=None, sample_weight=None,
    ...     ignore_index=-100, label_smoothing=0.2, smoothing="uniform", divide_by="weight", validate=True)
    >>> row_dot(rows, slice(None), torch.tensor([3.0]), torch.tensor([4.0])).tolist()  # 0.8·3 + 0.1·4
    [2.8]
    """
    d = rows.alpha * p if rows.alpha != 1.0 else p
    if rows.beta:
        d = d + rows.beta * rows.m[r] * q
    return d


def row_loss(
    rows: Rows,
    r: RowIndex,
    lse: torch.Tensor,
    p: torch.Tensor,
    q: torch.Tensor | None,
    z_loss: float,
) -> torch.Tensor:
    """``ℓ_i = s_i (A_i lse_i − D_i) + ζ s_i lse_i²`` (``D_i`` of :func:`row_dot`, ``ζ = z_loss``).

    >>> from crossentropy.torch._common import prepare_rows
    >>> rows = prepare_rows(torch.tensor([1]), num_classes=2, local_classes=2, batch_shape=(1,),
    ...     dtype=torch.float64, device="cpu", class_weight=None, sample_weight=None,
    ...     ignore_index=-100, label_smoothing=0.0, smoothing="uniform", divide_by="weight", validate=True)
    >>> z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)  # loss log 2, plus ζ (log 2)²
    >>> lse = torch.logsumexp(z, -1)
    >>> bool(torch.isclose(row_loss(rows, slice(None), lse, z[:, 1], None, 0.5), lse + 0.5 * lse**2))
    True
    """
    ell = rows.s[r] * (rows.A[r] * lse - row_dot(rows, r, p, q))
    if z_loss:
        ell = ell + z_loss * rows.s[r] * lse * lse
    return ell


Grads = tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]


@dataclass(eq=False)
class Plan:
    """What the autograd Functions of the fused losses share: rows, dtypes, chunking, tile ops."""

    rows: Rows
    active_idx: torch.Tensor | None  # the rows to compute (None: every row)
    cdtype: torch.dtype  # compute dtype: log-sum-exp, loss, gradient accumulation
    mdtype: torch.dtype  # dtype of the matrix products
    nc: int  # rows per chunk
    vc: int  # classes per chunk (the vocabulary-chunked paths)
    z_loss: float
    cap: float | None
    ops: TileOps
    want_entropy: bool = False  # the tiles also fold the entropy's sum T (per-token statistics)
    want_argmax: bool = False  # ... and the argmax

    def row_chunks(self) -> Iterator[RowIndex]:
        """Chunks of rows, each a slice (every row active) or an index tensor (the active rows)."""
        idx = self.active_idx
        if idx is None:
            for a, b in chunks(self.rows.s.shape[0], self.nc):
                yield slice(a, b)
        else:
            for a, b in chunks(idx.shape[0], self.nc):
                yield idx[a:b]

    def logits(self, h, w, b, r: RowIndex, v0: int, v1: int, out: torch.Tensor | None = None):
        """``(z, h_r, W_v)``: the compute-dtype logits tile (a fresh buffer, soft-capped) and its factors.

        ``out``: a contiguous compute-dtype ``(≥ rows, v1 − v0)`` buffer reused across chunks
        (no fresh pages per chunk); its leading rows become ``z`` when the product's dtype is
        the compute dtype.
        """
        hc = h[r] if isinstance(r, slice) else h.index_select(0, r)
        wv = w if (v0 == 0 and v1 == w.shape[0]) else w[v0:v1]
        if hc.dtype != self.mdtype:
            hc = hc.to(self.mdtype)
        if wv.dtype != self.mdtype:
            wv = wv.to(self.mdtype)
        dst = out[: hc.shape[0]] if out is not None and self.mdtype == self.cdtype else None
        if b is not None:
            z = torch.addmm(b[v0:v1].to(self.mdtype), hc, wv.t(), out=dst)
        else:
            z = torch.mm(hc, wv.t(), out=dst)
        if z.dtype != self.cdtype:
            z = z.to(self.cdtype)
        if self.cap is not None:
            z.div_(self.cap).tanh_().mul_(self.cap)
        return z, hc, wv

    def grad_buffers(self, h, w, b, need: Sequence[bool]) -> Grads:
        """Zeroed compute-dtype gradients of ``h``, ``w``, ``b`` (None where not needed)."""
        cd = self.cdtype
        gh = torch.zeros(h.shape, dtype=cd, device=h.device) if need[0] else None
        gw = torch.zeros(w.shape, dtype=cd, device=w.device) if need[1] else None
        with_b = b is not None and need[2]
        gb = torch.zeros(w.shape[0], dtype=cd, device=w.device) if with_b else None
        return gh, gw, gb


def accumulate(plan: Plan, g, hc, wv, r: RowIndex, v0: int, v1: int, grads: Grads) -> None:
    """grad_hidden[r] += G @ W_v; grad_weight[v0:v1] += Gᵀ @ h_r; grad_bias[v0:v1] += Σ_rows G."""
    gh, gw, gb = grads
    gm = g if g.dtype == plan.mdtype else g.to(plan.mdtype)
    if gh is not None:
        part = gm @ wv
        if isinstance(r, slice):
            gh[r] += part
        else:
            gh.index_add_(0, r, part.to(gh.dtype))
    if gw is not None:
        if gm.dtype == gw.dtype and hc.dtype == gw.dtype:
            gw[v0:v1].addmm_(gm.t(), hc)
        else:
            gw[v0:v1] += gm.t() @ hc
    if gb is not None:
        gb[v0:v1] += g.sum(0)


def online_state(plan: Plan, h, w, b, r: RowIndex) -> OnlineState:
    """The :class:`OnlineState` of rows ``r`` over this weight's rows, one vocabulary chunk at a time."""
    st: OnlineState | None = None
    for v0, v1 in chunks(w.shape[0], plan.vc):
        z, _, _ = plan.logits(h, w, b, r, v0, v1)
        st = plan.ops.stats(
            z, plan.rows, r, v0, st, entropy=plan.want_entropy, argmax=plan.want_argmax
        )
    if st is None:
        msg = "a weight with no vocabulary rows has no online state"
        raise ValueError(msg)
    return st


def online_partials(plan: Plan, h, w, b, r: RowIndex):
    """``(M, S, P, Q)`` of rows ``r`` (``M`` the finite shift, ``Q`` None without label smoothing)."""
    st = online_state(plan, h, w, b, r)
    return st.reference(), st.s, st.p, (st.q if plan.rows.beta else None)


def recompute_gradients(plan: Plan, h, w, b, lse: torch.Tensor, gs: torch.Tensor, need) -> Grads:
    """The two-pass backward: every tile recomputed from the rows' ``lse``, its gradient accumulated.

    ``gs = g_i s_i`` for every row of the batch; returns the compute-dtype gradients.
    """
    grads = plan.grad_buffers(h, w, b, need)
    for r in plan.row_chunks():
        lse_r, gs_r = lse[r], gs[r]
        for v0, v1 in chunks(w.shape[0], plan.vc):
            z, hc, wv = plan.logits(h, w, b, r, v0, v1)
            g = plan.ops.grad(z, lse_r, gs_r, plan.rows, r, v0, plan.z_loss, plan.cap)
            accumulate(plan, g, hc, wv, r, v0, v1, grads)
    return grads


def in_dtypes(grads: Grads, inputs) -> Grads:
    """Each gradient in its input's dtype."""
    gh, gw, gb = (None if g is None else g.to(t.dtype) for g, t in zip(grads, inputs, strict=True))
    return gh, gw, gb
