"""RAdam: Adam with the variance of the adaptive step rectified (torch's rule)."""

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

__all__ = ["RAdam", "radam_update"]


def radam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
) -> None:
    """One RAdam step on `param` in place (`step` counts from 1).

        param *= 1 - lr * weight_decay      (decoupled)  or  g = grad + weight_decay * param
        m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                    param -= m / (1 - beta1^t) * lr * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
        otherwise:  param -= m / (1 - beta1^t) * lr

    Shapes: every array has the parameter's shape; `grad` is only read.
    """
    param, grad, exp_avg, exp_avg_sq = _atleast_1d(param, grad, exp_avg, exp_avg_sq)
    g = grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    tmp = g * g
    tmp *= 1 - beta2
    exp_avg_sq += tmp
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    upd = exp_avg / bias_correction1
    upd *= lr
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
    if rho_t > 5.0:
        rect = (
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5
        np.sqrt(exp_avg_sq, out=tmp)
        tmp += eps
        # the adaptive lr, sqrt(1 - beta2^t) / tmp, formed as torch's scalar / tensor is:
        # a reciprocal, then a product (one rounding more than a division in float32)
        np.reciprocal(tmp, out=tmp)
        tmp *= bias_correction2**0.5
        upd *= tmp
        upd *= rect
    param -= upd


class RAdam(Optimizer):
    """`RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
    differentiable=False)`: torch.optim.RAdam (see `radam_update`).

    State per parameter: `step` (a float32 scalar Tensor), `exp_avg`, `exp_avg_sq`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_args(lr, eps, betas, weight_decay)
        _check_modes("RAdam", foreach=foreach, differentiable=differentiable, capturable=capturable)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay, "differentiable": differentiable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = _scalar(group["lr"]), _scalar(group["eps"]), _scalar(group["weight_decay"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        maximize, decoupled = bool(group["maximize"]), bool(group["decoupled_weight_decay"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["exp_avg"] = _state_tensor(np.zeros_like(_array(p)))
                state["exp_avg_sq"] = _state_tensor(np.zeros_like(_array(p)))
            step_t = _array(state["step"])
            step_t += 1
            radam_update(
                _array(p), _grad_array(p, maximize), _array(state["exp_avg"]),
                _array(state["exp_avg_sq"]), float(step_t), lr=lr, beta1=beta1, beta2=beta2,
                eps=eps, weight_decay=wd, decoupled_weight_decay=decoupled,
            )  # fmt: skip
            self._bump(p)
