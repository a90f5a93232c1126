"""Adagrad (torch's update rule, with learning-rate decay and weight decay)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

import autotensor as at
from nn.optim.optimizer import (
    Optimizer,
    _array,
    _check_float,
    _check_modes,
    _grad_array,
    _scalar,
    _state_tensor,
)

__all__ = ["Adagrad", "adagrad_update"]


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    step: float,
    *,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
) -> None:
    """One Adagrad step on `param` in place (`step` counts from 1).

        g = grad + weight_decay * param
        clr = lr / (1 + (step - 1) * lr_decay)
        s = s + g^2
        param -= clr * g / (sqrt(s) + eps)

    Shapes: every array has the parameter's shape; `grad` is only read.
    """
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    std = np.sqrt(state_sum)
    std += eps
    upd = g * -clr
    upd /= std
    param += upd


class Adagrad(Optimizer):
    """`Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, foreach=None, *, maximize=False)`: torch.optim.Adagrad.

    State per parameter (created at construction, as torch does): `step`, `sum`.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check_modes("Adagrad", foreach=foreach, fused=fused, differentiable=differentiable)
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable, "fused": fused,
        }  # fmt: skip
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p, group)

    def _init_state(self, p: Any, group: dict[str, Any]) -> None:
        state = self.state[p]
        state["step"] = at.tensor(0.0, dtype=at.float32)
        init = _scalar(group["initial_accumulator_value"])
        state["sum"] = _state_tensor(np.full_like(_array(p), init))

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lr_decay = _scalar(group["lr"]), _scalar(group["lr_decay"])
        wd, eps, maximize = _scalar(group["weight_decay"]), _scalar(group["eps"]), group["maximize"]
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if "sum" not in state:  # a parameter added later with add_param_group
                self._init_state(p, group)
            step_t = _array(state["step"])
            step_t += 1
            adagrad_update(
                _array(p), _grad_array(p, bool(maximize)), _array(state["sum"]), float(step_t),
                lr=lr, lr_decay=lr_decay, weight_decay=wd, eps=eps,
            )  # fmt: skip
            self._bump(p)
