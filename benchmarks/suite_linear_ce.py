"""Suite "linear_ce": fused linear cross-entropy vs materialised logits (PyTorch, CPU).

Problem: hidden ``H`` (N × d) and classifier ``W`` (V × d), float32, index
targets; the loss is ``CE(H @ Wᵀ, y)`` (mean) and each contender runs forward
and backward (gradients of H and W). ``torch.set_num_threads(2)``.

Contenders:

- ``materialised``: ``F.cross_entropy(F.linear(H, W), y)`` — the N × V logits exist;
- ``ours``: ``crossentropy.torch.linear_cross_entropy`` (default: token chunks sized from V
  and the cache, the gradient formed in the forward, three matrix products);
- ``ours + stats``: the same with ``return_stats=True`` (per-token loss, log q of the target,
  log-sum-exp, entropy and argmax from the same pass);
- ``ours recompute``: the same with ``recompute=True`` (vocabulary-chunked online
  log-sum-exp, the backward recomputes the logits: four matrix products);
- ``torch LCE``: PyTorch's own ``F.linear_cross_entropy`` (default options: its reference path);
- ``torch LCE chunked 512``: the same with ``LinearCrossEntropyOptions(batch_chunk_size=512)``;
- ``ours (torch tiles)``: ``impl="torch"``, the per-tile element work in torch operations (the
  default on CPU with numba is ``impl="numba"``: one fused kernel per tile of whole rows);
- ``bare products``: the floor, the three matrix products alone on the whole matrices
  (``Z = H Wᵀ``, ``Z W``, ``Zᵀ H``; no loss, no element-wise work).

**Time**: round-robin in one process (see ``benchmarks/harness.py``), medians.
**Memory**: each contender runs once in a *fresh subprocess* (no allocator
reuse; one warm-up step on an 8 × 16 problem first, so that loading code — lazy imports,
compiled kernels — is not counted): peak resident memory (``VmHWM``) during forward+backward
minus the resident memory just before it, with the inputs already allocated.
It includes the gradients ``H.grad`` and ``W.grad`` (N·d + V·d floats) that every
contender must produce; the table also shows the peak with those subtracted
(the working memory). Every loss and gradient is checked against the materialised one.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

from benchmarks.harness import (
    Contender,
    in_fresh_process,
    machine,
    markdown_table,
    peak_rss,
    round_robin,
)

TITLE = "PyTorch: linear cross-entropy"
OUT = pathlib.Path(__file__).resolve().parent / "out"
FULL = [(2048, 512, 32_000), (2048, 512, 128_256)]
QUICK = [(512, 128, 8_000)]
THREADS = 2
MiB = 1 << 20


def _setup(n, d, v, seed=0):
    import torch

    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, d, generator=g).requires_grad_(True)
    w = (torch.randn(v, d, generator=g) / d**0.5).requires_grad_(True)
    y = torch.randint(0, v, (n,), generator=g)
    return h, w, y


def _contenders():
    import torch.nn.functional as F

    import crossentropy.torch as ct

    def materialised(h, w, y):
        return F.cross_entropy(F.linear(h, w), y)

    def ours(h, w, y):
        return ct.linear_cross_entropy(h, w, y)

    def ours_recompute(h, w, y):
        return ct.linear_cross_entropy(h, w, y, recompute=True)

    def ours_stats(h, w, y):  # + every per-token statistic from the same pass
        return ct.linear_cross_entropy(h, w, y, return_stats=True)[0]

    def ours_torch_tiles(h, w, y):
        return ct.linear_cross_entropy(h, w, y, impl="torch")

    out = {
        "materialised": materialised,
        "ours": ours,
        "ours + stats": ours_stats,
        "ours recompute": ours_recompute,
        "ours (torch tiles)": ours_torch_tiles,
        "bare products": bare_products,
    }
    if hasattr(F, "linear_cross_entropy"):
        out["torch LCE"] = lambda h, w, y: F.linear_cross_entropy(h, w, y)
        try:
            from torch.nn.modules.linear_cross_entropy_options import LinearCrossEntropyOptions
        except ImportError:  # an older torch: only the default (materialised) path
            return out
        chunked = LinearCrossEntropyOptions(batch_chunk_size=512, chunking_method=None)
        out["torch LCE chunked 512"] = lambda h, w, y: F.linear_cross_entropy(
            h, w, y, options=chunked
        )
    return out


def bare_products(h, w, y):
    """The floor of every fused contender: ``Z = H Wᵀ``, then ``Z W`` and ``Zᵀ H`` (as if ``Z`` were
    the gradient of the logits) into ``H.grad`` and ``W.grad``; returns None (there is no loss)."""
    import torch

    with torch.no_grad():
        z = h @ w.t()
        h.grad = z @ w
        w.grad = z.t() @ h
    return None


def _step(fn, h, w, y):
    h.grad = None
    w.grad = None
    loss = fn(h, w, y)
    if loss is not None:
        loss.backward()
    return loss


def _memory_child(name, n, d, v):
    """Run in a fresh interpreter: print the peak extra resident bytes of one fwd+bwd."""
    import torch

    torch.set_num_threads(THREADS)
    fn = _contenders()[name]
    _step(fn, *_setup(8, 4, 16))  # load code (lazy imports, compiled kernels): not working memory
    h, w, y = _setup(n, d, v)
    print(json.dumps(peak_rss(lambda: _step(fn, h, w, y))))


def _memory(name, n, d, v):
    return in_fresh_process("benchmarks.suite_linear_ce", "_memory_child", name, n, d, v)


def _check(n, d, v):
    """Max relative differences of loss and gradients vs the materialised contender."""
    import torch

    h, w, y = _setup(n, d, v)
    fns = _contenders()
    ref = _step(fns["materialised"], h, w, y).item()
    ref_g = (h.grad.clone(), w.grad.clone())
    out = {}
    for name, fn in fns.items():
        if fn is bare_products:  # no loss: nothing to check
            out[name] = (float("nan"), float("nan"))
            continue
        loss = _step(fn, h, w, y).item()
        dg = max(
            float((a - b).abs().max() / b.abs().max())
            for a, b in zip((h.grad, w.grad), ref_g, strict=True)
        )
        out[name] = (abs(loss - ref) / abs(ref), dg)
    del torch
    return out


def run(quick: bool = False) -> str:
    import torch

    torch.set_num_threads(THREADS)
    shapes = QUICK if quick else FULL
    print(f"# {TITLE}  ({'quick' if quick else 'full'})")
    results = {"machine": machine(), "shapes": []}
    sections = []
    for n, d, v in shapes:
        t0 = time.perf_counter()
        h, w, y = _setup(n, d, v)
        fns = _contenders()
        cs = [
            Contender(name, (lambda fn=fn, h=h, w=w, y=y: _step(fn, h, w, y)), memory=None)
            for name, fn in fns.items()
        ]
        round_robin(cs, warmup=1, repeats=3 if quick else (5 if v <= 32_000 else 3))
        acc = _check(min(n, 512), d, min(v, 8_000))
        base_t = cs[0].median_s
        bare_t = next(c.median_s for c in cs if c.name == "bare products")
        grads_bytes = (n * d + v * d) * 4
        mem = {c.name: _memory(c.name, n, d, v) for c in cs}
        base_m = mem["materialised"]
        rows = []
        for c in cs:
            m = mem[c.name]
            rows.append(
                [
                    c.name,
                    f"{c.median_s * 1e3:.0f}",
                    f"{c.median_s / base_t:.2f}",
                    f"{c.median_s / bare_t:.2f}",
                    "n/a" if m is None else f"{m / MiB:.0f}",
                    "n/a" if (m is None or not base_m) else f"1/{base_m / max(m, 1):.1f}",
                    "n/a" if m is None else f"{max(m - grads_bytes, 0) / MiB:.0f}",
                    "n/a"
                    if (m is None or not base_m)
                    else f"1/{(base_m - grads_bytes) / max(m - grads_bytes, 1):.1f}",
                    f"{acc[c.name][0]:.1e} / {acc[c.name][1]:.1e}",
                ]
            )
        results["shapes"].append(
            {"n": n, "d": d, "v": v, "rows": rows, "seconds": time.perf_counter() - t0}
        )
        header = [
            "contender",
            "fwd+bwd ms",
            "× time",
            "× bare",
            "peak MiB",
            "× memory",
            "working MiB",
            "× working",
            "rel. err loss / grads",
        ]
        sections.append(f"### N = {n:,}, d = {d}, V = {v:,}\n\n" + markdown_table(header, rows))
        print(sections[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / f"linear_ce{'_quick' if quick else ''}.json").write_text(json.dumps(results, indent=1))
    mach = results["machine"]
    intro = (
        f"## {TITLE}\n\n"
        f"Machine: {mach.get('cpu')} ({mach.get('simd')}), {mach.get('cores')} cores, load "
        f"{mach.get('load')}, torch {mach.get('torch')}, numba {mach.get('numba')}, "
        f"{THREADS} threads. Forward+backward of `CE(H @ Wᵀ, y)` (mean, float32). "
        "× time and × memory are relative to the materialised contender of the same run. "
        "Peak MiB: resident high-water mark of one fwd+bwd in a fresh process, minus the resident memory "
        "before it (inputs allocated); it includes the gradients of H and W (N·d + V·d floats), which every "
        "contender produces. Working MiB subtracts those. × bare: relative to the three bare matrix "
        "products. Goals (issue 6): time ≤ 1.1×, peak ≤ 1/5 (≤ 1/20 at V = 128,256); (issue 14): "
        "`ours` ≤ 1.05× bare, ≤ 1.0× `torch LCE chunked 512` and ≤ 0.5× its extra memory. Accuracy is checked at a reduced shape (N ≤ 512, V ≤ 8,000).\n"
    )
    return intro + "\n" + "\n\n".join(sections) + "\n"


# ---------------------------------------------------------------------------------------------
# GPU (run by benchmarks/gpu.sh; not part of the CPU runner): issue 6's GPU comparison.

GPU_SHAPE = (8192, 2304, 256_000)


def run_gpu(repeats: int = 5) -> str:
    """bf16 fwd+bwd at 8,192 tokens, d = 2,304, V = 256,000: time (CUDA events) and peak allocated memory."""
    import torch
    import torch.nn.functional as F

    import crossentropy.torch as ct

    n, d, v = GPU_SHAPE
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(0)
    h = (torch.randn(n, d, device=dev, generator=g) / 2).to(torch.bfloat16).requires_grad_(True)
    w = (
        (torch.randn(v, d, device=dev, generator=g) / d**0.5)
        .to(torch.bfloat16)
        .requires_grad_(True)
    )
    y = torch.randint(0, v, (n,), device=dev, generator=g)

    def materialised():
        return F.cross_entropy(F.linear(h, w).float(), y)

    contenders = {
        "materialised (logits in fp32)": materialised,
        "ours": lambda: ct.linear_cross_entropy(h, w, y),
        "ours recompute": lambda: ct.linear_cross_entropy(h, w, y, recompute=True),
    }
    try:
        compiled = torch.compile(lambda hh, ww, yy: F.cross_entropy(F.linear(hh, ww).float(), yy))
        contenders["torch.compile"] = lambda: compiled(h, w, y)
    except Exception as exc:  # noqa: BLE001 - reported, not fatal
        print("torch.compile unavailable:", exc)
    if hasattr(F, "linear_cross_entropy"):
        contenders["torch LCE"] = lambda: F.linear_cross_entropy(h, w, y)
    for mod, fn in (
        ("liger_kernel.transformers", "LigerFusedLinearCrossEntropyLoss"),
        ("cut_cross_entropy", "linear_cross_entropy"),
    ):
        try:
            m = __import__(mod, fromlist=[fn])
            if fn == "linear_cross_entropy":
                contenders["CCE"] = lambda m=m: m.linear_cross_entropy(h, w, y)
            else:
                loss_mod = getattr(m, fn)()
                contenders["Liger FLCE"] = lambda lm=loss_mod: lm(w, h, y)
        except Exception as exc:  # noqa: BLE001
            print(f"{mod} not available: {type(exc).__name__}")
    ref_loss = None
    rows = []
    for name, fn in contenders.items():
        try:
            for _ in range(2):
                h.grad = w.grad = None
                fn().backward()
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            times = []
            for _ in range(repeats):
                h.grad = w.grad = None
                torch.cuda.synchronize()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                loss = fn()
                loss.backward()
                b.record()
                torch.cuda.synchronize()
                times.append(a.elapsed_time(b))
            peak = torch.cuda.max_memory_allocated() - base
            value = float(loss)
            ref_loss = value if ref_loss is None else ref_loss
            times.sort()
            rows.append(
                [name, f"{times[len(times) // 2]:.1f}", f"{peak / MiB:.0f}", f"{value:.6f}"]
            )
        except Exception as exc:  # noqa: BLE001
            rows.append([name, "failed", type(exc).__name__, ""])
        print(rows[-1], flush=True)
    header = ["contender", "fwd+bwd ms (median)", "peak extra MiB", "loss"]
    return (
        f"### GPU: N = {n:,}, d = {d:,}, V = {v:,}, bfloat16 ({torch.cuda.get_device_name()})\n\n"
        "Peak extra: `max_memory_allocated` during the timed fwd+bwd minus the allocation before it "
        "(inputs; gradients of the previous step freed).\n\n" + markdown_table(header, rows) + "\n"
    )


if __name__ == "__main__":
    if "--gpu" in sys.argv:
        section = run_gpu()
        print(section)
        OUT.mkdir(exist_ok=True)
        (OUT / "linear_ce_gpu.md").write_text(section)
    else:
        print(run(quick="--quick" in sys.argv))
