"""NAdam: Adam with Nesterov momentum and a momentum-decay schedule (torch's rule)."""

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

__all__ = ["NAdam", "nadam_update"]


def nadam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    mu_product: np.ndarray,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    momentum_decay: float,
    decoupled_weight_decay: bool,
) -> None:
    """One NAdam step on `param` in place (`step` counts from 1).

        param *= 1 - lr * weight_decay      (decoupled)  or  g = grad + weight_decay * param
        mu_t = beta1 (1 - 0.5 * 0.96^(t psi)),  mu_{t+1} likewise     (psi: momentum_decay)
        P_t = P_{t-1} mu_t                                   (mu_product, a float32 scalar)
        m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g^2
        d = sqrt(v / (1 - beta2^t)) + eps
        param -= lr (1 - mu_t) / (1 - P_t) * g / d + lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / d

    `mu_product` is the 0-d state array, updated in place in its own dtype (float32 when
    created, as torch keeps it). Shapes: every other array has the parameter's shape;
    `grad` is only read.
    """
    param, grad, exp_avg, exp_avg_sq = _atleast_1d(param, grad, exp_avg, exp_avg_sq)
    g = grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    bias_correction2 = 1 - beta2**step
    mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))
    mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * momentum_decay))
    # in the state's own dtype: float32 as created (torch's scalar state), the parameters'
    # dtype after a load_state_dict (torch casts loaded state to it)
    mu_product *= mu_product.dtype.type(mu)
    prod = float(mu_product)
    prod_next = prod * mu_next
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    tmp = g * g
    tmp *= 1 - beta2
    exp_avg_sq += tmp
    denom = exp_avg_sq / bias_correction2
    np.sqrt(denom, out=denom)
    denom += eps
    np.divide(g, denom, out=tmp)
    tmp *= -lr * (1.0 - mu) / (1.0 - prod)
    param += tmp
    np.divide(exp_avg, denom, out=tmp)
    tmp *= -lr * mu_next / (1.0 - prod_next)
    param += tmp


class NAdam(Optimizer):
    """`NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
    capturable=False, differentiable=False)`: torch.optim.NAdam (see `nadam_update`).

    State per parameter: `step` and `mu_product` (float32 scalar Tensors), `exp_avg`,
    `exp_avg_sq`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_adam_args(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        _check_modes("NAdam", foreach=foreach, differentiable=differentiable, capturable=capturable)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "differentiable": differentiable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = _scalar(group["lr"]), _scalar(group["eps"]), _scalar(group["weight_decay"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        psi, maximize = _scalar(group["momentum_decay"]), bool(group["maximize"])
        decoupled = bool(group["decoupled_weight_decay"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["mu_product"] = at.tensor(1.0, dtype=at.float32)
                state["exp_avg"] = _state_tensor(np.zeros_like(_array(p)))
                state["exp_avg_sq"] = _state_tensor(np.zeros_like(_array(p)))
            step_t = _array(state["step"])
            step_t += 1
            nadam_update(
                _array(p), _grad_array(p, maximize), _array(state["exp_avg"]),
                _array(state["exp_avg_sq"]), _array(state["mu_product"]), float(step_t),
                lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd,
                momentum_decay=psi, decoupled_weight_decay=decoupled,
            )  # fmt: skip
            self._bump(p)
