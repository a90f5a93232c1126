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
    "instance_norm",
    "l1_loss", "layer_norm", "leaky_relu", "linear", "log_softmax", "logsigmoid", "mse_loss",
    "nll_loss", "one_hot", "pad", "relu", "relu6", "sigmoid", "silu", "smooth_l1_loss",
    "softmax", "softplus", "tanh",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d",
    "conv2d", "conv_transpose1d", "conv_transpose2d", "fold", "max_pool1d", "max_pool2d",
    "unfold",
    "pixel_shuffle", "pixel_unshuffle",
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
    if input.ndim > 2 and weight.requires_grad and not input.is_contiguous() and input.numel():
        # torch's matmul folds the input into one matrix with a reshape (a copy when the
        # layout cannot be viewed so): what it saves for the weight's gradient is that, so
        # after a copy a later in-place change of the input is no error
        lead = tuple(input.shape[:-1])
        flat = input.reshape(math.prod(lead), input.shape[-1])
        return linear(flat, weight, bias).reshape(lead + (weight.shape[0],))
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
    inside = (input > min_val) & (input < max_val)
    return at.where(inside, input, input.detach().clamp(min_val, max_val))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise; the gradient at x == 0 is negative_slope
    (torch's), since where picks the scaled branch there."""
    return at.where(input > 0, input, input * negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise: one primitive with torch's gradient rule
    (alpha at x == 0, 1 at NaN)."""
    return ops.elementwise.Elu.apply(input, alpha=float(alpha))


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(input, alpha) * scale


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU(x) = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2));
    approximate='tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    One primitive (ops.Gelu); `_gelu_reference` below is the same function composed of
    Erf/Tanh and arithmetic, which the tests compare it against."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return ops.Gelu.apply(input, approximate=approximate)


def _gelu_reference(input: Tensor, approximate: str = "none") -> Tensor:
    """gelu as a composite of primitives (the reference of ops.Gelu)."""
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
    """(1/beta) log(1 + exp(beta x)); x itself where beta x > threshold (as torch): one
    primitive with torch's gradient rule."""
    return ops.elementwise.Softplus.apply(input, beta=beta, threshold=threshold)


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
    d = input.numpy(force=True)
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
    d = input.numpy(force=True)
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
        # torch warns and still drops whole (N, C) features over whatever trails them; a
        # 2-D input (N, C) is then ordinary element-wise dropout.
        if input.ndim < 2:
            raise RuntimeError(
                f"dropout2d: feature dropout needs at least 2 dimensions (N, C, ...), got "
                f"shape {tuple(input.shape)}"
            )
        warnings.warn(
            f"dropout2d: received a {input.ndim}-D input; dropout2d is meant for 3-D or 4-D "
            "input (channels with 2 spatial dimensions). Use dropout for this.",
            stacklevel=2,
        )
        return _channel_dropout(input, p, training, generator, input.ndim - 2, "dropout2d")
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
    if sparse:
        raise NotImplementedError(
            "embedding: sparse=True (sparse gradients) is not supported; the weight's "
            "gradient is always dense"
        )
    idx = input.numpy(force=True) if isinstance(input, Tensor) else np.asarray(input)
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
        w = weight.numpy(force=True)
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
        # the padding entries take their value from a detached copy: no gradient flows. The
        # mask is a tensor comparison, and applied whether or not padding occurs, so that a
        # recorded forward (ONNX export) is the same for every input.
        pad_mask = (input if isinstance(input, Tensor) else from_numpy(idx)) == padding_idx
        out = ops.Where.apply(pad_mask.unsqueeze(-1), weight.detach()[idx], out)
    return out


def _param_shape(x: Tensor, c_axis: int) -> tuple[int, ...]:
    shape = [1] * x.ndim
    shape[c_axis] = x.shape[c_axis]
    return tuple(shape)


def _standardize(x: Tensor, dims: Any) -> tuple[Tensor, Tensor, Tensor]:
    """(x - mean) / sqrt(var + eps)'s parts over `dims`: (mean, x - mean, biased var), kept
    dims; the batch, instance and group norms share them."""
    mean = x.mean(dims, keepdim=True)
    xc = x - mean
    return mean, xc, (xc * xc).mean(dims, keepdim=True)


def _affine(out: Tensor, weight: Tensor | None, bias: Tensor | None, pshape: Any) -> Tensor:
    """out * weight + bias, the per-channel parameters broadcast as `pshape`."""
    if weight is not None:
        out = out * weight.reshape(pshape)
    if bias is not None:
        out = out + bias.reshape(pshape)
    return out


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
        mean, xc, var = _standardize(input, dims)
        if running_mean is not None or running_var is not None:
            with at.no_grad():
                m = momentum
                if running_mean is not None:
                    bm = mean.numpy(force=True).reshape(-1).astype(running_mean.dtype, copy=False)
                    running_mean.mul_(1 - m).add_(from_numpy(bm * m))
                if running_var is not None:
                    unbiased = var.numpy(force=True).reshape(-1) * (n / (n - 1))
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
    return _affine(out, weight, bias, pshape)


def instance_norm(
    input: Tensor,
    running_mean: Tensor | None = None,
    running_var: Tensor | None = None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise each (sample, channel) over its spatial dims:
    y = (x - mean) / sqrt(var + eps) * weight + bias (biased variance), or with the running
    statistics when not use_input_stats. With use_input_stats and running stats given, they
    are updated in place as torch does: r = (1 - momentum) r + momentum * (the batch average
    of the per-sample mean, or of the per-sample unbiased variance).
    Shapes: x (N, C, *spatial); running stats, weight, bias (C,)."""
    if input.ndim < 3:
        raise ValueError(
            f"instance_norm: expected an input of at least 3 dims (N, C, *spatial), got shape "
            f"{tuple(input.shape)}"
        )
    dims = tuple(range(2, input.ndim))
    pshape = _param_shape(input, 1)
    if use_input_stats:
        n = input.numel() // (input.shape[0] * input.shape[1]) if input.numel() else 0
        if n <= 1:
            raise ValueError(
                f"instance_norm: expected more than 1 spatial element when training, got input "
                f"size {tuple(input.shape)}"
            )
        mean, xc, var = _standardize(input, dims)
        with at.no_grad():
            m = momentum
            if running_mean is not None:
                bm = mean.numpy(force=True).reshape(input.shape[:2]).mean(0)
                running_mean.mul_(1 - m).add_(from_numpy((bm * m).astype(running_mean.dtype)))
            if running_var is not None:
                bv = var.numpy(force=True).reshape(input.shape[:2]).mean(0) * (n / (n - 1))
                running_var.mul_(1 - m).add_(from_numpy((bv * m).astype(running_var.dtype)))
        out = xc * (var + eps).rsqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError(
                "instance_norm: running_mean and running_var are needed when use_input_stats "
                "is False"
            )
        out = (input - running_mean.reshape(pshape)) * (running_var.reshape(pshape) + eps).rsqrt()
    return _affine(out, weight, bias, pshape)


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
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.dtype != input.dtype:
            raise RuntimeError(
                f"layer_norm: {name} dtype {p.dtype} differs from the input dtype {input.dtype}"
            )
    if k == 0 or input.dtype.kind != "f":
        return _layer_norm_reference(input, shape, weight, bias, eps)
    # One primitive (ops.LayerNorm); `_layer_norm_reference` below is the composite it is
    # tested against.
    return ops.LayerNorm.apply(input, weight, bias, normalized_shape=shape, eps=eps)


def _layer_norm_reference(
    input: Tensor,
    shape: tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """layer_norm as a composite of primitives (the reference of ops.LayerNorm)."""
    k = len(shape)
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
    loss = at.where(a < delta, d * d * 0.5, (a - 0.5 * delta) * delta)
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
        loss = at.where(a < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(loss, _reduction(size_average, reduce, reduction), "smooth_l1_loss")


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
    d = input.numpy(force=True)
    if d.size and (d.min() < 0 or d.max() > 1):
        raise RuntimeError(
            "binary_cross_entropy: all elements of input should be between 0 and 1 "
            "(apply sigmoid first, or use binary_cross_entropy_with_logits)"
        )
    if target.dtype != input.dtype:
        target = target.to(input.dtype)
    loss = ops.BinaryCrossEntropy.apply(input, target)
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
    t = target.numpy(force=True) if isinstance(target, Tensor) else np.asarray(target)
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
        w = weight.numpy(force=True).astype(dt, copy=False)
        w_t = np.where(keep, w[tc], 0).astype(dt, copy=False)
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
    if not np.isfinite(logp.detach().numpy()).all():
        # a -inf log-probability of a class that is not picked must not make 0 * -inf = nan
        logp = ops.Where.apply(pick != 0, logp, 0.0)
    if reduction == "none":
        # negated after the sum: -(w[t] logp[t]) exactly, -0 for a zero as torch's
        return -(logp * pick).sum(1 if logp.ndim >= 2 else 0)
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


def _fused_cross_entropy(input: Tensor, target: Any, ignore_index: int) -> Tensor | None:
    """The 'mean' loss of (N, C) logits and N in-range class indices, none ignored, as one
    `CrossEntropy` node (one node instead of three on every training step); None for any
    other case, which the composite below handles (and is tested as the reference)."""
    if isinstance(target, Tensor):
        if target.dtype.kind not in "iu":
            return None  # class probabilities
        t = target.numpy()
    else:
        t = np.asarray(target)
    n, c = input.shape
    if (
        t.dtype.kind not in "iu"
        or t.shape != (n,)
        or n == 0
        or input.dtype.kind != "f"
        or 0 <= ignore_index < c
    ):
        return None
    if np.minimum.reduce(t) < 0 or np.maximum.reduce(t) >= c:  # (without min/max's wrappers)
        return None  # the composite names the bad index
    return ops.CrossEntropy.apply(input, t)


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
    if reduction == "mean" and weight is None and label_smoothing <= 0 and input.ndim == 2:
        fused = _fused_cross_entropy(input, target, ignore_index)
        if fused is not None:
            return fused
    logp = ops.LogSoftmax.apply(input, class_axis)
    tgt = target.numpy(force=True) if isinstance(target, Tensor) else np.asarray(target)
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
        w_sum = weight.numpy(force=True)[t[keep]].sum(dtype=np.float64)
        s = smooth.sum() / w_sum.astype(input.dtype)
    else:
        s = smooth.sum() / np.asarray(keep.sum(), dtype=input.dtype)
    return nll * (1 - label_smoothing) + s * (label_smoothing / c)


# -- more activations ------------------------------------------------------------------------
def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)), with the stable softplus (finite for any x)."""
    return input * _softplus1(input).tanh()


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, a * x otherwise, with one learnt slope a per channel (dim 1; a 0-D or
    1-D input is one channel) or one for all. Shapes: x (N, C, *) or (*), a (C,) or (1,)."""
    if weight.ndim > 1:
        raise RuntimeError(f"prelu: weight must be 0-D or 1-D, got shape {tuple(weight.shape)}")
    n = weight.numel()
    if n != 1:
        channels = input.shape[1] if input.ndim >= 2 else 1  # a 1-D input is one channel
        if channels != n:
            raise RuntimeError(
                f"prelu: mismatch of parameter numbers and input channel size: weight has {n} "
                f"slopes, input of shape {tuple(input.shape)} has {channels} channels"
            )
        weight = weight.reshape(_param_shape(input, 1))
    elif weight.ndim == 1 and input.ndim == 0:
        weight = weight.reshape(())
    # where picks the slope branch at x == 0, so dx there is a (torch's rule) and da is 0
    return at.where(input > 0, input, input * weight)


# -- more normalisation ----------------------------------------------------------------------
def _norm_dims(input: Tensor, normalized_shape: Any, name: str) -> tuple[int, ...]:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if input.ndim < k or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"{name}: input of shape {tuple(input.shape)} does not end with the "
            f"normalized_shape {shape}"
        )
    return tuple(range(input.ndim - k, input.ndim))


def rms_norm(
    input: Tensor,
    normalized_shape: Sequence[int] | int,
    weight: Tensor | None = None,
    eps: float | None = None,
) -> Tensor:
    """y = x / sqrt(mean(x^2) + eps) * weight over the trailing normalized_shape dims;
    eps=None is the machine epsilon of x's dtype (as torch)."""
    dims = _norm_dims(input, normalized_shape, "rms_norm")
    if eps is None:
        eps = float(np.finfo(input.dtype).eps)
    out = input * ((input * input).mean(dims, keepdim=True) + eps).rsqrt()
    return out * weight if weight is not None else out


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Split the C channels of x (N, C, *) into num_groups groups and normalise each group of
    each sample over its channels and spatial positions (biased variance), then
    y = x_hat * weight[c] + bias[c].  Shapes: weight, bias (C,)."""
    if input.ndim < 2:
        raise RuntimeError(
            f"group_norm: expected an input of at least 2 dims (N, C, *), got shape "
            f"{tuple(input.shape)}"
        )
    n, c = input.shape[0], input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise RuntimeError(
            f"group_norm: expected the number of channels ({c}) of input of shape "
            f"{tuple(input.shape)} to be divisible by num_groups ({num_groups})"
        )
    g = input.reshape((n, num_groups, -1))
    _, xc, var = _standardize(g, -1)
    out = (xc * (var + eps).rsqrt()).reshape(input.shape)
    return _affine(out, weight, bias, _param_shape(input, 1))


def normalize(
    input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None
) -> Tensor:
    """x / max(||x||_p, eps) along dim."""
    if out is not None:
        raise NotImplementedError("normalize: the out= keyword is not supported")
    return input / at.functional.norm(input, p, dim, keepdim=True).clamp(min=eps)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along dim (x1, x2 broadcast).

    As torch, the clamp to eps is applied to the norms' values only: the gradient is taken
    as if the norms were unclamped (the clamp is invisible to autograd)."""
    x1, x2 = as_tensor(x1), as_tensor(x2)
    shape = np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    x1, x2 = x1.expand(shape), x2.expand(shape)

    def unit(x: Tensor) -> Tensor:
        n = at.functional.norm(x, 2, dim, keepdim=True)
        nd = n.numpy(force=True)
        lifted = np.maximum(nd, eps).astype(n.dtype, copy=False) - nd
        return x / (n + lifted)

    return (unit(x1) * unit(x2)).sum(dim)


# -- resampling ------------------------------------------------------------------------------
_INTERP_MODES = ("nearest", "nearest-exact", "linear", "bilinear")


def _source_scale(in_size: int, out_size: int, scale: float | None, align: bool) -> float:
    """torch's area_pixel_compute_scale: output index -> input coordinate factor."""
    if align:
        return (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return 1.0 / scale if scale is not None and scale > 0 else in_size / out_size


def _nearest_index(
    in_size: int, out_size: int, scale: float | None, exact: bool, dtype: Any
) -> np.ndarray:
    """Source index of each output position (torch's nearest_idx / nearest_exact_idx, with
    its float32 arithmetic for float32 input)."""
    if out_size == in_size and not exact:
        return np.arange(out_size)
    f = np.dtype(dtype).type
    s = f(1.0 / scale) if scale is not None and scale > 0 else f(in_size) / f(out_size)
    pos = np.arange(out_size).astype(dtype)
    if exact:
        pos = pos + f(0.5)
    return np.minimum(np.floor(pos * s).astype(np.int64), in_size - 1)


def _linear_weights(
    in_size: int, out_size: int, scale: float | None, align: bool, dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w0, w1): each output position reads w0 x[i0] + w1 x[i1] (torch's
    linear-interpolation source indices and lambdas)."""
    f = np.dtype(dtype).type
    s = f(_source_scale(in_size, out_size, scale, align))
    pos = np.arange(out_size).astype(dtype)
    src = pos * s if align else np.maximum((pos + f(0.5)) * s - f(0.5), f(0))
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    w1 = (src - i0.astype(dtype)).astype(dtype)
    w0 = (f(1) - w1).astype(dtype)
    return i0, i1, w0, w1


def interpolate(
    input: Tensor,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> Tensor:
    """Resample the spatial dims of x (N, C, W) or (N, C, H, W) to `size` or by
    `scale_factor`: 'nearest' (torch's floor rule), 'nearest-exact' (pixel centres),
    'linear' (3-D) and 'bilinear' (4-D), with align_corners as torch. Built from index
    gathers and weighted sums, so the gradient scatters back exactly as torch's does."""
    if mode not in _INTERP_MODES:
        raise NotImplementedError(
            f"interpolate: mode {mode!r} is not supported (supported: {_INTERP_MODES})"
        )
    if antialias:
        raise NotImplementedError("interpolate: the antialias keyword is not supported")
    spatial = input.ndim - 2
    if spatial not in (1, 2):
        raise NotImplementedError(
            f"interpolate: only 3-D (N, C, W) and 4-D (N, C, H, W) input is supported, got "
            f"shape {tuple(input.shape)}"
        )
    linear = mode in ("linear", "bilinear")
    if linear and (mode == "linear") != (spatial == 1):
        want = "3-D" if mode == "linear" else "4-D"
        raise NotImplementedError(
            f"interpolate: mode {mode!r} needs {want} input, got shape {tuple(input.shape)}"
        )
    if not linear and align_corners is not None:
        raise ValueError(
            "align_corners option can only be set with the interpolating modes: "
            "linear | bilinear | bicubic | trilinear"
        )
    align = bool(align_corners)
    in_sizes = tuple(input.shape[2:])
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: either size or scale_factor should be defined, not both")
    scales: tuple[float | None, ...]
    if size is not None:
        sizes = (size,) * spatial if isinstance(size, int) else tuple(int(s) for s in size)
        if len(sizes) != spatial:
            raise ValueError(
                f"interpolate: input of shape {tuple(input.shape)} has {spatial} spatial dims, "
                f"but size {size} has {len(sizes)}"
            )
        scales = (None,) * spatial
    else:
        sf = (
            (float(scale_factor),) * spatial  # type: ignore[arg-type]
            if not isinstance(scale_factor, (tuple, list))
            else tuple(float(s) for s in scale_factor)
        )
        if len(sf) != spatial:
            raise ValueError(
                f"interpolate: input of shape {tuple(input.shape)} has {spatial} spatial dims, "
                f"but scale_factor {scale_factor} has {len(sf)}"
            )
        sizes = tuple(int(math.floor(n * s)) for n, s in zip(in_sizes, sf))
        scales = (None,) * spatial if recompute_scale_factor else sf
    if any(s <= 0 for s in sizes):
        raise ValueError(f"interpolate: output size {sizes} must be positive")
    out = input
    for axis, n_in, n_out, sc in zip(range(2, input.ndim), in_sizes, sizes, scales):
        if linear:
            i0, i1, w0, w1 = _linear_weights(n_in, n_out, sc, align, input.dtype)
            wshape = [1] * input.ndim
            wshape[axis] = n_out
            out = out.index_select(axis, from_numpy(i0)) * w0.reshape(wshape) + out.index_select(
                axis, from_numpy(i1)
            ) * w1.reshape(wshape)
        else:
            idx = _nearest_index(n_in, n_out, sc, mode == "nearest-exact", input.dtype)
            out = out.index_select(axis, from_numpy(idx))
    return out


# -- divergence ------------------------------------------------------------------------------
def kl_div(
    input: Tensor,
    target: Any,
    size_average: Any = None,
    reduce: Any = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Tensor:
    """Pointwise KL divergence with input holding log-probabilities:
    l = y (log y - x), 0 where y == 0 (log_target: l = exp(y) (y - x)); reduced by 'mean'
    (over all elements), 'batchmean' (sum / batch size), 'sum' or 'none'."""
    red = _reduction(size_average, reduce, reduction)
    if red not in _REDUCTIONS + ("batchmean",):
        raise ValueError(f"kl_div: {reduction!r} is not a valid value for reduction")
    target = as_tensor(target)
    if target.dtype != input.dtype and input.dtype.kind == "f":
        target = target.to(input.dtype)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        pos = target > 0
        # y log y, with 0 log 0 = 0 (xlogy); the log reads a safe 1 where y <= 0
        ylogy = at.where(pos, target * at.where(pos, target, 1.0).log(), 0.0)
        loss = ylogy - target * input
    if red == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
        return loss.mean()
    if red == "batchmean":
        return loss.sum() / input.shape[0] if input.ndim else loss.sum()
    return _reduce(loss, red, "kl_div")


# -- attention -------------------------------------------------------------------------------
def _repeat_heads(x: Tensor, r: int) -> Tensor:
    """(..., H, S, E) -> (..., H * r, S, E), each head repeated r times in a row (torch's
    repeat_interleave along the head dim), as an expand and a reshape."""
    if r == 1:
        return x
    shape = tuple(x.shape)
    wide = x.unsqueeze(-3).expand(shape[:-2] + (r,) + shape[-2:])
    return wide.reshape(shape[:-3] + (shape[-3] * r,) + shape[-2:])


def _sdpa_reference(
    q: Tensor, k: Tensor, v: Tensor, mask: Any, scale: float, keep: np.ndarray | None
) -> Tensor:
    """The composite form of scaled dot-product attention (two matmuls, an additive mask, a
    softmax, the dropout pattern), with torch's rule for rows whose keys are all masked
    (zero probabilities). `mask` may be a Tensor that requires grad: the primitive takes
    constant masks only, so this path is also taken for a learnt additive mask."""
    s = q.matmul(k.transpose(-1, -2)) * scale
    dead = None
    if mask is not None:
        md = mask.numpy(force=True) if isinstance(mask, Tensor) else mask
        all_inf = np.isneginf(md).all(axis=-1, keepdims=True)
        if all_inf.any():
            dead = all_inf
            mask = (
                ops.Where.apply(all_inf, 0.0, mask)
                if isinstance(mask, Tensor)
                else np.where(all_inf, 0.0, md).astype(md.dtype)
            )
        s = s + mask
    p = at.functional.softmax(s, -1)
    if dead is not None:
        p = p * (~dead).astype(p.dtype)
    if keep is not None:
        p = p * keep
    return p.matmul(v)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(q k^T * scale + M) v along the key dim, with scale = 1/sqrt(E) by default.

    Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); batch
    dims broadcast. attn_mask broadcasts to (..., L, S): a bool mask marks the keys that
    take part (True), a float mask is added to the scores. is_causal keeps key j for query
    i when j <= i (top-left aligned when L != S) and excludes attn_mask. enable_gqa lets
    key and value have fewer heads (dim -3) than query, each repeated to the query's count.
    dropout_p drops attention probabilities (always, as torch: this function has no training
    flag) using autotensor's generator. A query whose keys are all masked gets output 0.
    """
    q, k, v = query, key, value
    name = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise RuntimeError(
            f"{name}: query, key and value need at least 2 dims (..., L, E), got query "
            f"{tuple(q.shape)}, key {tuple(k.shape)} and value {tuple(v.shape)}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise RuntimeError(
            f"{name}: query {tuple(q.shape)} and key {tuple(k.shape)} must have the same "
            f"embedding size (last dim)"
        )
    if k.shape[-2] != v.shape[-2]:
        raise RuntimeError(
            f"{name}: key {tuple(k.shape)} and value {tuple(v.shape)} must have the same "
            f"sequence length (dim -2)"
        )
    if not (q.dtype == k.dtype == v.dtype):
        raise RuntimeError(
            f"{name}: expected query, key and value to have the same dtype, got {q.dtype}, "
            f"{k.dtype} and {v.dtype}"
        )
    if q.dtype.kind != "f":
        raise RuntimeError(f"{name}: expected floating-point inputs, got {q.dtype}")
    if enable_gqa and q.ndim >= 3 and k.ndim >= 3 and v.ndim >= 3:
        hq, hk, hv = q.shape[-3], k.shape[-3], v.shape[-3]
        if hq % hk or hq % hv:
            raise RuntimeError(
                f"{name}: with enable_gqa the number of heads in key ({hk}) and value ({hv}) "
                f"must divide the number of heads in query ({hq}); query {tuple(q.shape)}, "
                f"key {tuple(k.shape)}, value {tuple(v.shape)}"
            )
        k, v = _repeat_heads(k, hq // hk), _repeat_heads(v, hq // hv)
    try:
        batch = np.broadcast_shapes(tuple(q.shape[:-2]), tuple(k.shape[:-2]), tuple(v.shape[:-2]))
    except ValueError:
        raise RuntimeError(
            f"{name}: the batch dims of query {tuple(query.shape)}, key {tuple(key.shape)} and "
            f"value {tuple(value.shape)} do not broadcast"
        ) from None
    L, S = q.shape[-2], k.shape[-2]
    dt = q.dtype
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    mask: Any = None
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError(f"{name}: Explicit attn_mask should not be set when is_causal=True")
        mask = np.where(np.tri(L, S, dtype=bool), 0.0, -np.inf).astype(dt)
    elif attn_mask is not None:
        m = as_tensor(attn_mask)
        if m.dtype == np.bool_:
            mask = np.where(m.numpy(force=True), 0.0, -np.inf).astype(dt)
        elif m.dtype.kind == "f":
            if m.requires_grad and at.is_grad_enabled():
                mask = m if m.dtype == dt else m.to(dt)
            else:
                mask = m.numpy(force=True).astype(dt, copy=False)
        else:
            raise RuntimeError(
                f"{name}: expected attn_mask dtype to be bool or float, got {m.dtype} (query {dt})"
            )
        try:
            np.broadcast_shapes(tuple(m.shape), batch + (L, S))
        except ValueError:
            raise RuntimeError(
                f"{name}: attn_mask of shape {tuple(m.shape)} does not broadcast to the "
                f"attention scores {batch + (L, S)} (query {tuple(query.shape)}, key "
                f"{tuple(key.shape)})"
            ) from None
    keep = None
    if dropout_p > 0.0:
        _check_p(dropout_p)
        if dropout_p == 1.0:
            keep = np.zeros(batch + (L, S), dtype=dt)
        else:
            keep = (_rng(None).random(batch + (L, S)) >= dropout_p) * np.asarray(
                1.0 / (1.0 - dropout_p), dtype=dt
            )
    if isinstance(mask, Tensor):
        return _sdpa_reference(q, k, v, mask, scale, keep)
    return ops.ScaledDotProductAttention.apply(q, k, v, mask=mask, scale=scale, keep=keep)


def _canonical_mask(
    mask: Tensor | None,
    mask_name: str,
    other_type: Any,
    other_name: str,
    target_type: Any,
    check_other: bool = True,
) -> Tensor | None:
    """A bool mask (True = not allowed) as the float mask torch's attention layers use
    (-inf where True, 0 elsewhere); a float mask as it is."""
    if mask is None:
        return None
    mask = as_tensor(mask)
    is_float = mask.dtype.kind == "f"
    if mask.dtype != np.bool_ and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(
            f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type "
            f"for both instead.",
            stacklevel=3,
        )
    if not is_float:
        return from_numpy(np.where(mask.numpy(force=True), -np.inf, 0.0).astype(target_type))
    return mask


def _none_or_dtype(input: Tensor | None) -> Any:
    if input is None:
        return None
    if isinstance(input, Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or torch.Tensor")


def _mha_shape_check(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    num_heads: int,
) -> bool:
    """Whether the call is batched (3-D query), checking the other shapes against it."""
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(
                f"For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(
                f"For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D "
                f"but found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(
                f"For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.ndim}-D tensor instead"
            )
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(
                f"For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(
                f"For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    f"For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                    f"3-D but found {attn_mask.ndim}-D tensor instead"
                )
            want = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.ndim == 3 and tuple(attn_mask.shape) != want:
                raise AssertionError(
                    f"Expected `attn_mask` shape to be {want} but got {tuple(attn_mask.shape)}"
                )
        return False
    raise AssertionError(
        f"query should be unbatched 2D or batched 3D tensor but received {query.ndim}-D query "
        f"tensor"
    )


def _in_projection_packed(
    q: Tensor, k: Tensor, v: Tensor, w: Tensor, b: Tensor | None
) -> tuple[Tensor, Tensor, Tensor]:
    """q, k, v through the packed (3E, E) projection: one matmul when q, k and v are the same
    tensor (self-attention), two when only k and v are (as torch splits it)."""
    e = q.shape[-1]
    if k is v:
        if q is k:
            proj = linear(q, w, b)
            return proj[..., :e], proj[..., e : 2 * e], proj[..., 2 * e :]
        w_q, w_kv = w[:e], w[e:]
        b_q, b_kv = (None, None) if b is None else (b[:e], b[e:])
        kv = linear(k, w_kv, b_kv)
        return linear(q, w_q, b_q), kv[..., :e], kv[..., e:]
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def _in_projection(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    w_q: Tensor,
    w_k: Tensor,
    w_v: Tensor,
    b_q: Tensor | None,
    b_k: Tensor | None,
    b_v: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    eq, ek, ev = q.shape[-1], k.shape[-1], v.shape[-1]
    for name, w, want in (
        ("query", w_q, (eq, eq)),
        ("key", w_k, (eq, ek)),
        ("value", w_v, (eq, ev)),
    ):
        if tuple(w.shape) != want:
            raise AssertionError(
                f"expecting {name} weights shape of {want}, but got {tuple(w.shape)}"
            )
    for name, b in (("query", b_q), ("key", b_k), ("value", b_v)):
        if b is not None and tuple(b.shape) != (eq,):
            raise AssertionError(
                f"expecting {name} bias shape of {(eq,)}, but got {tuple(b.shape)}"
            )
    return linear(q, w_q, b_q), linear(k, w_k, b_k), linear(v, w_v, b_v)


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention of torch's MultiheadAttention, sequence-first.

    Shapes: query (L, N, E) or (L, E), key (S, N, Ek), value (S, N, Ev); key_padding_mask
    (N, S) (True / -inf = ignore that key); attn_mask (L, S) or (N * num_heads, L, S).
    Returns (attn_output (L, N, E), weights (N, L, S) averaged over heads, or
    (N, num_heads, L, S), or None when need_weights is False). With need_weights the
    probabilities are an explicit softmax (a fully masked row is NaN, as torch's); without
    it the heads go through scaled_dot_product_attention (such a row gives 0).
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    key_padding_mask = _canonical_mask(
        key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask", query.dtype
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # the hint is trusted: attention is causal by construction
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(
                f"key's sequence and batch dims {tuple(key.shape[:2])} do not match value's "
                f"{tuple(value.shape[:2])}"
            )
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise AssertionError(
                "use_separate_proj_weight is True but q_proj_weight, k_proj_weight or "
                "v_proj_weight is None"
            )
        b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
        q, k, v = _in_projection(
            query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v
        )
    else:
        if tuple(key.shape) != tuple(value.shape):
            raise AssertionError(
                f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}"
            )
        if in_proj_weight is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        q, k, v = _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    src_len = key.shape[0]
    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif attn_mask.ndim == 3:
            want = (bsz * num_heads, tgt_len, src_len)
            if tuple(attn_mask.shape) != want:
                raise RuntimeError(
                    f"The shape of the 3D attn_mask is {tuple(attn_mask.shape)}, but should be "
                    f"{want}."
                )
        else:
            raise RuntimeError(f"attn_mask's dimension {attn_mask.ndim} is not supported")
    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key or value.")
        k = at.cat([k, bias_k.repeat(1, bsz, 1)])
        v = at.cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k and bias_v must both be set or both be None")
    q = q.reshape((tgt_len, bsz * num_heads, head_dim)).transpose(0, 1)
    if static_k is None:
        k = k.reshape((k.shape[0], bsz * num_heads, head_dim)).transpose(0, 1)
    else:
        if tuple(static_k.shape) != (bsz * num_heads, static_k.shape[1], head_dim):
            raise AssertionError(
                f"expecting static_k of shape ({bsz * num_heads}, S, {head_dim}), but got "
                f"{tuple(static_k.shape)}"
            )
        k = static_k
    if static_v is None:
        v = v.reshape((v.shape[0], bsz * num_heads, head_dim)).transpose(0, 1)
    else:
        if tuple(static_v.shape) != (bsz * num_heads, static_v.shape[1], head_dim):
            raise AssertionError(
                f"expecting static_v of shape ({bsz * num_heads}, S, {head_dim}), but got "
                f"{tuple(static_v.shape)}"
            )
        v = static_v
    if add_zero_attn:
        zeros = at.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)
        k = at.cat([k, zeros], 1)
        v = at.cat([v, zeros.to(v.dtype)], 1)
        if attn_mask is not None:
            attn_mask = pad(attn_mask, (0, 1))
        if key_padding_mask is not None:
            key_padding_mask = pad(key_padding_mask, (0, 1))
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if tuple(key_padding_mask.shape) != (bsz, src_len):
            raise AssertionError(
                f"Expected key_padding_mask of shape {(bsz, src_len)}, but got "
                f"{tuple(key_padding_mask.shape)}"
            )
        kpm = (
            key_padding_mask.reshape((bsz, 1, 1, src_len))
            .expand((bsz, num_heads, 1, src_len))
            .reshape((bsz * num_heads, 1, src_len))
        )
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0
    if need_weights:
        if is_causal and attn_mask is None:
            raise AssertionError("is_causal is not implemented for need_weights")
        scores = (q * math.sqrt(1.0 / float(head_dim))).matmul(k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, p=dropout_p)
        out = weights.matmul(v).transpose(0, 1).reshape((tgt_len * bsz, embed_dim))
        out = linear(out, out_proj_weight, out_proj_bias).reshape((tgt_len, bsz, embed_dim))
        weights = weights.reshape((bsz, num_heads, tgt_len, src_len))
        if average_attn_weights:
            weights = weights.mean(1)
        if not is_batched:
            out, weights = out.squeeze(1), weights.squeeze(0)
        return out, weights
    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape((bsz, num_heads, -1, src_len))
    q = q.reshape((bsz, num_heads, tgt_len, head_dim))
    k = k.reshape((bsz, num_heads, src_len, head_dim))
    v = v.reshape((bsz, num_heads, src_len, head_dim))
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape((bsz * tgt_len, embed_dim))
    out = linear(out, out_proj_weight, out_proj_bias).reshape((tgt_len, bsz, embed_dim))
    if not is_batched:
        out = out.squeeze(1)
    return out, None


# -- pixel shuffle ---------------------------------------------------------------------------
def _check_shuffle_input(input: Tensor, factor: int, name: str, what: str) -> None:
    if not isinstance(factor, int) or isinstance(factor, bool):
        raise TypeError(f"{name}(): argument '{what}' must be int, not {type(factor).__name__}")
    if factor <= 0:
        raise RuntimeError(f"{name} expects a positive {what}, but got {factor}")
    if input.ndim < 3:
        raise RuntimeError(
            f"{name} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """Rearrange (*, C*r*r, H, W) into (*, C, H*r, W*r), r = upscale_factor:
    out[..., c, h*r + i, w*r + j] = input[..., c*r*r + i*r + j, h, w].

    A reshape and a permute, so its gradient is the inverse rearrangement."""
    r = upscale_factor
    _check_shuffle_input(input, r, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r) != 0:
        raise RuntimeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the "
            f"square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    n = len(lead)
    x = input.reshape((*lead, c // (r * r), r, r, h, w))
    # (*, C, i, j, H, W) -> (*, C, H, i, W, j)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape((*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """The inverse of pixel_shuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W),
    out[..., c*r*r + i*r + j, h, w] = input[..., c, h*r + i, w*r + j]."""
    r = downscale_factor
    _check_shuffle_input(input, r, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = input.shape
    if h % r != 0 or w % r != 0:
        side, size = ("height", h) if h % r != 0 else ("width", w)
        raise RuntimeError(
            f"pixel_unshuffle expects {side} to be divisible by downscale_factor, but input."
            f"size({-2 if side == 'height' else -1})={size} is not divisible by {r}"
        )
    n = len(lead)
    x = input.reshape((*lead, c, h // r, r, w // r, r))
    # (*, C, H, i, W, j) -> (*, C, i, j, H, W)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape((*lead, c * r * r, h // r, w // r))
