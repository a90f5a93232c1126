"""Adam and AdamW (torch's update rules, including amsgrad and maximize)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from nn.optim.optimizer import (
    Optimizer,
    _array,
    _check_adam_args,
    _check_modes,
    _grad_array,
    _scalar,
    _state_tensor,
)

__all__ = ["Adam", "AdamW", "adam_update"]


def lerp_(a: np.ndarray, end: np.ndarray, weight: float) -> None:
    """a <- a + weight * (end - a), in place, written as torch's lerp is (from whichever end is
    nearer, so weight = 1 lands exactly on `end`)."""
    diff = end - a
    if abs(weight) < 0.5:
        diff *= weight
        a += diff
    else:
        diff *= 1 - weight
        np.subtract(end, diff, out=a)


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    max_exp_avg_sq: np.ndarray | None,
    step: float,
    *,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
) -> None:
    """One Adam step on `param` in place (`step` counts from 1).

        param *= 1 - lr * weight_decay           (decoupled, AdamW)   or
        g = grad + weight_decay * param          (coupled, Adam)
        m = lerp(m, g, 1 - beta1)                    ( = beta1 m + (1 - beta1) g )
        v = beta2 v + (1 - beta2) g^2
        vmax = max(vmax, v)                          (amsgrad; then used in place of v)
        param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Shapes: every array has the parameter's shape. `grad` is only read.
    """
    if param.ndim == 0:  # 0-d temporaries would be numpy scalars: work on 1-element views
        param, grad, exp_avg, exp_avg_sq = (a.reshape(1) for a in (param, grad, exp_avg,
                                                                    exp_avg_sq))  # fmt: skip
        if max_exp_avg_sq is not None:
            max_exp_avg_sq = max_exp_avg_sq.reshape(1)
    g = grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    sq = g * (1 - beta2)
    sq *= g
    exp_avg_sq += sq
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second = max_exp_avg_sq
    else:
        second = exp_avg_sq
    denom = np.sqrt(second, out=sq)  # reuse the temporary
    denom /= bias_correction2_sqrt
    denom += eps
    upd = exp_avg * -step_size
    upd /= denom
    param += upd


class Adam(Optimizer):
    """`Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)`: torch.optim.Adam (see `adam_update`).

    State per parameter: `step` (a float32 scalar Tensor), `exp_avg`, `exp_avg_sq`, and
    `max_exp_avg_sq` with amsgrad.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_args(lr, eps, betas, weight_decay)
        _check_modes(
            type(self).__name__, foreach=foreach, fused=fused, differentiable=differentiable,
            capturable=capturable,
        )  # fmt: skip
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable, "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, eps, wd = _scalar(group["lr"]), _scalar(group["eps"]), _scalar(group["weight_decay"])
        beta1, beta2 = (_scalar(b) for b in group["betas"])
        amsgrad, maximize = bool(group["amsgrad"]), bool(group["maximize"])
        decoupled = bool(group.get("decoupled_weight_decay", False))
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["exp_avg"] = _state_tensor(np.zeros_like(_array(p)))
                state["exp_avg_sq"] = _state_tensor(np.zeros_like(_array(p)))
                if amsgrad:
                    state["max_exp_avg_sq"] = _state_tensor(np.zeros_like(_array(p)))
            step_t = _array(state["step"])
            step_t += 1
            adam_update(
                _array(p), _grad_array(p, maximize), _array(state["exp_avg"]),
                _array(state["exp_avg_sq"]),
                _array(state["max_exp_avg_sq"]) if amsgrad else None, float(step_t),
                lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=wd,
                decoupled_weight_decay=decoupled,
            )  # fmt: skip
            self._bump(p)


class AdamW(Adam):
    """`AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
    amsgrad=False, *, maximize=False)`: Adam with decoupled weight decay
    (`param *= 1 - lr * weight_decay` before the Adam step), as torch.optim.AdamW.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            foreach=foreach, maximize=maximize, capturable=capturable,
            differentiable=differentiable, fused=fused, decoupled_weight_decay=True,
        )  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:  # AdamW always decouples (as torch enforces)
            group["decoupled_weight_decay"] = True
