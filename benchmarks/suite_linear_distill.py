"""Suite "linear_distill": fused linear distillation vs materialised logits (PyTorch, CPU).

Problem (issue 16): student hidden ``H`` (N × d) and head ``W`` (V × d), teacher logits ``Zt``
(N × V, given), float32; the loss is the forward KL(softmax(Zt) ‖ softmax(H Wᵀ)) (mean over
rows, T = 1, the defaults) and each contender runs forward and backward (gradients of H and W).
``torch.set_num_threads(2)``.

Contenders:

- ``materialised``: ``F.kl_div(log_softmax(F.linear(H, W)), log_softmax(Zt), log_target=True,
  reduction="batchmean")`` — the student's N × V logits (and their log-softmaxes) exist;
- ``ours``: ``crossentropy.torch.linear_distillation_loss(H, W, Zt)``, the default call
  (automatic chunk rows);
- ``ours chunk 256``: the same with ``chunk_size=256``;
- ``ours T=2, alpha=0.1``: a temperature and the hard-label term (one more tile per chunk).

**Time**: round-robin in one process (``benchmarks/harness.py``), medians. **Memory**: each
contender once in a fresh subprocess: peak resident memory (``VmHWM``) during forward+backward
minus the resident memory just before it (inputs, the teacher's logits included, allocated).
It includes the gradients of H and W (N·d + V·d floats) that every contender returns; the
"working" columns subtract them. Every loss and gradient is checked against the materialised one.
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

TITLE = "PyTorch: fused linear distillation"
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
    zt = torch.randn(n, v, generator=g) * 2
    y = torch.randint(0, v, (n,), generator=g)
    return h, w, zt, y


def _contenders():
    import torch
    import torch.nn.functional as F

    import crossentropy.torch as ct

    def materialised(h, w, zt, y):
        lq = torch.log_softmax(F.linear(h, w), -1)
        return F.kl_div(lq, torch.log_softmax(zt, -1), log_target=True, reduction="batchmean")

    return {
        "materialised": materialised,
        "ours": lambda h, w, zt, y: ct.linear_distillation_loss(h, w, zt),
        "ours chunk 256": lambda h, w, zt, y: ct.linear_distillation_loss(h, w, zt, chunk_size=256),
        "ours T=2, alpha=0.1": lambda h, w, zt, y: ct.linear_distillation_loss(
            h, w, zt, temperature=2.0, alpha=0.1, target=y
        ),
    }


def _reference(name):
    """The materialised value of a contender's options (the accuracy check's oracle)."""
    import torch
    import torch.nn.functional as F

    if name != "ours T=2, alpha=0.1":
        return _contenders()["materialised"]

    def ref(h, w, zt, y):
        z = F.linear(h, w)
        kl = F.kl_div(
            torch.log_softmax(z / 2, -1), torch.log_softmax(zt / 2, -1), log_target=True,
            reduction="batchmean",
        )  # fmt: skip
        return 0.9 * 4 * kl + 0.1 * F.cross_entropy(z, y)

    return ref


def _step(fn, h, w, zt, y):
    h.grad = None
    w.grad = None
    loss = fn(h, w, zt, y)
    loss.backward()
    return loss


def _memory_child(name, n, d, v):
    """Run in a fresh interpreter: print the peak extra resident bytes of one fwd+bwd."""
    import torch

    torch.set_num_threads(THREADS)
    fn = _contenders()[name]
    h, w, zt, y = _setup(n, d, v)
    print(json.dumps(peak_rss(lambda: _step(fn, h, w, zt, y))))


def _memory(name, n, d, v):
    return in_fresh_process("benchmarks.suite_linear_distill", "_memory_child", name, n, d, v)


def _check(n, d, v):
    """Max relative differences of loss and gradients vs each contender's materialised value."""
    h, w, zt, y = _setup(n, d, v)
    out = {}
    for name, fn in _contenders().items():
        ref = _step(_reference(name), h, w, zt, y).item()
        ref_g = (h.grad.clone(), w.grad.clone())
        loss = _step(fn, h, w, zt, y).item()
        dg = max(
            float((a - b).abs().max() / b.abs().max())
            for a, b in zip((h.grad, w.grad), ref_g, strict=True)
        )
        out[name] = (abs(loss - ref) / abs(ref), dg)
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
        h, w, zt, y = _setup(n, d, v)
        cs = [
            Contender(name, (lambda fn=fn, a=(h, w, zt, y): _step(fn, *a)), memory=None)
            for name, fn in _contenders().items()
        ]
        round_robin(cs, warmup=1, repeats=3 if quick else (5 if v <= 32_000 else 3))
        acc = _check(min(n, 512), d, min(v, 8_000))
        base_t = cs[0].median_s
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
            "peak MiB",
            "× memory",
            "working MiB",
            "× working",
            "rel. err loss / grads",
        ]
        sections.append(f"### N = {n:,}, d = {d}, V = {v:,}\n\n" + markdown_table(header, rows))
        print(sections[-1], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / f"linear_distill{'_quick' if quick else ''}.json").write_text(
        json.dumps(results, indent=1)
    )
    mach = results["machine"]
    intro = (
        f"## {TITLE}\n\n"
        f"Machine: {mach.get('cpu')} ({mach.get('simd')}), {mach.get('cores')} cores, load "
        f"{mach.get('load')}, torch {mach.get('torch')}, {THREADS} threads. Forward+backward of "
        "KL(softmax(Zt) ‖ softmax(H Wᵀ)) (mean, float32, teacher logits given). × time and × memory "
        "are relative to the materialised contender of the same run. Peak MiB: resident high-water "
        "mark of one fwd+bwd in a fresh process minus the resident memory before it (inputs "
        "allocated); it includes the gradients of H and W (N·d + V·d floats). Working MiB subtracts "
        "those. Goals (issue 16): time ≤ 1.1×, extra memory ≤ 1/5 (working). Accuracy is checked "
        "at a reduced shape (N ≤ 512, V ≤ 8,000).\n"
    )
    return intro + "\n" + "\n\n".join(sections) + "\n"


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
