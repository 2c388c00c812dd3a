"""Which implementation computes a call: the one dispatch rule of the chain, gradients and Accumulator.

``impl="auto"`` sends NumPy float32/float64 logits of at least ``KERNEL_MIN_ELEMENTS``
elements to the fused kernel when numba is installed, other NumPy logits to the
row-blocked NumPy path, and everything else (other libraries, probabilities,
log-probabilities, empty batches) to the generic array-API path.

>>> import numpy as np
>>> choose_path("auto", xp=np, kind="probs", dtype=np.float64, size=10)
'array_api'
>>> choose_path("auto", xp=np, kind="logits", dtype=np.float64, size=10)
'blocked'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _validate as v
from ._array import is_numpy
from ._options import IMPLS

#: ``impl="auto"`` sends NumPy logits of at least this many elements to the fused kernel.
#: Below it the row-blocked NumPy path is as fast (thread start-up and the one-off load
#: of the compiled kernels, ~3 s, dominate small inputs).
KERNEL_MIN_ELEMENTS = 1 << 18


def choose_path(impl: str, *, xp: Any, kind: str, dtype: Any, size: int) -> str:
    """``"kernel"``, ``"blocked"`` or ``"array_api"`` for ``size`` prediction elements."""
    v.check_option("impl", impl, IMPLS)
    if impl == "array_api":
        return "array_api"
    eligible = is_numpy(xp) and kind == "logits" and dtype in (np.float32, np.float64)
    from . import kernels

    if impl in ("kernel", "blocked") and not eligible:
        msg = (
            f"impl={impl!r} runs on NumPy float32/float64 logits only; got "
            f"{xp.__name__} arrays of dtype {dtype} with kind={kind!r}. Use impl='auto'"
        )
        raise ValueError(msg)
    if impl == "kernel":
        if not kernels.available():
            msg = "impl='kernel' needs numba: install the `fast` extra (pip install 'crossentropy[fast]')"
            raise ImportError(msg)
        return "kernel"
    if impl == "blocked":
        return "blocked"
    if not eligible or size == 0:
        return "array_api"
    return "kernel" if size >= KERNEL_MIN_ELEMENTS and kernels.available() else "blocked"
