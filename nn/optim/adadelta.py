"""Adadelta (torch's update rule, with weight decay and maximize)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from nn.optim.optimizer import (
    Optimizer,
    _array,
    _atleast_1d,
    _check_float,
    _check_modes,
    _grad_array,
    _scalar,
    _state_tensor,
)  # fmt: skip

__all__ = ["Adadelta", "adadelta_update"]


def adadelta_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    acc_delta: np.ndarray,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
) -> None:
    """One Adadelta step on `param` in place.

        g = grad + weight_decay * param
        v = rho v + (1 - rho) g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho u + (1 - rho) delta^2
        param -= lr * delta

    Shapes: every array has the parameter's shape; `grad` is only read.
    """
    param, grad, square_avg, acc_delta = _atleast_1d(param, grad, square_avg, acc_delta)
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    tmp = g * g
    tmp *= 1 - rho
    square_avg += tmp
    std = square_avg + eps
    np.sqrt(std, out=std)
    delta = acc_delta + eps
    np.sqrt(delta, out=delta)
    delta /= std
    delta *= g
    acc_delta *= rho
    np.multiply(delta, delta, out=tmp)
    tmp *= 1 - rho
    acc_delta += tmp
    delta *= -lr
    param += delta


class Adadelta(Optimizer):
    """`Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False, differentiable=False)`: torch.optim.Adadelta
    (see `adadelta_update`).

    State per parameter: `step` (a float32 scalar Tensor), `square_avg`, `acc_delta`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_modes(
            "Adadelta", foreach=foreach, differentiable=differentiable, capturable=capturable
        )
        defaults = {
            "lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "capturable": capturable, "foreach": foreach,
            "differentiable": differentiable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, rho, eps = _scalar(group["lr"]), _scalar(group["rho"]), _scalar(group["eps"])
        wd, maximize = _scalar(group["weight_decay"]), bool(group["maximize"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["square_avg"] = _state_tensor(np.zeros_like(_array(p)))
                state["acc_delta"] = _state_tensor(np.zeros_like(_array(p)))
            _array(state["step"])[...] += 1
            adadelta_update(
                _array(p), _grad_array(p, maximize), _array(state["square_avg"]),
                _array(state["acc_delta"]), lr=lr, rho=rho, eps=eps, weight_decay=wd,
            )  # fmt: skip
            self._bump(p)
