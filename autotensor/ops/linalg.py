"""Matrix product."""

from __future__ import annotations

import math

import numpy as np

from autotensor import dtypes
from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import _new
from autotensor.testing.sample import Sample

_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}  # read-only vectors of ones by (n, dtype)


def _column_sums(g: np.ndarray) -> np.ndarray:
    """The sum of each column of a 2-D array (the bias gradient), as ones(n) @ g.

    Why: the reference, np.add.reduce(g, 0), walks the rows one ufunc loop at a time and
    costs two to four times BLAS's matrix-vector product for every (batch, features) shape
    of a dense layer (measured); the product's blocked accumulation is as accurate.
    tests/test_linalg_fast_paths.py checks it against np.add.reduce."""
    key = (g.shape[0], g.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if len(_ONES) >= 16:  # a few batch sizes in use at a time
            _ONES.clear()
        ones = _ONES[key] = np.ones(g.shape[0], g.dtype)
        ones.flags.writeable = False
    return np.matmul(ones, g)


class MatMul(Function):
    """out = x @ y for x (*, n, k), y (*, k, m) -> (*, n, m), batch dims broadcast;
    dx = g @ y^T, dy = x^T @ g (summed over broadcast batch dims).

    1-D operands are handled by `functional.matmul`, which reshapes around this primitive."""

    takes_arrays = True
    shape_exemptions = {"0-d": "operands are >= 2-D; the 0-D/1-D rules live in matmul()"}

    @staticmethod
    def forward(ctx, x, y):
        if x.ndim < 2 or y.ndim < 2:
            raise RuntimeError(
                f"MatMul expects operands with >= 2 dims, got {x.shape} and {y.shape}"
            )
        if x.shape[-1] != y.shape[-2]:
            raise RuntimeError(
                f"matmul: shapes {x.shape} and {y.shape} cannot be multiplied "
                f"({x.shape[-2]}x{x.shape[-1]} and {y.shape[-2]}x{y.shape[-1]}): inner "
                f"dimensions {x.shape[-1]} and {y.shape[-2]} differ"
            )
        if x.size and y.size:  # after the shapes, as torch checks them; empty ones pass
            dtypes.check_supported("matmul", x.dtype)
        # each operand only for the other's gradient (as torch's mm saves them)
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] else None, y if need[0] else None)
        ctx.shapes = (x.shape, y.shape)
        return np.matmul(x, y)

    @staticmethod
    def backward(ctx, g):
        from autotensor.functional import sum_to

        x, y = ctx.saved_tensors
        xshape, yshape = ctx.shapes
        gx = gy = None
        if ctx.needs_input_grad[0]:
            gx = MatMul.apply(g, y.transpose(-1, -2))
            if gx.shape != xshape:
                gx = sum_to(gx, xshape)
        if ctx.needs_input_grad[1]:
            gy = MatMul.apply(x.transpose(-1, -2), g)
            if gy.shape != yshape:
                gy = sum_to(gy, yshape)
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(3, 4)), n(size=(4, 2)))
        yield Sample(n(size=(2, 3, 4)), n(size=(4, 5)), note="batched x")
        yield Sample(n(size=(2, 1, 3, 4)), n(size=(3, 4, 2)), note="batch broadcast")
        yield Sample(n(size=(4, 3)).T, n(size=(4, 2)), note="transposed")
        yield Sample(n(size=(0, 3)), n(size=(3, 2)), note="empty")


class Linear(Function):
    """out = x @ w^T + b for x (*, in), w (out, in), b (out,) or None -> (*, out);
    dx = g @ w, dw = g^T x and db = sum of g, both summed over all leading dims of x.

    The dense layer as one node instead of four (transpose, matmul, broadcast, add): it is
    on every training step's hot path, where per-node overhead is what separates a numpy
    engine from torch on small models."""

    takes_arrays = True
    shape_exemptions = {"0-d": "x is at least 1-D and the weight 2-D, as for torch's linear"}

    @staticmethod
    def forward(ctx, x, w, b=None):
        if x.ndim < 1 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise RuntimeError(
                f"linear: input {x.shape} and weight {w.shape} do not fit: expected a weight "
                f"(out_features, {x.shape[-1] if x.ndim else '?'})"
            )
        # each only for the other's gradient, as torch's addmm/mm save them: an in-place
        # change of one that no gradient reads is no error
        need = ctx.needs_input_grad
        ctx.save_for_backward(x if need[1] else None, w if need[0] else None)
        if x.ndim > 2:
            # one (N*T, in) GEMM, not numpy's loop of N small batched ones (twice as slow
            # for a (16, 64, 128) activation)
            rows = int(np.prod(x.shape[:-1]))  # (not -1: an empty x with in = 0)
            out = np.matmul(x.reshape(rows, x.shape[-1]), w.T).reshape(x.shape[:-1] + w.shape[:1])
        else:
            out = np.matmul(x, w.T)  # BLAS takes the transposed view as is, without a copy
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the same three formulas on the arrays,
            # without recording; the Tensor-op path below is the differentiable one.
            gd, wd = g._data, w._data if nx else None
            if gd.ndim == 2:
                g2d = gd
            else:
                rows = math.prod(gd.shape[:-1])  # not -1: ambiguous when a dim is 0
                g2d = gd.reshape(rows, gd.shape[-1])
            gx = np.matmul(g2d, wd) if nx else None
            if nx and gd.ndim != 2:
                gx = gx.reshape(gd.shape[:-1] + wd.shape[1:])
            xd = x._data if nw else None
            return (
                _new(gx) if nx else None,
                _new(np.matmul(g2d.T, xd.reshape(g2d.shape[0], xd.shape[-1]))) if nw else None,
                _new(_column_sums(g2d)) if nb else None,
            )
        rows = int(np.prod(g.shape[:-1]))  # not -1: ambiguous when a dim is 0
        g2 = g if g.ndim == 2 else g.reshape(rows, g.shape[-1])
        gx = gw = gb = None
        if nx:
            gx = MatMul.apply(g2, w)
            if g.ndim != 2:
                gx = gx.reshape(g.shape[:-1] + w.shape[1:])
        if nw:
            x2 = x if x.ndim == 2 else x.reshape(rows, x.shape[-1])
            gw = MatMul.apply(g2.transpose(0, 1), x2)
        if nb:
            gb = g2.sum(0)
        return gx, gw, gb

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(3, 4)), n(size=(5, 4)), n(size=(5,)))
        yield Sample(n(size=(3, 4)), n(size=(5, 4)), note="no bias")
        yield Sample(n(size=(2, 3, 4)), n(size=(2, 4)), n(size=(2,)), note="batched")
        yield Sample(n(size=(4,)), n(size=(3, 4)), n(size=(3,)), note="1-D input")
        yield Sample(n(size=(4, 3)).T, n(size=(2, 4)), n(size=(2,)), note="transposed")
        yield Sample(n(size=(3, 1)), n(size=(1, 1)), n(size=(1,)), note="size-1")
        yield Sample(n(size=(0, 4)), n(size=(2, 4)), n(size=(2,)), note="empty")
