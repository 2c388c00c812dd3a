#!/usr/bin/env bash
# GPU checks of the PyTorch adapters in one go (< 8 minutes on one recent GPU):
#   1. the GPU tests (tests/torch/test_torch_gpu.py: values, gradients, bf16 error, offsets > 2^31);
#   2. the GPU benchmark of linear cross-entropy (8,192 tokens, d = 2,304, V = 256,000, bf16)
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
timeout 300 python -m pytest tests/torch/test_torch_gpu.py -q -p no:cacheprovider -o addopts="" -rA
timeout 180 python -m benchmarks.suite_linear_ce --gpu
