"""The bundled example: provenance checks, the fit really used the library's gradient,
and the held-out numbers agree with independent oracles."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import crossentropy as ce
from crossentropy.examples import example_path, load_example


def test_contents_and_size():
    ex = load_example()
    assert os.path.getsize(example_path()) < 1_000_000
    with np.load(example_path(), allow_pickle=False) as z:  # nothing pickled
        assert all(z[k].dtype != object for k in z.files)
    assert ex.logits.shape == (539, 10) and ex.logits.dtype == np.float64
    assert ex.target.dtype == np.int64 and np.array_equal(ex.target, ex.y_test)
    assert ex.X_train.shape == (1258, 64) and ex.y_train.shape == (1258,)
    for X in (ex.X_train, ex.X_test):
        assert X.min() >= 0 and X.max() <= 1 and np.array_equal(X * 16, np.round(X * 16))
    np.testing.assert_allclose(ex.X_test @ ex.W + ex.b, ex.logits, rtol=1e-12, atol=1e-12)
    assert ex.class_names == tuple(str(i) for i in range(10))
    assert ex.metadata["licence"] == "CC BY 4.0"


def test_split_is_the_scripts_and_matches_sklearn_data():
    from sklearn.datasets import load_digits

    from crossentropy.examples.make_digits import split

    d = load_digits()
    tr, te = split(d.target)
    ex = load_example()
    assert np.array_equal(d.data[tr] / 16.0, ex.X_train) and np.array_equal(d.target[te], ex.target)
    assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == 1797


def test_fit_is_a_stationary_point_of_the_library_objective():
    torch = pytest.importorskip("torch")
    from crossentropy.examples.make_digits import L2

    ex = load_example()
    Z = ex.X_train @ ex.W + ex.b
    G = np.asarray(ce.cross_entropy_grad(Z, ex.y_train))
    gW = ex.X_train.T @ G + L2 * ex.W
    gb = G.sum(0)
    # the library's closed-form gradient equals autograd through PyTorch's cross-entropy
    W = torch.tensor(ex.W, requires_grad=True)
    b = torch.tensor(ex.b, requires_grad=True)
    loss = (
        torch.nn.functional.cross_entropy(
            torch.tensor(ex.X_train) @ W + b, torch.tensor(ex.y_train)
        )
        + 0.5 * L2 * (W * W).sum()
    )
    loss.backward()
    np.testing.assert_allclose(gW, W.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    # and it vanishes at the shipped weights (L-BFGS converged)
    assert np.max(np.abs(gW)) < 1e-5 and np.max(np.abs(gb)) < 1e-5


def test_held_out_numbers_vs_sklearn():
    from sklearn.metrics import log_loss

    ex = load_example()
    z = ex.logits - ex.logits.max(1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    ours = float(ce.cross_entropy(ex.logits, ex.target))
    assert ours == pytest.approx(log_loss(ex.target, p, labels=np.arange(10)), rel=1e-12)
    assert 0.1 < ours < 0.3 and np.mean(p.argmax(1) == ex.target) > 0.9


def test_script_not_imported_with_the_package():
    code = (
        "import sys, crossentropy, crossentropy.examples, crossentropy.cli; "
        "assert 'crossentropy.examples.make_digits' not in sys.modules; "
        "assert 'sklearn' not in sys.modules and 'scipy.optimize' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_script_reproduces_the_file(tmp_path):
    from crossentropy.examples.make_digits import make

    out = make(str(tmp_path / "d.npz"))
    with (
        np.load(out, allow_pickle=False) as new,
        np.load(example_path(), allow_pickle=False) as old,
    ):
        assert sorted(new.files) == sorted(old.files)
        for k in ("target", "X_train", "y_train", "X_test", "y_test", "class_names", "seed"):
            assert np.array_equal(new[k], old[k]), k
        # the same optimisation; the last bits may differ between BLAS builds
        np.testing.assert_allclose(new["logits"], old["logits"], rtol=1e-6, atol=1e-6)
