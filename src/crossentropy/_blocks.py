"""Row blocks: walk an array along its unit axis in slices, and cut the target and weight alike.

The *unit axis* is the first non-class axis of the prediction: it indexes examples
for ``(N, C)`` input and sequences for ``(B, T, V)``. :func:`row_blocks` yields
index tuples over it, so a pass over in-memory data holds one block at a time
(:func:`crossentropy.evaluate`, the temperature fit, calibration tables), and
:func:`slice_target` / :func:`slice_weight` apply the same index to the target
(with or without the class axis) and to the sample weight (without it).

>>> import numpy as np
>>> x = np.zeros((5, 3)); y = np.arange(5)
>>> [(a, b, slice_target(y, 2, -1, idx).tolist()) for a, b, idx in row_blocks(x, -1, 2)]
[(0, 2, [0, 1]), (2, 4, [2, 3]), (4, 5, [4])]
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["unit_axis", "row_blocks", "slice_target", "slice_weight"]

#: elements per block when ``block_rows`` is not given (about 32 MB of float64)
BLOCK_ELEMENTS = 1 << 22


def unit_axis(ndim: int, axis: int) -> int:
    """The axis that indexes independent units: the first non-class axis.

    >>> unit_axis(2, -1), unit_axis(3, 1), unit_axis(3, 0)
    (0, 0, 1)
    """
    axis = axis % ndim
    return 1 if axis == 0 else 0


def row_blocks(pred: Any, axis: int, block_rows: int | None) -> Iterator[tuple[int, int, tuple]]:
    """``(start, stop, index)`` blocks along the unit axis, ``index`` a tuple of slices for ``pred``.

    ``block_rows`` units per block (default: about ``BLOCK_ELEMENTS`` elements). A 1-d
    ``pred`` (one example) is one block; an empty unit axis gives one empty block.

    >>> [b[:2] for b in row_blocks(np.zeros((0, 3)), -1, None)]
    [(0, 0)]
    """
    ndim = len(pred.shape)
    if ndim < 2:
        yield 0, 1, (slice(None),)
        return
    ua = unit_axis(ndim, axis)
    n = int(pred.shape[ua])
    per_unit = max(1, math.prod(int(s) for i, s in enumerate(pred.shape) if i != ua))
    if block_rows is None:
        block_rows = max(1, BLOCK_ELEMENTS // per_unit)
    if n == 0:
        yield 0, 0, tuple(slice(0, 0) if i == ua else slice(None) for i in range(ndim))
        return
    for start in range(0, n, block_rows):
        stop = min(n, start + block_rows)
        yield (
            start,
            stop,
            tuple(slice(start, stop) if i == ua else slice(None) for i in range(ndim)),
        )


def slice_target(target: Any, pred_ndim: int, axis: int, index: tuple) -> Any:
    """The block of ``target`` for the prediction block ``pred[index]``.

    A distribution target has the prediction's shape and takes ``index`` as it is; an
    index target lacks the class axis ``axis``, so that axis's slice is dropped.
    """
    if len(target.shape) == pred_ndim:
        return target[index]
    a = axis % pred_ndim
    return target[tuple(s for i, s in enumerate(index) if i != a)]


def slice_weight(sample_weight: Any, pred_ndim: int, axis: int, index: tuple) -> Any:
    """The block of ``sample_weight`` (the prediction's shape without the class axis), or None."""
    if sample_weight is None:
        return None
    if not hasattr(sample_weight, "shape"):
        sample_weight = np.asarray(sample_weight)
    a = axis % pred_ndim
    return sample_weight[tuple(s for i, s in enumerate(index) if i != a)]
