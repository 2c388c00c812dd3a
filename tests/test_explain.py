"""``crossentropy explain``: golden output on the bundled example, every number in it checked.

The golden text below was produced by one run of the command. It is not trusted
for its own sake: the tests further down recompute the numbers it shows with
independent tools (scikit-learn's ``log_loss``, SciPy, PyTorch autograd for the
training run, float64 NumPy) and compare them with the printed digits, and the
identities of the chain are asserted on the structured result, not read from the
text. A failed identity is an error exit (status 1).
"""

from __future__ import annotations

import io
import json
import math
import re
import time
from contextlib import redirect_stdout

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as sst
import torch
from scipy.spatial.distance import cdist
from sklearn.metrics import log_loss

from crossentropy import cli, explain
from crossentropy.examples import load_example

GOLDEN = """\
Explaining the bundled example: 539 held-out UCI handwritten digits scored by a softmax regression (run `crossentropy explain YOUR_FILE --target COL --pred 'COLS'` for your own predictions).

539 examples, 10 classes, prediction kind: logits

The chain: likelihood → log-likelihood → negative log-likelihood → cross-entropy
  q(y_i|x_i)            0.949192   probability of what was observed, per example  [median over 539 examples; min 0.0344457]
  likelihood         4.79017e-45   Π_i q(y_i|x_i) = exp(log-likelihood)  [= 10^-44.32]
  log-likelihood         -102.05   Σ_i log q(y_i|x_i)
  NLL                     102.05   −Σ_i log q(y_i|x_i)
  cross-entropy         0.189332   NLL / Σ_i w_i  [Σ w_i = 539]
  perplexity             1.20844   exp(cross-entropy)  [as unsure as this many equally likely classes]
  bits                  0.273148   cross-entropy / ln 2  [per example]
  H(y)                         0   entropy of the targets, −Σ_c y_c log y_c  [0 for hard labels]
  KL(y ‖ q)             0.189332   Σ_c y_c log(y_c / q_c)

Identities, checked on these numbers (relative tolerance 1e-12):
  ok  likelihood = exp(log-likelihood)
  ok  NLL = −log-likelihood
  ok  log-likelihood = Σ_i s_i log q(y_i|x_i)
  ok  cross-entropy = NLL / Σ w_i
  ok  perplexity = exp(cross-entropy)
  ok  bits = cross-entropy / ln 2
  ok  cross-entropy = H(y) + KL(y ‖ q)
  ok  decompose's cross-entropy = cross_entropy
  ok  likelihood = float64 product Π_i q(y_i|x_i)

1. The likelihood is a product over i.i.d. examples, and it underflows
   The 539 examples are taken as independent, so the likelihood of the data is the
   product of one probability per example: Π_i q(y_i|x_i).
   float64 product of the 539 probabilities: 4.79017e-45;  log-likelihood: -102.05 (= 10^-44.32)
   An untrained model (q = 1/10 for every class) on the same 539 examples: product 0.0 from example 324 on;  log-likelihood -1241.09 (= 10^-539.00), no underflow.
   Each factor is ≤ 1, so the product shrinks geometrically; the sum of logs does not.

2. The exponents are switches
   With a hard label the exponents y_ic are 1 for the observed class and 0 for every
   other: q^0 = 1, so only q(y_i|x_i) enters (binary: y picks p, 1 − y picks 1 − p).
   Spreading each example's wrong-class probability evenly over the wrong classes
   (moves 0.07902 of probability per example on average):
     cross-entropy before 0.189331658525, after 0.189331658525  (identical: True)
     while the mean entropy of the predictions changes: 0.407335 → 0.548149
   Are higher probabilities raised to higher powers encouraged? No: an exponent is a
   switch, never a reward. What pushes q(y_i|x_i) up is training: the gradient of the
   NLL with respect to the logit z_c is q_c − y_c, so on the observed class it is q − 1 < 0
   and a descent step raises that logit; the push fades to 0 only as q → 1.
     here: q − 1 on the observed class is negative on 100% of the examples, mean -0.1302
   What does multiplying both classes' terms p^y (1 − p)^(1 − y) induce? Each example
   switches one on: maximising the product pulls p up on the positives and down on the
   negatives; the gradient of −log is p − y (−1 ≤ p − y ≤ 1), but the cost of a confident
   mistake is unbounded: a negative (y = 0) given p = 0.9, 0.99, 0.999999 costs −log(1 − p) =
     2.303, 4.605, 13.82 nats, while its gradient p − y stays 0.9, 0.99, 0.999999.
   Only the observed class matters — for the value. Through the softmax every logit
   still gets q_c − y_c: example 501 (the largest loss, observed class 9), its top classes:
     3: q 0.435, grad 0.435   8: q 0.404, grad 0.404   1: q 0.101, grad 0.101   9: q 0.034, grad -0.966
     the wrong classes are pushed down by their q; the row's gradient sums to 0 (softmax ignores a common shift)

3. Maximal likelihood: all mass on the observed labels — over-confident
   The likelihood Π q(y_i|x_i) ≤ 1 is maximal (= 1) when every q(y_i|x_i) = 1: all the
   mass on the observed labels. A nearest-neighbour model of sharpness s,
   logit_c = −s · (squared distance to the nearest training image of class c), does
   exactly that on its training images as s grows:
     sharpness   train NLL/ex.   held-out NLL/ex.
        0.3         1.00298         1.25034
          1       0.0788738        0.272713
          3     0.000273114       0.0540643
         10     2.21582e-09       0.0915956
         30               0         0.25449
        100               0        0.837835
   At s = 100 the training likelihood is 1; held-out NLL is best at s = 3 and then grows
   without bound: every held-out mistake costs ∝ s. Maximal likelihood on the training
   set is over-confidence on new data.

4. Many classes: the categorical likelihood, binary as C = 2
   With C classes the likelihood is Π_i q_{i,y_i} = Π_i Π_c q_ic^{y_ic} (one switch per class).
   Binary is the C = 2 case. Classes 1 and 3 (110 examples), model renormalised
   to the two: categorical CE 0.0119143193894; binary CE on the logit log q_3 − log q_1: 0.0119143193894;
   the notes' formula −mean[y log p + (1−y) log(1−p)]: 0.0119143193894.

5. What the distribution is: q(y | x), with x given
   The model is a conditional distribution q(y | x): one distribution over the classes
   for each input x. The inputs are given, not modelled — no p(x) appears anywhere.
   Each row sums to 1 over the classes (every row within 1e-12: True).
   Shuffling the (x_i, y_i) pairs together leaves the log-likelihood as it is: -102.049763945 vs -102.049763945;
   breaking the pairing (labels shuffled against the inputs) gives -3222.06.
   Averaged over x, q matches the label frequencies: max |mean_x q(c|x) − freq(c)| = 0.00685.

6. Soft labels: CE = H(y) + KL(y ‖ q), minimal at q = y
   A soft label y_i is a distribution: the exponents y_ic are fractions and
   CE(y, q) = −Σ_c y_c log q_c = H(y) + KL(y ‖ q) ≥ H(y), equality only at q = y.
   Label smoothing ε = 0.1 is the soft target (1 − ε)·onehot + ε/C: CE 0.775804916341 with
   label_smoothing=0.1, 0.775804916341 with the soft target; H(y') = 0.500288, KL = 0.275517.
   Distillation (teacher = these predictions at temperature T = 2): targets are the teacher's probabilities.
     student                              CE        H(y)   KL(y ‖ q)
     sharper (teacher logits ×2)      1.674613    1.259001    0.415612
     q = y (the teacher)              1.259001    1.259001    0.000000
     flatter (teacher logits ×0.5)    1.489809    1.259001    0.230808
   The minimum is at q = y (KL = 0, CE = H(y)), not at a one-hot q.

7. Hard and soft masking: what the mean divides by
   Hide every tenth counted example (54 of 539):
     hard mask, ignore_index:       0.181822844672
     hard mask, sample_weight = 0:  0.181822844672
     rows dropped:                  0.181822844672
     (all three divide by the number of rows that count; zeroing their losses but
     dividing by all N would give 0.163606826838, biased low)
     soft mask, sample_weight 0.5:  0.185775237901  = Σ s_i ℓ_i / Σ s_i

8. Training minimises cross-entropy = maximises likelihood
   Softmax regression on the training digits, gradient descent from W = 0 with the
   library's closed-form gradient softmax − onehot (learning rate 2):
     step        NLL    log10 likelihood   CE/example   mean H(q)
        0  2896.6520       -1258.0000     2.302585    2.302585
        1  2427.1669       -1054.1052     1.929385    2.279196
        2  2055.5614        -892.7190     1.633992    2.219281
        5  1367.1497        -593.7456     1.086764    1.932058
       10   897.8529        -389.9325     0.713715    1.483430
       20   574.1887        -249.3670     0.456430    1.052202
       50   331.1029        -143.7962     0.263198    0.648018
      100   227.9159         -98.9826     0.181173    0.449548
      200   159.4961         -69.2683     0.126785    0.314909
   NLL falls at every recorded step (True); the likelihood rises by the same amount in log10 / ln 10.

9. The misconception: training minimises CE, not the entropy of q
   The notes end: summing log-probabilities gives 'the entropy of the estimated
   distribution', which training minimises. Not so: training minimises the
   cross-entropy CE(y, q) = H(y) + KL(y ‖ q) of the targets under the model. H(y) is
   fixed by the data (0 for hard labels), so training drives KL → 0, i.e. q → y.
   On these data: CE 0.189332;  entropy of the predictions H(q) 0.407335;  entropy of the targets H(y) 0.
   Lowering H(q) is not the goal: sharpening the logits ×8 gives H(q) 0.0172179 but CE 0.375574
   (worse). A model that minimised H(q) would put all mass on one class whatever the label.
   During training (section 8) CE went 2.30259 → 0.126785 and H(q) 2.30259 → 0.314909: H(q) stays above CE's
   floor H(y) = 0 and falls only as a side effect of fitting the labels.
"""

EX = load_example()
N = len(EX.target)


def _run(argv):
    buf = io.StringIO()
    with redirect_stdout(buf):
        code = cli.main(argv)
    return code, buf.getvalue()


@pytest.fixture(scope="module")
def bundled_run():
    """One run of ``crossentropy explain``: (stdout, the Walkthrough it printed, its CPU seconds)."""
    seen = {}
    real = explain.walkthrough

    def spy(data):
        t0 = time.process_time()
        seen["w"] = real(data)
        seen["cpu"] = time.process_time() - t0
        return seen["w"]

    explain.walkthrough = spy
    try:
        code, out = _run(["explain"])
    finally:
        explain.walkthrough = real
    assert code == 0
    return out, seen["w"], seen["cpu"]


@pytest.fixture(scope="module")
def output(bundled_run):
    return bundled_run[0]


def _section(text: str, k: int) -> str:
    """The text of section ``k`` of the walk-through."""
    start = text.index(f"\n{k}. ")
    end = text.find(f"\n{k + 1}. ", start) if k < 9 else len(text)
    return text[start:end]


def _nums(line: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]\d+)?", line)]


def _printed(text: str, pattern: str) -> float:
    m = re.search(pattern, text, re.M)
    assert m is not None, pattern
    return float(m.group(1))


def _close6(printed: float, value: float, *, abs_tol: float = 1e-15) -> bool:
    """A number printed with 6 significant digits (rounding error ≤ 5e-6 relative)."""
    return math.isclose(printed, value, rel_tol=6e-6, abs_tol=abs_tol)


def _softmax(z):
    return sps.softmax(z, axis=1)


def _mean_nll(logits, y):
    return float(-np.mean(sps.log_softmax(logits, axis=1)[np.arange(len(y)), y]))


# ----------------------------------------------------------------------------- golden
def test_golden_output(output):
    assert output == GOLDEN
    assert output.splitlines()[0].startswith("Explaining the bundled example")


def test_chain_numbers_against_sklearn(output):
    p = _softmax(EX.logits)
    ce = log_loss(EX.target, p, labels=np.arange(10))
    head = output[: output.index("\n1. ")]
    assert _close6(_printed(head, r"^  cross-entropy\s+(\S+)"), ce)
    assert _close6(_printed(head, r"^  NLL\s+(\S+)"), N * ce)
    assert _close6(_printed(head, r"^  log-likelihood\s+(\S+)"), -N * ce)
    assert _close6(_printed(head, r"^  likelihood\s+(\S+e-\d+)"), math.exp(-N * ce))
    assert _close6(_printed(head, r"^  perplexity\s+(\S+)"), math.exp(ce))
    assert _close6(_printed(head, r"^  bits\s+(\S+)"), ce / math.log(2))
    assert _close6(_printed(head, r"^  KL\(y ‖ q\)\s+(\S+)"), ce)  # H(y) = 0, CE = KL
    assert _printed(head, r"^  H\(y\)\s+(\S+)") == 0.0
    q_obs = p[np.arange(N), EX.target]
    assert _close6(_printed(head, r"^  q\(y_i\|x_i\)\s+(\S+)"), float(np.median(q_obs)))
    assert _close6(_printed(head, r"min (\S+)\]"), float(q_obs.min()))
    assert math.isclose(_printed(head, r"10\^(-?\d+\.\d+)"), -N * ce / math.log(10), abs_tol=0.006)
    assert "FAILED" not in head and head.count("  ok  ") >= 8


def test_section1_underflow(output):
    s = _section(output, 1)
    p = _softmax(EX.logits)
    q = p[np.arange(N), EX.target]
    assert _close6(
        _printed(s, r"float64 product of the 539 probabilities: (\S+);"), math.exp(np.log(q).sum())
    )
    # 0.1^n rounds to 0.0 once it is below half the smallest subnormal 2^-1074: n > 1075·log10(2)
    first_zero = math.ceil(1075 * math.log10(2))
    assert first_zero == 324
    assert f"product 0.0 from example {first_zero} on" in s
    assert _close6(_printed(s, r"log-likelihood (-\d+\.\d+) \(= 10\^-539"), -N * math.log(10))


def test_section2_switches(output):
    s = _section(output, 2)
    line = next(x for x in s.splitlines() if "cross-entropy before" in x)
    before, after = _nums(line)[:2]
    assert "(identical: True)" in line
    assert math.isclose(before, log_loss(EX.target, _softmax(EX.logits)), rel_tol=1e-11)
    assert before == after
    p = _softmax(EX.logits)
    wrong = np.ones_like(p, dtype=bool)
    wrong[np.arange(N), EX.target] = False
    q2 = p.copy()
    q2[wrong] = np.repeat((1 - p[~wrong]) / 9, 9)  # the wrong mass spread evenly
    h_line = next(x for x in s.splitlines() if "entropy of the predictions" in x)
    h1, h2 = _nums(h_line)
    assert _close6(h1, float(sst.entropy(p, axis=1).mean()))
    assert _close6(h2, float(sst.entropy(q2, axis=1).mean()))
    assert math.isclose(_mean_nll(np.log(q2), EX.target), before, rel_tol=1e-9)


def test_section2_gradients_against_autograd(output):
    """The three answers on the exponents: the push on the observed class, the binary pull and
    the unbounded cost of a confident mistake, the gradient every wrong class gets — each
    number recomputed with PyTorch autograd."""
    s = _section(output, 2)
    z = torch.tensor(EX.logits, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(z, torch.tensor(EX.target), reduction="sum").backward()
    g = z.grad.numpy()
    g_obs = g[np.arange(N), EX.target]
    line = next(x for x in s.splitlines() if "on the observed class is negative" in x)
    m = re.search(r"negative on (\d+)% of the examples, mean (\S+)", line)
    share, mean = float(m.group(1)), float(m.group(2))
    assert share == round(100 * float(np.mean(g_obs < 0))) and share == 100
    assert math.isclose(mean, float(g_obs.mean()), abs_tol=5e-5)
    # binary: −log(1 − p) and its logit gradient p − y, by autograd on BCE-with-logits
    p = torch.tensor([0.9, 0.99, 0.999999], dtype=torch.float64)
    x = torch.logit(p).requires_grad_()
    cost = torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.zeros(3, dtype=torch.float64), reduction="none"
    )
    cost.sum().backward()
    line = next(x for x in s.splitlines() if "nats, while its gradient" in x)
    nums = [float(v) for v in re.findall(r"\d+\.\d+", line)]
    np.testing.assert_allclose(nums[:3], cost.detach().numpy(), rtol=5e-4)
    np.testing.assert_allclose(nums[3:6], x.grad.numpy(), rtol=1e-6)
    # the example with the largest loss: every one of its logits gets q_c − y_c
    i = int(np.argmax(-sps.log_softmax(EX.logits, axis=1)[np.arange(N), EX.target]))
    assert f"example {i} (the largest loss, observed class {EX.target[i]})" in s
    line = next(x for x in s.splitlines() if "grad" in x and ": q " in x)
    q = _softmax(EX.logits)[i]
    for cls, qc, gc in re.findall(r"(\d+): q (\S+), grad (\S+)", line):
        assert math.isclose(float(qc), q[int(cls)], abs_tol=5e-4)
        assert math.isclose(float(gc), g[i, int(cls)], abs_tol=5e-4)
    assert abs(g[i].sum()) < 1e-12


def test_zero_probabilities_are_explained(tmp_path, capsys):
    """Probabilities with exact zeros: the infinities are explained (the observed zero and where
    it is; the harmless zeros apart), and no raw NumPy warning reaches the user."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=10)
    y = rng.integers(0, 3, 10)
    p[4] = 0.0
    p[4, (y[4] + 1) % 3] = 1.0  # the observed class of row 4 has probability 0
    p[7, (y[7] + 1) % 3] = 0.0  # a zero on a class that was not observed
    p[7] /= p[7].sum()
    path = tmp_path / "zeros.csv"
    _save(path, p, y, fmt="csv")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        code = cli.main(["explain", str(path), "--pred", "c*", "--target", "y", "--kind", "probs"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "RuntimeWarning" not in err and "divide by zero" not in err
    notes = out[out.index("Why some numbers are infinite:") : out.index("\n1. ")]
    assert "1 example (row 4) gives probability exactly 0 to the class that was observed" in notes
    assert "log 0 = −inf" in notes and "+inf" in notes
    assert "2 other zero probabilities fall on classes that were not observed" in notes
    assert _printed(out, r"^  cross-entropy\s+(\S+)") == math.inf


def test_likelihood_figure_shows_the_underflow(bundled_walk):
    """The figure of section 1 shows a product that underflows to 0.0 (the untrained model's:
    at example ⌈1075·log10 2⌉ = 324 for q = 1/10) and labels the float64 limit."""
    w, _ = bundled_walk
    fig = explain.figures(w)["1_likelihood_product.png"]
    ax = fig.axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    assert "float64 limit" in texts and "from example 324" in texts
    limit = math.log10(np.finfo(np.float64).smallest_subnormal)
    assert any(np.allclose(ln.get_ydata(), limit) for ln in ax.get_lines())
    floated = [ln for ln in ax.get_lines() if "float64 product" in ln.get_label()]
    untrained = next(ln for ln in floated if "untrained" in ln.get_label())
    y = np.asarray(untrained.get_ydata(), dtype=float)
    assert np.isnan(y[323:]).all() and np.isfinite(y[:323]).all()  # 0.0 from example 324 on
    assert ax.get_ylim()[0] < -539  # the exact curve (10^-539) is inside the axes


def test_section3_sharpening(output):
    s = _section(output, 3)
    Xtr, ytr = EX.X_train * 16, EX.y_train
    d_tr = cdist(Xtr, Xtr, "sqeuclidean") / 256
    d_te = cdist(EX.X_test * 16, Xtr, "sqeuclidean") / 256
    D_tr = np.stack([d_tr[:, ytr == c].min(1) for c in range(10)], 1)
    D_te = np.stack([d_te[:, ytr == c].min(1) for c in range(10)], 1)
    rows = [_nums(x) for x in s.splitlines() if re.match(r"^\s+\d+(\.\d+)?\s+\S+\s+\S+$", x)]
    assert [r[0] for r in rows] == list(explain.SHARPNESS)
    held = []
    for sharp, train_nll, held_nll in rows:
        assert _close6(train_nll, _mean_nll(-sharp * D_tr, ytr), abs_tol=1e-300)
        assert _close6(held_nll, _mean_nll(-sharp * D_te, EX.y_test))
        held.append(held_nll)
    assert rows[-1][1] == 0.0  # training likelihood 1: all mass on the labels
    assert "training likelihood is 1;" in s
    best = int(np.argmin(held))
    assert best not in (0, len(held) - 1) and all(np.diff(held[best:]) > 0)  # then over-confident
    assert f"best at s = {explain.SHARPNESS[best]:g}" in s


def test_section4_binary_is_two_classes(output):
    s = _section(output, 4)
    m = re.search(r"Classes (\d+) and (\d+) \((\d+) examples\)", s)
    a, b, n = (int(x) for x in m.groups())
    counts = np.bincount(EX.target, minlength=10)
    others = np.delete(counts, [a, b])
    assert min(counts[a], counts[b]) >= others.max()
    sel = (EX.target == a) | (EX.target == b)
    assert n == sel.sum()
    two = EX.logits[sel][:, [a, b]]
    y = (EX.target[sel] == b).astype(int)
    ref = log_loss(y, _softmax(two)[:, 1])
    cat, bin_, seed = (
        _printed(s, pat)
        for pat in (
            r"categorical CE (\S+);",
            r"log q_\d+ − log q_\d+: (\S+);",
            r"log\(1−p\)\]: (\S+)\.",
        )
    )
    for v in (cat, bin_, seed):
        assert math.isclose(v, ref, rel_tol=1e-10)


def test_section5_conditional(output):
    s = _section(output, 5)
    lls = _nums(next(x for x in s.splitlines() if "Shuffling" in x))
    total = -N * log_loss(EX.target, _softmax(EX.logits))
    assert all(math.isclose(v, total, rel_tol=1e-11) for v in lls[-2:])
    perm = np.random.default_rng(0).permutation(N)
    broken = -log_loss(EX.target[perm], _softmax(EX.logits), normalize=False)
    assert _close6(_printed(s, r"gives (-\S+)\."), broken)
    freq = np.bincount(EX.target, minlength=10) / N
    dev = float(np.abs(_softmax(EX.logits).mean(0) - freq).max())
    assert math.isclose(_printed(s, r"freq\(c\)\| = (\S+)\."), dev, rel_tol=1e-3)  # 3 digits


def test_section6_soft_labels(output):
    s = _section(output, 6)
    x, y = torch.as_tensor(EX.logits), torch.as_tensor(EX.target)
    ls = float(torch.nn.functional.cross_entropy(x, y, label_smoothing=0.1))
    m = re.search(r"CE (\S+) with\s+label_smoothing=0.1, (\S+) with the soft target", s)
    assert all(math.isclose(float(v), ls, rel_tol=1e-10) for v in m.groups())
    soft = 0.9 * np.eye(10)[EX.target] + 0.01
    assert _close6(_printed(s, r"H\(y'\) = (\S+),"), float(sst.entropy(soft, axis=1).mean()))
    assert _close6(
        _printed(s, r"KL = (\S+)\."), float(sst.entropy(soft, _softmax(EX.logits), axis=1).mean())
    )
    teacher = _softmax(EX.logits / 2)
    h_t = float(sst.entropy(teacher, axis=1).mean())
    table = {}
    for line in s.splitlines():
        for key in ("sharper", "q = y", "flatter"):
            if line.strip().startswith(key):
                table[key] = _nums(line.split(")")[-1])
    for key, student in (
        ("sharper", EX.logits),
        ("q = y", EX.logits / 2),
        ("flatter", EX.logits / 4),
    ):
        ce = float(-(teacher * sps.log_softmax(student, axis=1)).sum(1).mean())
        kl = float(sst.entropy(teacher, _softmax(student), axis=1).mean())
        c, h, k = table[key]
        assert math.isclose(c, ce, abs_tol=6e-7) and math.isclose(h, h_t, abs_tol=6e-7)
        assert math.isclose(k, kl, abs_tol=6e-7)
    assert table["q = y"][0] < min(table["sharper"][0], table["flatter"][0])


def test_section7_masks(output):
    s = _section(output, 7)
    hide = np.zeros(N, dtype=bool)
    hide[::10] = True
    y = EX.target.copy()
    y[hide] = -100
    ign = float(torch.nn.functional.cross_entropy(torch.as_tensor(EX.logits), torch.as_tensor(y)))
    p = _softmax(EX.logits)
    dropped = log_loss(EX.target[~hide], p[~hide], labels=np.arange(10))
    half = log_loss(EX.target, p, sample_weight=np.where(hide, 0.5, 1.0))
    zeroed = log_loss(EX.target[~hide], p[~hide], labels=np.arange(10), normalize=False) / N
    got = {
        k: _printed(s, pat)
        for k, pat in (
            ("ign", r"ignore_index:\s+(\S+)"),
            ("zero", r"sample_weight = 0:\s+(\S+)"),
            ("drop", r"rows dropped:\s+(\S+)"),
            ("zeroed", r"all N would give (\S+),"),
            ("half", r"sample_weight 0.5:\s+(\S+)"),
        )
    }
    for k in ("ign", "zero", "drop"):
        assert math.isclose(got[k], ign, rel_tol=1e-10) and math.isclose(
            got[k], dropped, rel_tol=1e-10
        )
    assert math.isclose(got["zeroed"], zeroed, rel_tol=1e-10) and got["zeroed"] < got["ign"]
    assert math.isclose(got["half"], half, rel_tol=1e-10)
    assert f"({int(hide.sum())} of {N})" in s


def test_section8_training_against_autograd(output):
    s = _section(output, 8)
    rows = [_nums(x) for x in s.splitlines() if re.match(r"^\s+\d+\s+\d+\.\d{4}\s", x)]
    X = torch.as_tensor(EX.X_train)
    y = torch.as_tensor(EX.y_train)
    W = torch.zeros((64, 10), dtype=torch.float64, requires_grad=True)
    b = torch.zeros(10, dtype=torch.float64, requires_grad=True)
    ref = {}
    for t in range(explain.TRAIN_STEPS + 1):
        z = X @ W + b
        loss = torch.nn.functional.cross_entropy(z, y)
        if t in explain.TRAIN_SHOWN:
            hq = float(sst.entropy(_softmax(z.detach().numpy()), axis=1).mean())
            ref[t] = (float(loss.detach()) * len(y), hq)
        loss.backward()
        with torch.no_grad():
            W -= explain.TRAIN_LR * W.grad
            b -= explain.TRAIN_LR * b.grad
            W.grad.zero_()
            b.grad.zero_()
    assert [int(r[0]) for r in rows] == list(explain.TRAIN_SHOWN)
    for step, nll_, l10, ce, hq in rows:
        want, want_h = ref[int(step)]
        assert math.isclose(nll_, want, abs_tol=6e-5)
        assert math.isclose(l10, -want / math.log(10), abs_tol=6e-5)
        assert math.isclose(ce, want / len(y), abs_tol=6e-7)
        assert math.isclose(hq, want_h, abs_tol=6e-7)
    nlls = [r[1] for r in rows]
    assert all(np.diff(nlls) < 0) and all(np.diff([r[2] for r in rows]) > 0)


def test_section9_ce_not_entropy_of_predictions(output):
    s = _section(output, 9)
    line = next(x for x in s.splitlines() if x.strip().startswith("On these data"))
    ce, hq, hy = _nums(line)
    p = _softmax(EX.logits)
    assert _close6(ce, log_loss(EX.target, p)) and _close6(hq, float(sst.entropy(p, axis=1).mean()))
    assert hy == 0.0 and ce >= hy
    m = re.search(r"×8 gives H\(q\) (\S+) but CE (\S+)", s)
    h8, ce8 = (float(v) for v in m.groups())
    assert _close6(h8, float(sst.entropy(_softmax(8 * EX.logits), axis=1).mean()))
    assert _close6(ce8, _mean_nll(8 * EX.logits, EX.target))
    assert h8 < hq and ce8 > ce  # lower entropy of q, worse cross-entropy


# ----------------------------------------------------------------------------- structure
@pytest.fixture(scope="module")
def bundled_walk(bundled_run):
    return bundled_run[1], bundled_run[2]


def test_identities_asserted(bundled_walk):
    w, _ = bundled_walk
    names = {i.name for i in w.identities}
    for required in (
        "likelihood = exp(log-likelihood)",
        "NLL = −log-likelihood",
        "cross-entropy = NLL / Σ w_i",
        "perplexity = exp(cross-entropy)",
        "cross-entropy = H(y) + KL(y ‖ q)",
        "bits = cross-entropy / ln 2",
    ):
        assert required in names
    for i in w.identities:
        assert i.holds, i
    assert [s.number for s in w.sections] == list(range(1, 10))


def test_fast(bundled_walk):
    _, cpu = bundled_walk
    assert cpu < 5.0


def test_failed_identity_is_an_error_exit(monkeypatch, capsys):
    monkeypatch.setattr(explain, "perplexity", lambda *a, **k: np.float64(2.0))
    code = cli.main(["explain"])
    assert code == 1
    err = capsys.readouterr().err
    assert "identity failed: perplexity = exp(cross-entropy)" in err


def test_check_identities_names_every_failure():
    bad = [
        explain.Identity("a = b", 1.0, 2.0, False),
        explain.Identity("c = d", 3.0, 3.0, True),
        explain.Identity("e = f", 0.0, math.inf, False),
    ]
    with pytest.raises(explain.IdentityError, match=r"a = b .*; e = f"):
        explain.check_identities(bad)


def test_user_csv_probabilities(tmp_path):
    import pandas as pd

    p = _softmax(EX.logits)
    df = pd.DataFrame(p, columns=[f"p{i}" for i in range(10)])
    df["label"] = EX.target
    path = tmp_path / "probs.csv"
    df.to_csv(path, index=False)
    code, out = _run(["explain", str(path), "--target", "label", "--pred", "p*", "--kind", "probs"])
    assert code == 0
    assert out.splitlines()[0].startswith(f"Explaining {path}: 539 examples, 10 classes")
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), log_loss(EX.target, p))
    assert "FAILED" not in out and "Training needs the inputs x" in out
    assert "prediction kind: probs" in out


def test_user_soft_weighted_npz(tmp_path):
    soft = 0.8 * np.eye(10)[EX.target] + 0.02
    s = np.linspace(0.5, 1.5, N)
    path = tmp_path / "soft.npz"
    np.savez(path, logits=EX.logits, target=soft, weight=s)
    code, out = _run(["explain", str(path), "--weight-col", "weight", "--kind", "logits"])
    assert code == 0
    lq = sps.log_softmax(EX.logits, axis=1)
    ref = float((s * -(soft * lq).sum(1)).sum() / (s * soft.sum(1)).sum())
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), ref)
    h = float((s * sst.entropy(soft, axis=1)).sum() / s.sum())
    assert _close6(_printed(out, r"^  H\(y\)\s+(\S+)"), h)
    w = explain.walkthrough(explain.read_data(str(path), weight="weight", kind="logits"))
    assert all(i.holds for i in w.identities)


def test_errors_have_exit_codes(tmp_path, capsys):
    assert cli.main(["explain", str(tmp_path / "missing.csv")]) == 4
    assert cli.main(["explain", "--target", "y"]) == 2
    path = tmp_path / "bad.npz"
    np.savez(path, logits=EX.logits[:5], target=np.array([0, 1, 2, 3, 10]))
    assert cli.main(["explain", str(path), "--kind", "logits"]) == 3
    assert "label out of range" in capsys.readouterr().err


def test_file_is_validated_as_evaluate_validates_it(tmp_path, capsys):
    """explain reads through the evaluation pipeline: the same messages, and --on-invalid skip."""
    X = EX.logits[:20].copy()
    X[3, 2] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, logits=X, target=EX.target[:20])
    argv = [str(path), "--kind", "logits"]
    assert cli.main(["explain", *argv]) == 3
    err_explain = capsys.readouterr().err.split("error: ", 1)[1]
    assert cli.main(["evaluate", *argv]) == 3
    assert capsys.readouterr().err.split("error: ", 1)[1] == err_explain
    assert "prediction is NaN at row 3" in err_explain
    code, out = _run(["explain", *argv, "--on-invalid", "skip"])
    assert code == 0 and out.splitlines()[0].startswith(f"Explaining {path}: 19 examples")


def test_training_is_descent_with_the_library_gradient():
    """The explain trainer is named for what it does (the examples' fit is a different method)."""
    assert "descend_softmax_regression" in explain.__all__
    assert not hasattr(explain, "fit_softmax_regression")
    h = explain.descend_softmax_regression(EX.X_train, EX.y_train, steps=3, record=(0, 3))
    assert h["nll"][0] == pytest.approx(len(EX.y_train) * math.log(10), rel=1e-12)  # W = 0
    assert h["nll"][1] < h["nll"][0]


def test_plot_writes_pngs(bundled_walk, tmp_path):
    w, _ = bundled_walk
    paths = explain.plot(w, str(tmp_path / "figs"))
    assert len(paths) == 4
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------------------- edge inputs
# Every input `evaluate` accepts is explained (exit 0, identities hold), never "a bug".
def _save(path, pred, target, weight=None, *, fmt):
    cols = {f"c{j}": pred[:, j] for j in range(pred.shape[1])}
    if target.ndim == 2:
        cols.update({f"t{j}": target[:, j] for j in range(target.shape[1])})
    else:
        cols["y"] = target
    if weight is not None:
        cols["w"] = weight
    if fmt == "npz":
        np.savez(path, **cols)
        return
    with open(path, "w") as f:  # floats written exactly (repr), labels as integers
        f.write(",".join(cols) + "\n")
        for i in range(pred.shape[0]):
            cells = [v[i] for v in cols.values()]
            f.write(",".join(str(int(v)) if v.dtype.kind == "i" else repr(float(v)) for v in cells))
            f.write("\n")


def _edge_case(name):
    rng = np.random.default_rng(len(name))
    n, c = 12, 4
    x = rng.normal(size=(n, c))
    y = rng.integers(0, c, n)
    kind, weight, target, extra = "logits", None, y, []
    if name == "all ignored":
        target = np.full(n, -100)
    elif name == "all ignored, own ignore index":
        target, extra = np.full(n, 9), ["--ignore-index", "9"]
    elif name == "zero weights":
        weight = np.zeros(n)
    elif name == "ignored and zero weights":
        target = np.where(np.arange(n) % 2 == 0, -100, y)
        weight = np.where(np.arange(n) % 2 == 1, 0.0, 1.0)
    elif name == "all-zero soft targets":
        target = np.zeros((n, c))
    elif name == "probability 0 on a true class":
        kind = "probs"
        x = sps.softmax(x, axis=1)
        x[3] = 0.0
        x[3, (y[3] + 1) % c] = 1.0
    elif name == "log-probability −inf on a true class":
        kind = "log_probs"
        x = sps.log_softmax(x, axis=1)
        rest = np.arange(c) != y[5]
        x[5, y[5]] = -np.inf  # the others renormalised: still a log-distribution
        x[5, rest] = sps.log_softmax(x[5, rest])
    elif name == "logit −inf on a true class":
        x[0, y[0]] = -np.inf
    return x, target, weight, kind, extra


EDGE_CASES = [
    "all ignored",
    "all ignored, own ignore index",
    "zero weights",
    "ignored and zero weights",
    "all-zero soft targets",
    "probability 0 on a true class",
    "log-probability −inf on a true class",
    "logit −inf on a true class",
]


@pytest.mark.parametrize("fmt", ["npz", "csv"])
@pytest.mark.parametrize("case", EDGE_CASES)
def test_explain_handles_every_input_evaluate_accepts(tmp_path, capsys, case, fmt):
    x, target, weight, kind, extra = _edge_case(case)
    path = tmp_path / f"edge.{fmt}"
    _save(path, x, target, weight, fmt=fmt)
    argv = [str(path), "--pred", "c*", "--kind", kind, *extra]
    if target.ndim == 2:  # a distribution over the classes (0/1 columns could be multi-label)
        argv += ["--target", ",".join(f"t{j}" for j in range(target.shape[1]))]
        argv += ["--task", "multiclass"]
    else:
        argv += ["--target", "y"]
    if weight is not None:
        argv += ["--weight-col", "w"]
    assert cli.main(["evaluate", *argv, "--format", "json"]) == 0
    ce = json.loads(capsys.readouterr().out)["report"]["cross_entropy"]
    code = cli.main(["explain", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "FAILED" not in out and "a bug" not in err and "Traceback" not in err
    assert "RuntimeWarning" not in err and ".py:" not in err  # no raw numpy warning
    printed = _printed(out, r"^  cross-entropy\s+(\S+)")
    assert printed == (float(ce) if isinstance(ce, str) else pytest.approx(ce, rel=1e-5)) or (
        math.isnan(printed) and ce == "nan"
    )
    if ce == "nan":  # nothing counts: the answers say so instead of showing NaN means
        assert out.count("No example counts here") == 7 and "(better)" not in out
    if ce == "inf":
        assert "(better)" not in out  # inf is not better than inf


def test_walkthrough_on_nothing_that_counts_holds_its_identities():
    x = np.zeros((3, 2))
    d = explain.Data(pred=x, target=np.full(3, -100), kind="logits", source="test")
    with pytest.warns(RuntimeWarning, match="mean over no example"):  # the core's, as documented
        w = explain.walkthrough(d)
    assert all(i.holds for i in w.identities)
    ce = {s.name: s for s in w.steps}["cross-entropy"]
    assert math.isnan(ce.value) and "0/0" in ce.note
    # NaN = NaN holds only where the value is undefined; a NaN on one side never holds
    from crossentropy.explain._data import _close

    assert not _close(math.nan, math.nan) and _close(math.nan, math.nan, undefined=True)
    assert not _close(math.nan, 1.0, undefined=True) and not _close(0.0, math.nan, undefined=True)


# ----------------------------------------------------------------------------- binary, multi-label
# The task is decided by the evaluation pipeline (as `evaluate` decides it); the walk-through is
# the seed's Bernoulli likelihood. Oracles: scikit-learn's log_loss (per label for multi-label)
# and a float64 NumPy reference written here; the headline equals `evaluate`'s JSON.
def _sigmoid(x):
    return sps.expit(x)


def _evaluate_ce(argv, capsys):
    assert cli.main(["evaluate", *argv, "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    return d["source"]["task"], d["report"]["cross_entropy"]


def _explain_ok(argv, capsys):
    code = cli.main(["explain", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "FAILED" not in out and "a bug" not in err and "Traceback" not in err
    assert "RuntimeWarning" not in err
    return out


@pytest.mark.parametrize("name", ["breast_cancer", "digits_multilabel"])
def test_explain_bundled_task_examples_agree_with_evaluate(name, capsys):
    from crossentropy.examples import example_path

    path = example_path(name)
    d = np.load(path)
    x, y = d["logits"], d["target"]
    task, ce = _evaluate_ce([path], capsys)
    out = _explain_ok([path], capsys)
    printed = _printed(out, r"^  cross-entropy\s+(\S+)")
    assert _close6(printed, ce)
    if name == "breast_cancer":
        assert task == "binary" and "binary task (one Bernoulli label each)" in out
        assert _close6(printed, log_loss(y, _sigmoid(x)))
        s4 = _section(out, 4)  # binary as the C = 2 case: three equal numbers
        nums = _nums(next(x for x in s4.splitlines() if "binary CE" in x))
        assert math.isclose(nums[0], log_loss(y, _sigmoid(x)), rel_tol=1e-10)
    else:
        assert task == "multilabel" and "3 labels (multi-label" in out
        per = [log_loss(y[:, k], _sigmoid(x[:, k])) for k in range(3)]
        assert _close6(printed, float(np.mean(per)))
        s4 = _section(out, 4)  # the per-label terms and their mean (§10.1)
        rows = [x for x in s4.splitlines() if x.strip().startswith("label ")][1:]
        assert len(rows) == 3
        for k, row in enumerate(rows):
            assert _close6(_nums(row)[-1], per[k])
        mean_line = next(x for x in s4.splitlines() if x.strip().startswith("mean"))
        assert _close6(_nums(mean_line)[0], float(np.mean(per)))
    assert "Does not apply here" in _section(out, 6)
    assert len(_section(out, 6).strip().splitlines()) == 2  # the title and one line


def test_explain_binary_one_column_csv(tmp_path, capsys):
    """The file of the issue: `y,p` with one probability column (it failed with "class indices
    must be in [0, 0]"). Every step against a float64 NumPy reference of the seed's formula."""
    rng = np.random.default_rng(7)
    p = rng.uniform(0.02, 0.98, 40)
    y = (rng.uniform(size=40) < p).astype(np.int64)
    path = tmp_path / "yp.csv"
    with open(path, "w") as f:
        f.write("y,p\n" + "".join(f"{a},{float(b)!r}\n" for a, b in zip(y, p, strict=True)))
    task, ce = _evaluate_ce([str(path)], capsys)
    out = _explain_ok([str(path)], capsys)
    assert task == "binary"
    ll = float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p)))  # the seed's eq. 2
    head = out[: out.index("\n1. ")]
    assert _close6(_printed(head, r"^  log-likelihood\s+(\S+)"), ll)
    assert _close6(_printed(head, r"^  NLL\s+(\S+)"), -ll)
    assert _close6(_printed(head, r"^  likelihood\s+(\S+)"), math.exp(ll))
    assert _close6(_printed(head, r"^  cross-entropy\s+(\S+)"), -ll / 40)
    assert _close6(_printed(head, r"^  cross-entropy\s+(\S+)"), ce)
    assert _close6(_printed(head, r"^  perplexity\s+(\S+)"), math.exp(-ll / 40))
    assert _close6(_printed(head, r"^  bits\s+(\S+)"), -ll / 40 / math.log(2))
    assert _close6(_printed(head, r"^  cross-entropy\s+(\S+)"), log_loss(y, p))
    assert head.count("  ok  ") >= 5
    # the same rows as two columns (1 − p, p) and --task binary: the same walk-through numbers
    path2 = tmp_path / "two.csv"
    with open(path2, "w") as f:
        f.write(
            "y,p0,p1\n"
            + "".join(f"{a},{float(1 - b)!r},{float(b)!r}\n" for a, b in zip(y, p, strict=True))
        )
    argv2 = [str(path2), "--target", "y", "--pred", "p0,p1", "--task", "binary", "--kind", "probs"]
    task2, ce2 = _evaluate_ce(argv2, capsys)
    out2 = _explain_ok(argv2, capsys)
    assert task2 == "binary"
    assert _close6(_printed(out2, r"^  cross-entropy\s+(\S+)"), ce2)
    assert _close6(ce2, ce)


def test_explain_binary_weights_ignored_rows_and_logits(tmp_path, capsys):
    rng = np.random.default_rng(11)
    n = 30
    x = rng.normal(scale=2.0, size=n)
    y = (rng.uniform(size=n) < _sigmoid(x)).astype(np.int64)
    y[[3, 17]] = -100
    s = rng.uniform(0.2, 2.0, n)
    path = tmp_path / "w.npz"
    np.savez(path, logit=x, y=y, w=s)
    argv = [str(path), "--target", "y", "--pred", "logit", "--weight-col", "w", "--kind", "logits"]
    task, ce = _evaluate_ce(argv, capsys)
    out = _explain_ok(argv, capsys)
    keep = y != -100
    ell = np.logaddexp(0.0, -x) * (y == 1) + np.logaddexp(0.0, x) * (y == 0)  # −log q, float64
    ref = float((s * ell)[keep].sum() / s[keep].sum())
    assert task == "binary"
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), ref)
    assert _close6(ce, ref)
    assert "hard mask, ignore_index" in _section(out, 7)
    w = explain.walkthrough(
        explain.read_data(str(path), target="y", pred="logit", weight="w", kind="logits")
    )
    assert w.task == "binary" and all(i.holds for i in w.identities)
    seven = {s.number: s for s in w.sections}[7].values  # every hard mask: the same mean
    assert seven["ignore_index"] == pytest.approx(seven["dropped"], rel=1e-12)
    assert seven["sample_weight_zero"] == pytest.approx(seven["dropped"], rel=1e-12)


def test_explain_multilabel_csv_with_named_labels(tmp_path, capsys):
    """K probability columns and K 0/1 label columns (rows with no positive count): the per-label
    table is named by the label columns and its mean is evaluate's headline."""
    rng = np.random.default_rng(5)
    n, names = 50, ["cat", "dog", "bird"]
    P = rng.uniform(0.03, 0.97, (n, 3))
    Y = (rng.uniform(size=(n, 3)) < P).astype(np.int64)
    Y[0] = 0  # a row with no positive label counts like any other
    path = tmp_path / "ml.csv"
    with open(path, "w") as f:
        f.write(",".join([f"p_{k}" for k in names] + [f"y_{k}" for k in names]) + "\n")
        for i in range(n):
            f.write(",".join([repr(float(v)) for v in P[i]] + [str(int(v)) for v in Y[i]]) + "\n")
    argv = [str(path), "--target", "y_*", "--pred", "p_*"]
    task, ce = _evaluate_ce(argv, capsys)
    out = _explain_ok(argv, capsys)
    per = [log_loss(Y[:, k], P[:, k], labels=[0, 1]) for k in range(3)]
    assert task == "multilabel"
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), float(np.mean(per)))
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), ce)
    s4 = _section(out, 4)
    for k, name in enumerate(names):
        row = next(x for x in s4.splitlines() if x.strip().startswith(f"y_{name} "))
        assert _close6(_nums(row)[-1], per[k])
    assert "Σ_i Σ_k" in out and "K = 3" in out


def test_explain_binary_probability_zero_on_an_observed_label(tmp_path, capsys):
    path = tmp_path / "z.csv"
    path.write_text("y,p\n1,0.0\n0,0.3\n1,0.8\n0,1e-300\n")
    task, ce = _evaluate_ce([str(path)], capsys)
    out = _explain_ok([str(path)], capsys)
    assert task == "binary" and ce == "inf"
    assert _printed(out, r"^  cross-entropy\s+(\S+)") == math.inf
    assert "give probability exactly 0 to a label that was observed" in out
    assert "(better)" not in out


def test_explain_task_flag_on_the_bundled_example_is_refused(capsys):
    assert cli.main(["explain", "--task", "binary"]) == 2
    assert "the bundled digits example is multi-class" in capsys.readouterr().err


def test_explain_two_binary_columns_read_as_evaluate_reads_them(tmp_path, capsys):
    """Two columns of a binary task are the classes 0 and 1 (§10.1): logits give x_1 − x_0,
    probabilities must be distributions per row (else exit 3 from both commands)."""
    rng = np.random.default_rng(2)
    z = rng.normal(size=(25, 2))
    y = rng.integers(0, 2, 25)
    path = tmp_path / "two.npz"
    np.savez(path, logits=z, target=y)
    argv = [str(path), "--task", "binary", "--kind", "logits"]
    task, ce = _evaluate_ce(argv, capsys)
    out = _explain_ok(argv, capsys)
    x = z[:, 1] - z[:, 0]
    assert task == "binary"
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), log_loss(y, _sigmoid(x)))
    assert _close6(_printed(out, r"^  cross-entropy\s+(\S+)"), ce)
    bad = tmp_path / "bad.npz"
    np.savez(bad, probs=np.array([[0.3, 0.7], [0.5, 0.6]]), target=np.array([1, 0]))
    argv = [str(bad), "--task", "binary", "--kind", "probs"]
    assert cli.main(["evaluate", *argv]) == 3
    assert "must be a distribution per row" in capsys.readouterr().err
    assert cli.main(["explain", *argv]) == 3
    assert "row 1 gives 1.1" in capsys.readouterr().err
