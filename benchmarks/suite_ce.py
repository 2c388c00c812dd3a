"""Suite "ce": mean softmax cross-entropy over float32 logits on the CPU.

Contenders, all on the same arrays in one process, round-robin (see harness):

- read pass (NumPy ``x.sum()``, 1 thread) and a 2-thread parallel read pass
  (numba); an exp-only pass (2 threads, the same vectorised exp as the
  kernel, summed): the memory and arithmetic references;
- ours: the fused kernel (forward; forward+backward into a fresh gradient and
  into a preallocated one), the row-blocked NumPy path, and the public
  ``crossentropy.cross_entropy`` (``impl="auto"``, with validation);
- torch ``F.cross_entropy`` (``set_num_threads(2)``), forward under
  ``no_grad`` and forward+backward;
- NumPy stable formula; ``scipy.special.log_softmax`` + take;
- ``sklearn.metrics.log_loss`` on the softmax computed outside the timing,
  on a row subsample, its time scaled to all rows;
- JAX when importable (``jax.jit`` of logsumexp - take).

Every contender's loss is checked against a float64 reference.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.harness import Contender, machine, markdown_table, peak_numpy, peak_rss, round_robin

TITLE = "Cross-entropy kernels (CPU)"
OUT = pathlib.Path(__file__).resolve().parent / "out"
FULL = [(1_000_000, 10), (65_536, 1_000), (8_192, 32_000), (2_048, 128_256)]
QUICK = [(100_000, 10), (8_192, 1_000), (256, 32_000)]
THREADS = 2


def _numba_refs():
    from numba import njit, prange

    from crossentropy.kernels._simd import FASTMATH, vexp

    @njit(parallel=True, fastmath=FASTMATH, cache=True)
    def read2(x):
        acc = np.zeros(x.shape[0])
        for i in prange(x.shape[0]):
            s = 0.0
            row = x[i]
            for c in range(row.shape[0]):
                s += row[c]
            acc[i] = s
        return acc.sum()

    @njit(parallel=True, fastmath=FASTMATH, cache=True)
    def exp2(x):
        acc = np.zeros(x.shape[0])
        for i in prange(x.shape[0]):
            s = 0.0
            row = x[i]
            for c in range(row.shape[0]):
                s += vexp(-abs(row[c]))
            acc[i] = s
        return acc.sum()

    return read2, exp2


def compile_times(quick: bool = False) -> dict[str, float]:
    """First-call time of the float32 forward kernel in fresh processes: cold cache, then warm.

    ``quick`` measures only the warm (cached) first call.
    """
    code = (
        "import time, numpy as np; t=time.perf_counter(); from crossentropy import kernels; "
        "kernels.softmax_terms(np.zeros((4, 3), np.float32), np.zeros(4, np.int64)); "
        "print(time.perf_counter()-t)"
    )
    env = dict(os.environ)
    src = pathlib.Path(__file__).resolve().parent.parent / "src"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        if not quick:
            env["NUMBA_CACHE_DIR"] = cache
        for label in ("warm",) if quick else ("cold", "warm"):
            r = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            out[label] = float(r.stdout.strip().splitlines()[-1])
    return out


def _contenders(x, y, quick):
    import scipy.special
    import torch
    import torch.nn.functional as F  # noqa: N812

    import crossentropy as ce
    from crossentropy import kernels

    torch.set_num_threads(THREADS)
    n, c = x.shape
    read2, exp2 = _numba_refs()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    grad_buf = np.empty_like(x)

    def ours_fwd():
        loss, w = kernels.softmax_terms(x, y)
        return loss.sum(dtype=np.float64) / w.sum(dtype=np.float64)

    def ours_fb(out=None):
        loss, w, g = kernels.softmax_terms_and_grad(x, y, row_scale=1.0 / n, out=out)
        return loss.sum(dtype=np.float64) / n, g

    def blocked():
        loss, w = kernels.blocked_softmax_terms(x, y)
        return loss.sum(dtype=np.float64) / w.sum(dtype=np.float64)

    def torch_fwd():
        with torch.no_grad():
            return F.cross_entropy(xt, yt).item()

    def torch_fb():
        leaf = xt.detach().requires_grad_()
        loss = F.cross_entropy(leaf, yt)
        loss.backward()
        return loss.item(), leaf.grad

    def numpy_stable():
        m = x.max(axis=1, keepdims=True)
        lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
        return (lse - np.take_along_axis(x, y[:, None], axis=1)[:, 0]).mean()

    def scipy_ls():
        lq = scipy.special.log_softmax(x, axis=1)
        return -np.take_along_axis(lq, y[:, None], axis=1).mean()

    fwd = [
        Contender("read pass (NumPy x.sum, 1 thr)", lambda: x.sum()),
        Contender("read pass (2 thr)", lambda: read2(x), memory=None),
        Contender("exp-only pass (2 thr)", lambda: exp2(x), memory=None),
        Contender("ours: fused kernel", ours_fwd),
        Contender("ours: cross_entropy(impl=auto)", lambda: ce.cross_entropy(x, y)),
        Contender("ours: row-blocked NumPy", blocked),
        Contender("torch F.cross_entropy", torch_fwd, memory="rss"),
        Contender("NumPy stable", numpy_stable),
        Contender("scipy log_softmax", scipy_ls),
    ]
    sub = max(1, min(n, (2_000_000 if quick else 16_000_000) // c))
    try:
        from sklearn.metrics import log_loss

        xs = x[:sub].astype(np.float64)
        probs = np.exp(xs - scipy.special.logsumexp(xs, axis=1, keepdims=True))
        labels = np.arange(c)
        fwd.append(
            Contender(
                "sklearn log_loss (subsampled, scaled)",
                lambda: log_loss(y[:sub], probs, labels=labels),
                scale=n / sub,
                note=f"{sub} rows",
            )
        )
    except ImportError:
        pass
    try:
        import jax
        import jax.numpy as jnp

        xj, yj = jnp.asarray(x), jnp.asarray(y)

        @jax.jit
        def jax_ce(a, b):
            lse = jax.scipy.special.logsumexp(a, axis=1)
            return (lse - jnp.take_along_axis(a, b[:, None], axis=1)[:, 0]).mean()

        fwd.append(Contender("JAX jit", lambda: jax_ce(xj, yj).block_until_ready(), memory=None))
    except ImportError:
        pass
    fb = [
        Contender("read pass (2 thr)", lambda: read2(x), memory=None),
        Contender("ours: fused fwd+bwd, fresh grad", ours_fb),
        Contender("ours: fused fwd+bwd, out= buffer", lambda: ours_fb(grad_buf)),
        Contender("torch F.cross_entropy + backward", torch_fb, memory="rss"),
    ]
    return fwd, fb


def _check(fwd, fb, x, y):
    """Largest |loss - float64 reference| over the contenders that return a loss."""
    from crossentropy import kernels

    loss, w = kernels.softmax_terms(x.astype(np.float64), y)
    ref = loss.sum() / w.sum()
    errs = {}
    for c in fwd + fb:
        if c.name.startswith(("read", "exp")):
            continue
        v = c.fn()
        v = v[0] if isinstance(v, tuple) else v
        r = ref if c.scale == 1.0 else loss[: round(len(loss) / c.scale)].mean()
        errs[c.name] = abs(float(v) - r)
    return errs


def _fmt_mem(b):
    return "n/a" if b is None else f"{b / 2**20:.1f}"


def run(quick: bool = False) -> str:
    shapes = QUICK if quick else FULL
    import numba

    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    info = machine()
    ct = compile_times(quick)
    ct.setdefault("cold", float("nan"))
    print(f"# {TITLE}  ({'quick' if quick else 'full'})")
    print(
        f"first call in a fresh process: {ct['cold']:.1f} s (empty cache), {ct['warm']:.2f} s (cached)"
    )
    rng = np.random.default_rng(0)
    results = {"machine": info, "compile_s": ct, "quick": quick, "shapes": []}
    blocks = []
    for n, c in shapes:
        x = rng.standard_normal((n, c), dtype=np.float32)
        y = rng.integers(0, c, n)
        fwd, fb = _contenders(x, y, quick)
        errs = _check(fwd, fb, x, y)
        big = x.nbytes > 500e6
        reps = 3 if big else (3 if quick else 7)
        round_robin(fwd, warmup=1, repeats=reps)
        round_robin(fb, warmup=1, repeats=reps)
        mem = {}
        for con in fwd + fb:
            if con.memory == "numpy":
                mem[con.name] = peak_numpy(con.fn)
            elif con.memory == "rss":
                mem[con.name] = peak_rss(con.fn)
        shape_res = {"shape": [n, c], "bytes": x.nbytes, "fwd": {}, "fwd_bwd": {}}
        for mode, group in (("fwd", fwd), ("fwd_bwd", fb)):
            read = next(g for g in group if g.name == "read pass (2 thr)").median_s
            tname = "torch F.cross_entropy" + (" + backward" if mode == "fwd_bwd" else "")
            tor = next(g for g in group if g.name == tname).median_s
            ex = next((g for g in group if g.name.startswith("exp-only")), None)
            rows = []
            for g in group:
                t = g.median_s
                rec = {
                    "ms": t * 1e3,
                    "gb_s": x.nbytes / t / 1e9,
                    "x_read": t / read,
                    "x_exp": t / ex.median_s if ex else None,
                    "x_torch": t / tor,
                    "peak_extra_mib": None if mem.get(g.name) is None else mem[g.name] / 2**20,
                    "abs_err_vs_f64": errs.get(g.name),
                    "note": g.note,
                }
                shape_res[mode][g.name] = rec
                rows.append(
                    [
                        g.name + (f" ({g.note})" if g.note else ""),
                        f"{rec['ms']:.2f}",
                        f"{rec['gb_s']:.2f}",
                        f"{rec['x_read']:.2f}",
                        "" if ex is None else f"{rec['x_exp']:.2f}",
                        f"{rec['x_torch']:.2f}",
                        _fmt_mem(mem.get(g.name)),
                        "" if errs.get(g.name) is None else f"{errs[g.name]:.1e}",
                    ]
                )
            header = [
                f"{'forward' if mode == 'fwd' else 'forward+backward'} {n:,} × {c:,}",
                "ms (median)",
                "GB/s",
                "× read (2 thr)",
                "× exp pass",
                "× torch",
                "peak extra MiB",
                "|err| vs f64",
            ]
            table = markdown_table(header, rows)
            print("\n" + table, flush=True)
            blocks.append(table)
        results["shapes"].append(shape_res)
        del x, y, fwd, fb
    OUT.mkdir(exist_ok=True)
    path = OUT / f"ce{'_quick' if quick else ''}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return _section(info, ct, blocks, quick)


def _section(info, ct, blocks, quick):
    lines = [
        f"## {TITLE}",
        "",
        f"Run: `python -m benchmarks --suite ce{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d')}. Machine: {info['cpu']}, {info['cores']} cores "
        f"(SIMD: {info['simd']}); Python {info['python']}, numpy {info['numpy']}, "
        f"scipy {info['scipy']}, numba {info['numba']}, torch {info['torch']} "
        f"({THREADS} threads), scikit-learn {info['sklearn']}. JAX: "
        + ("not installed (skipped)." if _no_jax() else "installed."),
        "",
        "float32 logits ~ N(0, 1), int64 labels, mean NLL. Round-robin in one process, "
        "1 warm-up round, median of 3 (arrays > 500 MB) or 7 timed rounds. "
        "GB/s = logits bytes / time (also for forward+backward). × read = time / the "
        "2-thread read pass of the same array in the same run; × exp pass = time / a 2-thread "
        "pass computing exp of every element with the kernel's vectorised exp. Peak extra memory: "
        "tracemalloc for NumPy-based contenders (the fused kernel's outputs are NumPy arrays, so "
        "they are counted); peak-RSS delta (VmHWM reset via /proc/self/clear_refs) for torch, a "
        "lower bound since memory the process already holds is reused; n/a for numba "
        "references. sklearn is timed on a row subsample and its time scaled to all rows. "
        f"First call of the kernel in a fresh process: {ct['cold']:.1f} s with an empty "
        f"compile cache, {ct['warm']:.2f} s with the on-disk cache.",
        "",
    ]
    for b in blocks:
        lines += [b, ""]
    return "\n".join(lines)


def _no_jax():
    import importlib.util

    return importlib.util.find_spec("jax") is None
