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

__all__ = [
    "namespace",
    "compute_dtype",
    "to_numpy",
    "is_numpy",
    "is_torch",
    "asarray_like",
    "refuse_lossy",
]


def namespace(*arrays: Array) -> Any:
    """The array-API namespace shared by ``arrays`` (``None`` entries and Python scalars skipped)."""
    present = [a for a in arrays if a is not None and not isinstance(a, (int, float, bool))]
    for a in present:
        refuse_lossy(a)
    if not present:
        return array_api_compat.array_namespace(np.asarray(0.0))
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in present})
        what = (
            f"{kinds[0]} is not an array-API array"
            if len(kinds) == 1
            else f"all arrays must come from one array library, got {', '.join(kinds)}"
        )
        msg = (
            f"{what}; convert it to the prediction's library first "
            "(e.g. np.asarray, DataFrame.to_numpy() or torch.as_tensor)"
        )
        raise TypeError(msg) from exc


def refuse_lossy(x: Any, name: str | None = None) -> None:
    """Refuse array-likes whose meaning a plain array would silently lose (docs/semantics.md §2).

    A NumPy masked array's mask, ``np.matrix``'s matrix operators and the missing values of
    pandas' nullable arrays (``pd.NA``) have no counterpart here: converting them would
    compute on the hidden values. Masks are spelled ``ignore_index`` or ``sample_weight=0``.

    >>> refuse_lossy(np.ma.masked_array([1.0, 2.0], mask=[0, 1]), "target")
    Traceback (most recent call last):
    ...
    TypeError: `target` is a NumPy masked array: its mask would be silently dropped. Mark the examples to skip with `ignore_index` (class indices) or `sample_weight=0`, or pass `x.filled(value)` / `x.compressed()` explicitly
    """
    arg = "an argument" if name is None else f"`{name}`"
    if isinstance(x, np.ma.MaskedArray):
        msg = (
            f"{arg} is a NumPy masked array: its mask would be silently dropped. Mark the examples "
            "to skip with `ignore_index` (class indices) or `sample_weight=0`, or pass "
            "`x.filled(value)` / `x.compressed()` explicitly"
        )
        raise TypeError(msg)
    if isinstance(x, np.matrix):
        msg = f"{arg} is an np.matrix (always 2-d, `*` is a matrix product); pass np.asarray(x)"
        raise TypeError(msg)
    if type(x).__module__.startswith("pandas") and hasattr(x, "isna"):
        dtypes = getattr(x, "dtypes", None)
        dtypes = list(dtypes) if dtypes is not None and hasattr(dtypes, "__iter__") else [x.dtype]
        nullable = any(not isinstance(d, np.dtype) for d in dtypes)
        if nullable and bool(np.asarray(x.isna()).any()):
            msg = (
                f"{arg} holds missing values (pd.NA in a pandas nullable array); mark the examples "
                "to skip with `ignore_index` or `sample_weight=0`, or fill them first "
                "(`.to_numpy(dtype=..., na_value=...)`)"
            )
            raise TypeError(msg)


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


def asarray_like(
    xp: Any, value: Any, like: Array, dtype: Any = None, *, name: str | None = None
) -> Array:
    """``value`` (an array of any library, a list or a scalar) in ``xp`` on the device of ``like``.

    ``name`` (the argument's name) goes into the message when ``value`` is refused.
    """
    refuse_lossy(value, name)
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
    refuse_lossy(x)
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        return np.from_dlpack(x)
