"""JAX: the documented gradients under ``jax.grad`` (docs/semantics.md §9).

Left to itself JAX differentiates a loss's formula, which differs from the documented
gradient wherever the formula meets ``0 · ∞``: a masked row holding NaN or ``inf`` logits
(documented: 0), a probability 0 on a class the target gives weight 0 (documented: 0), a
label that is not a class under ``validate=False`` (documented: NaN; its NaN sits outside
the row's formula). :func:`differentiable` gives a loss the library's one closed form
(``_prepare.closed_form_grad``, passed in by the caller: no second formula) as a
``jax.custom_jvp``: each output depends on one row (or element) of the prediction, so its
tangent is ``Σ_c G_ic · ẋ_ic`` with ``G`` the closed-form gradient of that output; JAX
transposes it for ``grad``, and forward mode (``jvp``, ``jacfwd``, ``hessian``) keeps working.
JAX is imported only when a JAX array arrives: the core never imports it at load time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._array import Array, is_jax_array

__all__ = ["differentiable"]


def differentiable(
    value: Callable, grad: Callable, pred: Array, *, class_axis: int | None, **consts: Any
) -> Array:
    """``value(pred, **consts)``, whose derivative with respect to ``pred`` is ``grad``'s.

    ``grad(g, pred, **consts)`` is the vector-Jacobian product for the output cotangent
    ``g``. Each output is a scalar, one value per row (``class_axis`` of ``pred`` reduced) or
    one per element of ``pred``. The ``consts`` (targets, weights, a traced label smoothing or
    normalizer, the option records) are constants of the loss: JAX arrays among them pass
    through the custom rule (so they may be traced) with no derivative, everything else is
    closed over. Works under ``jit``, ``vmap``, ``grad``, ``jvp`` and their compositions.
    """
    import jax

    arrays = {k: a for k, a in consts.items() if is_jax_array(a)}
    static = {k: a for k, a in consts.items() if k not in arrays}

    @jax.custom_jvp
    def f(x: Array, dyn: dict) -> Array:
        return value(x, **static, **dyn)

    def jvp(primals: tuple, tangents: tuple) -> tuple[Array, Array]:
        x, dyn = primals
        out = value(x, **static, **dyn)
        # the Jacobian is block-diagonal: the gradient of every output at once
        g = grad(jax.numpy.ones_like(out), x, **static, **dyn)
        dx = tangents[0]
        if type(dx).__name__ == "Zero" or getattr(dx, "dtype", None) == jax.dtypes.float0:
            return out, jax.numpy.zeros_like(out)
        prod = jax.numpy.where(g == 0, jax.numpy.zeros_like(g), g * dx)  # 0 · ẋ = 0
        if out.ndim == 0:
            return out, jax.numpy.sum(prod)
        if tuple(out.shape) == tuple(x.shape):
            return out, prod
        return out, jax.numpy.sum(prod, axis=class_axis)

    f.defjvp(jvp)
    return f(pred, arrays)
