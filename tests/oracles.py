"""Independent float64 references for the test suite.

Written from the formulas of docs/semantics.md with plain NumPy/SciPy — dense
one-hot targets, explicit loops where that is clearer — and sharing no code with
the library. PyTorch, scikit-learn and SciPy oracles are called directly in the
tests, side by side with these.

Peers that are not installed here (Keras 3, optax) are reproduced at the end of
this module: each function follows the named peer function's source line by line
in float64 (their clipping, renormalising and reductions included), so that
docs/semantics.md §12 can be tested route by route.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_softmax, logsumexp

# Tolerance policy (../shared/reference/properties.md §2), one table keyed by dtype.
TOL = {
    np.dtype(np.float64): dict(rtol=1e-12, atol=0.0),
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
}


def assert_close(actual, expected, dtype=np.float64, *, atol=None):
    """assert_allclose with the policy tolerance of ``dtype``; also checks shape."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (a.shape, e.shape)
    tol = dict(TOL[np.dtype(dtype)])
    if atol is not None:
        tol["atol"] = atol
    np.testing.assert_allclose(a, e, equal_nan=True, **tol)


def to_np(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    try:
        return np.asarray(x)
    except Exception:  # array-api-strict
        return np.from_dlpack(x)


def smoothed_dense(y, eps, smoothing):
    """y' for dense (N, C) targets: mass-preserving smoothing."""
    y = np.asarray(y, dtype=np.float64)
    c = y.shape[-1]
    m = y.sum(-1, keepdims=True)
    if eps == 0:
        return y
    if smoothing == "uniform":
        return (1 - eps) * y + eps * m / c
    return (1 - eps) * y + eps * (m - y) / (c - 1)


def dense_target(target, c, ignore_index=-100):
    """Index targets → one-hot rows (ignored rows all zero); distributions unchanged."""
    t = np.asarray(target)
    if t.ndim == 2 and t.shape[1] == c and np.issubdtype(t.dtype, np.floating):
        return t.astype(np.float64)
    t = t.astype(np.int64)
    y = np.zeros((t.shape[0], c))
    for i, k in enumerate(t):
        if k != ignore_index:
            y[i, k] = 1.0
    return y


def log_q(pred, kind):
    x = np.asarray(pred, dtype=np.float64)
    with np.errstate(divide="ignore"):
        if kind == "logits":
            return log_softmax(x, axis=-1)
        if kind == "probs":
            return np.log(x)
        return x


def ref_terms(
    pred,
    target,
    *,
    kind="logits",
    weight=None,
    sample_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
):
    """(ℓ_i, w_i) for 2-D inputs (N, C), straight from docs/semantics.md §4."""
    x = np.asarray(pred, dtype=np.float64)
    n, c = x.shape
    y = dense_target(target, c, ignore_index)
    yp = smoothed_dense(y, label_smoothing, smoothing)
    wc = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    lq = log_q(x, kind)
    loss = np.zeros(n)
    wsum = np.zeros(n)
    for i in range(n):
        if y[i].sum() == 0 or s[i] == 0:
            continue
        a = wc * yp[i]
        nz = a != 0
        loss[i] = -s[i] * np.sum(a[nz] * lq[i, nz])
        wsum[i] = s[i] * np.sum(wc * y[i])
    return loss, wsum


def ref_reduce(loss, wsum, reduction, empty="nan"):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    den = wsum.sum()
    if den == 0:
        return np.nan if empty == "nan" else 0.0
    return loss.sum() / den


def ref_cross_entropy(pred, target, *, reduction="mean", **kw):
    return ref_reduce(*ref_terms(pred, target, **kw), reduction)


def ref_grad_logits(
    x,
    target,
    *,
    weight=None,
    sample_weight=None,
    ignore_index=-100,
    label_smoothing=0.0,
    smoothing="uniform",
    reduction="mean",
):
    """Closed-form gradient by finite differences would be circular; this is the
    textbook derivation s_i (A_i softmax − a_i) / den, written independently."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape
    y = dense_target(target, c, ignore_index)
    yp = smoothed_dense(y, label_smoothing, smoothing)
    wc = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    s = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    q = np.exp(log_softmax(x, axis=-1))
    g = np.zeros_like(x)
    den = 0.0
    for i in range(n):
        if y[i].sum() == 0 or s[i] == 0:
            continue
        a = wc * yp[i]
        # a row whose coefficients are all 0 does not depend on x: its gradient is 0 even
        # where softmax is undefined (an all -inf row), as docs/semantics.md §9 states
        aq = a.sum() * q[i] if a.sum() != 0 else 0.0
        g[i] = s[i] * (aq - a)
        den += s[i] * np.sum(wc * y[i])
    if reduction == "mean":
        g = g / den if den else np.zeros_like(g)
    return g


def ref_entropy(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(p > 0, p * np.log(p), 0.0).sum(-1)


def ref_lse(x):
    return logsumexp(np.asarray(x, dtype=np.float64), axis=-1)


# ============================================================================ peers
#: ``keras.config.epsilon()``: Keras clips probabilities to [ε, 1 − ε].
KERAS_EPSILON = 1e-7


def _keras_log_sigmoid(x):
    return -np.logaddexp(0.0, -x)  # jax.nn.log_sigmoid


def keras_bce_elements(y_true, y_pred, *, from_logits=False):
    """``keras.ops.binary_crossentropy`` (Keras 3, JAX/NumPy backends): per element, no mean."""
    y = np.asarray(y_true, dtype=np.float64)
    out = np.asarray(y_pred, dtype=np.float64)
    if y.shape != out.shape:
        raise ValueError("Arguments `target` and `output` must have the same shape")
    if from_logits:
        return -y * _keras_log_sigmoid(out) - (1.0 - y) * _keras_log_sigmoid(-out)
    out = np.clip(out, KERAS_EPSILON, 1.0 - KERAS_EPSILON)
    return -(y * np.log(out) + (1.0 - y) * np.log(1.0 - out))


def keras_same_rank(x1, x2):
    """``keras.src.losses.loss.squeeze_or_expand_to_same_rank`` (expand_rank_1=True)."""
    x1, x2 = np.asarray(x1), np.asarray(x2)
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[..., None]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[..., None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def keras_binary_crossentropy(y_true, y_pred, *, from_logits=False, label_smoothing=0.0):
    """``keras.losses.BinaryCrossentropy(reduction=None)``: ranks matched, smoothing towards 0.5,
    the element losses averaged over the last axis."""
    y_true, y_pred = keras_same_rank(y_true, y_pred)
    y = np.asarray(y_true, dtype=np.float64)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return keras_bce_elements(y, y_pred, from_logits=from_logits).mean(-1)


def keras_binary_focal_crossentropy(
    y_true,
    y_pred,
    *,
    apply_class_balancing=False,
    alpha=0.25,
    gamma=2.0,
    from_logits=False,
    label_smoothing=0.0,
):
    """``keras.losses.binary_focal_crossentropy``: the BCE from clipped probabilities (the sigmoid
    first when ``from_logits``), times ``(1 − p_t)^γ`` of the unclipped ones, mean over the last axis."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        p = expit(p)
    bce = keras_bce_elements(y, p)
    p_t = y * p + (1 - y) * (1 - p)
    focal_bce = (1.0 - p_t) ** gamma * bce
    if apply_class_balancing:
        focal_bce = (y * alpha + (1 - y) * (1 - alpha)) * focal_bce
    return focal_bce.mean(-1)


def keras_probs(y_pred, *, from_logits=False):
    """What Keras's categorical losses take the log of: the softmax, or the renormalised and clipped input."""
    out = np.asarray(y_pred, dtype=np.float64)
    if from_logits:
        out = np.exp(log_softmax(out, axis=-1))
    out = out / out.sum(-1, keepdims=True)
    return np.clip(out, KERAS_EPSILON, 1.0 - KERAS_EPSILON)


def keras_categorical_focal_crossentropy(
    y_true, y_pred, *, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0
):
    """``keras.losses.categorical_focal_crossentropy``: ``−Σ_c α_c (1 − q_c)^γ y'_c log q_c`` with
    ``q`` renormalised and clipped, ``y' = (1 − ε) y + ε / C`` (``α`` a scalar or one per class)."""
    y = np.asarray(y_true, dtype=np.float64)
    if label_smoothing:
        y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    q = keras_probs(y_pred, from_logits=from_logits)
    cce = -y * np.log(q)
    return np.sum((1.0 - q) ** gamma * alpha * cce, axis=-1)


def keras_sparse_categorical_crossentropy(y_true, y_pred, *, from_logits=False, ignore_class=None):
    """``keras.losses.sparse_categorical_crossentropy`` → ``(values, mask)``: an ``(N, 1)`` label is
    squeezed; ignored positions get 0 and a False mask (``mask`` is None without ``ignore_class``)."""
    t = np.asarray(y_true)
    x = np.asarray(y_pred, dtype=np.float64)
    if t.ndim == x.ndim and t.shape[-1] == 1:
        t = t[..., 0]
    mask = None
    if ignore_class is not None:
        mask = t != ignore_class
        t = np.where(mask, t, 0)
    logq = log_softmax(x, axis=-1) if from_logits else np.log(keras_probs(x))
    values = -np.take_along_axis(logq, t[..., None].astype(np.int64), axis=-1)[..., 0]
    if mask is not None:
        values = np.where(mask, values, 0.0)
    return values, mask


def keras_reduce(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """``keras.src.losses.loss.reduce_weighted_values``: the mask folded into the sample weight
    (scaled by total/valid for the mean reductions), then ``Σ s·ℓ`` divided by the number of
    loss values (``"sum_over_batch_size"``), or by ``Σ s`` (``"mean_with_sample_weight"``)."""
    values = np.asarray(values, dtype=np.float64)
    s = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if mask is not None:
        m = np.asarray(mask, dtype=np.float64)
        if reduction in ("mean", "sum_over_batch_size"):
            valid = m.sum()
            m = m * (m.size / valid if valid else 0.0)
        s = m if s is None else s * m
    if s is not None:
        values, s = keras_same_rank(values, s)
        values = values * s
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = values.sum()
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and s is not None:
        den = s.sum()
    else:
        den = values.size
    return loss / den if den else 0.0


def optax_sigmoid_focal_loss(logits, labels, *, alpha=None, gamma=2.0):
    """``optax.losses.sigmoid_focal_loss`` (0.2.5+): ``sigmoid_binary_cross_entropy`` times
    ``(1 − p_t)^γ`` with ``log(1 − p_t) = logsumexp([log p, log(1 − p)], b=[1 − y, y])``,
    times ``α_t = α y + (1 − α)(1 − y)`` when ``alpha`` is given. Element-wise, unreduced."""
    x = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    log_p, log_q = _keras_log_sigmoid(x), _keras_log_sigmoid(-x)
    ce_loss = -y * log_p - (1.0 - y) * log_q
    log_one_minus_p_t = logsumexp(np.stack([log_p, log_q], -1), axis=-1, b=np.stack([1 - y, y], -1))
    loss = ce_loss * np.exp(gamma * log_one_minus_p_t)
    if alpha is None:
        return loss
    return (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss


def optax_smooth_labels(labels, alpha):
    """``optax.smooth_labels``: ``(1 − α)·y + α / C`` whatever the row's mass."""
    y = np.asarray(labels, dtype=np.float64)
    return (1.0 - alpha) * y + alpha / y.shape[-1]


def optax_softmax_cross_entropy(logits, labels):
    """``optax.softmax_cross_entropy``: ``−Σ_c y_c log_softmax(x)_c`` per example (labels as given;
    a zero label on a −inf logit is ``0 · (−inf) = NaN``)."""
    with np.errstate(invalid="ignore"):
        return -(
            np.asarray(labels, dtype=np.float64)
            * log_softmax(np.asarray(logits, np.float64), axis=-1)
        ).sum(-1)


def optax_safe_softmax_cross_entropy(logits, labels):
    """``optax.safe_softmax_cross_entropy``: as above with ``0 · log 0 = 0``."""
    y = np.asarray(labels, dtype=np.float64)
    lq = log_softmax(np.asarray(logits, dtype=np.float64), axis=-1)
    with np.errstate(invalid="ignore"):
        return -np.where(y != 0, y * lq, 0.0).sum(-1)
