"""Cumulative products along a dim (cumsum is in reduce.py)."""

from __future__ import annotations

import numpy as np

from autotensor import _views
from autotensor.function import Function
from autotensor.ops.reduce import norm_dims
from autotensor.tensor import _new
from autotensor.testing.sample import Sample


class Cumprod(Function):
    """out_i = prod_{j <= i} x_j along `dim`.

    dx_k = sum_{i >= k} g_i prod_{j <= i, j != k} x_j. Without zeros in x that is
    revcumsum(g * out) / x_k; with zeros (where out / x is undefined) it is computed from the
    (n, n) matrix of cumulative products of x with x_k replaced by 1, which is again a
    cumprod, so the rule is differentiable to any order. Shapes: x (*) -> out (*).
    """

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim):
        (d,) = norm_dims(dim, x.ndim, "cumprod") or (0,)
        ctx.dim = d
        ctx.save_for_backward(x)
        if not x.ndim:
            return x.copy()
        return _views.contiguous_layout(np.cumprod(x, axis=d))  # a scan: contiguous, as torch

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        d = ctx.dim
        if x.ndim == 0 or x.shape[d] == 0:
            return g
        if not (x._data == 0).any():
            out = Cumprod.apply(x, d)
            return (g * out).flip(d).cumsum(d).flip(d) / x
        n = x.shape[d]
        xm = x.movedim(d, -1)  # (..., n)
        gm = g.movedim(d, -1)
        eye = np.eye(n, dtype=bool)
        # rows[..., k, j] = x_j for j != k and 1 for j == k
        rows = xm.unsqueeze(-2).expand(*xm.shape[:-1], n, n).masked_fill(_new(eye), 1.0)
        partial = Cumprod.apply(rows, -1)  # partial[..., k, i] = prod_{j <= i, j != k} x_j
        upper = _new(np.triu(np.ones((n, n), dtype=x._data.dtype)))  # i >= k
        gx = (partial * upper * gm.unsqueeze(-2)).sum(-1)
        return gx.movedim(-1, d)

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(0.5, 1.5, (3, 4)), dim=1)
        yield Sample(u(-1.5, 1.5, (3, 4)), dim=-2)
        x = u(0.5, 1.5, (2, 5))
        x[0, 1] = 0.0
        x[1, 2] = x[1, 4] = 0.0
        yield Sample(x, dim=1, note="zeros")
        yield Sample(u(0.5, 1.5, ()), dim=0, note="0-d")
        yield Sample(u(0.5, 1.5, (4, 3)).T, dim=1, note="transposed")
        yield Sample(u(0.5, 1.5, (3, 1)), dim=1, note="size-1")
        yield Sample(u(0.5, 1.5, (0, 3)), dim=0, note="empty")
