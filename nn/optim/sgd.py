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
    _grad_array,
    _scalar,
    _state_tensor,
)

__all__ = ["SGD", "sgd_update"]


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
            if p.grad is None:
                continue
            state = self.state[p] if momentum != 0 else None
            buf_t = state.get("momentum_buffer") if state is not None else None
            buf = sgd_update(
                _array(p), _grad_array(p, maximize), None if buf_t is None else _array(buf_t),
                lr=lr, momentum=momentum, dampening=dampening, weight_decay=wd,
                nesterov=nesterov,
            )  # fmt: skip
            if state is not None and buf_t is None and buf is not None:
                state["momentum_buffer"] = _state_tensor(buf)
            self._bump(p)
