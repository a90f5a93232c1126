"""Layer normalisation as one primitive.

A primitive (not the composite of two means, a centring, an rsqrt and the affine map) for a
measured reason: the composite is about ten nodes per call and walks the activation once
per node in both directions, and a transformer calls it twice per block
(benchmarks/bench_transformer.py). The composite stays as `nn.functional`'s
`_layer_norm_reference`, which the tests compare this primitive against.
"""

from __future__ import annotations

import numpy as np

from autotensor import dtypes
from autotensor.function import Function
from autotensor.grad_mode import _state as _grad_state
from autotensor.tensor import _new
from autotensor.testing.sample import Sample


def _rows(shape: tuple, k: int) -> tuple[int, int]:
    """(rows, row size) of a shape whose last k dims are normalised together."""
    n = int(np.prod(shape[len(shape) - k :], dtype=np.int64))
    m = int(np.prod(shape[: len(shape) - k], dtype=np.int64))
    return m, n


class LayerNorm(Function):
    """out = xhat * weight + bias with xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps),
    mean and the biased variance taken over the last len(normalized_shape) dims.

    Shapes: x (*, *normalized_shape); weight, bias normalized_shape or None -> out like x.
    Forward saves x with each row's mean and rstd. Backward, with gy = g * weight and the
    means over a row:
        dx = rstd (gy - mean(gy) - xhat mean(gy xhat)),
        dweight = sum over rows of g xhat,  dbias = sum over rows of g.
    """

    takes_arrays = True
    shape_exemptions = {"0-d": "it normalises over at least one trailing dim of x"}

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, normalized_shape=(), eps=1e-5):
        shape = tuple(normalized_shape)
        k = len(shape)
        if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
            raise RuntimeError(
                f"layer_norm: input of shape {x.shape} does not end with the normalized_shape "
                f"{shape}"
            )
        for name, p in (("weight", weight), ("bias", bias)):
            if p is not None and tuple(p.shape) != shape:
                raise RuntimeError(
                    f"layer_norm: {name} of shape {p.shape} does not match the normalized_shape "
                    f"{shape}"
                )
        dtypes.check_supported("layer_norm", x.dtype)
        m, n = _rows(x.shape, k)
        x2 = x.reshape(m, n)
        mean = x2.mean(axis=1, keepdims=True)
        xhat = x2 - mean
        var = np.einsum("ij,ij->i", xhat, xhat)[:, None] if n else np.zeros_like(mean)
        var *= x.dtype.type(1.0 / n) if n else 1
        var += x.dtype.type(eps)
        rstd = np.sqrt(var, out=var)
        np.divide(x.dtype.type(1), rstd, out=rstd)
        xhat *= rstd
        if weight is not None:
            xhat *= weight.reshape(1, n)
        if bias is not None:
            xhat += bias.reshape(1, n)
        ctx.k, ctx.eps = k, eps
        ctx.save_for_backward(x, weight, mean, rstd)
        return xhat.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x, w, mean, rstd = ctx.saved_tensors
        nx, nw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
        if not _grad_state.enabled:
            # A plain backward (no create_graph): the closed form on the arrays; the Tensor-op
            # path below is the differentiable one, tested against this one.
            m, n = _rows(x.shape, ctx.k)
            g2 = g._data.reshape(m, n)
            xhat = x._data.reshape(m, n) - mean
            xhat *= rstd
            nshape = x.shape[x.ndim - ctx.k :]
            gx = gw = gb = None
            if nw:
                gw = _new(np.einsum("ij,ij->j", g2, xhat).reshape(nshape))
            if nb:
                gb = _new(g2.sum(axis=0).reshape(nshape))
            if nx:
                gy = g2 * w._data.reshape(1, n) if w is not None else g2.copy()
                inv_n = x.dtype.type(1.0 / n)
                c2 = np.einsum("ij,ij->i", gy, xhat)[:, None]
                c2 *= inv_n
                c1 = gy.mean(axis=1, keepdims=True)
                xhat *= c2
                gy -= c1
                gy -= xhat
                gy *= rstd
                gx = _new(gy.reshape(x.shape))
            return gx, gw, gb
        return _grad_tensors(ctx, x, w, g)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(3, 4)), n(size=(4,)), n(size=(4,)), normalized_shape=(4,))
        yield Sample(n(size=(2, 3, 4)), n(size=(3, 4)), n(size=(3, 4)), normalized_shape=(3, 4),
                     eps=1e-3, note="two normalised dims")  # fmt: skip
        yield Sample(n(size=(2, 5)), None, None, normalized_shape=(5,), note="no affine")
        yield Sample(n(size=(2, 5)), n(size=(5,)), None, normalized_shape=(5,), note="no bias")
        yield Sample(n(size=(4, 3)).T, n(size=(4,)), n(size=(4,)), normalized_shape=(4,),
                     note="transposed")  # fmt: skip
        yield Sample(n(size=(3, 1, 2)), n(size=(2,)), n(size=(2,)), normalized_shape=(2,),
                     note="size-1")  # fmt: skip
        yield Sample(n(size=(0, 3)), n(size=(3,)), n(size=(3,)), normalized_shape=(3,),
                     note="empty")  # fmt: skip


def _grad_tensors(ctx, x, w, g) -> tuple:
    """The backward rule in Tensor ops, with the statistics recomputed from x as
    differentiable functions of it, so that create_graph=True gives second derivatives."""
    from autotensor.functional import sum_to

    nx, nw = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    nb = len(ctx.needs_input_grad) > 2 and ctx.needs_input_grad[2]
    dims = tuple(range(x.ndim - ctx.k, x.ndim))
    xc = x - x.mean(dims, keepdim=True)
    rstd = ((xc * xc).mean(dims, keepdim=True) + ctx.eps).rsqrt()
    xhat = xc * rstd
    nshape = tuple(x.shape[x.ndim - ctx.k :])
    gx = gw = gb = None
    if nw:
        gw = sum_to(g * xhat, nshape)
    if nb:
        gb = sum_to(g, nshape)
    if nx:
        gy = g * w if w is not None else g
        c1 = gy.mean(dims, keepdim=True)
        c2 = (gy * xhat).mean(dims, keepdim=True)
        gx = rstd * (gy - c1 - xhat * c2)
    return gx, gw, gb
