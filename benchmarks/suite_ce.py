"""Suite "ce": mean softmax cross-entropy over float32 logits on the CPU (issue 14's goals).

Contenders, all on the same arrays in one process, round-robin (see harness):

- the limits: a read pass (NumPy ``x.max()``, 1 thread, and a numba sum on ``THREADS``
  threads) and an exp-only pass (the kernel's vectorised exp of every element, summed);
- ours: the fused kernel (``kernels.softmax_terms``; forward+backward
  ``kernels.softmax_terms_and_grad`` into a caller buffer), the reduction-fused kernel
  (``kernels.softmax_sums``, ``kernels.softmax_sums_grad``: no per-row arrays; what the
  public entry points call for plain index labels), the public, validated entry
  points ``crossentropy.cross_entropy`` and ``crossentropy.cross_entropy_grad(...,
  return_loss=True, out=buf)`` (and with a fresh gradient), the row-blocked NumPy path;
- torch ``F.cross_entropy`` (``set_num_threads(2)``), forward under ``no_grad`` and
  forward+backward;
- XLA: ``jax.jit`` of ``optax.softmax_cross_entropy_with_integer_labels(...).mean()`` and
  of its ``jax.value_and_grad`` (skipped with a note when jax or optax is missing);
- NumPy stable formula; ``scipy.special.log_softmax`` + take; ``sklearn.metrics.log_loss``
  on the softmax computed outside the timing, on a row subsample, its time scaled.

Every ratio compares two contenders of the same run, from their fastest rounds (on a
shared machine the least disturbed); the median is printed beside. The entry-overhead
table times the public entry points against the raw kernel they call at 2^18 elements and
above, and the goals table states each goal of issue 14 as met or missed with its ratio.
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
#: threads of every contender (numba, torch, XLA); ``BENCH_THREADS=1`` makes the ratios robust
#: on a shared machine (a 2-thread parallel region waits for its slower, descheduled thread)
THREADS = int(os.environ.get("BENCH_THREADS", "2"))
if THREADS == 1 and "jax" not in sys.modules:
    os.environ.setdefault(
        "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    )
#: shapes of the entry-overhead table (2^18, 2^20 and 2^22 elements)
ENTRY = [(512, 512), (1_024, 1_024), (4_096, 1_024)]
#: issue 14's goals: (contender, reference, largest ratio)
FWD_GOALS = [("XLA", 1.0), ("torch", 0.4), ("exp", 1.3)]
FB_GOALS = [("XLA", 0.8), ("torch", 0.25)]
ENTRY_GOAL = 1.05
FWD_PUBLIC = "ours: cross_entropy (public)"
FB_PUBLIC = "ours: cross_entropy_grad(return_loss, out=)"
SUMS_FWD = "ours: reduction-fused kernel (Σℓ, Σw)"
SUMS_FB = "ours: reduction-fused kernel + grad, out= buffer"


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


def _jax_fns():
    """(forward, value_and_grad) jitted optax contenders, or None when jax/optax are missing."""
    try:
        import jax
        import optax
    except ImportError:
        return None

    def mean_ce(a, b):
        return optax.softmax_cross_entropy_with_integer_labels(a, b).mean()

    return jax.jit(mean_ce), jax.jit(jax.value_and_grad(mean_ce))


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

    def ours_fb():
        loss, w, g = kernels.softmax_terms_and_grad(x, y, row_scale=1.0 / n, out=grad_buf)
        return loss.sum(dtype=np.float64) / n, g

    def sums_fwd():
        total, w, _ = kernels.softmax_sums(x, y)
        return total / w

    def sums_fb():
        total, w, _ = kernels.softmax_sums_grad(x, y, scale=1.0 / n, out=grad_buf)
        return total / w, grad_buf

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
        Contender("read pass (NumPy x.max, 1 thr)", lambda: x.max()),
        Contender(f"read pass ({THREADS} thr)", lambda: read2(x), memory=None),
        Contender(f"exp-only pass ({THREADS} thr)", lambda: exp2(x), memory=None),
        Contender("ours: fused kernel", ours_fwd),
        Contender(SUMS_FWD, sums_fwd),
        Contender(FWD_PUBLIC, lambda: ce.cross_entropy(x, y)),
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
    fb = [
        Contender(f"read pass ({THREADS} thr)", lambda: read2(x), memory=None),
        Contender(f"exp-only pass ({THREADS} thr)", lambda: exp2(x), memory=None),
        Contender("ours: fused kernel, out= buffer", ours_fb),
        Contender(SUMS_FB, sums_fb),
        Contender(FB_PUBLIC, lambda: ce.cross_entropy_grad(x, y, return_loss=True, out=grad_buf)),
        Contender(
            "ours: cross_entropy_grad(return_loss), fresh grad",
            lambda: ce.cross_entropy_grad(x, y, return_loss=True),
        ),
        Contender("torch F.cross_entropy + backward", torch_fb, memory="rss"),
    ]
    jx = _jax_fns()
    if jx is not None:
        import jax
        import jax.numpy as jnp

        f, vg = jx
        xj, yj = jnp.asarray(x), jnp.asarray(y)
        fwd.append(
            Contender(
                "XLA jit(optax … .mean())", lambda: f(xj, yj).block_until_ready(), memory=None
            )
        )
        fb.append(
            Contender(
                "XLA jit(value_and_grad(optax …))",
                lambda: jax.block_until_ready(vg(xj, yj)),
                memory=None,
            )
        )
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


def _ref(group, prefix):
    return next((g for g in group if g.name.startswith(prefix)), None)


def _table(mode, n, c, group, mem, errs, nbytes):
    """(markdown table, {name: record}) of one group; ratios from the fastest rounds."""
    fb = mode == "fwd_bwd"
    refs = {
        "read": _ref(group, f"read pass ({THREADS} thr)"),
        "exp": _ref(group, "exp-only pass"),
        "torch": _ref(group, "torch "),
        "XLA": _ref(group, "XLA "),
    }
    rows, recs = [], {}
    for g in group:
        t = g.min_s
        ratio = {k: (None if r is None else t / r.min_s) for k, r in refs.items()}
        rec = {
            "ms_min": t * 1e3,
            "ms_median": g.median_s * 1e3,
            "gb_s": nbytes / t / 1e9,
            **{f"x_{k}": v for k, v in ratio.items()},
            "peak_extra_mib": None if mem.get(g.name) is None else mem[g.name] / 2**20,
            "abs_err_vs_f64": errs.get(g.name),
            "note": g.note,
        }
        recs[g.name] = rec
        rows.append(
            [
                g.name + (f" ({g.note})" if g.note else ""),
                f"{rec['ms_min']:.2f}",
                f"{rec['ms_median']:.2f}",
                f"{rec['gb_s']:.2f}",
                *(
                    "" if ratio[k] is None else f"{ratio[k]:.2f}"
                    for k in ("read", "exp", "torch", "XLA")
                ),
                _fmt_mem(mem.get(g.name)),
                "" if errs.get(g.name) is None else f"{errs[g.name]:.1e}",
            ]
        )
    header = [
        f"{'forward+backward' if fb else 'forward'} {n:,} × {c:,}",
        "ms (min)",
        "ms (median)",
        "GB/s",
        "× read pass",
        "× exp pass",
        "× torch" + (" fwd+bwd" if fb else ""),
        "× XLA" + (" value_and_grad" if fb else ""),
        "peak extra MiB",
        "|err| vs f64",
    ]
    return markdown_table(header, rows), recs


def _entry_group(x, y, buf):
    import crossentropy as ce
    from crossentropy import kernels

    n = x.shape[0]
    return [
        Contender("kernel fwd", lambda: kernels.softmax_terms(x, y), memory=None),
        Contender("sums kernel fwd", lambda: kernels.softmax_sums(x, y), memory=None),
        Contender("public fwd", lambda: ce.cross_entropy(x, y), memory=None),
        Contender(
            "public fwd, validate=False",
            lambda: ce.cross_entropy(x, y, validate=False),
            memory=None,
        ),
        Contender(
            "kernel fwd+bwd",
            lambda: kernels.softmax_terms_and_grad(x, y, row_scale=1.0 / n, out=buf),
            memory=None,
        ),
        Contender(
            "sums kernel fwd+bwd",
            lambda: kernels.softmax_sums_grad(x, y, scale=1.0 / n, out=buf),
            memory=None,
        ),
        Contender(
            "public fwd+bwd",
            lambda: ce.cross_entropy_grad(x, y, return_loss=True, out=buf),
            memory=None,
        ),
    ]


def entry_overhead(quick: bool = False) -> tuple[str, list[dict]]:
    """Public entry points vs the raw kernel they call, at 2^18 elements and above (min of many calls)."""
    rng = np.random.default_rng(1)
    rows, recs = [], []
    for n, c in ENTRY[:2] if quick else ENTRY:
        x = rng.standard_normal((n, c), dtype=np.float32)
        y = rng.integers(0, c, n)
        group = _entry_group(x, y, np.empty_like(x))
        reps = max(5, min(60, int(2e8 // (n * c * 10))))
        round_robin(group, warmup=2, repeats=reps)
        t = {g.name: g.min_s for g in group}
        rec = {
            "shape": [n, c],
            "elements": n * c,
            "us": {k: v * 1e6 for k, v in t.items()},
            "fwd_ratio": t["public fwd"] / t["kernel fwd"],
            "fwd_ratio_novalidate": t["public fwd, validate=False"] / t["kernel fwd"],
            "fb_ratio": t["public fwd+bwd"] / t["kernel fwd+bwd"],
            "fwd_ratio_sums": t["public fwd"] / t["sums kernel fwd"],
            "fb_ratio_sums": t["public fwd+bwd"] / t["sums kernel fwd+bwd"],
        }
        recs.append(rec)
        rows.append(
            [
                f"{n:,} × {c:,} (2^{(n * c).bit_length() - 1})",
                f"{t['kernel fwd'] * 1e6:.0f}",
                f"{t['public fwd'] * 1e6:.0f}",
                f"{rec['fwd_ratio']:.2f}",
                f"{rec['fwd_ratio_novalidate']:.2f}",
                f"{t['kernel fwd+bwd'] * 1e6:.0f}",
                f"{t['public fwd+bwd'] * 1e6:.0f}",
                f"{rec['fb_ratio']:.2f}",
                f"{t['sums kernel fwd'] * 1e6:.0f}",
                f"{rec['fwd_ratio_sums']:.2f}",
                f"{t['sums kernel fwd+bwd'] * 1e6:.0f}",
                f"{rec['fb_ratio_sums']:.2f}",
            ]
        )
    header = [
        "entry overhead",
        "kernel fwd µs",
        "cross_entropy µs",
        "× kernel",
        "× kernel (validate=False)",
        "kernel fwd+bwd µs",
        "cross_entropy_grad µs",
        "× kernel",
        "sums kernel fwd µs",
        "cross_entropy × sums kernel",
        "sums kernel fwd+bwd µs",
        "cross_entropy_grad × sums kernel",
    ]
    return markdown_table(header, rows), recs


def _verdict(ratio, limit):
    if ratio is None:
        return "not measured", ""
    return ("met" if ratio <= limit else "missed"), f"{ratio:.2f}×"


def goals(shapes_res: list[dict], entry: list[dict]) -> str:
    """Issue 14's goals for this suite: measured ratio and met/missed, from this run only."""
    rows = []
    for sr in shapes_res:
        n, c = sr["shape"]
        rec = sr["fwd"].get(FWD_PUBLIC, {})
        for ref, limit in FWD_GOALS:
            v, r = _verdict(rec.get(f"x_{ref}"), limit)
            rows.append([f"forward {n:,} × {c:,}: `cross_entropy` ≤ {limit}× {ref}", r, v])
    for sr in shapes_res:
        n, c = sr["shape"]
        if not sr.get("fwd_bwd"):
            continue
        rec = sr["fwd_bwd"].get(FB_PUBLIC, {})
        for ref, limit in FB_GOALS:
            v, r = _verdict(rec.get(f"x_{ref}"), limit)
            what = "value_and_grad" if ref == "XLA" else "fwd+bwd"
            rows.append(
                [
                    f"fwd+bwd {n:,} × {c:,}: `cross_entropy_grad(return_loss, out=)` ≤ {limit}× {ref} {what}",
                    r,
                    v,
                ]
            )
        mib = rec.get("peak_extra_mib")
        if mib is not None:
            grad_mib = n * c * 4 / 2**20
            rows.append(
                [
                    f"fwd+bwd {n:,} × {c:,}: the gradient the only large allocation",
                    f"{mib:.1f} MiB extra with out= (gradient {grad_mib:.0f} MiB)",
                    "met" if mib < 0.05 * grad_mib else "missed",
                ]
            )
    for e in entry:
        n, c = e["shape"]
        for key, what in (("fwd_ratio", "cross_entropy"), ("fb_ratio", "cross_entropy_grad")):
            v, r = _verdict(e[key], ENTRY_GOAL)
            rows.append([f"entry {n:,} × {c:,}: `{what}` ≤ {ENTRY_GOAL}× the raw kernel", r, v])
            v, r = _verdict(e[key + "_sums"], ENTRY_GOAL)
            rows.append(
                [f"entry {n:,} × {c:,}: `{what}` ≤ {ENTRY_GOAL}× the kernel it calls (sums)", r, v]
            )
    return markdown_table(["goal (issue 14)", "measured", "verdict"], rows)


def run(quick: bool = False) -> str:
    shapes = QUICK if quick else FULL
    import numba

    numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
    info = machine()
    ct = compile_times(quick)
    ct.setdefault("cold", float("nan"))
    print(f"# {TITLE}  ({'quick' if quick else 'full'})")
    print(f"CPU: {info['cpu']}, {info['cores']} cores, SIMD: {info['simd']}; load {info['load']}")
    if _jax_fns() is None:
        print("jax/optax not installed: the XLA columns are empty")
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
        shape_res = {"shape": [n, c], "bytes": x.nbytes}
        for mode, group in (("fwd", fwd), ("fwd_bwd", fb)):
            table, recs = _table(mode, n, c, group, mem, errs, x.nbytes)
            shape_res[mode] = recs
            print("\n" + table, flush=True)
            blocks.append(table)
        results["shapes"].append(shape_res)
        del x, y, fwd, fb
    entry_table, entry = entry_overhead(quick)
    print("\n" + entry_table, flush=True)
    results["entry"] = entry
    goal_table = goals(results["shapes"], entry)
    print("\n" + goal_table, flush=True)
    OUT.mkdir(exist_ok=True)
    path = OUT / f"ce{'_quick' if quick else ''}.json"
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return _section(info, ct, blocks, entry_table, goal_table, quick)


def _section(info, ct, blocks, entry_table, goal_table, quick):
    loaded = info["load"].split(" / ")[0]
    try:
        busy = float(loaded) > 0.5 * float(info["cores"])
    except ValueError:
        busy = False
    lines = [
        f"## {TITLE}",
        "",
        f"Run: `python -m benchmarks --suite ce{' --quick' if quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Machine: {info['cpu']}, {info['cores']} cores "
        f"(SIMD: {info['simd']}); load average at the start {info['load']} (1 / 5 / 15 min)"
        + (" — **the machine was shared: read only the ratios**" if busy else "")
        + f". Python {info['python']}, numpy {info['numpy']}, scipy {info['scipy']}, "
        f"numba {info['numba']}, torch {info['torch']}, scikit-learn "
        f"{info['sklearn']}, jax {info['jax']}, optax {info['optax']}"
        + (" (XLA columns skipped)" if _jax_fns() is None else "")
        + f". Every contender runs {THREADS} thread{'s' if THREADS > 1 else ''} (numba, torch, XLA).",
        "",
        "float32 logits ~ N(0, 1), int64 labels, mean NLL. Round-robin in one process, "
        "1 warm-up round, 3 (arrays > 500 MB) or 7 timed rounds; ratios are of the fastest "
        "rounds of two contenders of the same run (the median is printed beside). GB/s = logits "
        "bytes / time (also for forward+backward). × read = time / the numba read pass of the "
        "same array; × exp pass = time / a numba pass computing exp of every element with "
        "the kernel's vectorised exp; × torch and × XLA = time / torch's and XLA's time for the "
        "same work (forward, or forward+backward: torch autograd, XLA `value_and_grad`). Peak "
        "extra memory: tracemalloc for NumPy-based contenders (the kernel's outputs are NumPy "
        "arrays, so they are counted; `out=` buffers are the caller's and are not); peak-RSS "
        "delta for torch (a lower bound); n/a for numba references and XLA. sklearn is timed on "
        "a row subsample and its time scaled to all rows. First call of the kernel in a fresh "
        f"process: {ct['cold']:.1f} s with an empty compile cache, {ct['warm']:.2f} s with the "
        "on-disk cache.",
        "",
        "### Goals of issue 14 measured by this run",
        "",
        *(
            ["Quick shapes: indicative only (the goals are stated at the full shapes).", ""]
            if quick
            else []
        ),
        goal_table,
        "",
    ]
    for b in blocks:
        lines += [b, ""]
    lines += [
        "### Entry overhead: public entry points vs the raw kernel",
        "",
        "Fastest of many interleaved calls. `cross_entropy(x, y)` (validated) and "
        "`cross_entropy_grad(x, y, return_loss=True, out=buf)` against the kernel calls they "
        "end in: the per-row kernels (`kernels.softmax_terms`, `kernels.softmax_terms_and_grad(..., "
        "out=buf)`) and the reduction-fused kernels the plain case now calls "
        "(`kernels.softmax_sums`, `kernels.softmax_sums_grad(..., out=buf)`).",
        "",
        entry_table,
        "",
    ]
    return "\n".join(lines)
