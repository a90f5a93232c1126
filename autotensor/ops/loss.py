"""Fused losses: a loss that every training step computes, as one node of the graph.

A loss written as a composite costs one node per primitive it is made of, in the forward
pass and again in the backward sweep; on small models that per-node overhead is most of a
step (benchmarks/bench_mlp.py, workload (c)). The composite stays the reference these are
tested against (tests/nn/test_fused_loss.py).
"""

from __future__ import annotations

import numpy as np

from autotensor.function import Function
from autotensor.testing.sample import Sample


class MseLoss(Function):
    """out = sum((x - y)^2) / n ('mean', n = number of elements) or sum((x - y)^2) ('sum');
    dx = g * 2 (x - y) / n (n = 1 for 'sum'), dy = -dx.

    Shapes: x (*), y (*) -> (): equal shapes (nn.functional.mse_loss leaves a broadcasting
    target to the composite). One node in place of the four of the composite (sub, mul, sum,
    div), with the same float32 arithmetic in forward.
    """

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MseLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        if np.shape(x) != np.shape(y):
            raise RuntimeError(
                f"MseLoss: input {np.shape(x)} and target {np.shape(y)} must have one shape"
            )
        d = x - y
        s = np.add.reduce(d * d, axis=tuple(range(d.ndim)))  # as Sum does it
        n = d.size if reduction == "mean" else 1
        ctx.save_for_backward(x, y)
        ctx.scale = 2.0 / max(n, 1)
        if n == 1:
            return s
        return s / n if n else s * float("nan")  # the mean of nothing is nan (as torch)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = (x - y) * (g * ctx.scale)
        nx, ny = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        return (gx if nx else None), (-gx if ny else None)

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(-2, 2, (3, 4)), u(-2, 2, (3, 4)))
        yield Sample(u(-2, 2, (3, 4)), u(-2, 2, (3, 4)), reduction="sum")
        yield Sample(u(-2, 2, ()), u(-2, 2, ()), note="0-d")
        yield Sample(u(-2, 2, (4, 3)).T, u(-2, 2, (3, 4)), note="transposed")
        yield Sample(u(-2, 2, (5, 1)), u(-2, 2, (5, 1)), note="size-1")
        yield Sample(u(-2, 2, (0, 3)), u(-2, 2, (0, 3)), reduction="sum", note="empty")


# torch's floor for x (1 - x) in the input gradient: the float32 nearest 1e-12, in every dtype
_BCE_EPS = float(np.float32(1e-12))


class BinaryCrossEntropy(Function):
    """Elementwise l = -(y max(log x, -100) + (1 - y) max(log(1 - x), -100)), with torch's
    gradients: dl/dx = (x - y) / max(x (1 - x), 1e-12) and dl/dy = log(1 - x) - log(x).

    A primitive (not a composite of logs) because torch's input gradient is not the
    derivative of the clamped loss: where x is 0 or 1 (a saturated sigmoid) it is +-1e12-scale,
    not 0, and it is 0 wherever x == y. Shapes: x, y (*) -> l (*), equal shapes and dtypes
    (nn.functional.binary_cross_entropy checks them and the range of x, and reduces).
    """

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        with np.errstate(divide="ignore"):
            log_x = np.maximum(np.log(x), -100)
            log_1mx = np.maximum(np.log1p(-x), -100)
        return ((y - 1) * log_1mx - y * log_x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = g * (x - y) / (x * (1.0 - x)).clamp(min=_BCE_EPS)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):  # -logit(x) is +-inf at x = 0 or 1, as torch
                gy = g * ((1.0 - x).log() - x.log())
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        u = rng.uniform
        yield Sample(u(0.05, 0.95, (3, 4)), rng.random((3, 4)))
        yield Sample(u(0.05, 0.95, ()), rng.random(()), note="0-d")
        yield Sample(u(0.05, 0.95, (4, 3)).T, rng.random((3, 4)), note="transposed")
        yield Sample(u(0.05, 0.95, (0, 3)), rng.random((0, 3)), note="empty")
        yield Sample(u(0.05, 0.95, (5,)), (rng.random(5) > 0.5) * 1.0, note="hard labels")
