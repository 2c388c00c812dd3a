#!/usr/bin/env bash
# GPU checks of the PyTorch adapters in one go (< 8 minutes on one recent GPU):
#   1. the GPU tests (tests/torch/test_torch_gpu.py: values, gradients, bf16 error, offsets > 2^31;
#      tests/torch/test_triton_interpret.py, test_triton_distill.py: the compiled Triton kernels
#      of linear CE and of the distillation divergence tile equal impl="torch");
#   2. impl="triton" vs impl="torch" of linear_cross_entropy at the benchmark shape (time, peak
#      memory, loss), written to benchmarks/out/linear_ce_gpu_impl.md;
#   3. the GPU benchmark of linear cross-entropy (8,192 tokens, d = 2,304, V = 256,000, bf16)
#      against materialised logits, torch.compile, PyTorch's own linear_cross_entropy, and
#      Liger / CCE when they are installed. The table is written to benchmarks/out/linear_ce_gpu.md
#      (copy it into the "PyTorch: linear cross-entropy" section of RESULTS.md).
# Needs a CUDA build of torch; exits 2 when no GPU is visible.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
python - <<'PY' || exit 2
import sys, torch
ok = torch.cuda.is_available()
print("torch", torch.__version__, "cuda", torch.version.cuda, "device", torch.cuda.get_device_name() if ok else None)
sys.exit(0 if ok else 1)
PY
timeout 300 python -m pytest tests/torch/test_torch_gpu.py tests/torch/test_triton_interpret.py tests/torch/test_triton_distill.py \
  -q -p no:cacheprovider -o addopts="" -rA
timeout 120 python - <<'PY'
# impl="triton" (Triton kernels per tile) vs impl="torch" (torch ops per tile), same chunking
import pathlib, torch
import crossentropy.torch as ct
from benchmarks.suite_linear_ce import GPU_SHAPE
n, d, v = GPU_SHAPE
g = torch.Generator(device="cuda").manual_seed(0)
h = (torch.randn(n, d, device="cuda", generator=g) / 2).to(torch.bfloat16).requires_grad_(True)
w = (torch.randn(v, d, device="cuda", generator=g) / d**0.5).to(torch.bfloat16).requires_grad_(True)
y = torch.randint(0, v, (n,), device="cuda", generator=g)
y[::7] = -100
rows = []
for reduction in ("mean", "none"):
    for impl in ("torch", "triton"):
        def step():
            h.grad = w.grad = None
            loss = ct.linear_cross_entropy(h, w, y, impl=impl, reduction=reduction, label_smoothing=0.1)
            (loss if reduction == "mean" else loss.sum()).backward()
            return loss
        for _ in range(2):
            step()
        torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
        base, times = torch.cuda.memory_allocated(), []
        for _ in range(5):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record(); loss = step(); b.record(); torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
        value = float(loss if reduction == "mean" else loss.sum())
        rows.append(f"| {reduction} | {impl} | {sorted(times)[2]:.1f} | {peak:.0f} | {value:.6f} |")
        print(rows[-1], flush=True)
table = ("### GPU: linear_cross_entropy impl='triton' vs impl='torch' (bf16, N = %d, d = %d, V = %d, "
         "smoothing 0.1, 1/7 ignored; %s)\n\n| reduction | impl | fwd+bwd ms (median of 5) | peak extra MiB | loss |\n"
         "|---|---|---|---|---|\n" % (n, d, v, torch.cuda.get_device_name())) + "\n".join(rows) + "\n"
pathlib.Path("benchmarks/out").mkdir(exist_ok=True)
pathlib.Path("benchmarks/out/linear_ce_gpu_impl.md").write_text(table)
print(table)
PY
timeout 180 python -m benchmarks.suite_linear_ce --gpu
