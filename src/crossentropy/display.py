r"""Where people read a report: a short ``repr``, IPython's pretty text, Jupyter's HTML and pandas.

:class:`crossentropy.Report` delegates to these functions (``__repr__``, ``_repr_pretty_``,
``_repr_html_``, ``to_pandas``). They read the report's fields generically — every
scalar metric of :meth:`~crossentropy.Report.to_dict`, every table of records — so a
field added to the report shows up here without an edit. The report is only read
through its attributes (this module ranks below :mod:`crossentropy.report`, which
imports it).

    metrics(report)      {"cross_entropy": 0.41, …, "calibration.ece": 0.02}: every scalar metric
    short_repr(report)   Report(task=…, rows=…, cross_entropy=…, accuracy=…, ece=…)
    html(report)         a compact table and, with matplotlib, the reliability diagram as a PNG
    to_pandas(report)    {"metrics", "per_class", "bins", …}: one DataFrame per table

>>> import numpy as np
>>> from crossentropy.accumulate import evaluate
>>> r = evaluate(np.log(np.array([[0.5, 0.5], [0.8, 0.2]])), np.array([0, 0]))
>>> short_repr(r)
'Report(task=multiclass, rows=2, cross_entropy=0.458145 nats, accuracy=1, ece=0.35)'
>>> m = metrics(r)
>>> round(m["cross_entropy"], 6), m["accuracy"], type(m["brier"]).__name__
(0.458145, 1.0, 'float')
"""

from __future__ import annotations

import base64
import dataclasses
import html as _html
import math
from typing import Any

from ._json import decode

__all__ = ["metrics", "short_repr", "pretty", "html", "to_pandas", "unit"]

#: top-level fields that describe the data or the options, not a metric
_NOT_METRICS = frozenset(
    {"schema_version", "empty", "n_rows", "n_ignored", "n_valid", "num_classes", "kind"}
    | {"base", "target_kind", "bootstrap", "seed", "level", "n_sequences", "options"}
    | {"intervals", "task", "weight_sum"}
)


def unit(base: Any) -> str:
    """The unit of the report's losses: ``"nats"`` (base e), ``"bits"`` (2) or ``"base-B units"``.

    >>> unit("e"), unit(2), unit(10)
    ('nats', 'bits', 'base-10 units')
    """
    if base == "e":
        return "nats"
    if base in (2, "2", 2.0):
        return "bits"
    return f"base-{base} units"


def _as_dict(report: Any) -> dict[str, Any]:
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report)
    return d.get("report", d) if d.get("schema") == "crossentropy.evaluate" else d


def _number(v: Any) -> float | None:
    """A JSON scalar as a float metric (``"inf"``/``"nan"`` strings too); None when not one."""
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, float):
        return v
    if isinstance(v, str) and v in ("inf", "-inf", "nan"):
        return float(decode(v))
    return None


def metrics(report: Any) -> dict[str, float]:
    """Every scalar metric of a report (a :class:`~crossentropy.Report`, its ``to_dict()`` or
    the ``evaluate --format json`` object), as Python floats.

    Top-level float fields by name (``cross_entropy``, ``accuracy``, …) and the float fields
    of nested records as ``record.field`` (``calibration.ece``, ``temperature.T``); counts,
    options and tables (bins, per-class rows) are left out.

    >>> metrics({"cross_entropy": 0.5, "n_rows": 3, "calibration": {"ece": "nan", "bins": []}})
    {'cross_entropy': 0.5, 'calibration.ece': nan}
    """
    out: dict[str, float] = {}
    for k, v in _as_dict(report).items():
        if k in _NOT_METRICS:
            continue
        x = _number(v)
        if x is not None:
            out[k] = x
        elif isinstance(v, dict):
            for k2, v2 in v.items():
                x2 = _number(v2)
                if x2 is not None:
                    out[f"{k}.{k2}"] = x2
    return out


def _g(x: Any, digits: int = 6) -> str:
    if x is None:
        return "—"
    f = float(x)
    if math.isnan(f):
        return "—"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    return f"{f:.{digits}g}"


def _task(report: Any) -> str:
    return str(getattr(report, "task", None) or "multiclass")


def short_repr(report: Any) -> str:
    """One line: task, rows, cross-entropy (with its unit), accuracy and ECE (``repr(report)``).

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> short_repr(evaluate(np.array([[2.0, 0.0]]), np.array([0]), base=2))
    'Report(task=multiclass, rows=1, cross_entropy=0.183118 bits, accuracy=1, ece=0.119203)'
    """
    cal = getattr(report, "calibration", None)
    parts = [f"task={_task(report)}", f"rows={report.n_rows}"]
    if report.empty:
        parts.append("empty: no valid rows")
    else:
        parts.append(f"cross_entropy={_g(report.cross_entropy)} {unit(report.base)}")
        parts.append(f"accuracy={_g(report.accuracy)}")
        if cal is not None:
            parts.append(f"ece={_g(cal.ece)}")
    return f"Report({', '.join(parts)})"


def pretty(report: Any, p: Any, cycle: bool) -> None:
    """IPython's ``_repr_pretty_``: the full text table (``str(report)``; the short repr on a
    cycle).

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> class Printer:
    ...     def text(self, s): print(s.splitlines()[0])
    >>> pretty(evaluate(np.array([[2.0, 0.0]]), np.array([0])), Printer(), False)
    crossentropy report (task=multiclass, kind=logits, target=indices, C=2)
    """
    p.text(short_repr(report) if cycle else str(report))


# ---------------------------------------------------------------------------- HTML

_STYLE = (
    "<style>.ce-report table{border-collapse:collapse}.ce-report td,.ce-report th{padding:"
    "1px 8px;text-align:right;border-bottom:1px solid #eee}.ce-report td.l,.ce-report th.l"
    "{text-align:left}.ce-report img{max-width:100%;height:auto}</style>"
)


def _e(x: Any) -> str:
    return _html.escape(str(x), quote=True)


def _interval(iv: dict, key: str) -> str:
    if key not in iv:
        return ""
    lo, hi = iv[key]
    return f"[{_g(lo, 4)}, {_g(hi, 4)}]"


def _reliability_png(report: Any) -> str | None:
    """The reliability diagram as base64 PNG, or None without matplotlib."""
    from . import plots

    try:
        fig = plots.reliability(report)
    except ImportError:
        return None
    return base64.b64encode(plots.png_bytes(fig, dpi=72)).decode("ascii")


def html(report: Any, *, figure: bool = True) -> str:
    """Jupyter's ``_repr_html_``: a compact metrics table and the reliability diagram inline
    (a ``data:image/png`` URI) when matplotlib is installed. A fragment, valid HTML.

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> r = evaluate(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    >>> page = html(r, figure=False)
    >>> page.startswith('<div class="ce-report">') and "cross_entropy" in page
    True
    """
    iv = getattr(report, "intervals", None) or {}
    head = (
        f"<b>crossentropy report</b> — task {_e(_task(report))}, kind {_e(report.kind)}, "
        f"C = {report.num_classes}, {report.n_rows:,} rows ({report.n_valid:,} valid)"
    )
    rows = []
    if report.empty:
        rows.append(
            '<tr><td class="l" colspan="3">no valid rows: no statistic is defined</td></tr>'
        )
    else:
        for name, value in metrics(report).items():
            key = name.split(".")[-1]
            rows.append(
                f'<tr><td class="l">{_e(name)}</td><td>{_e(_g(value))}</td>'
                f"<td>{_e(_interval(iv, key))}</td></tr>"
            )
    level = f"{report.level:.0%} interval" if iv else ""
    table = (
        f'<table><thead><tr><th class="l">metric (losses in {_e(unit(report.base))})</th><th>value</th>'
        f"<th>{_e(level)}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )
    table += "" if report.empty else _classes_table(report)
    img = ""
    if figure and not report.empty and getattr(report, "calibration", None) is not None:
        data = _reliability_png(report)
        if data is not None:
            img = f'<img alt="reliability diagram" width="460" src="data:image/png;base64,{data}">'
    body = f'<div style="display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start"><div>{table}</div>{img}</div>'
    return f'<div class="ce-report">{_STYLE}<p>{head}</p>{body}</div>'


#: rows of the per-class / per-label HTML table (the rest: ``to_pandas()``)
_HTML_ROWS = 20


def _classes_table(report: Any) -> str:
    """The per-class (multi-class, binary) or per-label (multi-label) rows, named by
    ``report.class_names`` when it has them, else by index."""
    names = getattr(report, "class_names", None)
    if _task(report) == "multilabel":
        recs = [(r.label, r.count, r.nll, r.auc) for r in getattr(report, "per_label", ())]
        head = ("label", "count", "nll", "auc")
    else:
        recs = [(c.cls, c.count, c.nll_mean, c.accuracy) for c in report.per_class if c.count]
        head = ("class", "count", "nll_mean", "accuracy")
    if not recs:
        return ""
    cells = "".join(
        f'<tr><td class="l">{_e(_name(names, i))}</td><td>{n:,}</td><td>{_e(_g(a))}</td>'
        f"<td>{_e(_g(b, 4))}</td></tr>"
        for i, n, a, b in recs[:_HTML_ROWS]
    )
    more = (
        f'<tr><td class="l" colspan="4">… {len(recs) - _HTML_ROWS} more (to_pandas())</td></tr>'
        if len(recs) > _HTML_ROWS
        else ""
    )
    ths = '<th class="l">' + head[0] + "</th>" + "".join(f"<th>{h}</th>" for h in head[1:])
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{cells}{more}</tbody></table>"


# ---------------------------------------------------------------------------- pandas


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        msg = "Report.to_pandas() needs pandas (an optional dependency): pip install pandas"
        raise ImportError(msg) from None
    return pd


def _name(names: Any, i: int) -> str:
    """Class (label) ``i``'s name, or its index when the report has no name for it."""
    return str(names[i]) if names is not None and 0 <= i < len(names) else str(i)


def _records(items: Any) -> list[dict[str, Any]] | None:
    if isinstance(items, tuple) and items and all(dataclasses.is_dataclass(x) for x in items):
        return [dataclasses.asdict(x) for x in items]
    return None


def to_pandas(report: Any) -> dict[str, Any]:
    """The report as pandas DataFrames, by name (pandas is optional: an ImportError names it).

    ``"metrics"``: one row per scalar metric of :func:`metrics` (``metric``, ``value`` and,
    with bootstrap intervals, ``lo``, ``hi``); ``"bins"``: the calibration bins; and one
    table per tuple of records in the report (``"per_class"``, …), one row per record.

    >>> import numpy as np
    >>> from crossentropy.accumulate import evaluate
    >>> r = evaluate(np.array([[2.0, 0.0], [0.0, 1.0]]), np.array([0, 1]))
    >>> t = to_pandas(r)
    >>> sorted(t), list(t["per_class"].columns)
    (['bins', 'metrics', 'per_class'], ['cls', 'count', 'weight', 'nll_mean', 'accuracy'])
    """
    pd = _pandas()
    iv = getattr(report, "intervals", None) or {}
    m = metrics(report)
    names = list(m)
    cols: dict[str, list] = {"metric": names, "value": [m[k] for k in names]}
    if iv:
        cols["lo"] = [
            float(iv[k.split(".")[-1]][0]) if k.split(".")[-1] in iv else math.nan for k in names
        ]
        cols["hi"] = [
            float(iv[k.split(".")[-1]][1]) if k.split(".")[-1] in iv else math.nan for k in names
        ]
    out = {"metrics": pd.DataFrame(cols)}
    names = getattr(report, "class_names", None)
    for f in dataclasses.fields(report):
        recs = _records(getattr(report, f.name))
        if recs is not None:
            frame = pd.DataFrame(recs)
            key = next((k for k in ("cls", "label") if k in frame.columns), None)
            if names and key is not None:  # the class (label) names beside their indices
                frame.insert(1, "name", [_name(names, int(i)) for i in frame[key]])
            out[f.name] = frame
    cal = getattr(report, "calibration", None)
    if cal is not None:
        out["bins"] = pd.DataFrame([dataclasses.asdict(b) for b in cal.bins])
    return out
