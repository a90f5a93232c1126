"""`nn.functional`: torch's functional API (activations, dropout, normalisation, embedding,
losses), built as composites of autotensor's primitives: no derivative is written here.

Float32 discipline: masks, one-hots and class weights are built in the input's dtype and
Python scalars stay weak, so a float32 model computes (and differentiates) in float32.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

import autotensor as at
from autotensor import ops
from autotensor.convolution import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    avg_pool1d,
    avg_pool2d,
    conv1d,
    conv2d,
    conv_transpose1d,
    conv_transpose2d,
    fold,
    max_pool1d,
    max_pool2d,
    unfold,
)
from autotensor.creation import from_numpy
from autotensor.functional import one_hot, pad
from autotensor.random import generator as _rng
from autotensor.tensor import Tensor, as_tensor

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d", "conv2d",
    "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d", "max_pool2d", "unfold",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "batch_norm", "cross_entropy",
    "dropout", "dropout1d", "dropout2d", "elu", "embedding", "gelu", "hardtanh", "huber_loss",
    "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "logsigmoid", "mse_loss",
    "nll_loss", "one_hot", "pad", "relu", "relu6", "sigmoid", "silu", "smooth_l1_loss",
    "softmax", "softplus", "tanh",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d",
    "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d", "max_pool2d",
    "unfold",
]  # fmt: skip

_REDUCTIONS = ("mean", "sum", "none")


# -- linear and activations ------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b.  Shapes: x (*, in), W (out, in), b (out,) -> (*, out)."""
    if input.ndim == 0 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise RuntimeError(
            f"linear: input of shape {tuple(input.shape)} does not fit a weight of shape "
            f"{tuple(weight.shape)} (expected the last input dim to be {weight.shape[-1]})"
        )
    if input.dtype != weight.dtype:
        raise RuntimeError(
            f"linear: input dtype {input.dtype} and weight dtype {weight.dtype} differ"
        )
    return (
        ops.Linear.apply(input, weight) if bias is None else ops.Linear.apply(input, weight, bias)
    )


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); the gradient at 0 is 0 (as torch)."""
    return ops.ReLU.apply(input)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    return hardtanh(input, 0.0, 6.0)


def hardtanh(
    input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False
) -> Tensor:
    """clamp(x, min_val, max_val); the gradient is 1 strictly inside the bounds, 0 elsewhere
    (torch's hardtanh, which unlike clamp passes nothing at the bounds themselves)."""
    if min_val > max_val:
        raise ValueError(
            f"hardtanh: min_val ({min_val}) cannot be greater than max_val ({max_val})"
        )
    d = input._data
    inside = (d > min_val) & (d < max_val)
    return ops.Where.apply(inside, input, np.clip(d, min_val, max_val))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise.

    Computed as x * m with the constant m = (x > 0 ? 1 : slope) in x's dtype: one multiply,
    and its gradient g * m is exactly torch's (slope at x == 0)."""
    d = input._data
    m = np.where(d > 0, 1.0, negative_slope).astype(d.dtype, copy=False)
    return input * m


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise (exp of min(x, 0), so nothing overflows
    in the branch that is not taken)."""
    neg = (input.clamp(max=0.0).exp() - 1.0) * alpha
    return ops.Where.apply(input._data > 0, input, neg)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(input, alpha) * scale


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));
    approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "none":
        return input * 0.5 * (ops.Erf.apply(input * (1.0 / math.sqrt(2.0))) + 1.0)
    if approximate == "tanh":
        inner = (input + input * input * input * 0.044715) * math.sqrt(2.0 / math.pi)
        return input * 0.5 * (inner.tanh() + 1.0)
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed without overflow."""
    return input.sigmoid()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return input * input.sigmoid()


def _softplus1(x: Tensor) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): finite for any x. Its gradient at 0 is
    the tie rule of max (1/2) plus 0 from |x|, which is sigmoid(0), the true derivative."""
    return x.maximum(0.0) + (-x.abs()).exp().log1p()


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), finite for any x."""
    return input.minimum(0.0) - (-input.abs()).exp().log1p()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/beta) log(1 + exp(beta x)); x itself where beta x > threshold (as torch)."""
    bx = input * beta if beta != 1 else input
    sp = _softplus1(bx)
    if beta != 1:
        sp = sp / beta
    return ops.Where.apply(bx._data > threshold, input, sp)


def _softmax_dim(ndim: int, name: str) -> int:
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated. Change the call to "
        f"include dim=X as an argument.",
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """exp(x_i) / sum_j exp(x_j) along dim (one stable primitive)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "softmax")
    return at.functional.softmax(input, dim, dtype=dtype)


def log_softmax(
    input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None
) -> Tensor:
    """x_i - logsumexp(x) along dim (one stable primitive: finite for extreme logits)."""
    if dim is None:
        dim = _softmax_dim(input.ndim, "log_softmax")
    return at.functional.log_softmax(input, dim, dtype=dtype)


# -- dropout ---------------------------------------------------------------------------------
def _check_p(p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Inverted dropout: each element is zeroed with probability p and the rest scaled by
    1/(1-p), so the expectation is unchanged; identity when not training."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    d = input._data
    if p == 1.0:
        return input * np.zeros_like(d)
    keep = _rng(generator).random(d.shape) >= p
    scale = np.asarray(1.0 / (1.0 - p), dtype=d.dtype)
    return input * (keep * scale)


def _channel_dropout(
    input: Tensor, p: float, training: bool, generator: Any, spatial: int, name: str
) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    d = input._data
    batched = d.ndim == spatial + 2
    if d.ndim not in (spatial + 1, spatial + 2):
        raise RuntimeError(
            f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D (batched) input, "
            f"got shape {tuple(d.shape)}"
        )
    lead = d.shape[:2] if batched else d.shape[:1]
    mshape = lead + (1,) * spatial
    if p == 1.0:
        return input * np.zeros(mshape, dtype=d.dtype)
    keep = _rng(generator).random(mshape) >= p
    return input * (keep * np.asarray(1.0 / (1.0 - p), dtype=d.dtype))


def dropout1d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) input with probability p (scaled by
    1/(1-p))."""
    return _channel_dropout(input, p, training, generator, 1, "dropout1d")


def dropout2d(
    input: Tensor,
    p: float = 0.5,
    training: bool = True,
    inplace: bool = False,
    generator: Any = None,
) -> Tensor:
    """Zero whole channels of (N, C, H, W) input with probability p (scaled by 1/(1-p)).

    A 3-D input is taken as (N, C, L), as torch does (channel-wise 1-D dropout)."""
    _check_p(p)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: received a 3D input; assuming channel-wise 1D dropout, so the input is "
            "interpreted as (N, C, L). Use dropout1d for this.",
            stacklevel=2,
        )
        return _channel_dropout(input, p, training, generator, 1, "dropout2d")
    if input.ndim != 4:
        raise RuntimeError(
            f"dropout2d: expected a 4-D input (N, C, H, W), got shape {tuple(input.shape)}"
        )
    return _channel_dropout(input, p, training, generator, 2, "dropout2d")


# -- embedding and normalisation -------------------------------------------------------------
def embedding(
    input: Any,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of weight (num_embeddings, dim) picked by integer indices of any shape:
    out[..., :] = weight[input[...], :]  ->  shape input.shape + (dim,).

    Entries equal to padding_idx read their row but pass it no gradient; with
    scale_grad_by_freq a row's gradient is divided by its count in input. With max_norm,
    the rows looked up are first renormalised in place to norm <= max_norm (as torch)."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":
        raise TypeError(
            f"embedding: indices must be an integer tensor, got dtype {idx.dtype} "
            f"(convert with .long())"
        )
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.max()) if idx.max() >= n else int(idx.min())
        raise IndexError(
            f"embedding: index {bad} is out of range for an embedding table of {n} rows "
            f"(valid: 0..{n - 1})"
        )
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None:
        rows = np.unique(idx)
        w = weight._data
        norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
        big = norms > max_norm
        if big.any():
            scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
            with at.no_grad():
                weight[rows[big]] = w[rows[big]] * scale[:, None]
    out = weight[idx]
    if scale_grad_by_freq and weight.requires_grad and idx.size:
        # each occurrence passes its row g / (count of that index in this batch), as torch;
        # the value stays the exact lookup because a - a is exactly 0 for finite a
        _, inv, counts = np.unique(idx, return_inverse=True, return_counts=True)
        s = (1.0 / counts[inv.reshape(-1)]).reshape(idx.shape + (1,)).astype(weight.dtype)
        scaled = out * from_numpy(s)
        out = out.detach() + (scaled - scaled.detach())
    if padding_idx is not None and weight.requires_grad:
        pad_mask = idx == padding_idx
        if pad_mask.any():
            # the padding entries take their value from a detached copy: no gradient flows
            out = ops.Where.apply(pad_mask[..., None], weight.detach()[idx], out)
    return out


def _param_shape(x: Tensor, c_axis: int) -> tuple[int, ...]:
    shape = [1] * x.ndim
    shape[c_axis] = x.shape[c_axis]
    return tuple(shape)


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each channel (dim 1) over the batch and spatial dims.

    y = (x - mean) / sqrt(var + eps) * weight + bias, with mean and (biased) var of the batch
    when training, else the running statistics. Training also updates the running stats in
    place: r = (1 - momentum) r + momentum s, using the unbiased batch variance for r_var.
    Shapes: x (N, C, *), running stats, weight, bias (C,).
    """
    if input.ndim < 2:
        raise ValueError(
            f"batch_norm: expected an input of at least 2 dims (N, C, ...), "
            f"got shape {tuple(input.shape)}"
        )
    dims = (0,) + tuple(range(2, input.ndim))
    pshape = _param_shape(input, 1)
    if training:
        n = input.numel() // input.shape[1]
        if n <= 1:
            raise ValueError(
                f"Expected more than 1 value per channel when training, got input size "
                f"{tuple(input.shape)}"
            )
        mean = input.mean(dims, keepdim=True)
        xc = input - mean
        var = (xc * xc).mean(dims, keepdim=True)
        if running_mean is not None or running_var is not None:
            with at.no_grad():
                m = momentum
                if running_mean is not None:
                    bm = mean._data.reshape(-1).astype(running_mean.dtype, copy=False)
                    running_mean.mul_(1 - m).add_(from_numpy(bm * m))
                if running_var is not None:
                    unbiased = var._data.reshape(-1) * (n / (n - 1))
                    running_var.mul_(1 - m).add_(
                        from_numpy((unbiased * m).astype(running_var.dtype))
                    )
        out = xc * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "batch_norm: running_mean and running_var are needed when not training"
            )
        rm = running_mean.reshape(pshape)
        rv = running_var.reshape(pshape)
        out = (input - rm) * (rv + eps).rsqrt()
    if weight is not None:
        out = out * weight.reshape(pshape)
    if bias is not None:
        out = out + bias.reshape(pshape)
    return out


def layer_norm(
    input: Tensor,
    normalized_shape: Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise over the last len(normalized_shape) dims:
    y = (x - mean) / sqrt(var + eps) * weight + bias (biased variance).
    Shapes: x (*, *normalized_shape); weight, bias normalized_shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k :]) != shape or input.ndim < k:
        raise RuntimeError(
            f"layer_norm: input of shape {tuple(input.shape)} does not end with the "
            f"normalized_shape {shape}"
        )
    dims = tuple(range(input.ndim - k, input.ndim))
    mean = input.mean(dims, keepdim=True)
    xc = input - mean
    var = (xc * xc).mean(dims, keepdim=True)
    out = xc * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


# -- losses ----------------------------------------------------------------------------------
def _reduction(size_average: Any, reduce: Any, reduction: str) -> str:
    """torch's legacy (size_average, reduce) flags mapped onto `reduction`."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(
        f"{name}: {reduction!r} is not a valid value for reduction (expected one of {_REDUCTIONS})"
    )


def _pair(input: Tensor, target: Any, name: str) -> tuple[Tensor, Tensor]:
    """target as a tensor of input's dtype; a warning if the shapes broadcast (as torch)."""
    target = as_tensor(target)
    if target.dtype != input.dtype and input.dtype.kind == "f":
        target = target.to(input.dtype)
    if target.shape != input.shape:
        warnings.warn(
            f"{name}: using a target size ({tuple(target.shape)}) that is different to the input "
            f"size ({tuple(input.shape)}). This will likely lead to incorrect results due to "
            f"broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )
    return input, target


def mse_loss(
    input: Tensor,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    weight: Tensor | None = None,
) -> Tensor:
    """(x - y)^2, reduced."""
    input, target = _pair(input, target, "mse_loss")
    reduction = _reduction(size_average, reduce, reduction)
    if (
        reduction in ("mean", "sum")
        and weight is None
        and input.dtype == target.dtype
        and input.shape == target.shape
    ):
        # one node instead of four (the per-node cost dominates small models); the composite
        # below is its reference, and handles broadcasting, weights and 'none'
        return ops.MseLoss.apply(input, target, reduction=reduction)
    d = input - target
    loss = d * d
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "mse_loss")


def l1_loss(
    input: Tensor,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """|x - y|, reduced."""
    input, target = _pair(input, target, "l1_loss")
    return _reduce((input - target).abs(), _reduction(size_average, reduce, reduction), "l1_loss")


def huber_loss(
    input: Tensor,
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Tensor | None = None,
) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta);  d = x - y."""
    if delta <= 0:
        raise RuntimeError(f"huber_loss: delta must be positive, got {delta}")
    input, target = _pair(input, target, "huber_loss")
    d = input - target
    a = d.abs()
    loss = ops.Where.apply(a._data < delta, d * d * 0.5, (a - 0.5 * delta) * delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(
    input: Tensor,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (plain L1 when beta == 0)."""
    if beta < 0:
        raise RuntimeError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    input, target = _pair(input, target, "smooth_l1_loss")
    d = input - target
    a = d.abs()
    if beta == 0:
        loss = a
    else:
        loss = ops.Where.apply(a._data < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, _reduction(size_average, reduce, reduction), "smooth_l1_loss")


_BCE_EPS = float(np.float32(1e-12))


class _BinaryCrossEntropy(at.Function):
    """Elementwise l = -(y max(log x, -100) + (1 - y) max(log(1 - x), -100)), with torch's
    gradients: dl/dx = (x - y) / max(x (1 - x), 1e-12) and dl/dy = -logit(x).

    A primitive (not a composite of logs) because torch's input gradient is not the
    derivative of the clamped loss: where x is 0 or 1 (a saturated sigmoid) it is +-1e12-scale,
    not 0, and it is 0 wherever x == y. Shapes: x, y (*) -> l (*)."""

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
            # torch's floor is the float32 nearest 1e-12 in every dtype
            gx = g * (x - y) / (x * (1.0 - x)).clamp(min=_BCE_EPS)
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):  # -logit(x) is +-inf at x = 0 or 1, as torch
                gy = g * ((1.0 - x).log() - x.log())
        return gx, gy

    @staticmethod
    def sample_inputs(rng):
        from autotensor.testing import Sample

        yield Sample(rng.uniform(0.05, 0.95, (3, 4)), rng.random((3, 4)))
        yield Sample(rng.uniform(0.05, 0.95, ()), rng.random(()), note="0-d")


def binary_cross_entropy(
    input: Tensor,
    target: Any,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """-w [y log(x) + (1 - y) log(1 - x)], each log clamped to >= -100 (as torch), so a
    probability of exactly 0 or 1 gives a finite loss.  x: probabilities in [0, 1]."""
    target = as_tensor(target)
    if target.shape != input.shape:
        raise ValueError(
            f"binary_cross_entropy: using a target size ({tuple(target.shape)}) that is "
            f"different to the input size ({tuple(input.shape)}) is not supported; please "
            f"ensure they have the same size."
        )
    d = input._data
    if d.size and (d.min() < 0 or d.max() > 1):
        raise RuntimeError(
            "binary_cross_entropy: all elements of input should be between 0 and 1 "
            "(apply sigmoid first, or use binary_cross_entropy_with_logits)"
        )
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, _reduction(size_average, reduce, reduction), "binary_cross_entropy")


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Any,
    weight: Tensor | None = None,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """BCE on logits, stable for any x:
    loss = -w [p y log(sigmoid(x)) + (1 - y) log(1 - sigmoid(x))]
         = w [(1 - y) x - (1 + (p - 1) y) logsigmoid(x)],  p = pos_weight (1 if None)."""
    target = as_tensor(target)
    if target.shape != input.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: target size ({tuple(target.shape)}) must be "
            f"the same as input size ({tuple(input.shape)})"
        )
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    ls = logsigmoid(input)
    if pos_weight is not None:
        lw = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input - lw * ls
    else:
        loss = (1.0 - target) * input - ls
    if weight is not None:
        loss = loss * weight
    return _reduce(
        loss, _reduction(size_average, reduce, reduction), "binary_cross_entropy_with_logits"
    )


def _class_targets(input: Tensor, target: Any, ignore_index: int, name: str) -> np.ndarray:
    """Check class-index targets against input (N, C, d1, ...) / (C,) and return them."""
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(
            f"{name}: class-index targets must be an integer tensor, got dtype {t.dtype} with "
            f"shape {t.shape} for input {tuple(input.shape)} (class probabilities must have "
            f"the input's shape)"
        )
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have at least 1 dim (the classes), got a 0-d tensor")
    expected = input.shape[:1] + input.shape[2:] if input.ndim >= 2 else ()
    if t.shape != expected:
        raise ValueError(
            f"{name}: expected target of shape {expected} for input of shape "
            f"{tuple(input.shape)} (classes in dim {1 if input.ndim >= 2 else 0}), got "
            f"{tuple(t.shape)}"
        )
    c = input.shape[1] if input.ndim >= 2 else input.shape[0]
    if t.size:
        valid = t[t != ignore_index]
        if valid.size and (valid.min() < 0 or valid.max() >= c):
            bad = int(valid.max()) if valid.max() >= c else int(valid.min())
            raise IndexError(
                f"{name}: target class index {bad} is out of range for {c} classes "
                f"(valid: 0..{c - 1}, or ignore_index={ignore_index})"
            )
    return t


def _pick_weights(
    logp: Tensor, t: np.ndarray, weight: Tensor | None, ignore_index: int
) -> tuple[np.ndarray, np.ndarray]:
    """The (N, C, d...) array that is w[t] at each target class and 0 elsewhere (in logp's
    dtype, so the product with logp stays in it), and the per-sample weights w[t]
    (0 where t == ignore_index)."""
    dt = logp.dtype
    keep = t != ignore_index
    tc = np.where(keep, t, 0)
    if weight is None:
        w_t = keep.astype(dt)
    else:
        w_t = np.where(keep, weight._data.astype(dt, copy=False)[tc], 0).astype(dt, copy=False)
    class_axis = 1 if logp.ndim >= 2 else 0
    pick = np.zeros(logp.shape, dtype=dt)
    np.put_along_axis(
        pick, np.expand_dims(tc, class_axis), np.expand_dims(w_t, class_axis), axis=class_axis
    )
    return pick, w_t


def _nll(
    logp: Tensor, t: np.ndarray, weight: Tensor | None, ignore_index: int, reduction: str, name: str
) -> Tensor:
    """-w[t] logp[t] per sample, reduced (mean divides by the sum of w[t], as torch).

    The picking is one multiply by a constant array holding -w[t] (times 1/sum(w[t]) for
    'mean') at the target classes, then one sum: two nodes, whose backward is a single
    multiply, all in logp's dtype."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction")
    pick, w_t = _pick_weights(logp, t, weight, ignore_index)
    if reduction == "none":
        return (logp * np.negative(pick, out=pick)).sum(1 if logp.ndim >= 2 else 0)
    scale = -1.0
    if reduction == "mean":
        total_w = float(w_t.sum(dtype=np.float64))
        if total_w == 0:  # every target ignored: the loss is 0/0 = nan, the gradient 0 (torch)
            return (logp * pick).sum() + np.asarray(np.nan, dtype=pick.dtype)
        scale = -1.0 / total_w
    np.multiply(pick, np.asarray(scale, dtype=pick.dtype), out=pick)
    return (logp * pick).sum()


def nll_loss(
    input: Tensor,
    target: Any,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log likelihood of class indices: -w[t] input[t] (input holds log-probabilities).
    Shapes: input (N, C, d1, ...) or (C,); target (N, d1, ...) or ()."""
    red = _reduction(size_average, reduce, reduction)
    t = _class_targets(input, target, ignore_index, "nll_loss")
    return _nll(input, t, weight, ignore_index, red, "nll_loss")


def cross_entropy(
    input: Tensor,
    target: Any,
    weight: Tensor | None = None,
    size_average: Any = None,
    ignore_index: int = -100,
    reduce: Any = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy of logits, with torch's formulas.

    Class indices t:       l = -w[t] log_softmax(x)[t]; with smoothing eps over C classes,
                           l = (1 - eps) l_nll + (eps / C) * (-sum_c w_c log_softmax(x)_c);
                           'mean' divides by the sum of w[t] over non-ignored samples.
    Class probabilities p: l = -sum_c w_c p'_c log_softmax(x)_c,  p' = (1 - eps) p + eps / C;
                           'mean' divides by the number of samples.
    Shapes: x (N, C, d1, ...) or (C,); t (N, d1, ...) or (); p like x.
    """
    return _cross_entropy(
        input,
        target,
        weight,
        ignore_index,
        _reduction(size_average, reduce, reduction),
        label_smoothing,
        "cross_entropy",
    )


def _cross_entropy(
    input: Tensor,
    target: Any,
    weight: Tensor | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
    name: str,
) -> Tensor:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(
            f"{name}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}"
        )
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have at least 1 dim (the classes), got a 0-d tensor")
    class_axis = 1 if input.ndim >= 2 else 0
    c = input.shape[class_axis]
    if weight is not None and tuple(weight.shape) != (c,):
        raise RuntimeError(
            f"{name}: weight must have shape ({c},) (one per class), got {tuple(weight.shape)}"
        )
    logp = ops.LogSoftmax.apply(input, class_axis)
    tgt = target._data if isinstance(target, Tensor) else np.asarray(target)
    wshape = _param_shape(input, class_axis) if input.ndim >= 2 else (c,)

    if tgt.dtype.kind == "f":  # class probabilities
        if tgt.shape != input.shape:
            raise TypeError(
                f"{name}: target of shape {tgt.shape} has dtype {tgt.dtype}: class indices "
                f"must be an integer tensor, and class probabilities must have the input's "
                f"shape {tuple(input.shape)}"
            )
        if ignore_index >= 0:  # torch rejects a class to ignore when targets are probabilities
            raise RuntimeError(
                f"{name}: ignore_index={ignore_index} is not supported for floating point "
                f"(class probability) targets"
            )
        p = target if isinstance(target, Tensor) else from_numpy(np.asarray(tgt))
        if p.dtype != input.dtype:
            p = p.to(input.dtype)
        if label_smoothing > 0:
            p = p * (1 - label_smoothing) + label_smoothing / c
        prod = logp * p
        if weight is not None:
            prod = prod * weight.reshape(wshape)
        if reduction == "none":
            return -prod.sum(class_axis)
        total = -prod.sum()
        if reduction == "sum":
            return total
        n = input.numel() // c if c else 0
        return total / n if n else total * float("nan")

    t = _class_targets(input, tgt, ignore_index, name)
    nll = _nll(logp, t, weight, ignore_index, reduction, name)
    if label_smoothing <= 0:
        return nll
    lp = logp * weight.reshape(wshape) if weight is not None else logp
    keep = t != ignore_index
    # where (not a multiply by the mask): ignored entries get exactly zero gradient even when
    # the mean's denominator is zero
    smooth = ops.Where.apply(keep, -lp.sum(class_axis), 0.0)
    if reduction == "none":
        s = smooth
    elif reduction == "sum":
        s = smooth.sum()
    elif weight is not None:
        s = smooth.sum() / weight._data[t[keep]].sum(dtype=np.float64).astype(input.dtype)
    else:
        s = smooth.sum() / np.asarray(keep.sum(), dtype=input.dtype)
    return nll * (1 - label_smoothing) + s * (label_smoothing / c)
