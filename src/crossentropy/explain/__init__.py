r"""The chain walked through on real data: ``crossentropy explain``.

The project grew from a learner's notes that follow the chain

    likelihood → log-likelihood → negative log-likelihood → cross-entropy

and ask nine questions on the way. This module answers them with numbers
computed by the library itself, on the bundled digits example (held-out logits
of a softmax regression, with the pixels it was fitted on) or on a user's
prediction file:

1. the likelihood is a product over i.i.d. examples and underflows;
2. the exponents are switches: only the observed class's probability enters;
3. the likelihood is maximal with all mass on the observed labels, which is
   over-confident on held-out data;
4. the categorical likelihood ``Π_i q_{i,y_i}``, with binary as its C = 2 case;
5. the model is a conditional distribution ``q(y | x)``; ``x`` is not modelled;
6. soft labels: ``CE(y, q) = H(y) + KL(y ‖ q)``, minimal at ``q = y``;
7. hard and soft masks: ``ignore_index`` and sample weights in the mean;
8. training minimises cross-entropy, i.e. maximises the likelihood;
9. what training minimises is the cross-entropy, not the entropy of the
   predictions.

Everything is a pure function returning plain data (:class:`Step`,
:class:`Identity`, :class:`Section`, :class:`Walkthrough`);
:func:`render` turns it into text and :func:`plot` into PNG files. The
identities of the chain are checked live by :func:`check_identities`, which
raises :class:`IdentityError` when one fails (the command exits with status 1).
A prediction file is read and validated by the evaluation pipeline
(:func:`read_data`, :func:`load`), as ``crossentropy evaluate`` reads it, and its task is
decided there too: a binary or multi-label file is walked through the seed's Bernoulli
likelihood (``_bernoulli``), with the headline cross-entropy ``evaluate`` reports.

The package, by concept: this module holds the chain (its steps and identities),
the walk-through and its text; ``_data`` the records, the inputs and the number
formatting; ``_models`` the two small models the answers fit (nearest
neighbours, softmax regression by gradient descent); ``_sections`` the nine
answers; ``_plot`` the figures.

>>> import numpy as np
>>> logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.0], [1.0, 1.0, 1.0]])
>>> steps, identities = chain_steps(logits, np.array([0, 1, 2]))
>>> [s.name for s in steps][:4]
['q(y_i|x_i)', 'likelihood', 'log-likelihood', 'NLL']
>>> all(i.holds for i in identities)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._options import IGNORE_INDEX
from .._types import Kind
from ..chain import cross_entropy, likelihood, log_likelihood, log_prob, nll, perplexity
from ..information import decompose
from ..kinds import to_log_probs
from ._bernoulli import bernoulli_walkthrough
from ._data import (
    _IMPL,
    BUNDLED_FIRST_LINE,
    RTOL,
    SHARPNESS,
    TEMPERATURES,
    TRAIN_LR,
    TRAIN_SHOWN,
    TRAIN_STEPS,
    Data,
    Identity,
    Section,
    Step,
    Walkthrough,
    _core,
    _f,
    _identity,
    _log10_text,
    _observed_mask,
    _opts,
    bundled_data,
    load,
    read_data,
)
from ._models import class_distances, descend_softmax_regression, nearest_neighbour_logits
from ._plot import FILES as PLOT_FILES
from ._plot import figures, plot
from ._sections import _onehot_mask, sections

__all__ = [
    "BUNDLED_FIRST_LINE",
    "Data",
    "Identity",
    "IdentityError",
    "PLOT_FILES",
    "RTOL",
    "SHARPNESS",
    "Section",
    "Step",
    "TEMPERATURES",
    "TRAIN_LR",
    "TRAIN_SHOWN",
    "TRAIN_STEPS",
    "Walkthrough",
    "bundled_data",
    "chain_steps",
    "check_identities",
    "class_distances",
    "descend_softmax_regression",
    "load",
    "nearest_neighbour_logits",
    "plot",
    "figures",
    "read_data",
    "render",
    "sections",
    "walkthrough",
]


class IdentityError(Exception):
    """An identity of the chain did not hold on the data (a bug: please report it)."""


# ----------------------------------------------------------------------------- the chain
def chain_steps(
    pred: np.ndarray,
    target: np.ndarray,
    *,
    kind: Kind = "logits",
    sample_weight: np.ndarray | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> tuple[tuple[Step, ...], tuple[Identity, ...]]:
    r"""Every link of the chain on ``(pred, target)`` and the identities between them.

    With ``ℓ_i = −s_i log q(y_i|x_i)`` and ``w_i = s_i`` (docs/semantics.md §4)::

        likelihood = Π_i q(y_i|x_i) = exp(log-likelihood)
        log-likelihood = −Σ ℓ_i,   NLL = Σ ℓ_i,   CE = NLL / Σ w_i
        perplexity = exp(CE),   bits = CE / ln 2,   CE = H(y) + KL(y ‖ q)

    Returns ``(steps, identities)``; each identity compares two independent
    computations (separate library calls) to a relative ``1e-12``.

    >>> import numpy as np
    >>> p = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> steps, ids = chain_steps(p, np.array([0, 1]), kind="probs")
    >>> {s.name: round(s.value, 6) for s in steps}["likelihood"]     # 0.5 · 0.75
    0.375
    >>> [i.name for i in ids if not i.holds]
    []
    """
    o = _opts(sample_weight, ignore_index)
    k = _core(kind)
    lp = np.asarray(log_prob(pred, target, kind=kind, ignore_index=ignore_index, impl=_IMPL))
    ll = float(log_likelihood(pred, target, **k, **o))
    lik = float(likelihood(pred, target, **k, **o))
    nll_ = float(nll(pred, target, **k, **o))
    ce = float(cross_entropy(pred, target, **k, **o))
    ppl = float(perplexity(pred, target, **k, **o))
    bits = float(cross_entropy(pred, target, base=2, **k, **o))
    d = decompose(pred, target, kind=kind, **o)
    h, kl, ce_d = float(d.entropy), float(d.kl), float(d.cross_entropy)
    s = np.ones(lp.shape) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if target.ndim == 1:
        counted = (target != ignore_index) & (s > 0)
        w = np.where(counted, s, 0.0)
    else:
        w = s * np.asarray(target, dtype=np.float64).sum(axis=1)
    wsum = float(w.sum())
    empty = not wsum > 0  # no example counts: the means are 0/0, undefined (NaN) on both sides
    q_obs = np.exp(lp[w > 0])
    with np.errstate(under="ignore"):
        product = float(np.prod(q_obs)) if target.ndim == 1 and sample_weight is None else math.nan
    steps = [
        Step(
            "q(y_i|x_i)",
            "probability of what was observed, per example",
            float(np.median(q_obs)) if q_obs.size else math.nan,
            f"median over {q_obs.size} examples; min {_f(q_obs.min() if q_obs.size else math.nan)}",
        ),
        Step(
            "likelihood",
            "Π_i q(y_i|x_i) = exp(log-likelihood)",
            lik,
            f"= {_log10_text(ll)}"
            + ("" if lik > 0 or math.isinf(ll) else "  (underflows to 0.0 in float64)"),
        ),
        Step("log-likelihood", "Σ_i log q(y_i|x_i)", ll),
        Step("NLL", "−Σ_i log q(y_i|x_i)", nll_),
        Step(
            "cross-entropy",
            "NLL / Σ_i w_i",
            ce,
            f"Σ w_i = {_f(wsum)}"
            + (": no example counts (all ignored or weight 0), so 0/0 = NaN" if empty else ""),
        ),
        Step(
            "perplexity", "exp(cross-entropy)", ppl, "as unsure as this many equally likely classes"
        ),
        Step("bits", "cross-entropy / ln 2", bits, "per example"),
        Step(
            "H(y)",
            "entropy of the targets, −Σ_c y_c log y_c",
            h,
            "0 for hard labels" if target.ndim == 1 else "soft labels",
        ),
        Step("KL(y ‖ q)", "Σ_c y_c log(y_c / q_c)", kl),
    ]
    with np.errstate(invalid="ignore"):  # a masked row's log q may be −inf: it adds 0
        terms = np.where(s > 0, s * lp, 0.0)
    u = {"undefined": empty}
    ids = [
        _identity("likelihood = exp(log-likelihood)", lik, math.exp(ll)),
        _identity("NLL = −log-likelihood", nll_, -ll),
        _identity(
            "log-likelihood = Σ_i s_i log q(y_i|x_i)",
            ll,
            float(np.sum(terms)),
            scale=float(np.sum(np.abs(terms))),
        ),
        _identity("cross-entropy = NLL / Σ w_i", ce, nll_ / wsum if wsum else math.nan, **u),
        _identity(
            "perplexity = exp(cross-entropy)", ppl, math.inf if ce > 709 else math.exp(ce), **u
        ),
        _identity("bits = cross-entropy / ln 2", bits, ce / math.log(2), **u),
        _identity("cross-entropy = H(y) + KL(y ‖ q)", ce, h + kl, scale=max(abs(h), abs(kl)), **u),
        _identity("decompose's cross-entropy = cross_entropy", ce_d, ce, **u),
    ]
    if not math.isnan(product) and product > np.finfo(np.float64).tiny:
        # n roundings in the product and |log-likelihood| ulps in exp: a looser, derived tolerance
        tol = 4 * np.finfo(np.float64).eps * (q_obs.size + abs(ll) + 1)
        ids.append(
            _identity(
                "likelihood = float64 product Π_i q(y_i|x_i)", lik, product, rtol=max(RTOL, tol)
            )
        )
    return tuple(steps), tuple(ids)


def check_identities(identities: Sequence[Identity]) -> None:
    """Raise :class:`IdentityError` naming every identity that does not hold.

    >>> check_identities([Identity("1 = 1", 1.0, 1.0, True)])
    >>> check_identities([Identity("1 = 2", 1.0, 2.0, False)])
    Traceback (most recent call last):
    ...
    crossentropy.explain.IdentityError: identity failed: 1 = 2 (1 vs 2)
    """
    bad = [i for i in identities if not i.holds]
    if bad:
        what = "; ".join(f"{i.name} ({_f(i.lhs, 17)} vs {_f(i.rhs, 17)})" for i in bad)
        raise IdentityError(f"identity failed: {what}")


def walkthrough(data: Data) -> Walkthrough:
    """Steps, identities and the nine answers on ``data``; identities are checked (may raise).

    Infinite and undefined values (a probability 0, no example that counts) are results
    here, shown as ``inf`` and ``nan``: numpy's floating-point warnings are off."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        return _walkthrough(data)


def _walkthrough(data: Data) -> Walkthrough:
    if data.task != "multiclass":  # binary, multi-label: the seed's Bernoulli likelihood
        w, ids = bernoulli_walkthrough(data)
        check_identities(ids)
        return w
    steps, ids = chain_steps(
        data.pred,
        data.target,
        kind=data.kind,
        sample_weight=data.sample_weight,
        ignore_index=data.ignore_index,
    )
    check_identities(ids)
    secs, curves = sections(data)
    lp = np.asarray(
        log_prob(data.pred, data.target, kind=data.kind, ignore_index=data.ignore_index, impl=_IMPL)
    )
    curves = dict(curves)
    keep = _observed_mask(data)
    curves["log_q_observed"] = lp[keep]
    return Walkthrough(
        data.source,
        int(data.pred.shape[0]),
        int(data.pred.shape[1]),
        data.kind,
        steps,
        ids,
        secs,
        curves,
        _zero_notes(data, lp, keep),
    )


def _zero_notes(data: Data, lp: np.ndarray, keep: np.ndarray) -> tuple[str, ...]:
    """Why the chain is infinite when an observed class has probability exactly 0 (the true
    answer: log 0 = −inf), and why a 0 elsewhere costs nothing (0·log 0 = 0)."""
    rows = np.flatnonzero(keep & np.isneginf(lp))
    zero = np.isneginf(np.asarray(to_log_probs(data.pred, kind=data.kind)))
    if not rows.size and not zero.any():
        return ()
    out = []
    if rows.size:
        shown = ", ".join(str(int(r)) for r in rows[:5]) + (" …" if rows.size > 5 else "")
        out += [
            f"{rows.size} example{'s' if rows.size > 1 else ''} (row{'s' if rows.size > 1 else ''} "
            f"{shown}) give{'' if rows.size > 1 else 's'} probability exactly 0 to the class "
            "that was observed.",
            "log 0 = −inf, so the log-likelihood is −inf and the NLL, cross-entropy, perplexity",
            "and KL are +inf (the likelihood is 0). That is the true value, not a failure: the",
            "model called the observed outcome impossible, and the log loss charges that without",
            "bound. Look at those rows; if the zeros come from rounding or clipping, give the",
            "model's logits or log-probabilities instead (nothing is clipped for you).",
        ]
    other = int(np.count_nonzero(zero & ~_onehot_mask(data)))
    if other > 0:
        out.append(
            f"{other} other zero probabilit{'ies fall' if other > 1 else 'y falls'} on classes that were "
            "not observed: they cost nothing (the exponent switches them off: 0·log 0 = 0)."
        )
    return tuple(out)


# ----------------------------------------------------------------------------- output
def render(w: Walkthrough) -> str:
    """The walk-through as text (what ``crossentropy explain`` prints)."""
    what = {
        "binary": "binary task (one Bernoulli label each)",
        "multilabel": f"{w.num_classes} labels (multi-label: K independent Bernoulli labels)",
    }.get(w.task, f"{w.num_classes} classes")
    out = [
        w.source,
        "",
        f"{w.n} examples, {what}, prediction kind: {w.kind}",
        "",
        "The chain: likelihood → log-likelihood → negative log-likelihood → cross-entropy",
    ]
    for s in w.steps:
        out.append(
            f"  {s.name:<15} {_f(s.value):>14}   {s.formula}" + (f"  [{s.note}]" if s.note else "")
        )
    out += ["", "Identities, checked on these numbers (relative tolerance 1e-12):"]
    for i in w.identities:
        out.append(f"  {'ok' if i.holds else 'FAILED'}  {i.name}")
    if w.notes:
        out += ["", "Why some numbers are infinite:"]
        out += [f"  {line}" for line in w.notes]
    for sec in w.sections:
        out += ["", f"{sec.number}. {sec.title}"]
        out += [f"   {line}" for line in sec.lines]
    return "\n".join(out) + "\n"
