"""Every public signature's defaults equal the one source of defaults (``crossentropy._options``).

Public functions repeat their options explicitly (keyword-only, as documented); this test
keeps those copies equal to :func:`crossentropy._options.defaults`. A function whose
default differs on purpose is listed in ``EXCEPTIONS`` with the reason, and only there.
"""

from __future__ import annotations

import inspect

import pytest

import crossentropy as ce
from crossentropy import _options

SOURCE = _options.defaults()

#: (function, option) -> (default, why it differs from the one source).
EXCEPTIONS = {
    ("nll", "reduction"): ("sum", "the NLL of the whole dataset is a sum"),
    ("log_likelihood", "reduction"): ("sum", "the log-likelihood of a dataset is a sum"),
    ("likelihood", "reduction"): ("sum", "the likelihood of a dataset is a product"),
    ("entropy", "reduction"): ("none", "the entropy of each distribution"),
    ("entropy", "kind"): ("probs", "an entropy is taken of a distribution"),
    ("binary_cross_entropy", "ignore_index"): (None, "PyTorch's binary losses ignore nothing"),
    ("binary_cross_entropy_grad", "ignore_index"): (None, "as binary_cross_entropy"),
    ("to_log_probs", "kind"): ("logits", "same as the source"),
    ("fit_temperature", "kind"): ("logits", "same as the source"),
    ("binary_cross_entropy_with_logits", "ignore_index"): (None, "PyTorch's signature"),
    ("BCEWithLogitsLoss", "ignore_index"): (None, "PyTorch's signature"),
}


def _public_callables():
    import crossentropy.torch as ct

    out = []
    for mod, names in ((ce, ce.__all__), (ct, ct.__all__)):
        for name in names:
            obj = getattr(mod, name)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                continue  # warnings take a message, no options
            if callable(obj):
                out.append((f"{mod.__name__}.{name}", name, obj))
    return out


CALLABLES = _public_callables()


@pytest.mark.parametrize("qualname,name,fn", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_defaults_come_from_one_place(qualname, name, fn):
    sig = inspect.signature(fn)
    for param in sig.parameters.values():
        if param.name not in SOURCE or param.default is inspect.Parameter.empty:
            continue
        expected, why = EXCEPTIONS.get((name, param.name), (SOURCE[param.name], "the source"))
        assert param.default == expected, (
            f"{qualname}({param.name}={param.default!r}) differs from {why} ({expected!r}); "
            "change the default in crossentropy._options or list the function in EXCEPTIONS"
        )


def test_exceptions_are_used():
    """Every listed exception names a real public parameter (no stale entries)."""
    seen = set()
    for _, name, fn in CALLABLES:
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            continue
        seen |= {(name, p) for p in params}
    stale = [k for k in EXCEPTIONS if k not in seen]
    assert not stale, f"EXCEPTIONS lists parameters that no public callable has: {stale}"


def test_literal_options_match_vocabularies():
    """The Literal aliases in signatures are the vocabularies the checks use."""
    from typing import get_args

    from crossentropy import _types

    assert get_args(_types.Reduction) == _options.REDUCTIONS
    assert get_args(_types.Empty) == _options.EMPTY
    assert get_args(_types.DivideBy) == _options.DIVIDE_BY
    assert get_args(_types.Smoothing) == _options.SMOOTHINGS
    assert get_args(_types.Kind) == _options.KINDS
    assert get_args(_types.Impl) == _options.IMPLS
