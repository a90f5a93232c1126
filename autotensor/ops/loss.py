"""Fused losses: a loss that every training step computes, as one node of the graph.

A loss written as a composite costs one node per primitive it is made of, in the forward
pass and again in the backward sweep; on small models that per-node overhead is most of a
step (benchmarks/bench_mlp.py, workload (c)). The composite stays the reference these are
tested against (tests/nn/test_fused_loss.py).
"""

from __future__ import annotations

import numpy as np

from autotensor import graph
from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import _new
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
        nx, ny = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the formula below on the arrays, the
            # difference scaled in place (one array, no Tensor temporaries); the Tensor-op
            # rule stays for create_graph and is its reference in the tests.
            d = np.asarray(np.subtract(x._data, y._data))  # 0-d: an array, not a scalar
            d *= g._data * ctx.scale
            return (_new(d) if nx else None), (_new(np.negative(d)) if ny else None)
        gx = (x - y) * (g * ctx.scale)
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


class CrossEntropy(Function):
    """out = -(1/N) sum_i log_softmax(x)_i[t_i] for logits x (N, C) and class indices t (N,);
    dx = g (softmax(x) - onehot(t)) / N.

    Shapes: x (N, C) with N > 0, t (N,) integers in [0, C) -> (). The 'mean' cross-entropy
    without weights or smoothing as one node in place of the three of its composite
    (log_softmax, the pick by a constant, the sum): nn.functional.cross_entropy takes it for
    that case and keeps the composite as the reference for everything else, in the tests too.
    """

    takes_arrays = True
    shape_exemptions = {
        "0-d": "the logits are (N, C); other shapes take the composite",
        "empty": "N > 0; the mean over no samples takes the composite",
    }

    @staticmethod
    def forward(ctx, x, t):
        n, c = x.shape
        # few classes: the per-sample reductions along numpy's fast axis (_ce_columns)
        loss, p = (_ce_columns if c <= _FEW_CLASSES else _ce_rows)(x, t)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x, p, t)  # p: softmax(x), kept for the plain backward
        # 0 - loss, not -loss: a zero loss is +0 as torch's sum gives it (1/loss is +inf)
        return np.asarray((0.0 - loss) / np.asarray(n, dtype=x.dtype))

    @staticmethod
    def backward(ctx, g):
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the formula on the saved softmax, one
            # array; the Tensor-op path below is the differentiable one. The logits are not
            # read here, so changing them in place after the forward is no error (torch
            # saves log_softmax's result, never the logits).
            if ctx._saved is None:
                ctx.saved_tensors  # noqa: B018  (raises torch's "backward a second time")
            _, p, t = graph.unpack_saved(ctx, unused=(0,))
            n = p.shape[0]
            scale = (g._data / np.asarray(n, dtype=p.dtype)).astype(p.dtype, copy=False)
            gx = np.multiply(p, scale, order="C")  # p may be a transposed view (_ce_columns)
            gx[np.arange(n), t] -= scale  # minus the one-hot, without building it
            return _new(gx), None
        x, p, t = ctx.saved_tensors
        n = p.shape[0]
        rows = np.arange(n)
        onehot = np.zeros(p.shape, dtype=p.dtype)
        onehot[rows, t] = 1
        return (x.softmax(1) - onehot) * (g / n), None

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(4, 3)), np.array([0, 2, 1, 2]))
        yield Sample(n(size=(1, 5)), np.array([4]), note="one sample")
        yield Sample(n(size=(5, 4)).T, np.array([1, 0, 2, 4]), note="transposed")
        yield Sample(n(size=(3, 1)), np.array([0, 0, 0]), note="one class")


# at most this many classes, CrossEntropy computes in the (C, N) layout of _ce_columns
_FEW_CLASSES = 64


def _ce_rows(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum_i log_softmax(x)_i[t_i], softmax(x)) for logits x (N, C) and classes t (N,):
    log_softmax as LogSoftmax computes it, with reductions along each row. The reference of
    `_ce_columns`."""
    s = x - x.max(axis=1, keepdims=True)
    e = np.exp(s)
    se = e.sum(axis=1, keepdims=True)
    picked = s[np.arange(x.shape[0]), t] - np.log(se[:, 0])  # log_softmax(x) at the targets
    np.divide(e, se, out=e)
    return np.add.reduce(picked), e


def _ce_columns(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_ce_rows` on a (C, N) copy of the logits; the softmax comes back as an (N, C) view.

    Why: numpy reduces each short row of an (N, C) array in a loop of its own, so with few
    classes the row max and row sum cost several times the exp; over axis 0 of the
    transposed copy they are whole-row operations (the copy is cheaper than what it saves
    while C <= _FEW_CLASSES, measured). tests/nn/test_fused_loss.py checks it against
    `_ce_rows`."""
    xt = x.T.copy()
    s = np.subtract(xt, np.maximum.reduce(xt, axis=0), out=xt)
    e = np.exp(s)
    se = np.add.reduce(e, axis=0)
    picked = s[t, np.arange(x.shape[0])]
    picked -= np.log(se)
    np.divide(e, se, out=e)
    return np.add.reduce(picked), e.T


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
        yield Sample(u(0.05, 0.95, (4, 1)), rng.random((4, 1)), note="size-1")
