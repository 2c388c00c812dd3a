"""Arrays whose values cannot be copied to the host: messages never crash on them.

No GPU here, so torch ``meta`` tensors (a shape and dtype without values) stand in for a
device array that refuses host conversion (CuPy on a GPU refuses ``np.asarray``), together
with a small stand-in class that refuses every conversion. Errors about such arrays say what
they can without the values; shapes are still checked, and value checks are skipped as for
traced arrays (the result is another meta tensor of the right shape).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import crossentropy as ce
import crossentropy.torch as ct
from crossentropy._array import describe, host_copy, to_numpy, values_available
from crossentropy._validate import positions


def meta(*shape, dtype=torch.float32):
    return torch.empty(*shape, dtype=dtype, device="meta")


class Refuses:
    """A device array in miniature: no implicit NumPy conversion and no DLPack to the host."""

    shape = (3,)
    dtype = "float32"
    device = "gpu:0"

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")

    def __dlpack__(self, *args, **kwargs):
        raise BufferError("the data lives in device memory")

    def __dlpack_device__(self):
        return (2, 0)


def test_bad_shapes_on_meta_raise_our_errors():
    x = meta(4, 3)
    y = meta(5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"`target` shape \(5,\) matches neither"):
        ce.cross_entropy(x, y)
    with pytest.raises(ValueError, match=r"`weight` must have one entry per class, shape \(3,\)"):
        ce.cross_entropy(x, meta(4, dtype=torch.long), weight=meta(2))
    with pytest.raises(ValueError, match=r"`sample_weight` must have one entry per example"):
        ce.cross_entropy(x, meta(4, dtype=torch.long), sample_weight=meta(3))
    with pytest.raises(ValueError, match="`target` must have the prediction's shape"):
        ce.binary_cross_entropy(meta(4), meta(5))
    # the torch drop-ins need values: they say so before anything else
    with pytest.raises(ValueError, match="`input` is a meta tensor"):
        ct.cross_entropy(x, y)


def test_meta_tensors_skip_value_checks_and_keep_shapes():
    """Like a traced array: shapes and dtypes are checked, values are not read."""
    x, y = meta(4, 3), meta(4, dtype=torch.long)
    assert not values_available(x) and values_available(torch.zeros(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ce.cross_entropy(x, y, reduction="none")
        grad = ce.cross_entropy_grad(x, y)
    assert out.is_meta and tuple(out.shape) == (4,)
    assert grad.is_meta and tuple(grad.shape) == (4, 3)
    # binary: every array the loss builds is created on the prediction's device
    for reduction, shape in (("none", (4, 3)), ("mean", ())):
        b = ce.binary_cross_entropy(x, meta(4, 3), reduction=reduction)
        assert b.is_meta and tuple(b.shape) == shape


def test_to_numpy_says_what_it_cannot_copy():
    with pytest.raises(TypeError, match=r"a torch.Tensor of shape \(2, 3\).*on meta has no values"):
        to_numpy(meta(2, 3))
    with pytest.raises(TypeError, match=r"Refuses of shape \(3,\), dtype float32, on gpu:0"):
        to_numpy(Refuses())
    assert host_copy(meta(2)) is None and host_copy(Refuses()) is None
    assert describe(meta(2, dtype=torch.float16)) == (
        "a torch.Tensor of shape (2,), dtype torch.float16, on meta"
    )


def test_messages_about_arrays_without_host_values():
    # positions of a mask that cannot reach the host: described, not crashed
    text = positions(meta(2, 3) > 0, meta(2, 3))
    assert text.startswith("entries not shown (a torch.Tensor of shape (2, 3)")
    assert "cannot be read on the host" in text
    # a host mask with values that cannot reach the host: the indices, without values
    assert positions(np.array([False, True, True]), Refuses()) == "2 entries, at index 1, 2"


def test_bfloat16_values_appear_in_messages():
    """NumPy has no bfloat16: the message copies such values as float32."""
    p = torch.tensor([[0.5, 1.5], [0.5, 0.5]], dtype=torch.bfloat16)
    assert to_numpy(p).dtype == np.float32
    with pytest.raises(ValueError, match=r"at index \(0, 1\) \(value 1.5\)"):
        ce.cross_entropy(p, torch.tensor([0, 1]), kind="probs")
