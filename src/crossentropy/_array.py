"""Array namespaces, dtype promotion and the accumulation policy.

Every public function works on any array that `array-api-compat` knows (NumPy,
PyTorch, array-api-strict, JAX, CuPy, Dask) and returns results in the
prediction's namespace and on its device. This module is the one place that
knows how to get the namespace, pick the compute dtype and move small arrays to
NumPy for error messages.

The compute dtype is the wider of float32 and the prediction's floating dtype
(docs/semantics.md §6):

>>> import numpy as np
>>> xp = namespace(np.zeros(2, dtype=np.float16))
>>> compute_dtype(xp, np.zeros(2, dtype=np.float16)) == np.float32
True
>>> compute_dtype(xp, np.zeros(2)) == np.float64
True
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

Array = Any  # any array-API array

__all__ = ["namespace", "compute_dtype", "to_numpy", "is_numpy", "is_torch", "asarray_like"]


def namespace(*arrays: Array) -> Any:
    """The array-API namespace shared by ``arrays`` (``None`` entries and Python scalars skipped)."""
    present = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool))]
    if not present:
        return array_api_compat.array_namespace(np.asarray(0.0))
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in present})
        msg = (
            f"all arrays must come from one array library, got {', '.join(kinds)}; "
            "convert them to the prediction's library first (e.g. torch.as_tensor or np.asarray)"
        )
        raise TypeError(msg) from exc


def is_numpy(xp: Any) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def is_torch(xp: Any) -> bool:
    return array_api_compat.is_torch_namespace(xp)


def _is_low_precision(xp: Any, dtype: Any) -> bool:
    names = {"float16", "bfloat16"}
    return any(getattr(xp, n, None) is not None and dtype == getattr(xp, n) for n in names) or str(
        dtype
    ).endswith(("float16", "bfloat16"))


def compute_dtype(xp: Any, pred: Array, *, name: str = "pred") -> Any:
    """The dtype the computation runs in: max(float32, pred.dtype); raises for non-floating ``pred``."""
    dtype = pred.dtype
    if xp.isdtype(dtype, "real floating"):
        if _is_low_precision(xp, dtype):
            return xp.float32
        return dtype
    if xp.isdtype(dtype, "complex floating"):
        msg = f"`{name}` must be real floating point, got complex dtype {dtype}"
        raise TypeError(msg)
    msg = (
        f"`{name}` must be a floating-point array of scores, got dtype {dtype}; "
        f"cast it first, e.g. `{name}.astype(float)`"
    )
    raise TypeError(msg)


def asarray_like(xp: Any, value: Any, like: Array, dtype: Any = None) -> Array:
    """``value`` (an array of any library, a list or a scalar) in ``xp`` on the device of ``like``."""
    if isinstance(value, (list, tuple, int, float)):
        value = np.asarray(value)
    if is_numpy(xp):
        arr = np.asarray(to_numpy(value))
    else:
        arr = xp.asarray(value, device=array_api_compat.device(like))
    if dtype is not None and arr.dtype != dtype:
        arr = xp.astype(arr, dtype)
    return arr


def to_numpy(x: Array) -> np.ndarray:
    """A NumPy copy of ``x`` (used for error messages and host-side bookkeeping only)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)
