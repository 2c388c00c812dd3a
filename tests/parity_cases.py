"""Inputs and an independent float64 reference for the parity matrix (tests/test_parity.py).

- :func:`covering_design`: a seeded greedy t-wise covering array (every t-tuple of factor
  levels appears in some case), padded with seeded random cases.
- :class:`Case` and :func:`build`: one grid point and its arrays, a pure function of the case.
- :func:`reference` / :func:`binary_reference`: ℓ_i, w_i, the reductions and the closed-form
  gradient straight from docs/semantics.md §3–5, §8, §9, written with plain NumPy loops and
  sharing no code with the library.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

N, C, L = 9, 4, 3  # rows, classes (multi-class), labels per row (binary)
CLASS_WEIGHT = np.array([0.5, 2.0, 0.0, 1.5])  # a zero class weight: not a mask (§4)
POS_WEIGHT = np.array([1.5, 0.5, 3.0])
ELEM_WEIGHT = np.array([0.7, 1.3, 2.0])


# ----------------------------------------------------------------------------- covering design
def covering_design(
    factors: dict[str, list], *, strength: int, seed: int, total: int = 0
) -> list[dict]:
    """Rows covering every ``strength``-tuple of levels (greedy, seeded), then random rows up to ``total``.

    Each step draws 400 random candidates, each forced to hold the first still-uncovered
    tuple, and keeps the one covering the most uncovered tuples.
    """
    names = list(factors)
    sizes = np.array([len(factors[n]) for n in names])
    groups = [list(g) for g in itertools.combinations(range(len(names)), strength)]
    strides = [np.cumprod([1, *sizes[g][:-1]]) for g in groups]
    uncovered = [np.ones(int(np.prod(sizes[g])), bool) for g in groups]
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, ...]] = []

    def cells(cand: np.ndarray, k: int) -> np.ndarray:
        return cand[:, groups[k]] @ strides[k]

    while any(u.any() for u in uncovered):
        k = next(i for i, u in enumerate(uncovered) if u.any())
        cell = int(np.flatnonzero(uncovered[k])[0])
        levels = (cell // strides[k]) % sizes[groups[k]]
        cand = rng.integers(0, sizes, size=(400, len(names)))
        cand[:, groups[k]] = levels
        gain = sum(uncovered[j][cells(cand, j)].astype(int) for j in range(len(groups)))
        best = cand[int(np.argmax(gain))]
        rows.append(tuple(int(v) for v in best))
        for j in range(len(groups)):
            uncovered[j][cells(best[None, :], j)] = False
    seen = set(rows)
    while len(rows) < total:
        row = tuple(int(v) for v in rng.integers(0, sizes))
        if row not in seen:
            seen.add(row)
            rows.append(row)
    return [{n: factors[n][v] for n, v in zip(names, row, strict=True)} for row in rows]


# ----------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One multi-class grid point; ``build`` turns it into arrays."""

    name: str
    reduction: str = "mean"
    empty: str = "nan"
    divide_by: str = "weight"
    class_weight: bool = False
    sample_weight: str = "none"  # none | zero (one zero entry) | all_zero
    ignore: str = "-100"  # -100: ignore_index=-100 with ignored rows (index targets); none: None
    label_smoothing: float = 0.0
    smoothing: str = "uniform"
    target: str = "index"  # index | soft | soft0 (one all-zero row)
    validate: bool = True
    base: Any = "e"
    special: str | None = None  # non-finite logits, see SPECIALS
    bad_label: Any = None  # out-of-range labels written into active rows (validate=False)
    n: int = N
    seed: int = 0

    @property
    def ignore_index(self) -> int | None:
        return -100 if self.ignore == "-100" else None


GRID_FACTORS = {
    "reduction": ["mean", "sum", "none"],
    "empty": ["nan", "zero", "raise"],
    "divide_by": ["weight", "count"],
    "class_weight": [False, True],
    "sample_weight": ["none", "zero", "all_zero"],
    "ignore": ["-100", "none"],
    "label_smoothing": [0.0, 0.1],
    "smoothing": ["uniform", "others"],
    "target": ["index", "soft", "soft0"],
    "validate": [True, False],
    "base": ["e", 2],
}


def _short(d: dict) -> str:
    return "-".join(
        [
            d["reduction"],
            f"empty={d['empty']}",
            f"div={d['divide_by']}",
            "cw" if d["class_weight"] else "nocw",
            f"sw={d['sample_weight']}",
            f"ii={d['ignore']}",
            f"ls={d['label_smoothing']}",
            d["smoothing"],
            d["target"],
            "val" if d["validate"] else "noval",
            f"base={d['base']}",
        ]
    )


def grid_cases(total: int = 200) -> list[Case]:
    """The seeded 3-wise covering design over GRID_FACTORS, padded to ``total`` cases."""
    rows = covering_design(GRID_FACTORS, strength=3, seed=20261128, total=total)
    return [Case(name=f"g{i:03d}-{_short(d)}", seed=1000 + i, **d) for i, d in enumerate(rows)]


SPECIALS = {
    "neg_inf_off": "a −inf logit off the target in an active row",
    "neg_inf_on": "a −inf logit on the target class of an active row (loss +inf)",
    "pos_inf": "a +inf logit in an active row",
    "nan_active": "a NaN logit in an active row (that row NaN, no other)",
    "nan_masked": "NaN and ±inf logits in masked rows (exact 0, gradient 0)",
    "all_neg_inf": "an active row of −inf logits (NaN: no distribution)",
}


def special_cases() -> list[Case]:
    out = []
    for k, (sp, v, red) in enumerate(
        itertools.product(SPECIALS, [True, False], ["mean", "sum", "none"])
    ):
        tgt = ["index", "soft0"][k % 2]
        ls = [0.0, 0.1][(k // 2) % 2]
        out.append(
            Case(
                name=f"s{k:02d}-{sp}-{red}-{tgt}-ls={ls}-{'val' if v else 'noval'}",
                reduction=red,
                validate=v,
                target=tgt,
                label_smoothing=ls,
                sample_weight=["none", "zero"][(k // 4) % 2],
                special=sp,
                seed=3000 + k,
            )
        )
    return out


BAD_LABELS = {"C": C, "99": 99, "-1": -1, "-100/None": -100}

OOR_FACTORS = {
    "reduction": ["mean", "sum", "none"],
    "empty": ["nan", "zero", "raise"],
    "bad_label": list(BAD_LABELS),
    "class_weight": [False, True],
    "sample_weight": ["none", "zero"],
    "label_smoothing": [0.0, 0.1],
    "divide_by": ["weight", "count"],
}


def out_of_range_cases() -> list[Case]:
    """validate=False with labels outside [0, C) in active rows: pairwise design."""
    rows = covering_design(OOR_FACTORS, strength=2, seed=77, total=24)
    out = []
    for i, d in enumerate(rows):
        ignore = "none" if d["bad_label"] == "-100/None" else "-100"
        name = (
            f"o{i:02d}-label={d['bad_label']}-{d['reduction']}-empty={d['empty']}-"
            f"div={d['divide_by']}-{'cw' if d['class_weight'] else 'nocw'}-"
            f"sw={d['sample_weight']}-ls={d['label_smoothing']}"
        )
        out.append(
            Case(
                name=name,
                validate=False,
                ignore=ignore,
                seed=5000 + i,
                **{k: v for k, v in d.items()},
            )
        )
    return out


def empty_batch_cases() -> list[Case]:
    """N = 0: reduction × empty × validate, index and soft targets alternating."""
    out = []
    combos = itertools.product(["mean", "sum", "none"], ["nan", "zero", "raise"], [True, False])
    for k, (red, emp, v) in enumerate(combos):
        tgt = ("index", "soft")[k % 2]
        name = f"n0-{red}-empty={emp}-{tgt}-{'val' if v else 'noval'}"
        out.append(
            Case(name=name, reduction=red, empty=emp, target=tgt, validate=v, n=0, seed=9000 + k)
        )
    return out


# ----------------------------------------------------------------------------- arrays
def logits(rng: np.random.Generator, n: int, c: int = C) -> np.ndarray:
    return rng.normal(size=(n, c)) * 2.0


def build(case: Case) -> dict[str, Any]:
    """x (float64 logits), target, class weight, sample weight, and the masks used to build them."""
    rng = np.random.default_rng(case.seed)
    n = case.n
    x = logits(rng, n)
    masked = np.zeros(n, bool)
    if case.target == "index":
        t = rng.integers(0, C, n)
        t[: min(n, 2)] = [0, 1][: min(n, 2)]  # never every row on the zero-weight class
        if case.ignore == "-100" and n >= 5:
            t[[2, 5]] = -100
            masked[[2, 5]] = True
    else:
        t = rng.dirichlet(np.ones(C), size=n)
        if case.target == "soft0" and n >= 4:
            t[3] = 0.0
            masked[3] = True
    s = None
    if case.sample_weight == "zero":
        s = rng.uniform(0.2, 2.0, n)
        if n >= 7:
            s[6] = 0.0
            masked[6] = True
    elif case.sample_weight == "all_zero":
        s = np.zeros(n)
        masked[:] = True
    bad = np.zeros(n, bool)
    if case.bad_label is not None:
        value = BAD_LABELS[case.bad_label]
        for i in (0, 4):  # active rows with non-zero sample weight
            t[i] = value
            bad[i] = True
    if case.special is not None:
        active = [i for i in range(n) if not masked[i]]
        i = active[1]
        cls = int(t[i]) if case.target == "index" else int(np.argmax(t[i]))
        other = (cls + 1) % C
        if case.special == "neg_inf_off":
            x[i, other] = -np.inf
        elif case.special == "neg_inf_on":
            x[i, cls] = -np.inf
        elif case.special == "pos_inf":
            x[i, other] = np.inf
        elif case.special == "nan_active":
            x[i, other] = np.nan
        elif case.special == "all_neg_inf":
            x[i, :] = -np.inf
        elif case.special == "nan_masked":
            for j in np.flatnonzero(masked)[:3]:
                x[j, 0], x[j, 1], x[j, 2] = np.nan, np.inf, -np.inf
    return dict(
        x=x,
        target=t,
        weight=CLASS_WEIGHT.copy() if case.class_weight else None,
        sample_weight=s,
        masked=masked,
        bad=bad,
    )


def core_options(case: Case, data: dict) -> dict[str, Any]:
    """Keyword arguments of crossentropy.cross_entropy for this case (without reduction/base)."""
    return dict(
        weight=data["weight"],
        sample_weight=data["sample_weight"],
        ignore_index=case.ignore_index,
        label_smoothing=case.label_smoothing,
        smoothing=case.smoothing,
        empty=case.empty,
        divide_by=case.divide_by,
        validate=case.validate,
    )


# ----------------------------------------------------------------------------- reference
def _log_softmax_row(x: np.ndarray) -> np.ndarray:
    """x_c − logsumexp(x), max-shifted (§1); NaN anywhere (or no finite max) → NaN row."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        if np.isnan(x).any():
            return np.full_like(x, np.nan)
        m = np.max(x)
        lse = m + math.log(np.sum(np.exp(x - m))) if np.isfinite(m) else np.nan
        return x - lse


def reference(
    x,
    target,
    *,
    weight=None,
    sample_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
    kind="logits",
) -> dict[str, np.ndarray]:
    """Per-row ℓ_i, w_i, count_i, log_prob_i, masked_i and the unreduced gradient rows (§3–5, §9).

    Masked rows (ignored, all-zero target, zero sample weight): 0 everywhere. Rows with an
    out-of-range class index (only reachable with validate=False): loss, w, count, log_prob
    and gradient NaN.
    """
    x = np.asarray(x, dtype=np.float64)
    target = np.asarray(target)
    n, c = x.shape
    wc = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    soft = target.ndim == 2
    out = {k: np.zeros(n) for k in ("loss", "w", "count", "log_prob")}
    out["masked"] = np.zeros(n, bool)
    out["grad"] = np.zeros((n, c))
    eps = label_smoothing
    for i in range(n):
        if soft:
            y = target[i].astype(np.float64)
        else:
            k = int(target[i])
            if ignore_index is not None and k == ignore_index:
                y = np.zeros(c)
            elif not 0 <= k < c:
                for key in ("loss", "w", "count", "log_prob"):
                    out[key][i] = np.nan
                out["grad"][i] = np.nan
                continue
            else:
                y = np.eye(c)[k]
        m = y.sum()
        if smoothing == "uniform":
            yp = (1 - eps) * y + eps * m / c
        else:
            yp = (1 - eps) * y + eps * (m - y) / (c - 1)
        if kind == "logits":
            lq = _log_softmax_row(x[i])
        else:  # log_probs
            lq = x[i].copy()
        nz = yp != 0  # 0 · log 0 = 0 (§3)
        if m > 0:
            out["log_prob"][i] = np.sum(yp[nz] * lq[nz])
        if m == 0 or s[i] == 0:
            out["masked"][i] = True
            continue
        a = wc * yp
        nza = a != 0
        out["loss"][i] = -s[i] * np.sum(a[nza] * lq[nza])
        out["w"][i] = s[i] * np.sum(wc * y)
        out["count"][i] = s[i]
        with np.errstate(invalid="ignore"):
            if kind == "logits":
                q = np.exp(lq)
                out["grad"][i] = s[i] * (a.sum() * q - a)
            else:
                out["grad"][i] = -s[i] * a
    return out


class EmptyRaise(Exception):
    """The reference's way to say: this reduction raises ValueError (empty='raise', Σw = 0)."""


def ref_reduce(rows: dict, reduction: str, *, empty: str, divide_by: str) -> Any:
    """The reduction of §4 with the empty= policy; raises EmptyRaise where the library must raise ValueError."""
    loss = rows["loss"]
    den = rows["w" if divide_by == "weight" else "count"].sum()
    is_empty = den == 0  # NaN (an invalid row) is not empty: the mean is NaN
    if reduction == "none":
        if empty == "raise" and loss.size == 0:
            raise EmptyRaise
        return loss.copy()
    if empty == "raise" and is_empty:
        raise EmptyRaise
    if reduction == "sum":
        return float(loss.sum())
    if is_empty:
        return math.nan if empty == "nan" else 0.0
    return float(loss.sum() / den)


def ref_grad(
    rows: dict, reduction: str, *, empty: str, divide_by: str, grad_output: Any
) -> np.ndarray:
    """∂loss/∂x (§9): masked rows exactly 0; ``"mean"`` divides by Σw (NaN when a row is invalid)."""
    g = rows["grad"].copy()
    if empty == "raise" and g.shape[0] == 0:
        raise EmptyRaise  # the value raises (§4), so does its gradient
    if reduction == "none":
        g = g * np.asarray(grad_output, dtype=np.float64)[:, None]
        g[rows["masked"]] = 0.0
        return g
    den = rows["w" if divide_by == "weight" else "count"].sum()
    if empty == "raise" and den == 0:
        raise EmptyRaise
    if reduction == "mean":
        g = np.zeros_like(g) if den == 0 else g / den
    g = g * float(grad_output)
    g[rows["masked"]] = 0.0
    return g


# ----------------------------------------------------------------------------- binary
BIN_FACTORS = {
    "reduction": ["mean", "sum", "none"],
    "empty": ["nan", "zero", "raise"],
    "weight": [False, True],
    "pos_weight": [False, True],
    "sample_weight": ["none", "rows", "elements", "all_zero"],
    "target": ["float", "int", "int_ignored"],
    "label_smoothing": [0.0, 0.1],
    "validate": [True, False],
}


@dataclass(frozen=True)
class BinCase:
    name: str
    reduction: str
    empty: str
    weight: bool
    pos_weight: bool
    sample_weight: str
    target: str
    label_smoothing: float
    validate: bool
    seed: int

    @property
    def ignore_index(self) -> int | None:
        return -100 if self.target == "int_ignored" else None


def binary_cases() -> list[BinCase]:
    rows = covering_design(BIN_FACTORS, strength=2, seed=4242, total=40)
    out = []
    for i, d in enumerate(rows):
        name = (
            f"b{i:02d}-{d['reduction']}-empty={d['empty']}-"
            f"{'w' if d['weight'] else 'now'}-{'pw' if d['pos_weight'] else 'nopw'}-"
            f"sw={d['sample_weight']}-{d['target']}-ls={d['label_smoothing']}-"
            f"{'val' if d['validate'] else 'noval'}"
        )
        out.append(BinCase(name=name, seed=7000 + i, **d))
    return out


def build_binary(case: BinCase) -> dict[str, Any]:
    rng = np.random.default_rng(case.seed)
    x = rng.normal(size=(N, L)) * 2.0
    if case.target == "float":
        t = rng.uniform(0, 1, (N, L))
        t[0] = [0.0, 1.0, 0.0]
    else:
        t = rng.integers(0, 2, (N, L))
        if case.target == "int_ignored":
            t[1, :] = -100
            t[4, 2] = -100
    s = None
    if case.sample_weight == "rows":
        s = rng.uniform(0.2, 2.0, N)
        s[3] = 0.0
    elif case.sample_weight == "elements":
        s = rng.uniform(0.2, 2.0, (N, L))
        s[2, 1] = 0.0
    elif case.sample_weight == "all_zero":
        s = np.zeros(N)
    return dict(
        x=x,
        target=t,
        weight=ELEM_WEIGHT.copy() if case.weight else None,
        pos_weight=POS_WEIGHT.copy() if case.pos_weight else None,
        sample_weight=s,
    )


def binary_reference(
    x, target, *, weight=None, pos_weight=None, sample_weight=None, ignore_index=None, eps=0.0
) -> dict[str, np.ndarray]:
    """Per-element ℓ, the mean's divisor terms and the unreduced logits gradient (§8, §9)."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(target)
    wt = np.ones(x.shape[-1]) if weight is None else np.asarray(weight, dtype=np.float64)
    pw = np.ones(x.shape[-1]) if pos_weight is None else np.asarray(pos_weight, dtype=np.float64)
    s = np.ones(x.shape) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if s.ndim == 1:
        s = np.repeat(s[:, None], x.shape[1], axis=1)
    loss, den, grad = np.zeros(x.shape), np.zeros(x.shape), np.zeros(x.shape)
    masked = np.zeros(x.shape, bool)
    for i, j in np.ndindex(*x.shape):
        if (ignore_index is not None and t[i, j] == ignore_index) or s[i, j] == 0:
            masked[i, j] = True
            continue
        y = (1 - eps) * float(t[i, j]) + eps / 2
        xi = x[i, j]
        log_p, log_1mp = -np.logaddexp(0.0, -xi), -np.logaddexp(0.0, xi)
        p = 1.0 / (1.0 + math.exp(-xi))
        loss[i, j] = -s[i, j] * wt[j] * (pw[j] * y * log_p + (1 - y) * log_1mp)
        den[i, j] = s[i, j]
        grad[i, j] = s[i, j] * wt[j] * (pw[j] * y * (p - 1) + (1 - y) * p)
    return dict(loss=loss, den=den, grad=grad, masked=masked)
