"""RMSprop (torch's update rule: optional momentum, centring and weight decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from nn.optim.adam import lerp_
from nn.optim.optimizer import (
    Optimizer,
    _array,
    _check_float,
    _check_modes,
    _grad_array,
    _scalar,
    _state_tensor,
)

__all__ = ["RMSprop", "rmsprop_update"]


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    buf: np.ndarray | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
) -> None:
    """One RMSprop step on `param` in place.

        g = grad + weight_decay * param
        v = alpha v + (1 - alpha) g^2
        gbar = lerp(gbar, g, 1 - alpha);  d = sqrt(v - gbar^2) + eps     (centered)
        d = sqrt(v) + eps                                                (otherwise)
        buf = momentum buf + g / d;  param -= lr * buf                   (momentum > 0)
        param -= lr * g / d                                              (otherwise)

    `buf` is given (and updated in place) exactly when momentum > 0; `grad_avg` exactly when
    centered. Shapes: every array has the parameter's shape; `grad` is only read.
    """
    if param.ndim == 0:  # 0-d temporaries would be numpy scalars: work on 1-element views
        param, grad, square_avg = param.reshape(1), grad.reshape(1), square_avg.reshape(1)
        grad_avg = None if grad_avg is None else grad_avg.reshape(1)
        buf = None if buf is None else buf.reshape(1)
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    tmp = g * (1 - alpha)
    tmp *= g
    square_avg += tmp
    if grad_avg is not None:
        lerp_(grad_avg, g, 1 - alpha)
        np.multiply(grad_avg, grad_avg, out=tmp)
        np.subtract(square_avg, tmp, out=tmp)
        avg = np.sqrt(tmp, out=tmp)
    else:
        avg = np.sqrt(square_avg, out=tmp)
    avg += eps
    if buf is not None:
        buf *= momentum
        buf += g / avg
        buf_step = buf * lr
        param -= buf_step
    else:
        upd = g * -lr
        upd /= avg
        param += upd


class RMSprop(Optimizer):
    """`RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False)`: torch.optim.RMSprop.

    State per parameter: `step`, `square_avg`, `momentum_buffer` (momentum > 0) and
    `grad_avg` (centered).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _check_modes(
            "RMSprop", foreach=foreach, differentiable=differentiable, capturable=capturable
        )
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
            "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, alpha, eps = _scalar(group["lr"]), _scalar(group["alpha"]), _scalar(group["eps"])
        wd, momentum = _scalar(group["weight_decay"]), _scalar(group["momentum"])
        centered, maximize = bool(group["centered"]), bool(group["maximize"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["square_avg"] = _state_tensor(np.zeros_like(_array(p)))
                if momentum > 0:
                    state["momentum_buffer"] = _state_tensor(np.zeros_like(_array(p)))
                if centered:
                    state["grad_avg"] = _state_tensor(np.zeros_like(_array(p)))
            _array(state["step"])[...] += 1
            rmsprop_update(
                _array(p), _grad_array(p, maximize), _array(state["square_avg"]),
                _array(state["grad_avg"]) if centered else None,
                _array(state["momentum_buffer"]) if momentum > 0 else None,
                lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum,
            )  # fmt: skip
            self._bump(p)
