"""Scaled dot-product attention as one primitive.

out = dropout(softmax(q k^T * scale + mask)) v, for q (..., L, E), k (..., S, E),
v (..., S, Ev) -> (..., L, Ev), with batch dims broadcast as in matmul.

A primitive (not the composite of two matmuls, a softmax and a mask) for a measured reason:
the composite is six to eight nodes per attention call and walks the (..., L, S) score array
once per node in both directions; here forward and backward each walk it a few times in
place (benchmarks/bench_transformer.py). The composite stays as the reference in
tests/nn/test_nn_attention.py.
"""

from __future__ import annotations

import numpy as np

from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample


def _sum_to_array(a: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast array back down to `shape` (the numpy twin of functional.sum_to)."""
    if a.shape == shape:
        return a
    lead = a.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and a.shape[lead + i] != 1
    )
    return np.add.reduce(a, axis=dims, keepdims=True).reshape(shape)


def _probs(s: np.ndarray) -> np.ndarray:
    """Row softmax of the scores along the last dim, in place, with torch's rule for rows
    where every score is -inf (every key masked): their probabilities are all 0, so such a
    query attends to nothing and its output is 0 (not NaN)."""
    m = s.max(axis=-1, keepdims=True)
    dead = None
    if not np.isfinite(m).all():
        dead = np.isneginf(m)
        m[dead] = 0.0
    s -= m
    np.exp(s, out=s)
    total = s.sum(axis=-1, keepdims=True)
    if dead is not None:
        total[dead] = 1.0  # the row's exps are all 0; any non-zero divisor keeps them 0
    s /= total
    return s


def _dead_rows(mask: np.ndarray | None) -> np.ndarray | None:
    """Rows of the additive mask that are -inf everywhere (keys all masked), or None."""
    if mask is None:
        return None
    dead: np.ndarray = np.asarray(np.isneginf(mask).all(axis=-1, keepdims=True))
    return dead if dead.any() else None


class ScaledDotProductAttention(Function):
    """out = (P * keep) v with P = softmax(q k^T * scale + mask) along the key dim.

    Shapes: q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev); the batch dims
    broadcast. `mask` (constant, broadcastable to (..., L, S)) is added to the scores: 0 to
    keep a key, -inf to drop it. `keep` (constant, (..., L, S) or broadcastable) multiplies
    the probabilities: the dropout pattern already scaled by 1 / (1 - p). Rows whose mask is
    -inf everywhere give P = 0 (torch's rule), so their output and gradients are 0.

    Backward, with D = keep * P and G = g v^T * keep:
        dv = D^T g,  dS = P * (G - sum_S(G * P)),  dq = dS k * scale,  dk = dS^T q * scale.
    """

    takes_arrays = True
    shape_exemptions = {"0-d": "q, k and v are matrices (..., L, E) and (..., S, E)"}

    @staticmethod
    def forward(ctx, q, k, v, mask=None, scale=1.0, keep=None):
        if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
            raise RuntimeError(
                f"scaled_dot_product_attention: query, key and value need at least 2 dims "
                f"(..., L, E), got {q.shape}, {k.shape} and {v.shape}"
            )
        if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
            raise RuntimeError(
                f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and value "
                f"{v.shape} do not fit: expected query (..., L, E), key (..., S, E) and "
                f"value (..., S, Ev)"
            )
        if mask is not None and mask.dtype != q.dtype:
            mask = mask.astype(q.dtype)
        if keep is not None and keep.dtype != q.dtype:
            keep = keep.astype(q.dtype)
        s = np.matmul(q, k.swapaxes(-1, -2))
        if scale != 1.0:
            s *= s.dtype.type(scale)
        if mask is not None:
            s += mask
        p = _probs(s)
        d = p if keep is None else p * keep
        out = np.matmul(d, v)
        ctx.scale = scale
        ctx.mask = mask
        ctx.keep = keep
        ctx.save_for_backward(q, k, v, p)
        return out

    @staticmethod
    def backward(ctx, g):
        q, k, v, p = ctx.saved_tensors
        keep, scale = ctx.keep, ctx.scale
        nq, nk, nv = ctx.needs_input_grad[:3]
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the formulas on the arrays, in place where
            # the (..., L, S) arrays allow it; the Tensor-op path below is the differentiable
            # one, and the two are checked against each other in the tests.
            gd, qd, kd, vd = g._data, q._data, k._data, v._data
            gq = gk = gv = None
            if nv:
                d = p if keep is None else p * keep
                gv = _new(_sum_to_array(np.matmul(d.swapaxes(-1, -2), gd), vd.shape))
            if nq or nk:
                gp = np.matmul(gd, vd.swapaxes(-1, -2))
                if keep is not None:
                    gp *= keep
                t = np.einsum("...ls,...ls->...l", gp, p)[..., None]
                gp -= t
                gp *= p  # dS
                if scale != 1.0:
                    gp *= gp.dtype.type(scale)
                if nq:
                    gq = _new(_sum_to_array(np.matmul(gp, kd), qd.shape))
                if nk:
                    gk = _new(_sum_to_array(np.matmul(gp.swapaxes(-1, -2), qd), kd.shape))
            return gq, gk, gv
        return _backward_tensors(ctx, g, q, k, v)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(2, 3, 4)), n(size=(2, 5, 4)), n(size=(2, 5, 3)), scale=0.5)
        causal = np.where(np.tri(3, 5, dtype=bool), 0.0, -np.inf)
        yield Sample(n(size=(3, 4)), n(size=(5, 4)), n(size=(5, 2)), mask=causal, note="mask")
        dead = causal.copy()
        dead[1] = -np.inf
        yield Sample(
            n(size=(2, 3, 4)), n(size=(2, 5, 4)), n(size=(2, 5, 2)), mask=dead,
            note="a row with every key masked",
        )  # fmt: skip
        keep = (rng.random((2, 3, 5)) > 0.3) / 0.7
        yield Sample(
            n(size=(2, 3, 4)), n(size=(5, 4)), n(size=(2, 5, 2)), keep=keep, scale=0.3,
            note="dropout pattern, broadcast key",
        )  # fmt: skip
        yield Sample(n(size=(1, 4)), n(size=(1, 4)), n(size=(1, 1)), note="size-1")
        yield Sample(
            n(size=(2, 4, 3)).swapaxes(-1, -2), n(size=(2, 5, 4)),
            n(size=(2, 2, 5)).swapaxes(-1, -2), note="transposed",
        )  # fmt: skip
        yield Sample(n(size=(0, 3, 4)), n(size=(0, 5, 4)), n(size=(0, 5, 2)), note="empty")


def _backward_tensors(ctx, g: Tensor, q: Tensor, k: Tensor, v: Tensor) -> tuple:
    """The backward rule in Tensor ops, with P recomputed from q and k as a differentiable
    function of them, so that create_graph=True gives correct second derivatives."""
    from autotensor import ops
    from autotensor.functional import sum_to

    keep, scale, mask = ctx.keep, ctx.scale, ctx.mask
    s = ops.MatMul.apply(q, k.transpose(-1, -2)) * scale
    dead = _dead_rows(mask)
    if mask is not None:
        s = s + (np.where(dead, 0.0, mask).astype(mask.dtype) if dead is not None else mask)
    p = ops.Softmax.apply(s, -1)
    if dead is not None:
        p = p * (~dead).astype(s.dtype)
    nq, nk, nv = ctx.needs_input_grad[:3]
    gq = gk = gv = None
    if nv:
        d = p if keep is None else p * keep
        gv = sum_to(ops.MatMul.apply(d.transpose(-1, -2), g), v.shape)
    if nq or nk:
        gp = ops.MatMul.apply(g, v.transpose(-1, -2))
        if keep is not None:
            gp = gp * keep
        ds = p * (gp - (gp * p).sum(-1, keepdim=True)) * scale
        if nq:
            gq = sum_to(ops.MatMul.apply(ds, k), q.shape)
        if nk:
            gk = sum_to(ops.MatMul.apply(ds.transpose(-1, -2), q), k.shape)
    return gq, gk, gv
