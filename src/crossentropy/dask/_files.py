"""``evaluate_files`` / ``run_files``: the evaluation pipeline over many files, one task per file."""

from __future__ import annotations

import argparse
import dataclasses
import glob as _glob
import math
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import dask
import numpy as np

from ._cluster import client_for, close_client
from ._tree import _compute, _key, _tree


def expand_paths(paths_or_glob: Any) -> list[str]:
    """Files from a glob, a directory, a path, or a list of them (globs in sorted order).

    >>> expand_paths([]) == []
    True
    """
    items = (
        [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    )
    out: list[str] = []
    for p in items:
        p = os.fspath(p)
        if any(ch in p for ch in "*?["):
            hits = sorted(_glob.glob(p))
            if not hits:
                from ..io import FileError

                raise FileError(f"{p}: no file matches this pattern")
            out.extend(hits)
        elif os.path.isdir(p):
            hits = sorted(
                os.path.join(p, f)
                for f in os.listdir(p)
                if f.endswith(
                    (".parquet", ".pq", ".arrow", ".feather", ".ipc", ".csv", ".npz", ".npy")
                )
            )
            out.extend(hits if hits else [p])  # an empty directory: io says "is a directory"
        else:
            out.append(p)
    return out


_CLI_DEFAULTS = dict(
    kind="auto",
    ignore_index=-100,
    missing_labels="error",
    on_invalid="error",
    input_format="auto",
    bins=15,
    temperature=False,
    bootstrap=0,
    seed=0,
    base="e",
    batch_size=65536,
    progress=False,
)


def _namespace(**options: Any) -> argparse.Namespace:
    unknown = set(options) - set(_CLI_DEFAULTS)
    if unknown:
        msg = (
            f"unknown option(s) {sorted(unknown)} for evaluate_files; known: "
            f"{sorted(_CLI_DEFAULTS)} and the schema target, pred, weight, classes, na_values"
        )
        raise TypeError(msg)
    d = {**_CLI_DEFAULTS, **options}
    d["base"] = "2" if str(d["base"]) == "2" else "e"
    return argparse.Namespace(**d)


def _file_task(
    args: argparse.Namespace, schema: Any, path: str, base: int, spec: dict, mode: str, param: float
) -> dict:
    """One file through the command line's stream (validation, counts, warnings).

    ``mode``: ``"eval"`` (Accumulator state), ``"tsum"`` (temperature sums at ``t=param``),
    ``"scaled"`` (Accumulator state of the logits divided by ``T=param``), ``"count"`` (rows).
    Input errors are returned, not raised, so that the caller can report the first one in
    file order — the one the single-process command would have stopped at."""
    from .. import cli
    from .. import io as _io

    src = cli._Source(
        [path],
        False,
        schema,
        kind=spec["kind"],
        kind_reason=spec["kind_reason"],
        num_classes=spec["num_classes"],
    )
    counts = cli._Counts()
    sink = cli._WarningSink()
    out: dict[str, Any] = {"path": path}
    try:
        if mode == "count":
            n = 0
            for b in _io.read_batches(
                [path], schema, batch_size=args.batch_size, input_format=args.input_format
            ):
                n += len(b)
            out["rows"] = n
            return out
        if mode == "eval":
            acc = cli._accumulator(args, src, src.kind)

            def add(pred, target, weight, offset, where):
                sink.run(
                    acc.update,
                    pred,
                    target,
                    sample_weight=weight,
                    row_offset=base + offset,
                    where=where,
                )
        elif mode == "scaled":
            acc = cli._accumulator(args, src, "logits")

            def add(pred, target, weight, offset, where):
                with np.errstate(divide="ignore"):
                    p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
                    sink.run(
                        acc.update,
                        p / param,
                        target,
                        sample_weight=weight,
                        row_offset=base + offset,
                        where=where,
                    )
        else:
            from ..temperature import temperature_sums

            per_batch: list = []
            kind = "log_probs" if src.kind == "probs" else src.kind

            def add(pred, target, weight, offset, where):
                with np.errstate(divide="ignore"):
                    p = np.log(np.clip(pred, 0.0, 1.0)) if src.kind == "probs" else pred
                s = sink.run(
                    temperature_sums,
                    p,
                    target,
                    param,
                    kind=kind,
                    where=where,
                    **cli._ts_kwargs(args, weight),
                )
                per_batch.append([s.nll, s.grad, s.hess, s.weight])

        cli._stream(args, src, counts, add, first_pass=mode == "eval")
    except _io.InputError as e:
        out["error"] = e
        return out
    out["warnings"] = dict(sink.seen)
    if (
        mode == "tsum"
    ):  # per batch: the driver adds them in stream order, as the streaming command does
        out["tsum"] = np.asarray(per_batch, dtype=np.float64).reshape(-1, 4)
    else:
        out["state"] = acc
        out["counts"] = {
            "read": counts.read,
            "evaluated": counts.evaluated,
            "missing_labels": counts.missing_labels,
            "rejected": counts.rejected,
            "by_reason": dict(counts.by_reason),
        }
    return out


def _merge_file_results(*rs: dict) -> dict:
    """Merge per-file results in file order; keep the first error (files after it do not count)."""
    out: dict[str, Any] = {"path": rs[0]["path"]}
    acc = None
    warn: dict[str, str] = {}
    counts = None
    tsum = None
    for r in rs:
        if "error" in r:
            out["error"] = r["error"]
            break
        for k, v in r.get("warnings", {}).items():
            warn.setdefault(k, v)
        if "tsum" in r:
            tsum = r["tsum"] if tsum is None else np.concatenate([tsum, r["tsum"]])
        if "rows" in r:
            out["rows"] = out.get("rows", 0) + r["rows"]
        if "state" in r:
            acc = r["state"] if acc is None else acc.merge(r["state"])
            c = r["counts"]
            if counts is None:
                counts = {k: (dict(v) if isinstance(v, dict) else v) for k, v in c.items()}
            else:
                for k in ("read", "evaluated", "missing_labels", "rejected"):
                    counts[k] += c[k]
                for k, v in c["by_reason"].items():
                    counts["by_reason"][k] = counts["by_reason"].get(k, 0) + v
    out["warnings"] = warn
    if acc is not None:
        out["state"], out["counts"] = acc, counts
    if tsum is not None:
        out["tsum"] = tsum
    return out


@dataclasses.dataclass
class FilesResult:
    """What :func:`run_files` found: the report(s) and the command line's bookkeeping."""

    report: Any
    after: Any  # the report after temperature scaling, or None
    layout: Any
    kind: str
    kind_reason: str
    num_classes: int | None
    counts: dict
    warnings: dict


def _plan(
    files: Sequence[str],
    schema: Any,
    args: argparse.Namespace,
    num_classes: int | None,
    say: Callable[[str], None] | None,
):
    """Open every file (metadata only), check that they share one layout, decide the kind on the
    first batch as the command line does, and find each file's first global row.

    Returns ``(layout, spec, bases, stop, stop_error)``: files from ``stop`` on are not evaluated
    and ``stop_error`` is raised unless an earlier file fails first."""
    from .. import cli
    from .. import io as _io

    layout = None
    first_path = None
    stop, stop_error = len(files), None
    rows: list[int | None] = []
    for k, path in enumerate(files):
        try:
            table = _io.open_table(path, input_format=args.input_format, na_values=schema.na_values)
            lay = _io.resolve(table, schema)
        except _io.InputError as e:
            stop, stop_error = k, e
            break
        if layout is None:
            layout, first_path = lay, path
            if num_classes is not None and lay.num_classes not in (-1, num_classes):
                stop, stop_error = (
                    k,
                    _io.SchemaError(
                        f"--classes says {num_classes} classes but the prediction columns of {path} hold "
                        f"{lay.num_classes}"
                    ),
                )
                break
        elif lay.signature() != layout.signature():
            a, b = layout, lay
            stop, stop_error = (
                k,
                _io.SchemaError(
                    f"mixed schemas: {first_path} has target {list(a.target)}, prediction "
                    f"{list(a.pred)} ({a.num_classes} classes), weight {a.weight}; {path} has "
                    f"target {list(b.target)}, prediction {list(b.pred)} ({b.num_classes} classes), "
                    f"weight {b.weight}. Every file must have the same columns"
                ),
            )
            break
        rows.append(table.num_rows)
    # the first batch decides the kind (and the number of classes), as in the streaming command
    kind = kind_reason = None
    for path in files[:stop]:
        try:
            batch = next(
                iter(
                    _io.read_batches(
                        [path], schema, batch_size=args.batch_size, input_format=args.input_format
                    )
                ),
                None,
            )
        except _io.InputError:
            break  # the task reading this file reports it in order
        if batch is None:
            continue
        where = f"{batch.path} rows {batch.offset}–{batch.offset + len(batch) - 1}"
        if num_classes is None:
            num_classes = batch.pred.shape[1]
        try:
            kind, kind_reason = cli._decide_kind(batch.pred, args.kind, where)
        except _io.InputError as e:
            stop, stop_error = files.index(path), e
            break
        if args.kind == "auto" and say is not None:
            say(f"kind: {kind} (decided on {where}: {kind_reason[6:]}); pass --kind to set it")
        break
    if kind is None and args.kind != "auto":
        kind, kind_reason = args.kind, "given by --kind"
    spec = {"kind": kind, "kind_reason": kind_reason or "", "num_classes": num_classes}
    return layout, spec, rows, stop, stop_error


def _bases(files, rows, stop, schema, args, progress) -> list[int]:
    """Global row index of each file's first row (a counting pass for files without row metadata)."""
    unknown = [k for k in range(stop) if rows[k] is None]
    if unknown:
        spec = {"kind": "logits", "kind_reason": "", "num_classes": None}
        ds = [
            dask.delayed(_file_task, pure=True)(args, schema, files[k], 0, spec, "count", 0.0)
            for k in unknown
        ]
        for k, r in zip(unknown, _compute(ds, progress), strict=True):
            rows[k] = r.get("rows", 0)  # an unreadable file: its task reports it in the real pass
    return np.concatenate([[0], np.cumsum(rows[:stop])]).astype(int).tolist()[:stop]


def run_files(
    files: Sequence[str],
    schema: Any,
    args: argparse.Namespace,
    *,
    num_classes: int | None = None,
    say: Callable[[str], None] | None = None,
) -> FilesResult:
    """The command line's evaluation of ``files`` as Dask tasks (one per file), merged in a tree.

    ``args`` holds the command line's options (see :func:`evaluate_files`). Raises the
    :class:`crossentropy.io.InputError` that the single-process command would raise first."""
    from .. import io as _io

    files = list(files)
    progress = bool(getattr(args, "progress", False))
    layout, spec, rows, stop, stop_error = _plan(files, schema, args, num_classes, say)
    need_bases = args.bootstrap > 0
    bases = _bases(files, rows, stop, schema, args, progress) if need_bases else [0] * stop

    def run(mode: str, param: float = 0.0) -> dict:
        prefix = _key(f"crossentropy-file-{mode}")
        ds = [
            dask.delayed(_file_task, pure=True)(
                args, schema, files[k], bases[k], spec, mode, param, dask_key_name=f"{prefix}-{k}"
            )
            for k in range(stop)
        ]
        if not ds:
            return {"warnings": {}}
        return _compute(_tree(ds, _merge_file_results, f"crossentropy-files-{mode}"), progress)

    res = run("eval")
    if "error" in res:
        raise res["error"]
    if stop_error is not None:
        raise stop_error
    from ..cli import _accumulator, _Source

    counts = res.get("counts") or {
        "read": 0,
        "evaluated": 0,
        "missing_labels": 0,
        "rejected": 0,
        "by_reason": {},
    }
    if counts["read"] == 0:
        raise _io.DataError(f"no rows in {', '.join(files)}: nothing to evaluate")
    src = _Source(
        files, False, schema, layout=layout, kind=spec["kind"], num_classes=spec["num_classes"]
    )
    acc = res["state"] if "state" in res else _accumulator(args, src, spec["kind"])
    report = acc.finalize()
    warn = dict(res["warnings"])
    after = None
    if args.temperature:
        from ..temperature import TemperatureSums, fit_from_passes

        if spec["kind"] == "probs" and say is not None:
            say("note: --temperature on probabilities: fitting on log p (a valid logit vector)")

        def sums(t: float) -> TemperatureSums:
            r = run("tsum", t)
            if "error" in r:
                raise r["error"]
            for k, v in r["warnings"].items():
                warn.setdefault(k, v)
            tot = np.zeros(4)
            for row in r.get("tsum", ()):
                tot[:] += row  # stream order: the same sums, bit for bit, as the streaming command
            return TemperatureSums(*(float(v) for v in tot))

        scaled: list = []

        def ece_at(T: float) -> float:  # the pass with the logits divided by T: its report
            r2 = run("scaled", T)
            if "error" in r2:
                raise r2["error"]
            for k, v in r2["warnings"].items():
                warn.setdefault(k, v)
            scaled.append(r2["state"].finalize())
            return _ece(scaled[-1])

        temp = fit_from_passes(sums, ece_at=ece_at, ece_before=_ece(report), base=report.base)
        after = scaled[-1]
        report = dataclasses.replace(report, temperature=temp)
    return FilesResult(
        report, after, layout, spec["kind"], spec["kind_reason"], spec["num_classes"], counts, warn
    )


def _ece(report: Any) -> float:
    return report.calibration.ece if report.calibration is not None else math.nan


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
    **options: Any,
) -> Any:
    r"""The :class:`~crossentropy.Report` of many prediction files, one Dask task per file.

    Exactly what ``crossentropy evaluate FILES`` computes (same column resolution,
    validation, kind decision on the first batch, warnings and errors; see
    :mod:`crossentropy.cli`), with the files read on the workers and the per-file
    :class:`~crossentropy.Accumulator` states merged in a tree. ``paths_or_glob``: a
    glob (``"data/*.parquet"``), a directory, a path or a list of them. Schema:
    ``target``, ``pred``, ``weight`` (column names or globs), ``classes`` (names),
    ``na_values``. Options (the command line's, same defaults): ``kind``,
    ``ignore_index``, ``missing_labels``, ``on_invalid``, ``input_format``, ``bins``,
    ``temperature``, ``bootstrap``, ``seed``, ``base``, ``batch_size``. The active
    Dask scheduler runs the tasks (see :func:`client_for`). Errors are the
    :class:`crossentropy.io.InputError` the single-process command stops at first,
    naming the file and rows. Bootstrap intervals key on the global row index (files
    in order), so they equal the single-process ones.

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
    from .. import io as _io

    files = expand_paths(paths_or_glob)
    if not files:
        raise _io.FileError("no input files")
    schema = _io.Schema(
        target=target,
        pred=pred,
        weight=weight,
        classes=None if classes is None else tuple(classes),
        na_values=tuple(na_values),
    )
    if classes is not None and num_classes is None:
        num_classes = len(tuple(classes))
    args = _namespace(progress=progress, **options)
    res = run_files(files, schema, args, num_classes=num_classes)
    from .._validate import CrossEntropyWarning

    for msg, where in res.warnings.items():
        warnings.warn(f"{msg} (first at {where})", CrossEntropyWarning, stacklevel=2)
    return res.report


def evaluate_cli(
    args: argparse.Namespace,
    src: Any,
    counts: Any,
    sink: Any,
    say: Callable[[str], None] | None = None,
) -> tuple[Any, Any]:
    """The command line's ``--engine dask``: fills ``src``, ``counts`` and ``sink`` as the streaming
    path does and returns ``(report, after)``."""
    from .. import cli

    scheduler = getattr(args, "scheduler", None)
    workers = getattr(args, "workers", None)
    if scheduler and workers:
        raise cli.UsageError(
            "--scheduler and --workers exclude each other (--workers starts a local cluster)"
        )
    if workers is not None and workers < 1:
        raise cli.UsageError(f"--workers must be ≥ 1, got {workers}")
    if src.bundled:
        files = src.files
    else:
        files = expand_paths(src.files)
    args.progress = bool(args.progress or sys.stderr.isatty())
    client = client_for(scheduler, workers)
    try:
        with client.as_current():
            res = run_files(
                files, src.schema, args, num_classes=src.num_classes, say=say or cli._say
            )
    finally:
        close_client(client, cluster=not scheduler)
    src.files = files
    src.layout, src.kind, src.kind_reason = res.layout, res.kind, res.kind_reason
    if src.num_classes is None:
        src.num_classes = res.num_classes
    c = res.counts
    counts.read, counts.evaluated = c["read"], c["evaluated"]
    counts.missing_labels, counts.rejected = c["missing_labels"], c["rejected"]
    counts.by_reason = dict(c["by_reason"])
    sink.seen.update(res.warnings)
    return res.report, res.after
