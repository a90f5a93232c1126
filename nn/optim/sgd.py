"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay (torch's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nn.optim.optimizer import (
    Optimizer,
    _array,
    _check_float,
    _check_modes,
    _scalar,
    _state_tensor,
)

__all__ = ["SGD", "sgd_update", "sgd_update_blocks"]


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    buf: np.ndarray | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
) -> np.ndarray | None:
    """One SGD step on `param` in place; returns the momentum buffer (None without momentum).

        g = grad + weight_decay * param
        buf = g                                   on the first step
        buf = momentum * buf + (1 - dampening) * g   afterwards
        g = g + momentum * buf  (nesterov)  or  g = buf
        param -= lr * g

    Shapes: param, grad and buf all have the parameter's shape. `grad` is only read.
    """
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if buf is None:
            buf = np.array(g, dtype=param.dtype, copy=True)
        else:
            buf *= momentum
            if dampening == 0:
                buf += g
            else:
                buf += (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    if g is grad or g is buf:
        param -= lr * g
    else:  # g is a temporary of ours: scale it in place instead of allocating another
        g *= lr
        param -= g
    return buf


class SGD(Optimizer):
    """`SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False)`: torch.optim.SGD's update rule (see `sgd_update`).

    State per parameter (with momentum): `momentum_buffer`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_float("lr", lr)
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_modes("SGD", foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "differentiable": differentiable, "fused": fused,
        }  # fmt: skip
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, momentum = _scalar(group["lr"]), _scalar(group["momentum"])
        dampening, wd = _scalar(group["dampening"]), _scalar(group["weight_decay"])
        nesterov, maximize = bool(group["nesterov"]), bool(group["maximize"])
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            # _array and _grad_array written out: this loop runs for every parameter per step
            param, grad = p.numpy(force=True), g.numpy(force=True)
            if maximize:
                grad = np.negative(grad)
            state = buf = None
            if momentum != 0:
                state = self.state[p]
                buf_t = state.get("momentum_buffer")
                buf = None if buf_t is None else _array(buf_t)
            # blocks only for large parameters whose buffer exists (the first step makes it)
            big = param.size >= _BLOCKED_FROM and (buf is not None or momentum == 0)
            new_buf = (sgd_update_blocks if big else sgd_update)(
                param, grad, buf, lr=lr, momentum=momentum, dampening=dampening,
                weight_decay=wd, nesterov=nesterov,
            )  # fmt: skip
            if state is not None and buf is None and new_buf is not None:
                state["momentum_buffer"] = _state_tensor(new_buf)
            self._bump(p)


# elements per block of sgd_update_blocks (128 KiB of float32: the block's arrays and the
# temporaries of the rule stay in the core's caches), and the size from which blocks pay
_BLOCK = 32768
_BLOCKED_FROM = 16 * _BLOCK


def sgd_update_blocks(
    param: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, **rule: Any
) -> np.ndarray | None:
    """`sgd_update` over consecutive blocks of large arrays; the same values, as the rule is
    elementwise.

    Why: the rule is three or four numpy passes over the parameter, the gradient and the
    buffer, and `lr * buf` a temporary of the parameter's size; on a parameter of megabytes
    every pass goes to main memory. Block by block, the passes after the first read from
    cache and the temporary is one block (about a fifth less time on a 4096 x 1024 float32
    weight, and no parameter-sized temporary in the step's peak memory). Small or
    non-contiguous arrays take `sgd_update` itself. tests/nn/test_nn_optim.py checks both
    give the same arrays. `buf` must exist already (None: no momentum)."""
    n = param.size
    if (
        n < _BLOCKED_FROM
        or not (param.flags.c_contiguous and grad.flags.c_contiguous)
        or grad.shape != param.shape
        or (buf is not None and not buf.flags.c_contiguous)
    ):
        return sgd_update(param, grad, buf, **rule)
    p, g = param.reshape(-1), grad.reshape(-1)
    b = None if buf is None else buf.reshape(-1)
    for i in range(0, n, _BLOCK):
        j = i + _BLOCK
        sgd_update(p[i:j], g[i:j], None if b is None else b[i:j], **rule)
    return buf
