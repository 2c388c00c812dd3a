"""Suite "evaluate": a full evaluation report vs scikit-learn's log_loss + calibration_curve.

Contenders, on the same float32 logits in one process, round-robin (see harness):

- ours: ``crossentropy.evaluate(x, y)`` — one streaming pass over row blocks
  giving cross-entropy, perplexity, accuracy, Brier, per-class table, 15-bin
  calibration (ECE/MCE/RMSCE), histograms; and the bare
  ``crossentropy.cross_entropy(x, y)`` for scale (their ratio is what the report
  costs on top of the loss: the fused row pass and its binned sums);
- scikit-learn: ``log_loss(y, p, labels=...)``, ``accuracy_score(y, argmax p)``, the
  multi-class Brier score ``mean_i Σ_c (p_ic − [c = y_i])²`` in NumPy (sklearn's
  ``brier_score_loss`` is binary) and ``calibration_curve`` of the top-label correctness
  against the confidence (15 bins) — the closest it has to the same report (no per-class
  table, histograms, top-k or confusion matrix). It takes probabilities,
  so the softmax is computed **outside** its timing (in its favour), on a row
  subsample whose time is scaled to all rows (a full float64 copy of the
  largest shape would not fit next to the others).

Memory: peak extra NumPy-visible bytes of one ``evaluate`` call (tracemalloc),
next to the size of the logits: it must stay one row block, not grow with N.
Every contender's cross-entropy is checked against a float64 reference.
"""

from __future__ import annotations

import math
import time

import numpy as np

from benchmarks.harness import Contender, machine, markdown_table, peak_numpy, round_robin

TITLE = "Evaluation"
FULL = [(10_000_000, 10), (1_000_000, 1_000)]
QUICK = [(200_000, 10), (20_000, 1_000)]
SK_ROWS = {10: 1_000_000, 1_000: 50_000}  # sklearn subsample (rows), scaled to N
GOAL = 5.0


def _data(n: int, C: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = np.empty((n, C), dtype=np.float32)
    y = rng.integers(0, C, n)
    for s in range(0, n, 1 << 20):  # fill in blocks: no float64 copy of the whole array
        e = min(n, s + (1 << 20))
        blk = rng.standard_normal((e - s, C), dtype=np.float32) * 2
        blk[np.arange(e - s), y[s:e]] += 1.5
        x[s:e] = blk
    return x, y


def _softmax64(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z -= z.max(1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(1, keepdims=True)
    return z


def _one(n: int, C: int, quick: bool, repeats: int) -> tuple[list[str], str]:
    """Time one shape; returns the table row and a note."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import accuracy_score, log_loss

    import crossentropy as ce
    from crossentropy.accumulate import evaluate

    x, y = _data(n, C)
    evaluate(x[:1000], y[:1000], impl="kernel")  # load the fused kernels outside the timing
    ce.cross_entropy(x[:1000], y[:1000])
    m = min(n, SK_ROWS[C] // (10 if quick else 1))
    p = _softmax64(x[:m])
    ysub = y[:m]

    def sk():
        ll = log_loss(ysub, p, labels=np.arange(C))
        top = p.argmax(1)
        accuracy_score(ysub, top)
        d = p.copy()  # multi-class Brier: Σ_c (p_c − onehot_c)², mean over rows
        d[np.arange(m), ysub] -= 1.0
        float(np.einsum("ij,ij->i", d, d).mean())
        calibration_curve((top == ysub).astype(int), p.max(1), n_bins=15)
        return ll

    ours = Contender("crossentropy.evaluate (full report)", lambda: evaluate(x, y))
    bare = Contender("crossentropy.cross_entropy (loss only)", lambda: ce.cross_entropy(x, y))
    skc = Contender(
        "sklearn log_loss + accuracy + Brier + calibration_curve",
        sk,
        scale=n / m,
        note=f"on {m:,} rows, ×{n / m:g}",
    )
    t0 = time.perf_counter()
    round_robin([ours, bare, skc], warmup=0, repeats=repeats)
    wall = time.perf_counter() - t0
    # correctness: ours and sklearn agree with a float64 reference on the subsample
    ref = float(np.mean(-np.log(p[np.arange(m), ysub])))
    r_sub = evaluate(x[:m], ysub)
    if not (
        math.isclose(r_sub.cross_entropy, ref, rel_tol=1e-5)
        and math.isclose(sk(), ref, rel_tol=1e-9)
    ):
        msg = f"cross-entropy mismatch: ours {r_sub.cross_entropy}, sklearn {sk()}, float64 {ref}"
        raise AssertionError(msg)
    mem = peak_numpy(lambda: evaluate(x, y))
    ratio = skc.median_s / ours.median_s
    row = [
        f"{n:,} × {C:,}",
        f"{ours.median_s:.2f} s",
        f"{bare.median_s:.2f} s",
        f"{ours.median_s / bare.median_s:.2f}×",
        f"{skc.median_s:.2f} s ({skc.note})",
        f"{ratio:.1f}×" + ("" if ratio >= GOAL else " (miss)"),
        f"{mem / 2**20:.0f} MiB",
        f"{x.nbytes / 2**20:.0f} MiB",
    ]
    return row, f"{n:,}×{C:,}: {wall:.0f} s wall for the round-robin"


def run(quick: bool) -> str:
    shapes = QUICK if quick else FULL
    repeats = 3 if quick else 2
    rows, notes = [], []
    for n, C in shapes:
        row, note = _one(n, C, quick, repeats)
        rows.append(row)
        notes.append(note)
    info = machine()
    head = (
        f"## {TITLE}\n\n"
        f"`evaluate` (one streaming pass, full report) vs scikit-learn `log_loss` + `accuracy_score` "
        f"+ multi-class Brier (NumPy) + `calibration_curve` "
        f"on float32 logits ({'quick' if quick else 'full'} run; median of {repeats} interleaved rounds; "
        f"goal ≥ {GOAL:g}× faster, extra memory one row block).\n\n"
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['simd']}); numpy {info['numpy']}, "
        f"numba {info['numba']}, sklearn {info['sklearn']}.\n\n"
    )
    table = markdown_table(
        [
            "N × C",
            "evaluate",
            "cross_entropy only",
            "evaluate ÷ cross_entropy",
            "sklearn (scaled)",
            "speed-up vs sklearn",
            "evaluate peak extra memory",
            "logits size",
        ],
        rows,
    )
    tail = (
        "\n\nsklearn's time excludes its softmax (computed beforehand in float64); ours includes "
        "everything from the logits. Memory is NumPy-visible peak (tracemalloc) of one call. "
        + "; ".join(notes)
        + ".\n"
    )
    return head + table + tail
