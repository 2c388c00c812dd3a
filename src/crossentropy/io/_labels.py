"""Class indices from a label column (integers, floats, text or class names), with the masks
of missing labels and of invalid ones, by reason.

The rule, one for every format:

* A numeric column (Parquet, Arrow, NPY, NPZ integers or floats) holds class indices;
  ``--classes NAMES`` then only names them in the report. Integers are range-checked in
  their own width before any cast (a ``uint64`` above 2⁶³ − 1 is out of range, never wrapped
  onto ``ignore_index``); floats must be finite whole numbers (never truncated); NaN is a
  missing label.
* A text column (every CSV label column, Arrow/Parquet strings) holds class indices written
  with the ASCII digits ``0-9`` (an optional sign, and an optional zero fraction as in
  ``"3.0"``): ``"1_0"``, ``"١"`` (Arabic-Indic digits), ``"1e1"`` and ``" "`` are not indices.
  With ``--classes NAMES`` it holds the names instead, matched exactly, and nothing else:
  ``"2"`` is not class 2 then, so names and indices never mix. Text in ``na_values`` is a
  missing label.
* An index outside the 64-bit integers is out of range; the range ``[0, C)`` itself is
  checked by the row filter.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

import numpy as np

from ._arrow import _to_numpy
from ._columns import Layout, Schema
from ._table import SchemaError

_INDEX = re.compile(r"[+-]?[0-9]+(?:\.0*)?")  # ASCII digits only: no "1_0", no "١"
_LO, _HI = -(2**63), 2**63  # int64: [_LO, _HI)
_SHOWN = 3  # offending values quoted per reason


@dataclass
class Labels:
    """A label column parsed: ``target`` int64 class indices (0 where invalid or missing),
    ``missing`` (bool or None), ``problems`` (reason → bool mask of invalid labels; each
    reason quotes its first values)."""

    target: np.ndarray
    missing: np.ndarray | None = None
    problems: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def bad(self) -> np.ndarray | None:
        if not self.problems:
            return None
        return np.logical_or.reduce(list(self.problems.values()))


def _quote(values) -> str:
    return ", ".join(repr(v) for v in values)


def _reason(kind: str, values: list, num_classes: int) -> str:
    found = _quote(values)
    if kind == "range":
        span = f" [0, {num_classes})" if num_classes > 0 else ""
        return f"label out of range{span} (found {found}, beyond the 64-bit integers)"
    if kind == "fraction":
        return f"label is not a whole number (found {found}; labels are never truncated)"
    if kind == "name":
        return (
            f"label is not one of the --classes names (found {found}; with --classes NAMES "
            "every text label must be one of the names, spelled exactly: names and class "
            "indices never mix; pass --classes N to read class indices, or --na-values to mark "
            "missing labels)"
        )
    return (
        f"label is not a class index (found {found}; a class index is an integer written "
        "with the digits 0-9, like 3 or -100; pass --classes NAMES for named classes, or "
        "--na-values to mark missing labels)"
    )


def _labels(target, missing, kinds: dict[str, np.ndarray], values: dict[str, list], c: int):
    problems = {_reason(k, values[k], c): m for k, m in kinds.items() if m.any()}
    return Labels(target, missing if missing is not None and missing.any() else None, problems)


def parse_labels(col, layout: Layout, schema: Schema, path: str) -> Labels:
    """The class indices of one batch of the label column ``col`` (see the module docstring).

    >>> from crossentropy.io._columns import Layout, Schema
    >>> lay = Layout(("y",), ("p",), None, 3, False, "text")
    >>> lab = parse_labels(np.array(["2", "1_0", "+1", "3.0"]), lay, Schema(), "f.csv")
    >>> lab.target.tolist(), [m.tolist() for m in lab.problems.values()]
    ([2, 0, 1, 3], [[False, True, False, False]])
    """
    name = layout.target[0]
    pa = sys.modules.get("pyarrow")  # an Arrow column exists only once pyarrow is imported
    if pa is not None and isinstance(col, (pa.Array, pa.ChunkedArray)):
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        miss = col.is_null().to_numpy(zero_copy_only=False) if col.null_count else None
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            # Parquet/Arrow numeric label column: nulls are missing labels.
            values = _to_numpy(col) if miss is None else col.fill_null(0).to_numpy()
            return _numeric_labels(values, miss, name, path, layout.num_classes)
        text = col.to_numpy(zero_copy_only=False)
        return _text_labels(text, miss, schema, layout.num_classes)
    arr = np.asarray(col)
    if arr.dtype.kind == "U":
        return _text_labels(arr.astype(object), None, schema, layout.num_classes)
    if arr.dtype.kind == "S":
        text = np.array([b.decode("utf-8", "replace") for b in arr.tolist()], dtype=object)
        return _text_labels(text, None, schema, layout.num_classes)
    return _numeric_labels(arr, None, name, path, layout.num_classes)


def _numeric_labels(values: np.ndarray, missing, name, path, c: int) -> Labels:
    if values.dtype.kind == "b":
        raise SchemaError(f"{path}: target column {name!r} is boolean; write integer class indices")
    if values.dtype.kind in "iu":
        if values.dtype.kind == "u" and values.dtype.itemsize == 8:  # checked before the cast
            big = values > np.uint64(_HI - 1)
            if big.any():
                out = np.where(big, 0, values).astype(np.int64)
                shown = [int(v) for v in values[big][:_SHOWN]]
                return _labels(out, missing, {"range": big}, {"range": shown}, c)
        return _labels(values.astype(np.int64, copy=False), missing, {}, {}, c)
    if values.dtype.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            v = values.astype(np.float64)  # exact for float16/float32: no warning, no rounding
        nan = np.isnan(v)
        if nan.any():
            missing = nan if missing is None else (missing | nan)
        finite = np.isfinite(v)
        whole = np.zeros(len(v), dtype=bool)
        whole[finite] = v[finite] == np.floor(v[finite])
        in_range = whole & (v >= float(_LO)) & (v < float(_HI))
        kinds = {"range": whole & ~in_range, "fraction": ~whole & ~nan}
        quoted = {k: [float(x) for x in values[m][:_SHOWN]] for k, m in kinds.items()}
        out = np.where(in_range, v, 0).astype(np.int64)
        return _labels(out, missing, kinds, quoted, c)
    raise SchemaError(
        f"{path}: target column {name!r} has dtype {values.dtype}; need class indices"
    )


def _text_labels(text, missing, schema: Schema, c: int) -> Labels:
    n = len(text)
    out = np.zeros(n, dtype=np.int64)
    missing = np.zeros(n, dtype=bool) if missing is None else missing.copy()
    na = set(schema.na_values)
    names = None if schema.classes is None else {s: i for i, s in enumerate(schema.classes)}
    kind_of = "name" if names is not None else "index"
    kinds = {kind_of: np.zeros(n, dtype=bool), "range": np.zeros(n, dtype=bool)}
    shown: dict[str, list] = {kind_of: [], "range": []}
    memo: dict = {}
    for i, t in enumerate(text):
        if missing[i]:
            continue
        if t in na:
            missing[i] = True
            continue
        r = memo.get(t)
        if r is None:
            r = memo[t] = _one_label(t, names)
        if isinstance(r, int):
            out[i] = r
            continue
        kinds[r][i] = True
        if len(shown[r]) < _SHOWN:
            shown[r].append(t)
    return _labels(out, missing, kinds, shown, c)


def _one_label(t, names: dict[str, int] | None) -> int | str:
    """The class index of one text label, or the kind of problem (``"name"``, ``"index"``,
    ``"range"``)."""
    if t is None:
        return "name" if names is not None else "index"
    if names is not None:
        j = names.get(t)
        if j is None:
            j = names.get(t.strip(" \t"))
        return "name" if j is None else j
    s = t.strip(" \t")
    if not _INDEX.fullmatch(s):
        return "index"
    digits = s.lstrip("+-").split(".")[0].lstrip("0")
    if len(digits) > 19:  # beyond int64, and before int() meets its limit on long texts
        return "range"
    j = int(s.split(".")[0])
    return j if _LO <= j < _HI else "range"
