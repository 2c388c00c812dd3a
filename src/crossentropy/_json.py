"""JSON-safe values: non-finite floats as the strings ``"inf"``, ``"-inf"``, ``"nan"`` and back.

JSON has no infinity or NaN, so :func:`encode` writes them as strings (and makes
NumPy scalars, arrays, tuples and dataclasses plain Python values); :func:`decode`
turns those strings back into floats. The report (:meth:`crossentropy.Report.to_dict`)
and the accumulator state (:meth:`crossentropy.Accumulator.to_state`) both use them.

>>> v = encode({"a": (1.0, float("inf")), "b": None})
>>> v
{'a': [1.0, 'inf'], 'b': None}
>>> decode(v["a"])
[1.0, inf]
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

import numpy as np

__all__ = ["encode", "decode"]

_NON_FINITE = ("inf", "-inf", "nan")


def encode(x: Any) -> Any:
    """``x`` with floats made JSON-safe (non-finite → ``"inf"``/``"-inf"``/``"nan"``), tuples → lists.

    NumPy scalars become Python numbers, arrays nested lists, dataclasses dicts of
    their fields; strings, ``None`` and other values pass through.

    >>> encode(np.array([[0.5, -np.inf], [np.nan, 2.0]]))
    [[0.5, '-inf'], ['nan', 2.0]]
    """
    if x is None or isinstance(x, (bool, np.bool_, str)):
        return bool(x) if isinstance(x, np.bool_) else x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return f
    if isinstance(x, dict):
        return {str(k): encode(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return encode(x.tolist())
    if isinstance(x, (list, tuple)):
        return [encode(v) for v in x]
    if hasattr(x, "__dataclass_fields__"):
        return {f.name: encode(getattr(x, f.name)) for f in fields(x)}
    return x


def decode(x: Any) -> Any:
    """The inverse of :func:`encode` on numbers: ``"inf"``/``"-inf"``/``"nan"`` → float, in nested lists.

    >>> np.asarray(decode([["nan", 1.0], ["-inf", 0.0]]), dtype=float).tolist()
    [[nan, 1.0], [-inf, 0.0]]
    """
    if isinstance(x, list):
        return [decode(v) for v in x]
    if isinstance(x, str) and x in _NON_FINITE:
        return float(x)
    return x
