"""Matrix product."""

from __future__ import annotations

import numpy as np

from autotensor.function import Function
from autotensor.testing.sample import Sample


class MatMul(Function):
    """out = x @ y for x (*, n, k), y (*, k, m) -> (*, n, m), batch dims broadcast;
    dx = g @ y^T, dy = x^T @ g (summed over broadcast batch dims).

    1-D operands are handled by `functional.matmul`, which reshapes around this primitive."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, y):
        if x.ndim < 2 or y.ndim < 2:
            raise RuntimeError(f"MatMul expects operands with >= 2 dims, got {x.shape} and {y.shape}")
        if x.shape[-1] != y.shape[-2]:
            raise RuntimeError(
                f"matmul: shapes {x.shape} and {y.shape} cannot be multiplied "
                f"({x.shape[-2]}x{x.shape[-1]} and {y.shape[-2]}x{y.shape[-1]}): inner "
                f"dimensions {x.shape[-1]} and {y.shape[-2]} differ"
            )
        ctx.save_for_backward(x, y)
        return np.matmul(x, y)

    @staticmethod
    def backward(ctx, g):
        from autotensor.functional import sum_to

        x, y = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = MatMul.apply(g, y.transpose(-1, -2))
            if gx.shape != x.shape:
                gx = sum_to(gx, x.shape)
        if ctx.needs_input_grad[1]:
            gy = MatMul.apply(x.transpose(-1, -2), g)
            if gy.shape != y.shape:
                gy = sum_to(gy, y.shape)
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(3, 4)), n(size=(4, 2)))
        yield Sample(n(size=(2, 3, 4)), n(size=(4, 5)), note="batched x")
        yield Sample(n(size=(2, 1, 3, 4)), n(size=(3, 4, 2)), note="batch broadcast")
        yield Sample(n(size=(4, 3)).T, n(size=(4, 2)), note="transposed")
        yield Sample(n(size=(0, 3)), n(size=(3, 2)), note="empty")
