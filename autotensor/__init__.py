"""autotensor: a reverse-mode autograd tensor engine on numpy, with PyTorch's API.

import autotensor as at
x = at.tensor([1.0, 2.0], requires_grad=True)
y = (x * x).sum()
y.backward()          # x.grad == 2 * x
"""

# Note [import order]: tensor first; it imports the engine and the primitives at its end.
from autotensor.tensor import Tensor  # noqa: I001
from autotensor import autograd, dtypes, functional, ops, random, testing
from autotensor.creation import (
    arange, as_tensor, bernoulli, empty, empty_like, eye, from_numpy, full, full_like, linspace,
    multinomial, normal, ones, ones_like, rand, rand_like, randint, randint_like, randn,
    randn_like, randperm, tensor, zeros, zeros_like,
)  # fmt: skip
from autotensor._views import (
    channels_last, channels_last_3d, contiguous_format, memory_format, preserve_format,
)  # fmt: skip
from autotensor.dtypes import (
    bfloat16, bool_, double, float16, float32, float64, get_default_dtype, half, int8, int16,
    int32, int64, long, set_default_dtype, uint8,
)  # fmt: skip
from autotensor.convolution import (
    adaptive_avg_pool1d, avg_pool1d, conv1d, conv2d, conv_transpose1d, conv_transpose2d,
    max_pool1d, max_pool2d,
)  # fmt: skip
from autotensor.engine import backward, grad
from autotensor.function import Function
from autotensor.functional import (
    argmax, argmin, cat, chunk, clamp, clip, concat, expand, flatten, flip, gather, index_select,
    logsumexp, masked_fill, matmul, max, mean, min, movedim, narrow, norm, pad, permute,
    repeat, reshape, roll, scatter_add, select, softmax, log_softmax, split, squeeze, stack, std,
    sum_to, transpose, tril, triu, unbind, unsqueeze, var,
)  # fmt: skip
from autotensor.grad_mode import (
    enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
    set_grad_enabled,
)  # fmt: skip
from autotensor.tensor_functions import (  # torch's tensor functions beyond the core set
    addbmm, addcdiv, addcmul, addmm, addmv, addr, all, aminmax, any, arctan2, argsort,
    argwhere, atan2, atleast_1d, atleast_2d, atleast_3d, baddbmm, bincount, bitwise_and,
    bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
    broadcast_shapes, broadcast_tensors, broadcast_to, bucketize, cdist, clamp_max, clamp_min,
    column_stack, count_nonzero, cross, cummax, cummin, cumprod, diag, diag_embed, diagflat,
    diagonal, diff, dist, dstack, einsum, erf, erfc, erfinv, fliplr, flipud, floor_divide, fmod,
    histc, hsplit, hstack, hypot, index_add, index_copy, index_fill, index_reduce,
    is_floating_point, is_nonzero, isclose, isin, kron, kthvalue, lerp, logcumsumexp,
    logical_and, logical_not,
    logical_or, logical_xor, masked_scatter, masked_select, median, meshgrid, mode, moveaxis,
    msort, mv, nan_to_num, nanmean, nanmedian, nanquantile, nansum, nonzero, outer, quantile,
    remainder, repeat_interleave, rot90, row_stack, scatter, scatter_reduce, searchsorted, sort,
    std_mean, swapaxes, swapdims, take, take_along_dim, tensor_split, tensordot, tile, topk,
    trace, tril_indices, triu_indices, true_divide, unique, unique_consecutive, var_mean, vsplit,
    vstack, where,
)  # fmt: skip
from autotensor import linalg  # torch.linalg; the top-level forms below
from autotensor.linalg_toplevel import (
    cholesky, cholesky_inverse, cholesky_solve, det, inverse, logdet, matrix_exp, matrix_power,
    pinverse, qr, slogdet, svd, triangular_solve,
)  # fmt: skip
from autotensor.special_functions import (  # torch's further elementwise math
    copysign, deg2rad, digamma, float_power, frac, gcd, heaviside, i0, lcm, ldexp, lgamma,
    logaddexp, logaddexp2, logit, mvlgamma, nextafter, polygamma, rad2deg, sgn, signbit, sinc,
    xlogy,
)  # fmt: skip
from autotensor import special  # torch.special
from autotensor.composites import (  # composed from the primitives
    block_diag, cartesian_prod, combinations, cumulative_trapezoid, inner, narrow_copy, renorm,
    trapezoid, trapz, vander, vdot,
)  # fmt: skip
from autotensor.random import (
    Generator, default_generator, fork_rng, get_rng_state, initial_seed, manual_seed, seed,
    set_rng_state,
)  # fmt: skip
from autotensor._device import device
from autotensor import _aliases, accelerator, amp, backends, cpu, cuda
from autotensor.amp import autocast, is_autocast_enabled
from autotensor._settings import (
    are_deterministic_algorithms_enabled, compile, get_float32_matmul_precision,
    get_num_interop_threads, get_num_threads, set_float32_matmul_precision,
    set_num_interop_threads, set_num_threads, set_printoptions, use_deterministic_algorithms,
)  # fmt: skip
from autotensor.testing.gradcheck import gradcheck, gradgradcheck
from autotensor._size import Size
from autotensor._typeinfo import finfo, iinfo
from autotensor._legacy import LEGACY as _LEGACY_TYPES

from autotensor import distributions

bool = bool_
# torch's legacy tensor types (constructors and isinstance checks)
FloatTensor, DoubleTensor, HalfTensor = (
    _LEGACY_TYPES[n] for n in ("FloatTensor", "DoubleTensor", "HalfTensor")
)
LongTensor, IntTensor, ShortTensor = (
    _LEGACY_TYPES[n] for n in ("LongTensor", "IntTensor", "ShortTensor")
)
CharTensor, ByteTensor, BoolTensor = (
    _LEGACY_TYPES[n] for n in ("CharTensor", "ByteTensor", "BoolTensor")
)
float = float32
int = int32
__version__ = "0.1.0"


# Functions that torch offers as both `torch.f(x)` and `x.f()`: one-line forwards.
def add(x, y, alpha=1):
    return as_tensor(x).add(y, alpha=alpha)


def sub(x, y, alpha=1):
    return as_tensor(x).sub(y, alpha=alpha)


def mul(x, y):
    return as_tensor(x) * y


def div(x, y, rounding_mode=None):
    return as_tensor(x).div(y, rounding_mode=rounding_mode)


def pow(x, y):
    return as_tensor(x) ** y if isinstance(x, Tensor) else x ** as_tensor(y)


def neg(x):
    return -x


def abs(x):
    return x.abs()


def exp(x):
    return x.exp()


def log(x):
    return x.log()


def log1p(x):
    return x.log1p()


def sqrt(x):
    return x.sqrt()


def rsqrt(x):
    return x.rsqrt()


def square(x):
    return x * x


def sin(x):
    return x.sin()


def cos(x):
    return x.cos()


def tanh(x):
    return x.tanh()


def sigmoid(x):
    return x.sigmoid()


def relu(x):
    return x.relu()


def sign(x):
    return x.sign()


def floor(x):
    return x.floor()


def trunc(x):
    return x.trunc()


def reciprocal(x):
    return x.reciprocal()


def ceil(x):
    return x.ceil()


def round(x, decimals=0):
    return x.round(decimals)


def rsub(x, y, alpha=1):
    """y - alpha * x (torch.rsub: sub with its operands swapped)."""
    return as_tensor(y).sub(x, alpha=alpha)


def tan(x):
    return x.tan()


def sinh(x):
    return x.sinh()


def cosh(x):
    return x.cosh()


def asin(x):
    return x.asin()


def acos(x):
    return x.acos()


def atan(x):
    return x.atan()


def asinh(x):
    return x.asinh()


def acosh(x):
    return x.acosh()


def atanh(x):
    return x.atanh()


def expm1(x):
    return x.expm1()


def exp2(x):
    return x.exp2()


def log2(x):
    return x.log2()


def log10(x):
    return x.log10()


# torch's aliases
subtract, multiply, divide, negative, absolute, fix = sub, mul, div, neg, abs, trunc
arcsin, arccos, arctan, arcsinh, arccosh, arctanh = asin, acos, atan, asinh, acosh, atanh


def maximum(x, y):
    return as_tensor(x).maximum(y)


def minimum(x, y):
    return as_tensor(x).minimum(y)


def sum(x, dim=None, keepdim=False, dtype=None):
    return x.sum(dim, keepdim, dtype=dtype)


def prod(x, dim=None, keepdim=False):
    return x.prod(dim, keepdim)


def amax(x, dim=None, keepdim=False):
    return x.amax(dim, keepdim)


def amin(x, dim=None, keepdim=False):
    return x.amin(dim, keepdim)


def cumsum(x, dim):
    return x.cumsum(dim)


def mm(x, y):
    return x.mm(y)


def bmm(x, y):
    return x.bmm(y)


def dot(x, y):
    return x.dot(y)


def t(x):
    return x.t()


def clone(x, **kwargs):  # memory_format=: a parameter of that name would hide the class
    return x.clone(**kwargs)


def detach(x):
    return x.detach()


def numel(x):
    return x.numel()


def isnan(x):
    return x.isnan()


def isinf(x):
    return x.isinf()


def isfinite(x):
    return x.isfinite()


def allclose(x, y, rtol=1e-5, atol=1e-8, equal_nan=False):
    return as_tensor(x).allclose(y, rtol=rtol, atol=atol, equal_nan=equal_nan)


def equal(x, y):
    return as_tensor(x).equal(y)


def eq(x, y):
    return as_tensor(x) == y


def ne(x, y):
    return as_tensor(x) != y


def lt(x, y):
    return as_tensor(x) < y


def le(x, y):
    return as_tensor(x) <= y


def gt(x, y):
    return as_tensor(x) > y


def ge(x, y):
    return as_tensor(x) >= y


not_equal, less, less_equal, greater, greater_equal = ne, lt, le, gt, ge


def is_tensor(x):
    return isinstance(x, Tensor)


def result_type(x, y):
    from autotensor.tensor import _operands

    a = as_tensor(x)
    return _operands(a, y)[0].dtype


_aliases.install()  # `autotensor.nn`, `.optim`, `.utils.data`: Note [Aliases]
# Loaded on first use: the nn aliases (so the engine never imports nn), the visualiser and the
# ONNX exporter (whose optional dependencies are imported only when they are used).
_LAZY = ("nn", "optim", "utils", "viz", "onnx", "serialization")


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"autotensor.{name}")
    if name in ("save", "load"):  # torch's checkpoint files: autotensor.serialization
        from autotensor import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module 'autotensor' has no attribute {name!r}")
