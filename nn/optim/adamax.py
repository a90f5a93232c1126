"""Adamax: Adam with the infinity norm in place of the second moment (torch's rule)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from nn.optim.adam import lerp_
from nn.optim.optimizer import (
    Optimizer,
    _array,
    _atleast_1d,
    _check_adam_args,
    _check_modes,
    _grad_array,
    _scalar,
    _state_tensor,
)  # fmt: skip

__all__ = ["Adamax", "adamax_update"]


def adamax_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_inf: np.ndarray,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """One Adamax step on `param` in place (`step` counts from 1).

        g = grad + weight_decay * param
        m = lerp(m, g, 1 - beta1)
        u = max(beta2 u, |g| + eps)
        param -= lr / (1 - beta1^t) * m / u

    Shapes: every array has the parameter's shape; `grad` is only read.
    """
    param, grad, exp_avg, exp_inf = _atleast_1d(param, grad, exp_avg, exp_inf)
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_inf *= beta2
    norm = np.abs(g)
    norm += eps
    np.maximum(exp_inf, norm, out=exp_inf)
    clr = lr / (1 - beta1**step)
    np.divide(exp_avg, exp_inf, out=norm)
    norm *= -clr
    param += norm


class Adamax(Optimizer):
    """`Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None,
    *, maximize=False, differentiable=False, capturable=False)`: torch.optim.Adamax
    (see `adamax_update`).

    State per parameter: `step` (a float32 scalar Tensor), `exp_avg`, `exp_inf`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_adam_args(lr, eps, betas, weight_decay)
        _check_modes(
            "Adamax", foreach=foreach, differentiable=differentiable, capturable=capturable
        )
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
            "capturable": capturable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = _scalar(group["lr"]), _scalar(group["eps"]), _scalar(group["weight_decay"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        maximize = bool(group["maximize"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["exp_avg"] = _state_tensor(np.zeros_like(_array(p)))
                state["exp_inf"] = _state_tensor(np.zeros_like(_array(p)))
            step_t = _array(state["step"])
            step_t += 1
            adamax_update(
                _array(p), _grad_array(p, maximize), _array(state["exp_avg"]),
                _array(state["exp_inf"]), float(step_t), lr=lr, beta1=beta1, beta2=beta2,
                eps=eps, weight_decay=wd,
            )  # fmt: skip
            self._bump(p)
