"""torch functions composed from the primitives: block matrices, combinatorial products,
Vandermonde matrices, the trapezoidal rule, inner products and renorm.

Each is written in differentiable Tensor ops only, so its gradient is the composition's
(tests/test_composites.py checks values and gradients against torch and by gradcheck).
"""

from __future__ import annotations

import builtins
import itertools
from typing import Any

import numpy as np

from autotensor import dtypes
from autotensor import functional as F
from autotensor.tensor import Tensor, as_tensor

__all__ = [
    "block_diag", "cartesian_prod", "combinations", "cumulative_trapezoid", "inner",
    "narrow_copy", "renorm", "trapezoid", "trapz", "vander", "vdot",
]  # fmt: skip


def block_diag(*tensors: Tensor) -> Tensor:
    """The block-diagonal matrix of the inputs (each 0-, 1- or 2-D: a 0-d t is 1x1, a 1-D
    one of n elements 1xn): out has sum of rows x sum of columns, zero off the blocks; the
    dtype is the inputs' promoted one."""
    blocks = []
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise RuntimeError(f"torch.block_diag: Input tensors must have 2 or fewer "
                               f"dimensions. Input {i} has {t.ndim} dimensions")  # fmt: skip
        blocks.append(t.reshape(1, 1) if t.ndim == 0 else t.reshape(1, -1) if t.ndim == 1 else t)
    if not blocks:
        return F.reshape(as_tensor(np.zeros(0, dtypes.get_default_dtype())), (1, 0))
    dt = blocks[0].dtype
    for b in blocks[1:]:
        dt = dtypes.result_type(np.dtype(dt), False, np.dtype(b.dtype), False)
    width = builtins.sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        rows.append(F.pad(b.to(dt), (left, width - left - c)))
        left += c
    return F.cat(rows, 0)


def _vector(t: Tensor, name: str) -> None:
    if t.ndim != 1:
        raise RuntimeError(f"{name}: Expect a 1D vector, but got shape {list(t.shape)}")


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """Every tuple (a[i], b[j], ...) of 1-D inputs, in row-major order: (prod of lengths, k);
    one input is returned as it is."""
    for t in tensors:
        _vector(t, "cartesian_prod")
    if len(tensors) == 1:
        return tensors[0]
    from autotensor.tensor_functions import meshgrid

    grids = meshgrid(*tensors, indexing="ij")
    return F.stack([g.reshape(-1) for g in grids], 1)


def combinations(input: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-r combinations of a 1-D input's elements, as itertools gives them:
    (number of combinations, r); with_replacement allows an element to repeat."""
    _vector(input, "combinations")
    if r < 0:
        raise RuntimeError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return as_tensor(np.zeros(0, input.dtype))
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(pick(range(input.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    return input[idx]


def vander(x: Tensor, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of a 1-D x: out[i, j] = x[i] ** (N - 1 - j) (** j when
    increasing); N columns, len(x) by default. A bool or integer x gives int64."""
    if x.ndim != 1:
        raise RuntimeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise RuntimeError("N must be non-negative.")
    if x.dtype.kind in "bu" or x.dtype.kind == "i":
        x = x.to(np.int64)
    if n == 0:
        return as_tensor(np.zeros((x.shape[0], 0), x.dtype))
    # running products, as torch builds it: column j is x times column j - 1
    cols = [as_tensor(np.ones(x.shape, x.dtype))]
    for _ in range(n - 1):
        cols.append(cols[-1] * x)
    out = F.stack(cols, 1)
    return out if increasing else F.flip(out, (1,))


def _dim_of(y: Tensor, dim: int) -> int:
    nd = builtins.max(y.ndim, 1)
    if not -nd <= dim < nd:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}]"
                         f", but got {dim})")  # fmt: skip
    return dim % nd


def _ends(y: Tensor, d: int) -> tuple[Tensor, Tensor]:
    n = y.shape[d]
    return F.narrow(y, d, 1, n - 1), F.narrow(y, d, 0, n - 1)


def _spacing(x: Tensor, y: Tensor, d: int) -> Tensor:
    """The differences of the sample points x along dim d of y (a 1-D x lies along d)."""
    if x.ndim == 1:
        shape = [1] * y.ndim
        shape[d] = x.shape[0]
        x = x.reshape(shape)
        d2 = d
    else:
        d2 = d - y.ndim + x.ndim if x.ndim < y.ndim else d
    hi, lo = _ends(x, d2)
    return hi - lo


def _floating(y: Any) -> Tensor:
    y = as_tensor(y)
    return y if y.dtype.kind in "fc" else y.to(dtypes.get_default_dtype())


def _rule(name: str, y: Any, x: Any, dx: Any, dim: int) -> tuple[Tensor, int, Any]:
    """(y as floats, the dim, the constant spacing or None when x gives the points)."""
    if x is not None and dx is not None:
        raise TypeError(f"{name}() received an invalid combination of arguments - got "
                        f"(Tensor, Tensor, dx=...): pass either x or dx")  # fmt: skip
    y = _floating(y)
    if isinstance(x, Tensor):
        return y, _dim_of(y, dim), None
    return y, _dim_of(y, dim), dx if dx is not None else 1.0 if x is None else x


def trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoidal rule along dim: sum_i (x[i+1] - x[i]) (y[i+1] + y[i]) / 2, or with a
    constant spacing dx (1 by default) dx (sum y - (y[0] + y[-1]) / 2). The dim is reduced."""
    y, d, step = _rule("trapezoid", y, x, dx, dim)
    if y.shape[d] == 0:
        return y.sum(d) * 0.0
    if step is not None:
        return (y.sum(d) - (F.select(y, d, 0) + F.select(y, d, -1)) * 0.5) * step
    hi, lo = _ends(y, d)
    return (_spacing(x, y, d) * (hi + lo)).sum(d) / 2.0


def trapz(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """torch.trapz: trapezoid under its older name."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Tensor, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The running trapezoidal rule along dim: out[k] = trapezoid(y[:k + 2]); one element
    fewer along dim than y."""
    y, d, step = _rule("cumulative_trapezoid", y, x, dx, dim)
    if y.shape[d] == 0:
        return y
    hi, lo = _ends(y, d)
    if step is not None:
        return ((hi + lo) * (step / 2.0)).cumsum(d)
    return (_spacing(x, y, d) * (hi + lo)).cumsum(d) / 2.0


def inner(input: Tensor, other: Tensor) -> Tensor:
    """The sum over the last dims: out[i..., j...] = sum_k a[i..., k] b[j..., k], of shape
    a.shape[:-1] + b.shape[:-1]; a 0-d operand multiplies."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    if input.shape[-1] != other.shape[-1]:
        raise RuntimeError(
            f"inner() the last dimension must match on both input tensors but got shapes "
            f"{list(input.shape)} and {list(other.shape)}."
        )
    from autotensor.tensor_functions import tensordot

    return tensordot(input, other, dims=([-1], [-1]))


def vdot(input: Tensor, other: Tensor) -> Tensor:
    """sum_i conj(a[i]) b[i] of two 1-D tensors of one dtype (the dot product for reals)."""
    if input.ndim != 1 or other.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.ndim}D and {other.ndim}D "
                           f"tensors")  # fmt: skip
    if input.dtype != other.dtype:
        raise RuntimeError(
            f"vdot : expected both vectors to have same dtype, but found "
            f"{dtypes.torch_name(input.dtype)} and {dtypes.torch_name(other.dtype)}"
        )
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(
            f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
            f"[{other.shape[0]}] to have the same number of elements, but got "
            f"{input.shape[0]} and {other.shape[0]} elements respectively"
        )
    return input.dot(other)


def renorm(input: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along dim (input.select(dim, i)) whose p-norm exceeds maxnorm, scaled by
    maxnorm / (norm + 1e-7); the others unchanged."""
    if input.dtype.kind not in "fc":
        raise RuntimeError(f"renorm: expected a floating point tensor, got "
                           f"{dtypes.torch_name(input.dtype)}")  # fmt: skip
    if p <= 0:
        raise RuntimeError("renorm: non-positive-norm not supported")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if input.ndim <= 1:
        raise RuntimeError(f"renorm: input needs at least 2 dimensions, got {input.ndim} "
                           f"dimensions")  # fmt: skip
    d = _dim_of(input, dim)
    others = tuple(i for i in range(input.ndim) if i != d)
    norm = F.norm(input, p, others, keepdim=True)
    scale = F.where(norm > maxnorm, maxnorm / (norm + 1e-7), 1.0)
    return input * scale


def narrow_copy(input: Tensor, dim: int, start: int, length: int) -> Tensor:
    """narrow(input, dim, start, length) as a new contiguous tensor (no view)."""
    return F.narrow(input, dim, start, length).contiguous().clone()
