"""Gradient clipping and flat parameter vectors (torch.nn.utils's functions).

Clipping rescales every gradient array as torch does, but writes the result as a new array
bound to the same `.grad` Tensor rather than multiplying in place: the autograd engine may
hand several leaves one shared (or read-only broadcast) gradient array, and an in-place
multiply would then scale one parameter's gradient twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from autotensor import Tensor

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_",
    "parameters_to_vector", "vector_to_parameters",
]  # fmt: skip


def _params(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _vector_norm(a: np.ndarray, p: float) -> Any:
    """||a||_p over all elements, in a's dtype (p = inf: max |a|; 0: count of non-zeros)."""
    a = a.reshape(-1)
    if a.size == 0:
        return a.dtype.type(0)
    if p == 2.0:
        return np.sqrt(np.dot(a, a))
    if p == math.inf:
        return np.abs(a).max()
    if p == -math.inf:
        return np.abs(a).min()
    if p == 0:
        return a.dtype.type(np.count_nonzero(a))
    if p == 1.0:
        return np.abs(a).sum()
    return (np.abs(a) ** p).sum() ** (1.0 / p)


def get_total_norm(
    tensors: Tensor | Iterable[Tensor],
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """The p-norm of all the given tensors together, as if concatenated into one vector:
    ||(||t_1||_p, ..., ||t_n||_p)||_p. A 0-d Tensor in the tensors' dtype."""
    arrays = [np.asarray(t) for t in _params(tensors)]
    p = float(norm_type)
    if not arrays:
        return at.tensor(0.0)
    norms = np.array([_vector_norm(a, p) for a in arrays], dtype=arrays[0].dtype)
    total = _vector_norm(norms, p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {p} for gradients from `parameters` is non-finite, so it "
            "cannot be clipped. To disable this error and scale the gradients by the non-finite "
            "norm anyway, set `error_if_nonfinite=False`"
        )
    return at.from_numpy(np.asarray(total, dtype=arrays[0].dtype))


def clip_grads_with_norm_(
    parameters: Tensor | Iterable[Tensor], max_norm: float, total_norm: Tensor | float,
    foreach: bool | None = None,
) -> None:  # fmt: skip
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6))."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    if not grads:
        return
    total = np.asarray(total_norm, dtype=np.asarray(grads[0]).dtype)
    coef = np.minimum(float(max_norm) / (total + 1e-6), 1.0)  # 0-d, the grads' dtype
    with at.no_grad():
        for g in grads:
            g.data = at.from_numpy(np.asarray(g) * coef.astype(g.dtype))


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Rescale the gradients so that their total p-norm is at most `max_norm`:

        total = ||(||g_1||_p, ..., ||g_n||_p)||_p;   g_i *= min(1, max_norm / (total + 1e-6))

    Returns the total norm before clipping (a 0-d Tensor), as torch does.
    """
    params = _params(parameters)
    grads = [p.grad for p in params if p.grad is not None]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(
    parameters: Tensor | Iterable[Tensor], clip_value: float, foreach: bool | None = None
) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    v = float(clip_value)
    for p in _params(parameters):
        if p.grad is not None:
            p.grad.data = at.from_numpy(np.clip(np.asarray(p.grad), -v, v))


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector (differentiable).

    Shapes: (sum of numel,)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return at.cat([p.reshape(-1) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """The inverse of `parameters_to_vector`: each parameter's `.data` becomes its slice of
    `vec` (shared memory, as in torch)."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected Tensor, but got: {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.ndim != 1 or vec.numel() != total:
        raise ValueError(
            f"vector_to_parameters: vec has shape {tuple(vec.shape)} but the parameters hold "
            f"{total} elements"
        )
    flat = np.asarray(vec)
    offset = 0
    for p in params:
        n = p.numel()
        p.data = at.from_numpy(flat[offset : offset + n].reshape(p.shape))
        offset += n


from nn.utils import rnn  # noqa: E402 - torch.nn.utils.rnn, as an attribute too
