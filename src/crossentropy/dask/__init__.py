r"""Dask adapters: the chain on dask arrays (lazy in, lazy out) and exact evaluation of many files.

Install with the ``dask`` extra (``pip install 'crossentropy[dask]'``). The core never
imports this module.

**Lazy losses.** :func:`cross_entropy`, :func:`nll`, :func:`log_likelihood`,
:func:`likelihood`, :func:`perplexity`, :func:`log_prob` and :func:`loss_terms` take
dask arrays (NumPy arrays are wrapped) and return dask arrays: the per-example
values for ``reduction="none"`` and a 0-d array otherwise; nothing is computed until
``.compute()``. Each block goes through the core (what :func:`crossentropy.chain.loss_terms`
runs), which gives the per-example ``ℓ_i`` and ``w_i`` of docs/semantics.md §4; the
reductions are

    sum  = Σ_blocks Σ_i ℓ_i                 mean = Σ_blocks Σ_i ℓ_i / Σ_blocks Σ_i w_i

summed in float64 (never a mean of block means, which is wrong for uneven blocks)
and returned in the compute dtype. The class axis is rechunked to a single chunk
(a row's softmax needs all its classes); every other axis keeps its chunks. Masked
rows stay in place (no data-dependent shapes). Validation runs per block when the
graph is computed, and its errors name the block and its rows; the double-softmax
warning therefore looks at one block at a time. ``kind="auto"`` would need a pass
over the data before the graph exists and raises: pass ``kind=`` explicitly.
The sums end in the core's one ``empty=`` policy at compute time: ``empty="raise"``
raises, and ``empty="nan"`` warns, with the core's wording. With ``validate=False`` an
out-of-range label gives NaN (its loss and weight), as in the core.

**Evaluation.** :func:`evaluate` runs an :class:`~crossentropy.Accumulator` on every
partition of the unit axis (the first non-class axis: examples, or sequences),
with ``row_offset`` = the partition's first unit, and merges the partial states
(:meth:`~crossentropy.Accumulator.merge`, ``_TREE_WIDTH`` at a time) in a tree. Between
tasks a state travels pickled — the same float64 sums as its
:meth:`~crossentropy.Accumulator.to_state` dictionary, without the conversion to Python
lists, which costs more than the update itself for small partitions. Every
number is a sum, so the :class:`~crossentropy.Report` equals the in-memory
:func:`crossentropy.evaluate` (to rounding, ≤ 1e-12 relative in float64) and the
bootstrap intervals are the same for the same seed whatever the chunks. A temperature
fit is a few more passes, one per Newton step (sums of
:func:`crossentropy.temperature.temperature_sums`). :func:`evaluate_files` does the
same over many files (one task per file, read in batches), with the command line's
validation, counts and error messages: ``crossentropy evaluate 'data/*.parquet'
--engine dask``.

Whatever scheduler is active runs the graphs: the threaded default, or a
``distributed.Client``. Partial results are pure functions of their partition, so a
task recomputed after a lost worker gives the same state: nothing is counted twice.

>>> import numpy as np, dask.array as da
>>> import crossentropy as ce, crossentropy.dask as ced
>>> rng = np.random.default_rng(0)
>>> x, y = rng.normal(size=(1000, 5)), rng.integers(0, 5, 1000)
>>> lazy = ced.cross_entropy(da.from_array(x, chunks=(300, 5)), da.from_array(y, chunks=300))
>>> lazy.shape, lazy.dtype
((), dtype('float64'))
>>> bool(np.isclose(lazy.compute(), ce.cross_entropy(x, y), rtol=1e-12))
True
"""

from __future__ import annotations

try:
    import dask  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    msg = "crossentropy.dask needs Dask: pip install 'crossentropy[dask]'"
    raise ImportError(msg) from exc

from ._arrays import evaluate
from ._cluster import client_for, close_client  # noqa: F401  (close_client: for callers of client_for)
from ._files import DaskEngine, evaluate_files, expand_paths  # noqa: F401  (the CLI's engine)
from ._lazy import (
    binary_cross_entropy,
    cross_entropy,
    likelihood,
    log_likelihood,
    log_prob,
    loss_terms,
    nll,
    perplexity,
)

__all__ = [
    "loss_terms",
    "log_prob",
    "binary_cross_entropy",
    "nll",
    "log_likelihood",
    "likelihood",
    "cross_entropy",
    "perplexity",
    "evaluate",
    "evaluate_files",
    "client_for",
]
