"""Class indices from a label column (integers, floats, text or class names), with the masks
of missing and invalid labels."""

from __future__ import annotations

import numpy as np

from ._arrow import _to_numpy
from ._columns import Layout, Schema
from ._table import SchemaError


def _parse_labels(col, layout: Layout, schema: Schema, path: str, offset: int):
    """Class indices (int64) from a label column, with missing/bad-row masks."""
    name = layout.target[0]
    na = set(schema.na_values)
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover
        pa = None
    if pa is not None and isinstance(col, (pa.Array, pa.ChunkedArray)):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            # Parquet/Arrow numeric label column: nulls are missing labels.
            if col.null_count == 0:
                return _numeric_labels(_to_numpy(col), None, name, path, offset)
            miss = col.is_null().to_numpy(zero_copy_only=False)
            values = col.fill_null(0).to_numpy(zero_copy_only=False)
            return _numeric_labels(values, miss, name, path, offset)
        text = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        if col.null_count:
            miss = col.is_null().to_numpy(zero_copy_only=False)
        else:
            miss = np.zeros(len(text), dtype=bool)
        return _text_labels(text, miss, na, schema, name, path, offset)
    arr = np.asarray(col)
    if arr.dtype.kind in "US":
        text = arr.astype(object)
        return _text_labels(text, np.zeros(len(text), dtype=bool), na, schema, name, path, offset)
    return _numeric_labels(arr, None, name, path, offset)


def _numeric_labels(values: np.ndarray, missing, name, path, offset):
    if values.dtype.kind == "b":
        raise SchemaError(f"{path}: target column {name!r} is boolean; write integer class indices")
    if values.dtype.kind in "iu":
        if (
            values.dtype.kind == "u"
            and values.dtype.itemsize == 8
            and values.size
            and values.max() > np.iinfo(np.int64).max
        ):
            bad = values > np.iinfo(np.int64).max
            return np.zeros(len(values), np.int64), missing, bad, [int(v) for v in values[bad][:3]]
        return values.astype(np.int64, copy=False), missing, None, []
    if values.dtype.kind == "f":
        nan = np.isnan(values)
        if nan.any():
            missing = nan if missing is None else (missing | nan)
        finite = np.isfinite(values)
        integral = np.zeros(len(values), dtype=bool)
        integral[finite] = values[finite] == np.floor(values[finite])
        integral &= np.abs(values) < 2.0**62
        bad = ~integral & ~nan
        out = np.where(integral, values, 0).astype(np.int64)
        if bad.any():
            return out, missing, bad, [float(v) for v in values[bad][:3]]
        return out, missing, None, []
    raise SchemaError(
        f"{path}: target column {name!r} has dtype {values.dtype}; need class indices"
    )


def _text_labels(text, missing, na, schema: Schema, name, path, offset):
    n = len(text)
    out = np.zeros(n, dtype=np.int64)
    bad = np.zeros(n, dtype=bool)
    missing = missing.copy()
    if na:
        missing |= np.fromiter((t in na for t in text), dtype=bool, count=n)
    if schema.classes is not None:
        lookup = {c: i for i, c in enumerate(schema.classes)}
        for i, t in enumerate(text):
            if missing[i]:
                continue
            j = lookup.get(t)
            if j is None:
                j = _as_int(t)
                if j is None:
                    bad[i] = True
                    continue
            out[i] = j
    else:
        for i, t in enumerate(text):
            if missing[i]:
                continue
            j = _as_int(t)
            if j is None:
                bad[i] = True
            else:
                out[i] = j
    values = [text[i] for i in np.flatnonzero(bad)[:3]]
    return out, (missing if missing.any() else None), (bad if bad.any() else None), values


def _as_int(t) -> int | None:
    if t is None:
        return None
    s = str(t).strip()
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        f = float(s)
    except ValueError:
        return None
    if np.isfinite(f) and f == int(f) and abs(f) < 2.0**62:
        return int(f)
    return None
