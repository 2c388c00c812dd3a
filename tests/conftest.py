"""Shared fixtures: array namespaces and the two implementations of the core."""

from __future__ import annotations

import numpy as np
import pytest


def _kernel_ready() -> bool:
    try:
        from crossentropy import kernels
    except ImportError:
        return False
    return hasattr(kernels, "softmax_terms") and kernels.available()


IMPLS = ["array_api", "blocked"] + (["kernel"] if _kernel_ready() else [])


@pytest.fixture(params=IMPLS)
def impl(request):
    """Every core test runs under both implementations (the fused kernel needs numba)."""
    return request.param


def _namespaces():
    out = [("numpy", lambda a: np.asarray(a))]
    import torch

    out.append(("torch", lambda a: torch.as_tensor(np.asarray(a))))
    import array_api_strict as xs

    out.append(("strict", lambda a: xs.asarray(np.asarray(a))))
    return out


@pytest.fixture(params=_namespaces(), ids=lambda p: p[0])
def backend(request):
    """(name, convert) for NumPy, PyTorch (CPU) and array-api-strict."""
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261128)


@pytest.fixture(autouse=True)
def _dask_scheduler_restored():
    """A ``distributed.Client`` makes itself dask's global scheduler until it is closed; a test
    whose local cluster shut down late must not decide how every later test computes (seen
    once: all of tests/test_dask.py then asked for a client that no longer existed)."""
    import dask

    before = dask.config.get("scheduler", None)
    yield
    if dask.config.get("scheduler", None) != before:
        dask.config.set(scheduler=before)
