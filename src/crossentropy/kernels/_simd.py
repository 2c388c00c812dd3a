"""Scalar building blocks for the compiled kernels (imported only when numba is).

``vexp(v)`` is ``exp`` of a **non-positive** argument (``v <= 0``, ``-inf`` or
NaN: the kernels only ever take ``exp(x - max)``), specialised at compile
time on the argument's type:

- float32: a Cephes-style polynomial written with plain arithmetic, selects and
  one bit cast, so that LLVM vectorises the loops that call it (numba's scalar
  ``math.exp`` is a libm call per element and does not vectorise). Maximum
  relative error about 3e-7 on [-87, 0]; ``exp(-inf) = 0``, ``exp(NaN) = NaN``;
  arguments below -87.33 (results near the smallest normal float32) give 0.
  Positive arguments are not supported (no overflow clamp: it costs 20%).
- float64: ``math.exp`` (libm), so float64 results keep full double accuracy.

``vmax(a, b)`` is LLVM's ``maxnum``: the larger of two floats, a NaN argument
ignored (the other is returned). Unlike ``a if a > b else b`` its reduction over a
loop vectorises without the ``nnan`` flag (LLVM checks a whole vector for NaN and
falls back to the scalar loop only when it finds one), so a block's maximum costs
one vector compare per 16 float32 instead of a scalar dependency chain. The
kernels detect a NaN in a row through its exp-sum (``vexp(NaN) = NaN``), never
through the maximum.

The reduction flags ``FASTMATH`` allow re-association (needed to vectorise
sums) and fused multiply-add, but never ``nnan``/``ninf``: the kernels rely on
IEEE inf and NaN propagation for the semantics of -inf logits and NaN rows.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, overload

#: fast-math flags used by every kernel: no ``nnan``, ``ninf`` or ``afn``.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

#: elements per block of the online log-sum-exp (a block stays in L1).
BLOCK = 2048

_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_LO = np.float32(-87.33)
_P0 = np.float32(1.9875691500e-4)
_P1 = np.float32(1.3981999507e-3)
_P2 = np.float32(8.3334519073e-3)
_P3 = np.float32(4.1665795894e-2)
_P4 = np.float32(1.6666665459e-1)
_P5 = np.float32(5.0000001201e-1)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)


@intrinsic
def _bits_to_f32(typingctx, v):
    """Reinterpret the bits of an int32 as a float32 (an LLVM ``bitcast``)."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@intrinsic
def vmax(typingctx, a, b):
    """``maxnum(a, b)`` (a NaN argument is ignored) for two floats of the same type."""
    if not (isinstance(a, types.Float) and a == b):
        return None
    sig = a(a, b)

    def codegen(context, builder, signature, args):
        t = args[0].type
        name = "llvm.maxnum.f32" if t == ir.FloatType() else "llvm.maxnum.f64"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(t, [t, t]), name)
        return builder.call(fn, args)

    return sig, codegen


def vexp(v):  # pragma: no cover - replaced by the overload inside compiled code
    """Typed ``exp``; only callable from compiled code."""
    return math.exp(v)


@overload(vexp, jit_options={"fastmath": FASTMATH})
def _vexp_overload(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:

        def expf(v):
            x = v if v > _LO else _LO  # NaN -> _LO here; restored below
            fx = np.floor(x * _LOG2E + _HALF)
            r = x - fx * _LN2_HI - fx * _LN2_LO
            z = r * r
            p = ((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5
            p = p * z + r + _ONE
            scale = _bits_to_f32((np.int32(fx) + np.int32(127)) << np.int32(23))
            e = p * scale
            e = np.float32(0.0) if v < _LO else e
            return v if v != v else e

        return expf
    if isinstance(v, types.Float):

        def expd(v):
            return math.exp(v)

        return expd
    return None
