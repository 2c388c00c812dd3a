"""The table protocol every file format implements, its column record, the input errors
(:class:`InputError` and its subclasses) and how a message names rows."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class InputError(Exception):
    """A problem with the input files."""


class SchemaError(InputError):
    """Missing, extra or mistyped columns, or files whose schemas differ."""


class DataError(InputError):
    """Values that fail validation: bad labels, out-of-range probabilities."""


class FileError(InputError):
    """Unreadable, empty, truncated or corrupt files."""


def format_rows(rows: np.ndarray, offset: int = 0, limit: int = 5) -> str:
    """Say which rows: ``"rows 3, 17 and 2 more"`` (positions + ``offset``).

    >>> format_rows(np.array([3, 17, 20]), limit=2)
    'rows 3, 17 and 1 more'
    >>> format_rows(np.array([4]), offset=10)
    'row 14'
    """
    rows = np.asarray(rows)
    shown = ", ".join(str(int(r) + offset) for r in rows[:limit])
    more = len(rows) - limit
    word = "row" if len(rows) == 1 else "rows"
    return f"{word} {shown}" + (f" and {more} more" if more > 0 else "")


def _short(e: BaseException, limit: int = 160) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s if len(s) <= limit else s[: limit - 1] + "…"


@dataclass(frozen=True)
class Column:
    name: str
    width: int | None  # None: a scalar column; K: a vector (list/tensor) column of width K
    dtype: str  # "int", "float", "string", "bool", "other"


class Table(abc.ABC):
    """A file seen as named columns, read in row slices (base class)."""

    path: str
    format: str
    columns: dict[str, Column]
    num_rows: int | None  # None when unknown before reading (CSV, Arrow stream)

    @abc.abstractmethod
    def batches(self, names: Sequence[str], batch_size: int, column_types: dict[str, str]):
        """Yield ``(offset, {name: array})``; vector columns are (n, K) arrays."""

    def describe(self) -> str:
        return ", ".join(
            c.name if c.width is None else f"{c.name}[{c.width}]" for c in self.columns.values()
        )


def num_rows(cols: dict) -> int:
    """Rows in a batch of columns (a dict of equal-length arrays; 0 for no columns)."""
    return len(next(iter(cols.values()))) if cols else 0


def concat_columns(parts: list[dict]) -> dict:
    """Batches of columns joined row-wise: NumPy arrays concatenated, Arrow arrays (CSV text
    labels) combined."""
    if len(parts) == 1:
        return parts[0]
    out = {}
    for k in parts[0]:
        vals = [p[k] for p in parts]
        if isinstance(vals[0], np.ndarray):
            out[k] = np.concatenate(vals)
        else:  # Arrow arrays (CSV label text)
            import pyarrow as pa

            out[k] = pa.concat_arrays(
                [v.combine_chunks() if isinstance(v, pa.ChunkedArray) else v for v in vals]
            )
    return out
