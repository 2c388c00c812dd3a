"""The jitted Triton kernels of :mod:`crossentropy.torch.triton_kernels` (imports triton).

Internal: use it through :func:`crossentropy.torch.triton_kernels._kernels`, which
says what to install when triton is missing (this module then defines no kernel).
Triton decides between compiling and interpreting when a kernel is *defined*: set
``TRITON_INTERPRET=1`` before this module is first imported. Formulas and conventions are in that
module's docstring.
"""

try:
    import triton
    import triton.language as tl
except ImportError:  # this module is imported by doctest collection: define no kernel then
    triton = tl = None

__all__ = ["stats_kernel", "grad_kernel"]

if triton is not None:

    @triton.jit
    def _finite_or_zero(x):
        return tl.where((x > float("-inf")) & (x < float("inf")), x, 0.0)

    @triton.jit
    def stats_kernel(
        z_ptr, stride_z, n_cols, v0, n_classes,
        m_ptr, s_ptr, p_ptr, q_ptr,
        tgt_ptr, u_ptr, y_ptr, stride_y, cw_ptr, t_ptr, arg_ptr,
        HAS_TGT: tl.constexpr, HAS_SOFT: tl.constexpr, HAS_CW: tl.constexpr, WANT_Q: tl.constexpr,
        BLOCK: tl.constexpr, WANT_T: tl.constexpr = False, WANT_ARG: tl.constexpr = False,
    ):  # fmt: skip
        row = tl.program_id(0).to(tl.int64)
        z_row = z_ptr + row * stride_z
        m_run = tl.load(m_ptr + row)
        s_run = tl.load(s_ptr + row)
        p_acc = tl.load(p_ptr + row)
        q_acc = tl.load(q_ptr + row)
        if WANT_T:
            t_run = tl.load(t_ptr + row)
        if WANT_ARG:
            a_run = tl.load(arg_ptr + row)
        offs = tl.arange(0, BLOCK)
        if HAS_TGT:
            t = tl.load(tgt_ptr + row)
            tcol = t - v0
            u = tl.load(u_ptr + row)
        if HAS_SOFT:
            y_row = y_ptr + row * stride_y
        for start in range(0, n_cols, BLOCK):
            cols = start + offs
            mask = cols < n_cols
            z = tl.load(z_row + cols, mask=mask, other=float("-inf"))
            blk_max = tl.max(z, axis=0)
            if WANT_ARG:  # the first maximum: a later block wins only with a larger value
                blk_arg = tl.argmax(z, axis=0, tie_break_left=True).to(tl.int64)
                a_run = tl.where(blk_max > m_run, v0 + start + blk_arg, a_run)
            m_new = tl.maximum(m_run, blk_max)
            ref_old = _finite_or_zero(m_run)
            ref_new = _finite_or_zero(m_new)
            e = tl.exp(z - ref_new)
            if WANT_T:  # T = Σ e^{z − R}(z − R), rescaled as S is when R moves; 0·(−inf) = 0
                d = ref_old - ref_new
                t_run = tl.where(s_run == 0, 0.0, tl.exp(d) * (t_run + d * s_run))
                t_run += tl.sum(tl.where(e == 0.0, 0.0, e * (z - ref_new)), axis=0)
            kept = tl.where(s_run == 0, s_run, s_run * tl.exp(ref_old - ref_new))
            s_run = kept + tl.sum(e, axis=0)
            m_run = m_new
            zf = tl.where(mask, z, 0.0)  # no −inf·0 on the padding columns
            if HAS_TGT:
                zt = tl.sum(tl.where(mask & (cols == tcol), z, 0.0), axis=0)
                p_acc += tl.where(u != 0, u * zt, 0.0)
            if HAS_SOFT:
                y = tl.load(y_row + cols, mask=mask, other=0.0)
                if HAS_CW:
                    y = y * tl.load(cw_ptr + cols, mask=mask, other=0.0)
                p_acc += tl.sum(tl.where(y != 0, y * zf, 0.0), axis=0)
            if WANT_Q:
                if HAS_CW:
                    cw = tl.load(cw_ptr + cols, mask=mask, other=0.0)
                    q_acc += tl.sum(tl.where(cw != 0, cw * zf, 0.0), axis=0)
                else:
                    q_acc += tl.sum(zf, axis=0)
        if HAS_TGT:
            ok = (t == -1) | ((t >= 0) & (t < n_classes))
            p_acc = tl.where(ok, p_acc, float("nan"))
        tl.store(m_ptr + row, m_run)
        tl.store(s_ptr + row, s_run)
        tl.store(p_ptr + row, p_acc)
        tl.store(q_ptr + row, q_acc)
        if WANT_T:
            tl.store(t_ptr + row, t_run)
        if WANT_ARG:
            tl.store(arg_ptr + row, a_run)

    @triton.jit
    def grad_kernel(
        z_ptr, stride_z, g_ptr, stride_g, n_cols, v0, n_classes,
        lse_ptr, gs_ptr, cq_ptr, sm_ptr, tv_ptr, tgt_ptr, y_ptr, stride_y, alpha, cw_ptr, cap,
        HAS_TGT: tl.constexpr, HAS_SOFT: tl.constexpr, HAS_CW: tl.constexpr, HAS_BETA: tl.constexpr,
        HAS_CAP: tl.constexpr, BLOCK: tl.constexpr,
    ):  # fmt: skip
        row = tl.program_id(0).to(tl.int64)
        z_row = z_ptr + row * stride_z
        g_row = g_ptr + row * stride_g
        lse = tl.load(lse_ptr + row)
        gs = tl.load(gs_ptr + row)
        cq = tl.load(cq_ptr + row)
        ok = gs == gs  # True (NaN-free gs); narrowed below for an out-of-range index
        if HAS_BETA:
            sm = tl.load(sm_ptr + row)
        if HAS_TGT:
            t = tl.load(tgt_ptr + row)
            tcol = t - v0
            tv = tl.load(tv_ptr + row)
            ok = (t == -1) | ((t >= 0) & (t < n_classes))
        if HAS_SOFT:
            y_row = y_ptr + row * stride_y
        # one program per (row, block of columns): no loop, the whole tile in parallel
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        mask = cols < n_cols
        z = tl.load(z_row + cols, mask=mask, other=0.0)
        g = cq * tl.exp(z - lse)
        if HAS_CW:
            cw = tl.load(cw_ptr + cols, mask=mask, other=0.0)
        if HAS_BETA:
            if HAS_CW:
                g -= sm * cw
            else:
                g -= sm
        if HAS_TGT:
            g -= tl.where(cols == tcol, tv, 0.0)
        if HAS_SOFT:
            y = tl.load(y_row + cols, mask=mask, other=0.0)
            if HAS_CW:
                y = y * cw
            g -= alpha * y
        if HAS_CAP:
            zc = z / cap
            g = g * (1.0 - zc * zc)
        g = tl.where(gs == 0, 0.0, gs * g)
        g = tl.where(ok, g, float("nan"))
        tl.store(g_row + cols, g, mask=mask)
