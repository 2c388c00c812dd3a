"""Triton kernels of ``linear_cross_entropy(impl="triton")``: CPU interpreter, selection, and CUDA.

- ``test_kernels_in_the_cpu_interpreter`` runs tests/torch/triton_cases.py in a subprocess with
  ``TRITON_INTERPRET=1`` (set before triton is imported; the rest of the suite keeps the
  normal mode): values and gradients equal to ``impl="torch"`` and to ``F.cross_entropy``
  on the materialised logits (small shapes, V not a multiple of the kernel block).
- ``impl=`` selection and the errors without triton or without CUDA run in this process.
- ``test_triton_equals_torch_on_cuda`` needs a CUDA GPU and triton (run by benchmarks/gpu.sh).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import crossentropy
import crossentropy.torch as ct
from crossentropy.torch import triton_kernels as tk
from crossentropy.torch.linear import resolve_impl

CASES = Path(__file__).with_name("triton_cases.py")
SRC = Path(crossentropy.__file__).resolve().parents[1]
NO_TRITON = "triton is not installed (pip install triton; Linux x86-64)"


def _env(**extra):
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
def test_kernels_in_the_cpu_interpreter():
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        str(CASES),
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-rfE",
    ]
    proc = subprocess.run(
        cmd,
        env=_env(TRITON_INTERPRET="1"),
        cwd=CASES.parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, report
    assert " passed" in proc.stdout and "skipped" not in proc.stdout, report


def test_module_imports_without_triton():
    """The kernels module (and the one doctest collection imports) load without triton; calls say what to install."""
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch, crossentropy.torch as ct\n"
        "from crossentropy.torch import triton_kernels as tk, _triton_jit\n"
        "assert _triton_jit.triton is None and not tk.available()\n"
        "try:\n"
        "    tk.online_update_(torch.zeros(1, 2), tk.OnlineState.empty(1, torch.float32, 'cpu'))\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
        "print(float(ct.linear_cross_entropy(torch.zeros(2, 3), torch.zeros(4, 3), torch.tensor([0, 1]))))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERR" in proc.stdout and "pip install triton" in proc.stdout
    assert (
        abs(float(proc.stdout.strip().splitlines()[-1]) - float(torch.log(torch.tensor(4.0))))
        < 1e-6
    )


def test_auto_is_never_triton_until_gpu_verified(monkeypatch):
    from crossentropy import kernels

    cpu = (
        "numba" if kernels.available() else "torch"
    )  # the CPU tile: numba's kernel where installed
    assert resolve_impl("auto", torch.device("cpu")) == cpu
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve_impl("auto", torch.device("cpu")) == cpu
    # until the kernels have run on a GPU, "auto" keeps torch on CUDA too (opt in with impl="triton")
    assert resolve_impl("auto", torch.device("cuda")) == "torch"


def test_triton_on_cpu_needs_cuda_or_the_interpreter(monkeypatch):
    h, W, y = torch.randn(4, 3), torch.randn(5, 3), torch.tensor([0, 1, 2, 4])
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=r"impl='triton' needs CUDA tensors .*`hidden` is on cpu"):
        ct.linear_cross_entropy(h, W, y, impl="triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(tk, "available", lambda: False)
    with pytest.raises(ImportError, match="pip install triton"):
        ct.linear_cross_entropy(h, W, y, impl="triton")
    with pytest.raises(ImportError, match="pip install triton"):
        resolve_impl("triton", torch.device("cuda"))


def test_kernel_errors_name_the_argument():
    with pytest.raises(ValueError, match="2-D tile"):
        tk.online_update_(torch.zeros(3), tk.OnlineState.empty(3, torch.float32, "cpu"))
    with pytest.raises(TypeError, match="float32 or float64"):
        tk.grad_tile_(
            torch.zeros(2, 2, dtype=torch.bfloat16), torch.zeros(2), torch.ones(2), torch.ones(2)
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_triton_equals_torch_on_cuda(reduction):
    """Compiled kernels on a GPU: impl='triton' equals impl='torch' (float32, no TF32), V not a multiple of the block."""
    torch.backends.cuda.matmul.allow_tf32 = False
    g = torch.Generator(device="cuda").manual_seed(0)
    n, d, v = 1000, 256, 50_257
    h = (torch.randn(n, d, device="cuda", generator=g) / 2).requires_grad_(True)
    w = (torch.randn(v, d, device="cuda", generator=g) / d**0.5).requires_grad_(True)
    b = torch.randn(v, device="cuda", generator=g).requires_grad_(True)
    y = torch.randint(0, v, (n,), device="cuda", generator=g)
    y[::5] = -100
    cw = torch.rand(v, device="cuda", generator=g) + 0.5
    kw = dict(
        bias=b, reduction=reduction, label_smoothing=0.1, class_weight=cw, z_loss=1e-4, softcap=30.0
    )
    ours = ct.linear_cross_entropy(h, w, y, impl="triton", **kw)
    ref = ct.linear_cross_entropy(h, w, y, impl="torch", **kw)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    go = torch.rand(ours.shape, device="cuda", generator=g)
    for a, r in zip(
        torch.autograd.grad(ours, (h, w, b), go),
        torch.autograd.grad(ref, (h, w, b), go),
        strict=True,
    ):
        torch.testing.assert_close(a, r, rtol=1e-4, atol=1e-6)
