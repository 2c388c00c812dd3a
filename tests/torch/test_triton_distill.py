"""The Triton divergence tile of the fused linear distillation (``crossentropy.torch._triton_distill``).

- ``test_kernel_in_the_cpu_interpreter`` runs tests/torch/triton_distill_cases.py in a
  subprocess with ``TRITON_INTERPRET=1`` (set before triton is imported; the rest of the suite
  keeps the normal mode), as tests/torch/test_triton_interpret.py does for the cross-entropy
  kernels: D and the gradient equal ``distill.divergence_rows``, every direction, JSD β,
  temperature and edge row, and ``linear_distillation_loss(impl="triton")`` equals ``impl="torch"``;
  the module's doctest runs the kernel there too.
- The argument errors and the module without triton run in this process (or a plain subprocess);
  so does Triton's compiler, which builds the kernel for a GPU (sm_90) without one.
- ``test_triton_tile_equals_torch_on_cuda`` needs a CUDA GPU and triton.
"""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import crossentropy
from crossentropy.torch import triton_kernels as tk

CASES = Path(__file__).with_name("triton_distill_cases.py")
SRC = Path(crossentropy.__file__).resolve().parents[1]
NO_TRITON = "triton is not installed (pip install triton; Linux x86-64)"


def _env(**extra):
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
def test_kernel_in_the_cpu_interpreter():
    module = SRC / "crossentropy" / "torch" / "_triton_distill.py"  # its doctest runs the kernel
    cmd = [sys.executable, "-m", "pytest", str(CASES), str(module), "--doctest-modules", "-q"]
    cmd += ["-p", "no:cacheprovider", "-o", "addopts=", "-rfEs"]
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
    """The module loads without triton (doctest collection imports it); a call says what to install."""
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch\n"
        "from crossentropy.torch import _triton_distill as td\n"
        "try:\n"
        "    td.divergence_tile_(torch.zeros(1, 2), torch.zeros(1, 2), temperature=1.0,\n"
        "                        direction='forward', beta=0.5)\n"
        "except ImportError as e:\n"
        "    print('ERR', e)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ERR" in proc.stdout and "pip install triton" in proc.stdout, proc.stdout


def _call(z, zt, **kw):
    from crossentropy.torch._triton_distill import divergence_tile_

    opts = dict(temperature=1.0, direction="forward", beta=0.5) | kw
    return divergence_tile_(z, zt, **opts)


@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
def test_errors_name_the_argument(monkeypatch):
    """Each bad argument is named before any kernel runs."""
    z = torch.zeros(2, 3)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(ValueError, match=r"need a CUDA tensor .*`z` is on cpu"):
        _call(z, z.clone())
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # only the checks run: they raise before a launch
    with pytest.raises(ValueError, match="`z` must be a 2-D tile"):
        _call(torch.zeros(3), torch.zeros(3))
    with pytest.raises(TypeError, match="`zt` must be float32 or float64"):
        _call(z, z.to(torch.bfloat16))
    with pytest.raises(ValueError, match=r"`zt` must match `z`.*\(2, 4\)"):
        _call(z, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="`zt` must match `z`.*float64"):
        _call(z, z.double())
    with pytest.raises(ValueError, match="unit stride along its columns"):
        _call(torch.zeros(3, 2).T, z.clone())
    with pytest.raises(ValueError, match="`direction` must be one of 'forward', 'reverse', 'jsd'"):
        _call(z, z.clone(), direction="kl")
    monkeypatch.setattr(tk, "available", lambda: False)
    with pytest.raises(ImportError, match="pip install triton"):
        _call(z, z.clone())


@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
@pytest.mark.parametrize(
    "dtype,direction", [("fp32", "forward"), ("fp32", "reverse"), ("fp32", "jsd"), ("fp64", "jsd")]
)
def test_kernel_compiles_for_a_gpu_without_one(dtype, direction, monkeypatch, tmp_path):
    """Triton's compiler (not the interpreter) accepts the kernel: a cubin for sm_90, no GPU needed."""
    from triton import compile as triton_compile
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from crossentropy.torch import _triton_distill as td

    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRITON_DEFAULT_FP_FUSION", "1")  # the default, said explicitly
    ptr = f"*{dtype}"
    sig = dict(z_ptr=ptr, stride_z="i64", zt_ptr=ptr, stride_t="i64", d_ptr=ptr, prm_ptr=ptr)
    sig |= dict(n_cols="i32", DIRECTION="constexpr", BLOCK="constexpr")
    src = ASTSource(td._divergence_kernel, sig, constexprs=dict(DIRECTION=direction, BLOCK=1024))
    assert triton_compile(src, target=GPUTarget("cuda", 90, 32)).asm["cubin"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.skipif(not tk.available(), reason=NO_TRITON)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("direction,beta", [("forward", 0.5), ("reverse", 0.5), ("jsd", 0.3)])
def test_triton_tile_equals_torch_on_cuda(dtype, direction, beta):
    """The compiled kernel on a GPU equals ``divergence_rows`` (V not a multiple of the block)."""
    from crossentropy.torch.distill import divergence_rows

    g = torch.Generator(device="cuda").manual_seed(0)
    n, v, T = 64, 50_257, 2.0
    z = torch.randn(n, v, device="cuda", generator=g, dtype=dtype) * 4
    zt = torch.randn(n, v, device="cuda", generator=g, dtype=dtype) * 4
    z[1, :100] = zt[2, 50:300] = -math.inf
    z[3, 7] = zt[3, 7] = -math.inf
    ref_d, ref_g = divergence_rows(
        torch.log_softmax(zt / T, -1), torch.log_softmax(z / T, -1), direction, beta
    )
    d = _call(z, zt, temperature=T, direction=direction, beta=beta)
    tol = dict(rtol=1e-12, atol=1e-13) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(d, ref_d, equal_nan=True, **tol)
    # atol relative to each row's scale max(1, |D_i|, max_c |G_ic|), as in the interpreter cases
    fin = torch.where(torch.isfinite(ref_g), ref_g.abs(), torch.zeros_like(ref_g)).amax(-1)
    scale = torch.maximum(fin, torch.nan_to_num(ref_d, posinf=0.0).abs()).clamp(min=1.0)[:, None]
    torch.testing.assert_close(z / scale, ref_g / scale, equal_nan=True, **tol)
