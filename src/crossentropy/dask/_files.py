"""The evaluation pipeline over many files on Dask: :class:`DaskEngine` and :func:`evaluate_files`.

The pipeline (:mod:`crossentropy.pipeline`) does the reading, validation, counting and the
temperature passes; this engine runs each pass as one task per file (the file's first global
row passed along, so bootstrap intervals equal the single-process ones) and merges the
partial results in a tree, in file order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import dask
import numpy as np

from .. import io
from .. import pipeline as pl
from ..io import expand_paths  # globs and folders: every engine's one rule
from ..report import Report
from ._cluster import client_for, close_client
from ._tree import _compute, _key, _tree


def _count_rows(options: pl.EvaluateOptions, schema: io.Schema, path: str) -> int:
    """Rows of a file without row metadata (0 when unreadable: the real pass reports it)."""
    try:
        batches = io.read_batches(
            [path], schema, batch_size=options.batch_size, input_format=options.input_format
        )
        return sum(len(b) for b in batches)
    except io.InputError:
        return 0


def _first_batch(options: pl.EvaluateOptions, schema: io.Schema, path: str) -> io.Batch | None:
    batches = io.read_batches(
        [path], schema, batch_size=options.batch_size, input_format=options.input_format
    )
    return next(iter(batches), None)


class DaskEngine:
    """A :class:`crossentropy.pipeline.Engine` running one task per file on ``client`` (a
    ``distributed.Client``, passed to every compute; see :meth:`connect`) or, when ``None``,
    on the caller's active Dask scheduler (the threaded default, or their client). It never
    changes Dask's global scheduler."""

    def __init__(self, client: Any = None) -> None:
        self.client = client
        self.files: list[str] = []
        self.bases: list[int] = []
        self.stop_error: io.InputError | None = None
        self.progress = False

    @classmethod
    @contextlib.contextmanager
    def connect(
        cls,
        scheduler: str | None = None,
        workers: int | None = None,
        *,
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """The engine on a client of ``scheduler`` or of a new local cluster of ``workers``
        (:func:`client_for`: ``ValueError`` for a bad address, ``OSError`` when the scheduler
        does not answer within ``timeout`` seconds), closed on exit. The client is passed to
        each compute, never made the default: Dask's global scheduler is left as it was."""
        client = client_for(scheduler, workers, timeout=timeout)
        try:
            yield cls(client)
        finally:
            close_client(client, cluster=not scheduler)

    def prepare(self, options: pl.EvaluateOptions, source: pl.Source, say: pl.Say | None) -> None:
        """Open every file (metadata only), check that they share one layout, decide the kind
        on the first batch as the streaming pipeline does, and find each file's first global
        row. Files from the first that fails on are not evaluated; its error is raised unless
        an earlier file fails first."""
        files, schema = list(source.files), source.schema
        first: tuple[str, io.Layout] | None = None
        stop = len(files)
        rows: list[int | None] = []
        for k, path in enumerate(files):
            try:
                table = io.pair(
                    io.open_table(
                        path, input_format=options.input_format, na_values=schema.na_values
                    ),
                    schema.target_file,
                )
                lay = io.resolve(table, schema)
                if first is None:
                    pl.check_classes(source.num_classes, path, lay)
                    first = (path, lay)
                else:
                    io.check_same_columns(*first, path, lay)
            except io.InputError as e:
                stop, self.stop_error = k, e
                break
            rows.append(table.num_rows)
        source.layout = None if first is None else first[1]
        if options.kind != "auto":
            pl.decide_kind(options, source, np.empty((0, 0)), "", None)
        for path in files[:stop]:  # the first batch decides the kind and the number of classes
            try:
                batch = _first_batch(options, schema, path)
            except io.InputError:
                break  # the task reading this file reports it in order
            if batch is None:
                continue
            if source.num_classes is None:
                source.num_classes = batch.pred.shape[1]
            where = f"{batch.path} rows {batch.offset}–{batch.offset + len(batch) - 1}"
            try:  # the task, then the kind (for that task), as the streaming pipeline decides
                pl.decide_first(options, source, batch, where, say)
            except io.InputError as e:
                stop, self.stop_error = files.index(path), e
            break
        self.files, self.progress = files[:stop], options.progress
        self.bases = [0] * stop
        if options.bootstrap > 0:  # bootstrap replicates key on the global row index
            unknown = [k for k in range(stop) if rows[k] is None]
            if unknown:
                ds = [dask.delayed(_count_rows)(options, schema, files[k]) for k in unknown]
                for k, n in zip(unknown, _compute(ds, self.progress, self.client), strict=True):
                    rows[k] = n
            self.bases = np.cumsum([0] + [int(n or 0) for n in rows[:stop]])[:stop].tolist()

    def map_files(
        self, fn: Callable[[pl.Part], pl.PassResult], merge: Callable[..., pl.PassResult]
    ) -> pl.PassResult:
        prefix = _key("crossentropy-file")
        ds = [
            dask.delayed(fn, pure=True)(pl.Part([path], base), dask_key_name=f"{prefix}-{k}")
            for k, (path, base) in enumerate(zip(self.files, self.bases, strict=True))
        ]
        if not ds:
            res = merge()
        else:
            res = _compute(_tree(ds, merge, "crossentropy-files"), self.progress, self.client)
        if res.error is None and self.stop_error is not None:
            res.error = self.stop_error
        return res


def evaluate_files(
    paths_or_glob: Any,
    *,
    target: str | None = None,
    pred: str | None = None,
    weight: str | None = None,
    classes: Any = None,
    na_values: Sequence[str] = (),
    num_classes: int | None = None,
    progress: bool = False,
    client: Any = None,
    **options: Any,
) -> Report:
    r"""The :class:`~crossentropy.Report` of many prediction files, one Dask task per file.

    Exactly what ``crossentropy evaluate FILES`` computes (same column resolution,
    validation, kind decision on the first batch, warnings and errors; see
    :mod:`crossentropy.pipeline`), with the files read on the workers and the per-file
    :class:`~crossentropy.Accumulator` states merged in a tree. ``paths_or_glob``: a
    glob (``"data/*.parquet"``), a directory, a path or a list of them. Schema:
    ``target``, ``pred``, ``weight`` (column names or globs), ``classes`` (names),
    ``na_values``. ``options``: the fields of :class:`crossentropy.pipeline.EvaluateOptions`
    (the command line's, same defaults): ``kind``, ``task`` (multiclass, binary, multilabel or
    auto: decided on the first batch, docs/semantics.md §10.1), ``ignore_index``,
    ``missing_labels``, ``on_invalid``, ``input_format``, ``bins``, ``temperature``,
    ``apply_temperature``, ``bootstrap``, ``seed``, ``base``, ``batch_size``. ``client``: the
    ``distributed.Client`` that runs the tasks (e.g. from :func:`client_for`); ``None``: the
    caller's active Dask scheduler. Dask's global scheduler is never changed. Errors are the
    :class:`crossentropy.io.InputError` the
    single-process command stops at first, naming the file and rows. Bootstrap intervals
    key on the global row index (files in order), so they equal the single-process ones.

    Examples
    --------
    >>> import os, tempfile, numpy as np
    >>> d = tempfile.mkdtemp()
    >>> rng = np.random.default_rng(0)
    >>> for k in range(3):
    ...     np.savez(os.path.join(d, f"part{k}.npz"), logits=rng.normal(size=(40 + k, 4)),
    ...              target=rng.integers(0, 4, 40 + k))
    >>> r = evaluate_files(os.path.join(d, "*.npz"), kind="logits")
    >>> r.n_rows
    123
    """
    known = [f.name for f in dataclasses.fields(pl.EvaluateOptions)]
    unknown = sorted(set(options) - set(known))
    if unknown:
        msg = (
            f"unknown option(s) {unknown} for evaluate_files; known: {sorted(known)} "
            "and the schema target, pred, weight, classes, na_values"
        )
        raise TypeError(msg)
    opts = pl.EvaluateOptions(progress=progress, **options)
    files = expand_paths(paths_or_glob)
    if not files:
        raise io.FileError("no input files")
    names = None if classes is None else tuple(classes)
    schema = io.Schema(
        target=target, pred=pred, weight=weight, classes=names, na_values=tuple(na_values)
    )
    if names is not None and num_classes is None:
        num_classes = len(names)
    source = pl.Source(files, schema, num_classes=num_classes)
    res = pl.run(opts, source, DaskEngine(client))
    from .._validate import CrossEntropyWarning

    for msg, where in res.warnings.items():
        warnings.warn(f"{msg} (first at {where})", CrossEntropyWarning, stacklevel=2)
    return res.report
