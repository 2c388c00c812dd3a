"""Tree reductions of partial results and computing them (with an optional progress bar)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import dask

_TREE_WIDTH = 8  # states merged per tree node


def _key(name: str) -> str:
    """A key prefix unique to this graph (a key reused across calls could be served from an earlier
    computation still held by the scheduler)."""
    import uuid

    return f"{name}-{uuid.uuid4().hex[:12]}"


def _tree(items: list, combine: Callable, name: str) -> Any:
    """Combine delayed ``items`` in order, ``_TREE_WIDTH`` at a time, up to one delayed value."""
    name = _key(name)
    level = 0
    while len(items) > 1:
        items = [
            dask.delayed(combine, pure=True)(
                *items[i : i + _TREE_WIDTH], dask_key_name=f"{name}-merge-{level}-{i}"
            )
            if len(items[i : i + _TREE_WIDTH]) > 1
            else items[i]
            for i in range(0, len(items), _TREE_WIDTH)
        ]
        level += 1
    return items[0]


def _merge_states(*states: Any) -> Any:
    acc = states[0]
    for s in states[1:]:
        acc = acc.merge(s)
    return acc


def _compute(obj: Any, progress: bool = False, client: Any = None) -> Any:
    """``obj`` computed on ``client`` (a ``distributed.Client``, passed explicitly, never made
    the default) or, when ``None``, on whatever scheduler the caller has active."""
    if progress:
        return _compute_with_progress(obj, client)
    return dask.compute(obj, scheduler=client)[0]


def _compute_with_progress(obj: Any, client: Any = None) -> Any:
    """Compute with Dask's own progress bar, drawn on stderr (stdout may carry JSON)."""
    client = client if client is not None else _current_client()
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr):
            return dask.compute(obj)[0]
    import contextlib

    from distributed import progress

    futures = client.compute(obj)  # one future, or a list of them for a list of delayed values
    with contextlib.redirect_stdout(sys.stderr):
        progress(futures, scheduler=client.scheduler.address)  # this client, not the default one
        print(file=sys.stderr)
    return client.gather(futures)


def _current_client() -> Any:
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return get_client()
    except ValueError:
        return None
