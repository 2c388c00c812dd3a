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

import functools
import sys
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
    "device",
    "host_copy",
    "describe",
    "values_available",
    "is_jax_array",
    "index_dtype",
    "take_rows",
]


def namespace(*arrays: Array) -> Any:
    """The array-API namespace shared by ``arrays`` (``None`` entries and Python scalars skipped)."""
    if len(arrays) == 1 and type(arrays[0]) is np.ndarray:  # the common case, without a lookup
        return _numpy_namespace()
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


@functools.cache
def _numpy_namespace() -> Any:
    return array_api_compat.array_namespace(np.asarray(0.0))


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


# The namespace and device tests below read names and attributes instead of calling
# array_api_compat's helpers, which sit behind functools caches that torch.compile cannot
# trace (Dynamo warns at every call and ignores the cache).


def is_numpy(xp: Any) -> bool:
    return getattr(xp, "__name__", None) in ("numpy", "array_api_compat.numpy")


def is_torch(xp: Any) -> bool:
    return getattr(xp, "__name__", None) in ("torch", "array_api_compat.torch")


def device(x: Array) -> Any:
    """The device ``x`` lives on (``array_api_compat.device``; a torch tensor's own ``.device``)."""
    if type(x).__module__.split(".")[0] == "torch":
        return x.device
    return array_api_compat.device(x)


def scalar_result(xp: Any, out: Array) -> Array:
    """A reduced (0-d) NumPy result as a NumPy scalar, as ``np.sum`` and ``np.mean`` give it.

    The one rule for every public reduction, so ``cross_entropy`` and ``nll`` return the same
    type (``np.float64`` for float64 input); other namespaces keep their 0-d arrays.

    >>> import numpy as np
    >>> type(scalar_result(np, np.asarray(1.5))).__name__
    'float64'
    """
    if isinstance(out, np.ndarray) and out.ndim == 0 and is_numpy(xp):
        return out[()]
    return out


def _is_low_precision(xp: Any, dtype: Any) -> bool:
    names = {"float16", "bfloat16"}
    return any(getattr(xp, n, None) is not None and dtype == getattr(xp, n) for n in names) or str(
        dtype
    ).endswith(("float16", "bfloat16"))


def compute_dtype(xp: Any, pred: Array, *, name: str = "pred") -> Any:
    """The dtype the computation runs in: max(float32, pred.dtype); raises for non-floating ``pred``."""
    dtype = pred.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f" and dtype.itemsize >= 4:
        return dtype  # float32/float64 (and wider) NumPy dtypes: the common case, no lookups
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
        arr = xp.asarray(value, device=device(like))
    if dtype is not None and arr.dtype != dtype:
        arr = xp.astype(arr, dtype)
    return arr


def to_numpy(x: Array) -> np.ndarray:
    """A NumPy copy of ``x`` (used for error messages and host-side bookkeeping only).

    Device arrays are copied explicitly (torch ``.cpu()``, CuPy ``.get()``); bfloat16 tensors
    become float32 (NumPy has no bfloat16). An array whose values cannot reach the host (a
    torch ``meta`` tensor: a shape and dtype without values) raises a ``TypeError`` that says
    so, never the library's own copy error.
    """
    refuse_lossy(x)
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        if getattr(x, "is_meta", False):
            msg = f"{describe(x)} has no values to copy to the host; create it on a real device"
            raise TypeError(msg)
        t = x.detach().cpu()
        return (t.float() if str(t.dtype) == "torch.bfloat16" else t).numpy()
    if type(x).__module__.split(".")[0] == "cupy":
        return x.get()
    try:
        return np.asarray(x)
    except (TypeError, ValueError, RuntimeError):
        try:
            return np.from_dlpack(x)
        except Exception as exc:  # any library's refusal: say what the array is
            msg = f"{describe(x)} cannot be copied to the host ({type(exc).__name__}: {exc})"
            raise TypeError(msg) from exc


def host_copy(x: Array) -> np.ndarray | None:
    """:func:`to_numpy`, or ``None`` where the values cannot reach the host (for messages).

    >>> host_copy(np.arange(2))
    array([0, 1])
    """
    try:
        return to_numpy(x)
    except TypeError:
        return None


def describe(x: Array) -> str:
    """``x`` in words without reading its values: library, type, shape, dtype and device.

    >>> describe(np.zeros((2, 3), dtype=np.float32))
    'a numpy.ndarray of shape (2, 3), dtype float32, on cpu'
    """
    kind = type(x).__module__.split(".")[0] + "." + type(x).__name__
    shape = tuple(getattr(x, "shape", ()))
    where = getattr(x, "device", "cpu")
    return f"a {kind} of shape {shape}, dtype {getattr(x, 'dtype', '?')}, on {where}"


# Tracing and lazy arrays (docs/semantics.md §4, "Validation under tracing").


def is_jax_array(x: Any) -> bool:
    """Whether ``x`` is a JAX array or tracer (without importing JAX when the caller has not)."""
    return "jax" in sys.modules and type(x).__module__.split(".")[0] in ("jax", "jaxlib")


def values_available(*arrays: Any) -> bool:
    """Whether the values of ``arrays`` can be read on the host now, without a trace breaking.

    ``False`` for JAX tracers (inside ``jit``, ``vmap``, ``grad``), lazy Dask arrays and torch
    ``meta`` tensors (shapes without values):
    the one test that decides which checks a call runs (docs/semantics.md §4, "Validation
    under tracing"): shape and dtype checks always run, value checks only when this is true.
    ``None`` entries and Python numbers are available.

    >>> values_available(np.zeros(2), None, 0.5)
    True
    """
    for a in arrays:
        if a is None or type(a) is np.ndarray or isinstance(a, (int, float, bool, str, np.generic)):
            continue
        if type(a).__module__.split(".")[0] == "dask":
            return False
        jax = sys.modules.get("jax")
        if jax is not None and isinstance(a, jax.core.Tracer):
            return False
        if getattr(a, "is_meta", False) is True:  # a torch meta tensor: a shape without values
            return False
    return True


def index_dtype(xp: Any) -> Any:
    """The namespace's default integer dtype for indices (int64; int32 for JAX without x64).

    >>> index_dtype(namespace(np.zeros(1))) == np.int64
    True
    """
    info = getattr(xp, "__array_namespace_info__", None)
    if info is not None:
        return info().default_dtypes()["indexing"]
    return xp.int64


def take_rows(xp: Any, x: Array, index: Array) -> Array:
    """``x[i, index[i]]`` for an (N, C) ``x`` and (N,) ``index`` in ``[0, C)``, on any namespace.

    ``take_along_axis`` where the namespace has it; otherwise (Dask) the one-hot sum
    ``Σ_c [c = index_i] x_ic``, which reads each row once and stays lazy.

    >>> take_rows(namespace(np.zeros(1)), np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1, 0]))
    array([2., 3.])
    """
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, xp.reshape(index, (-1, 1)), axis=-1)[:, 0]
    ids = xp.arange(x.shape[-1], dtype=index.dtype, device=device(x))
    hit = ids[None, :] == index[:, None]
    return xp.sum(xp.where(hit, x, xp.zeros_like(x)), axis=-1)
