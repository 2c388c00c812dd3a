"""``client_for`` and ``close_client``: a distributed client for a scheduler or a local cluster."""

from __future__ import annotations

import os
import warnings
from typing import Any

import dask


def client_for(
    scheduler: str | None = None,
    workers: int | None = None,
    *,
    quiet: bool = True,
    timeout: float | None = None,
) -> Any:
    """A ``distributed.Client``: to ``scheduler`` (an address such as ``tcp://host:8786``), or to a new
    ``LocalCluster`` of ``workers`` processes (default: one per CPU), one thread each (the fused
    CPU kernels too: ``NUMBA_NUM_THREADS=1``), no dashboard. ``quiet``: the workers log only
    critical messages (their errors reach the caller as the tasks' exceptions).

    The client is *not* made Dask's default scheduler (``set_as_default=False``): creating or
    closing it never changes ``dask.config``'s ``scheduler`` nor ``distributed``'s default client.
    Use it explicitly: ``evaluate_files(..., client=client)``, ``with client.as_current(): ...``
    or ``x.compute(scheduler=client)``.

    Raises ``ValueError`` for an address that is not one (an unknown scheme, no port) and
    ``OSError`` when the scheduler does not answer within ``timeout`` seconds (default:
    Dask's ``distributed.comm.timeouts.connect``). Close it with :func:`close_client`.
    """
    import logging

    from distributed import Client, LocalCluster

    if scheduler and workers:
        msg = "give either a scheduler address or a number of local workers, not both"
        raise ValueError(msg)
    if scheduler:
        connect = {} if timeout is None else {"timeout": timeout}
        return Client(scheduler, set_as_default=False, **connect)
    n = workers or (os.cpu_count() or 1)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        msg = f"`workers` must be a positive integer; got {workers!r}"
        raise ValueError(msg)
    # One core per worker: the CPU kernels' threads stay within it. Set in the worker process
    # (`nanny.environ`, before numba is imported there), never through `pre-spawn-environ`,
    # which the nanny writes into THIS process's os.environ: numba would then refuse to
    # compile here ("cannot set NUMBA_NUM_THREADS once the threads have been launched").
    environ = dict(dask.config.get("distributed.nanny.environ", {}))
    environ["NUMBA_NUM_THREADS"] = 1
    with (
        dask.config.set({"distributed.nanny.environ": environ}),
        warnings.catch_warnings(),
    ):
        # the scheduler's HTTP endpoints (health, not the dashboard) move off a busy port: not our news
        warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
        cluster = LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            # a worker still heartbeating while the scheduler closes logs an ERROR: not news
            silence_logs=logging.CRITICAL if quiet else logging.WARNING,
        )
    return Client(cluster, set_as_default=False)


def close_client(client: Any, *, cluster: bool = True) -> None:
    """Close ``client`` (and its local cluster when ``cluster``) without the shutdown chatter on stderr."""
    import logging

    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        c = client.cluster if cluster else None
        client.close()
        if c is not None:
            c.close()
    finally:
        for lg, lv in zip(loggers, levels, strict=True):
            lg.setLevel(lv)
