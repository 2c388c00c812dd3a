"""The nine answers (:func:`sections`): one function per question of the notes, each
returning a :class:`Section` (text and the numbers in it) and, for the figures, curves.

(Over the ~600-line guide on purpose: the nine sections are read in order, one
function per question of the notes; splitting them would scatter one walk-through.)
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import numpy as np

from ..binary import binary_cross_entropy
from ..chain import cross_entropy, likelihood, log_likelihood, log_prob, nll
from ..gradients import binary_cross_entropy_grad, cross_entropy_grad
from ..information import decompose, entropy
from ..kinds import to_log_probs
from ._data import (
    _IMPL,
    SHARPNESS,
    TEMPERATURES,
    TRAIN_LR,
    Data,
    Section,
    _core,
    _f,
    _fixed,
    _log10_text,
    _Masks,
    _observed_mask,
    _opts,
    _probs,
)
from ._models import class_distances, descend_softmax_regression, nearest_neighbour_logits


def _section1(data: Data) -> Section:
    lp = np.asarray(
        log_prob(data.pred, data.target, kind=data.kind, ignore_index=data.ignore_index, impl=_IMPL)
    )
    keep = _observed_mask(data)
    sw = np.ones(lp.shape) if data.sample_weight is None else data.sample_weight
    lq = (sw * lp)[keep]  # log of each example's factor q_i^{s_i}
    q = np.exp(lq)
    n = int(q.size)
    with np.errstate(under="ignore"):
        running = np.cumprod(q)
        prod = float(running[-1]) if n else 1.0
    ll = float(np.sum(lq))
    C = data.pred.shape[1]
    with np.errstate(under="ignore"):
        uni_running = np.cumprod(np.full(n, 1.0 / C))
    zero_at = int(np.argmax(uni_running == 0.0)) + 1 if n and uni_running[-1] == 0.0 else None
    own_zero = int(np.argmax(running == 0.0)) + 1 if n and running[-1] == 0.0 else None
    uni_ll = -n * math.log(C)
    lines = [
        f"The {n} examples are taken as independent, so the likelihood of the data is the",
        "product of one probability per example: Π_i q(y_i|x_i)"
        + (" (weighted: Π_i q(y_i|x_i)^s_i)." if data.sample_weight is not None else "."),
        f"float64 product of the {n} probabilities: {_f(prod)}"
        + (f"  (0.0 from example {own_zero} on)" if own_zero else "")
        + f";  log-likelihood: {_f(ll)} (= {_log10_text(ll)})",
        f"An untrained model (q = 1/{C} for every class) on the same {n} examples: product "
        + (
            f"0.0 from example {zero_at} on"
            if zero_at
            else _f(float(uni_running[-1]) if n else 1.0)
        )
        + f";  log-likelihood {_f(uni_ll)} (= {_log10_text(uni_ll)}), no underflow.",
        "Each factor is ≤ 1, so the product shrinks geometrically; the sum of logs does not.",
    ]
    values = {
        "n": n,
        "product": prod,
        "log_likelihood": ll,
        "uniform_log_likelihood": uni_ll,
        "uniform_zero_at": float(zero_at) if zero_at else math.nan,
    }
    return Section(
        1,
        "The likelihood is a product over i.i.d. examples, and it underflows",
        tuple(lines),
        values,
    )


def _spread_unobserved(q: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Move probability among the classes without target mass: spread it evenly over them.

    The probabilities of the observed classes are kept bit for bit.
    """
    free = ~observed
    k = free.sum(axis=1, keepdims=True)
    rest = np.where(free, q, 0.0).sum(axis=1, keepdims=True)
    even = rest / np.maximum(k, 1)
    return np.where(free, even, q)


def _onehot_mask(data: Data) -> np.ndarray:
    C = data.pred.shape[1]
    if data.hard:
        return np.arange(C)[None, :] == data.target[:, None]
    return data.target > 0


def _section2(data: Data) -> Section:
    q = _probs(data)
    observed = _onehot_mask(data)
    q2 = _spread_unobserved(q, observed)
    o = _opts(data.sample_weight, data.ignore_index)
    ce1 = float(cross_entropy(q, data.target, kind="probs", impl=_IMPL, **o))
    ce2 = float(cross_entropy(q2, data.target, kind="probs", impl=_IMPL, **o))
    h1 = float(entropy(q, reduction="mean"))
    h2 = float(entropy(q2, reduction="mean"))
    moved = float(np.abs(q2 - q).sum(axis=1).mean()) / 2
    lines = [
        "With a hard label the exponents y_ic are 1 for the observed class and 0 for every",
        "other: q^0 = 1, so only q(y_i|x_i) enters (binary: y picks p, 1 − y picks 1 − p).",
        "Spreading each example's wrong-class probability evenly over the wrong classes",
        f"(moves {_f(moved, 4)} of probability per example on average):",
        f"  cross-entropy before {_f(ce1, 12)}, after {_f(ce2, 12)}  (identical: {ce1 == ce2})",
        f"  while the mean entropy of the predictions changes: {_f(h1)} → {_f(h2)}",
    ]
    if moved == 0:
        lines.append(
            "  (here every class has some target mass: no switch is fully off; soft labels, "
            "section 6)"
        )
    more, values = _gradients(data, q, o)
    return Section(
        2,
        "The exponents are switches",
        tuple(lines + more),
        {
            "ce_before": ce1,
            "ce_after": ce2,
            "moved": moved,
            "entropy_before": h1,
            "entropy_after": h2,
            **values,
        },
    )


#: p given to the positive class on three negatives (y = 0): a confident mistake's cost
CONFIDENT_MISTAKES = (0.9, 0.99, 0.999999)


def _gradients(data: Data, q: np.ndarray, o: _Masks) -> tuple[list[str], dict[str, float]]:
    """The three questions the exponents raise, answered with the library's gradients:
    what pushes q up, what the two binary factors do together, and what the wrong classes
    get although the value ignores them."""
    keep = _observed_mask(data)
    log_q = np.log(q)  # softmax(log q) = q: the gradient of the loss w.r.t. these logits
    g = np.asarray(cross_entropy_grad(log_q, data.target, reduction="sum", **o))
    y = np.asarray(data.target)
    onehot = (
        np.arange(q.shape[1])[None, :] == y[:, None] if data.hard else np.asarray(y, dtype=float)
    )
    lines = [
        "Are higher probabilities raised to higher powers encouraged? No: an exponent is a",
        "switch, never a reward. What pushes q(y_i|x_i) up is training: the gradient of the",
        "NLL with respect to the logit z_c is q_c − y_c, so on the observed class it is q − 1 < 0",
        "and a descent step raises that logit; the push fades to 0 only as q → 1.",
    ]
    values: dict[str, float] = {}
    if keep.any() and data.hard:
        g_obs = g[np.flatnonzero(keep), y[keep]]
        neg = float(np.mean(g_obs < 0))
        lines.append(
            f"  here: q − 1 on the observed class is negative on {neg:.0%} of the examples, "
            f"mean {_f(float(np.mean(g_obs)), 4)}"
        )
        values.update({"grad_observed_mean": float(np.mean(g_obs)), "grad_observed_negative": neg})
    p = np.array(CONFIDENT_MISTAKES)
    x = np.log(p / (1 - p))
    cost = np.asarray(binary_cross_entropy(x, np.zeros(3), reduction="none"))
    gb = np.asarray(binary_cross_entropy_grad(x, np.zeros(3), reduction="sum"))
    lines += [
        "What does multiplying both classes' terms p^y (1 − p)^(1 − y) induce? Each example",
        "switches one on: maximising the product pulls p up on the positives and down on the",
        "negatives; the gradient of −log is p − y (−1 ≤ p − y ≤ 1), but the cost of a confident",
        "mistake is unbounded: a negative (y = 0) given p = "
        + ", ".join(f"{v:g}" for v in p)
        + " costs −log(1 − p) =",
        "  "
        + ", ".join(_f(float(c), 4) for c in cost)
        + " nats, while its gradient p − y stays "
        + ", ".join(_f(float(v), 6) for v in gb)
        + ".",
    ]
    values.update({f"mistake_cost_{v:g}": float(c) for v, c in zip(p, cost, strict=True)})
    if keep.any():
        rows = np.flatnonzero(keep)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = -np.sum(np.where(onehot[rows] > 0, onehot[rows] * log_q[rows], 0.0), axis=1)
        i = int(rows[np.nanargmax(np.where(np.isnan(loss), -np.inf, loss))])
        top = np.argsort(-q[i], kind="stable")[:4]
        shown = "   ".join(
            f"{c}: q {_fixed(q[i, c], 0, 3)}, grad {_fixed(g[i, c], 0, 3).strip()}" for c in top
        )
        lines += [
            "Only the observed class matters — for the value. Through the softmax every logit",
            f"still gets q_c − y_c: example {i} (the largest loss"
            + (f", observed class {int(y[i])}" if data.hard else "")
            + "), its top classes:",
            f"  {shown}",
            f"  the wrong classes are pushed down by their q; the row's gradient sums to "
            f"{_f(float(np.sum(g[i])), 2)} (softmax ignores a common shift)",
        ]
        values.update({"grad_example": float(i), "grad_example_sum": float(np.sum(g[i]))})
    return lines, values


def _section3(data: Data) -> tuple[Section, dict]:
    curves: dict[str, np.ndarray] = {}
    splits = data.splits
    if splits is not None:
        X_train, y_train, X_test, y_test = splits
        C = data.pred.shape[1]
        rows, tr, te = [], [], []
        d_train = class_distances(X_train, y_train, X_train, num_classes=C)
        d_test = class_distances(X_train, y_train, X_test, num_classes=C)
        for s in SHARPNESS:
            lt = nearest_neighbour_logits(d_train, s)
            a = float(cross_entropy(lt, y_train, impl=_IMPL))
            b = float(cross_entropy(nearest_neighbour_logits(d_test, s), y_test, impl=_IMPL))
            tr.append(a)
            te.append(b)
            rows.append(f"  {_f(s, 3):>6}  {_f(a):>14}  {_f(b):>14}")
        best = SHARPNESS[int(np.argmin(te))]
        lik_train = float(likelihood(lt, y_train, impl=_IMPL))
        lines = [
            "The likelihood Π q(y_i|x_i) ≤ 1 is maximal (= 1) when every q(y_i|x_i) = 1: all the",
            "mass on the observed labels. A nearest-neighbour model of sharpness s,",
            "logit_c = −s · (squared distance to the nearest training image of class c), does",
            "exactly that on its training images as s grows:",
            "  sharpness   train NLL/ex.   held-out NLL/ex.",
            *rows,
            f"At s = {_f(SHARPNESS[-1], 3)} the training likelihood is {_f(lik_train)}; held-out NLL is best at "
            f"s = {_f(best, 3)} and then grows",
            "without bound: every held-out mistake costs ∝ s. Maximal likelihood on the training",
            "set is over-confidence on new data.",
        ]
        curves["sharpness"] = np.asarray(SHARPNESS)
        curves["sharpness_train"] = np.asarray(tr)
        curves["sharpness_heldout"] = np.asarray(te)
        values = {
            "train_likelihood_max_s": lik_train,
            "best_sharpness": best,
            **{f"train_s{s:g}": a for s, a in zip(SHARPNESS, tr, strict=True)},
            **{f"heldout_s{s:g}": b for s, b in zip(SHARPNESS, te, strict=True)},
        }
    else:
        lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
        o = _opts(data.sample_weight, data.ignore_index)
        ce_t = [float(cross_entropy(lq * t, data.target, impl=_IMPL, **o)) for t in TEMPERATURES]
        rows = [f"  {_f(t, 3):>6}  {_f(c):>14}" for t, c in zip(TEMPERATURES, ce_t, strict=True)]
        lines = [
            "The likelihood Π q(y_i|x_i) ≤ 1 is maximal (= 1) when every q(y_i|x_i) = 1: all the",
            "mass on the observed labels. Sharpening these predictions (log q · s, renormalised):",
            "  s         NLL/example",
            *rows,
            "On data the model was not fitted to, pushing mass to its own guesses pays off only",
            "while they are right; every mistake costs ∝ s. (The bundled example, which has the",
            "training images, shows train vs held-out.)",
        ]
        curves["sharpness"] = np.asarray(TEMPERATURES)
        curves["sharpness_heldout"] = np.asarray(ce_t)
        values = {f"ce_s{t:g}": c for t, c in zip(TEMPERATURES, ce_t, strict=True)}
    return Section(
        3,
        "Maximal likelihood: all mass on the observed labels — over-confident",
        tuple(lines),
        values,
    ), curves


def _section4(data: Data) -> Section:
    C = data.pred.shape[1]
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    if not data.hard or C < 2:
        lines = [
            "Categorical likelihood: Π_i Π_c q_ic^{y_ic}; with soft targets the exponents are",
            "fractions (section 6). The binary comparison needs hard labels.",
        ]
        return Section(4, "Many classes: the categorical likelihood", tuple(lines), {})
    keep = _observed_mask(data)
    counts = np.bincount(data.target[keep], minlength=C)
    a, b = (int(c) for c in sorted(np.argsort(-counts, kind="stable")[:2]))
    rows = keep & ((data.target == a) | (data.target == b))
    two = lq[rows][:, [a, b]]
    y01 = (data.target[rows] == b).astype(np.int64)
    ce_cat = float(cross_entropy(two, y01, impl=_IMPL))
    x = two[:, 1] - two[:, 0]  # the binary logit: log q_b − log q_a
    ce_bin = float(binary_cross_entropy(x, y01.astype(np.float64)))
    p = 1.0 / (1.0 + np.exp(-x))
    seed = float(-np.mean(y01 * np.log(p) + (1 - y01) * np.log1p(-p)))
    lines = [
        "With C classes the likelihood is Π_i q_{i,y_i} = Π_i Π_c q_ic^{y_ic} (one switch per class).",
        f"Binary is the C = 2 case. Classes {a} and {b} ({int(rows.sum())} examples), model renormalised",
        f"to the two: categorical CE {_f(ce_cat, 12)}; binary CE on the logit log q_{b} − log q_{a}: "
        f"{_f(ce_bin, 12)};",
        f"the notes' formula −mean[y log p + (1−y) log(1−p)]: {_f(seed, 12)}.",
    ]
    return Section(
        4,
        "Many classes: the categorical likelihood, binary as C = 2",
        tuple(lines),
        {
            "categorical": ce_cat,
            "binary": ce_bin,
            "seed_formula": seed,
            "class_a": a,
            "class_b": b,
            "n": int(rows.sum()),
        },
    )


def _section5(data: Data) -> Section:
    q = _probs(data)
    o = _opts(data.sample_weight, data.ignore_index)
    rowsum_err = float(np.abs(q.sum(axis=1) - 1).max()) if q.size else 0.0
    rng = np.random.default_rng(0)
    perm = rng.permutation(q.shape[0])
    ll = float(log_likelihood(data.pred, data.target, kind=data.kind, impl=_IMPL, **o))
    sw = None if data.sample_weight is None else data.sample_weight[perm]
    ll_pairs = float(
        log_likelihood(
            data.pred[perm],
            data.target[perm],
            kind=data.kind,
            impl=_IMPL,
            sample_weight=sw,
            ignore_index=data.ignore_index,
        )
    )
    ll_broken = float(
        log_likelihood(
            data.pred,
            data.target[perm],
            kind=data.kind,
            impl=_IMPL,
            sample_weight=sw,
            ignore_index=data.ignore_index,
        )
    )
    keep = _observed_mask(data)
    if data.hard:
        freq = np.bincount(data.target[keep], minlength=q.shape[1]) / max(int(keep.sum()), 1)
    else:
        t = data.target[keep]
        freq = t.sum(axis=0) / max(float(t.sum()), 1e-300)
    mean_q = q[keep].mean(axis=0) if keep.any() else np.full(q.shape[1], math.nan)
    lines = [
        "The model is a conditional distribution q(y | x): one distribution over the classes",
        "for each input x. The inputs are given, not modelled — no p(x) appears anywhere.",
        f"Each row sums to 1 over the classes (every row within 1e-12: {rowsum_err < 1e-12}).",
        f"Shuffling the (x_i, y_i) pairs together leaves the log-likelihood as it is: {_f(ll, 12)} vs {_f(ll_pairs, 12)};",
        f"breaking the pairing (labels shuffled against the inputs) gives {_f(ll_broken)}.",
        f"Averaged over x, q matches the label frequencies: max |mean_x q(c|x) − freq(c)| = "
        f"{_f(float(np.abs(mean_q - freq).max()), 3)}.",
    ]
    return Section(
        5,
        "What the distribution is: q(y | x), with x given",
        tuple(lines),
        {
            "log_likelihood": ll,
            "shuffled_pairs": ll_pairs,
            "broken_pairs": ll_broken,
            "rowsum_err": rowsum_err,
        },
    )


def _section6(data: Data) -> Section:
    C = data.pred.shape[1]
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    keep = _observed_mask(data)
    eps = 0.1
    lines = [
        "A soft label y_i is a distribution: the exponents y_ic are fractions and",
        "CE(y, q) = −Σ_c y_c log q_c = H(y) + KL(y ‖ q) ≥ H(y), equality only at q = y.",
    ]
    values: dict[str, float] = {}
    if data.hard:
        y = np.eye(C)[data.target[keep]]
        soft = (1 - eps) * y + eps / C
        ls = float(cross_entropy(lq[keep], data.target[keep], label_smoothing=eps, impl=_IMPL))
        ss = float(cross_entropy(lq[keep], soft, impl=_IMPL))
        d = decompose(lq[keep], soft)
        lines += [
            f"Label smoothing ε = {eps} is the soft target (1 − ε)·onehot + ε/C: CE {_f(ls, 12)} with",
            f"label_smoothing=0.1, {_f(ss, 12)} with the soft target; H(y') = {_f(float(d.entropy))}, "
            f"KL = {_f(float(d.kl))}.",
        ]
        values.update(
            smoothing=ls, soft_target=ss, smoothed_entropy=float(d.entropy), smoothed_kl=float(d.kl)
        )
        teacher_lq = lq[keep] / 2.0  # temperature 2
        teacher = np.exp(np.asarray(to_log_probs(teacher_lq, kind="logits")))
        name = "teacher = these predictions at temperature T = 2"
    else:
        teacher = data.target[keep] / data.target[keep].sum(axis=1, keepdims=True)
        teacher_lq = np.log(teacher)
        name = "the file's soft targets"
    # the minimum at q = y: students at other temperatures of the teacher's logits
    rows = []
    for m in (2.0, 1.0, 0.5):
        dd = decompose(teacher_lq * m, teacher)
        rows.append((m, float(dd.cross_entropy), float(dd.entropy), float(dd.kl)))
    lines += [
        f"Distillation ({name}): targets are the teacher's probabilities.",
        "  student                              CE        H(y)   KL(y ‖ q)",
    ]
    for m, c, h, k in rows:
        who = (
            "q = y (the teacher)"
            if m == 1.0
            else (
                f"sharper (teacher logits ×{_f(m, 2)})"
                if m > 1
                else f"flatter (teacher logits ×{_f(m, 2)})"
            )
        )
        lines.append(f"  {who:<30} {_fixed(c)}  {_fixed(h)}  {_fixed(k)}")
    lines.append("The minimum is at q = y (KL = 0, CE = H(y)), not at a one-hot q.")
    values.update(
        student_ce_at_teacher=rows[1][1],
        teacher_entropy=rows[1][2],
        student_kl_at_teacher=rows[1][3],
        student_ce_sharper=rows[0][1],
        student_ce_flatter=rows[2][1],
    )
    return Section(6, "Soft labels: CE = H(y) + KL(y ‖ q), minimal at q = y", tuple(lines), values)


def _section7(data: Data) -> Section:
    n = data.pred.shape[0]
    keep = _observed_mask(data)
    hide = np.zeros(n, dtype=bool)
    hide[np.flatnonzero(keep)[::10]] = True
    sw = np.ones(n) if data.sample_weight is None else data.sample_weight
    kw = _core(data.kind)
    terms = np.asarray(
        nll(
            data.pred,
            data.target,
            reduction="none",
            sample_weight=data.sample_weight,
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    soft_w = np.where(hide, 0.5 * sw, sw)
    weighted = float(
        cross_entropy(
            data.pred, data.target, sample_weight=soft_w, ignore_index=data.ignore_index, **kw
        )
    )
    zero_w = float(
        cross_entropy(
            data.pred,
            data.target,
            sample_weight=np.where(hide, 0.0, sw),
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    sel = keep & ~hide
    dropped = float(
        cross_entropy(
            data.pred[sel],
            data.target[sel],
            sample_weight=None if data.sample_weight is None else sw[sel],
            ignore_index=data.ignore_index,
            **kw,
        )
    )
    wrong = float(np.where(hide, 0.0, terms).sum() / keep.sum())
    lines = [f"Hide every tenth counted example ({int(hide.sum())} of {int(keep.sum())}):"]
    values = {
        "sample_weight_zero": zero_w,
        "dropped": dropped,
        "zeroed_over_n": wrong,
        "half_weight": weighted,
    }
    if data.hard:
        t = data.target.copy()
        t[hide] = data.ignore_index
        ign = float(
            cross_entropy(
                data.pred, t, sample_weight=data.sample_weight, ignore_index=data.ignore_index, **kw
            )
        )
        lines.append(f"  hard mask, ignore_index:       {ign:.12f}")
        values["ignore_index"] = ign
    else:
        t = np.where(hide[:, None], 0.0, data.target)
        ign = float(cross_entropy(data.pred, t, sample_weight=data.sample_weight, **kw))
        lines.append(f"  hard mask, all-zero target row: {ign:.12f}")
        values["ignore_index"] = ign
    lines += [
        f"  hard mask, sample_weight = 0:  {zero_w:.12f}",
        f"  rows dropped:                  {dropped:.12f}",
        "  (all three divide by the number of rows that count; zeroing their losses but",
        f"  dividing by all N would give {wrong:.12f}, biased low)",
        f"  soft mask, sample_weight 0.5:  {weighted:.12f}  = Σ s_i ℓ_i / Σ s_i",
    ]
    return Section(7, "Hard and soft masking: what the mean divides by", tuple(lines), values)


def _section8(data: Data) -> tuple[Section, dict]:
    splits = data.splits
    if splits is None:
        lines = [
            "Training needs the inputs x; a prediction file holds only q. Run",
            "`crossentropy explain` without a file to see a softmax regression trained on the",
            "bundled digits with the library's gradient.",
        ]
        return Section(
            8, "Training minimises cross-entropy = maximises likelihood", tuple(lines)
        ), {}
    X_train, y_train, _, _ = splits
    h = descend_softmax_regression(X_train, y_train, num_classes=data.pred.shape[1])
    lines = [
        "Softmax regression on the training digits, gradient descent from W = 0 with the",
        f"library's closed-form gradient softmax − onehot (learning rate {_f(TRAIN_LR)}):",
        "  step        NLL    log10 likelihood   CE/example   mean H(q)",
    ]
    for s, n_, l10, c, hq in zip(
        h["step"], h["nll"], h["log10_likelihood"], h["cross_entropy"], h["entropy_q"], strict=True
    ):
        lines.append(f"  {int(s):>4} {n_:10.4f} {l10:16.4f}   {_fixed(c)}  {_fixed(hq)}")
    falls = bool(np.all(np.diff(h["nll"]) < 0))
    lines.append(
        f"NLL falls at every recorded step ({falls}); the likelihood rises by the same amount "
        "in log10 / ln 10."
    )
    curves = {
        "train_step": h["step"],
        "train_nll": h["nll"],
        "train_log10_likelihood": h["log10_likelihood"],
        "train_entropy_q": h["entropy_q"],
        "train_ce": h["cross_entropy"],
    }
    return Section(
        8,
        "Training minimises cross-entropy = maximises likelihood",
        tuple(lines),
        {"nll_start": float(h["nll"][0]), "nll_end": float(h["nll"][-1]), "monotone": float(falls)},
    ), curves


def _section9(data: Data, curves: Mapping[str, np.ndarray]) -> Section:
    o = _opts(data.sample_weight, data.ignore_index)
    lq = np.asarray(to_log_probs(data.pred, kind=data.kind))
    keep = _observed_mask(data)
    ce = float(cross_entropy(lq, data.target, impl=_IMPL, **o))
    hq = float(entropy(lq[keep], kind="log_probs", reduction="mean"))
    hy = (
        0.0
        if data.hard
        else float(
            entropy(
                data.target[keep] / data.target[keep].sum(axis=1, keepdims=True), reduction="mean"
            )
        )
    )
    s = 8.0
    ce_s = float(cross_entropy(lq * s, data.target, impl=_IMPL, **o))
    hq_s = float(entropy(lq[keep] * s, kind="logits", reduction="mean"))
    lines = [
        "The notes end: summing log-probabilities gives 'the entropy of the estimated",
        "distribution', which training minimises. Not so: training minimises the",
        "cross-entropy CE(y, q) = H(y) + KL(y ‖ q) of the targets under the model. H(y) is",
        "fixed by the data (0 for hard labels), so training drives KL → 0, i.e. q → y.",
        f"On these data: CE {_f(ce)};  entropy of the predictions H(q) {_f(hq)};  entropy of the "
        f"targets H(y) {_f(hy)}.",
        f"Lowering H(q) is not the goal: sharpening the logits ×{_f(s)} gives H(q) {_f(hq_s)} "
        f"but CE {_f(ce_s)}",
        f"({'worse' if ce_s > ce else 'better' if ce_s < ce else 'no better'}). A model that "
        "minimised H(q) would put all mass on "
        "one class whatever the label.",
    ]
    if "train_ce" in curves:
        lines.append(
            f"During training (section 8) CE went {_f(curves['train_ce'][0])} → "
            f"{_f(curves['train_ce'][-1])} and H(q) {_f(curves['train_entropy_q'][0])} → "
            f"{_f(curves['train_entropy_q'][-1])}: H(q) stays above CE's"
        )
        lines.append("floor H(y) = 0 and falls only as a side effect of fitting the labels.")
    return Section(
        9,
        "The misconception: training minimises CE, not the entropy of q",
        tuple(lines),
        {
            "cross_entropy": ce,
            "entropy_q": hq,
            "entropy_y": hy,
            "sharpened_ce": ce_s,
            "sharpened_entropy_q": hq_s,
        },
    )


_NOTHING_COUNTS = (
    "No example counts here (every label is ignored or every weight is 0): every mean is",
    "0/0, undefined (NaN, as `crossentropy evaluate` reports it), so this answer has no",
    "numbers on these data. Run `crossentropy explain` without a file for the bundled example.",
)
#: The answers that show means on the data (the others hold with no example too).
_ON_MEANS = (2, 3, 4, 5, 6, 7, 9)


def sections(data: Data) -> tuple[tuple[Section, ...], dict]:
    """The nine answers on ``data`` and the curves the figures draw. When no example counts
    (all ignored, or every weight 0) the answers built on means say so instead."""
    curves: dict[str, np.ndarray] = {}
    counted = bool(_observed_mask(data).any())
    with warnings.catch_warnings():
        if not counted:  # means of nothing: NaN, and numpy says so; the text says it instead
            warnings.simplefilter("ignore", RuntimeWarning)
        s3, c3 = _section3(data)
        s8, c8 = _section8(data)
        curves.update(c3)
        curves.update(c8)
        out: tuple[Section, ...] = (
            _section1(data),
            _section2(data),
            s3,
            _section4(data),
            _section5(data),
            _section6(data),
            _section7(data),
            s8,
            _section9(data, curves),
        )
    if not counted:
        out = tuple(
            Section(s.number, s.title, _NOTHING_COUNTS) if s.number in _ON_MEANS else s for s in out
        )
    return out, curves
