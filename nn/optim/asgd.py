"""ASGD: averaged stochastic gradient descent (torch's rule, with its `ax`/`eta`/`mu` state)."""

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

__all__ = ["ASGD", "asgd_update"]


def asgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    ax: np.ndarray,
    eta: np.ndarray,
    mu: np.ndarray,
    step: float,
    *,
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
) -> None:
    """One ASGD step on `param` in place (`step` counts from 1).

        g = grad + weight_decay * param
        param = param (1 - lambd eta) - eta g
        ax = param                    when mu == 1,   ax += mu (param - ax)   otherwise
        eta = lr / (1 + lambd lr t)^alpha;   mu = 1 / max(1, t - t0)

    `eta` and `mu` are 0-d float32 state arrays (torch keeps them as float32 scalars, so the
    step uses the float32-rounded eta); they are overwritten in place. Shapes: param, grad
    and ax have the parameter's shape; `grad` is only read.
    """
    param, grad, ax = _atleast_1d(param, grad, ax)
    g = grad
    if weight_decay != 0:
        g = g + weight_decay * param
    eta_value = float(eta)
    param *= 1 - lambd * eta_value
    param -= eta_value * g
    if float(mu) != 1:
        diff = param - ax
        diff *= float(mu)
        ax += diff
    else:
        ax[...] = param
    # torch forms the new values as float32 tensors (torch.as_tensor of a Python float)
    # before copying them in, so they are float32-rounded even in a float64 state
    eta[...] = np.float32(lr / (1 + lambd * lr * step) ** alpha)
    mu[...] = np.float32(1 / max(1, step - t0))


class ASGD(Optimizer):
    """`ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
    maximize=False, differentiable=False, capturable=False)`: torch.optim.ASGD
    (see `asgd_update`).

    State per parameter: `step`, `eta`, `mu` (float32 scalar Tensors) and `ax`, the running
    average of the parameter (averaging starts after `t0` steps).
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        _check_float("lr", lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _check_modes("ASGD", foreach=foreach, differentiable=differentiable, capturable=capturable)
        defaults = {
            "lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0, "weight_decay": weight_decay,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
            "capturable": capturable,
        }  # fmt: skip
        super().__init__(params, defaults)

    def _update_group(self, group: dict[str, Any]) -> None:
        lr, lambd, alpha = _scalar(group["lr"]), _scalar(group["lambd"]), _scalar(group["alpha"])
        t0, wd = _scalar(group["t0"]), _scalar(group["weight_decay"])
        maximize = bool(group["maximize"])
        for p in group["params"]:
            if p.grad is None:
                continue
            state = self.state[p]
            if len(state) == 0:
                state["step"] = at.tensor(0.0, dtype=at.float32)
                state["eta"] = at.tensor(lr, dtype=at.float32)
                state["mu"] = at.tensor(1.0, dtype=at.float32)
                state["ax"] = _state_tensor(np.zeros_like(_array(p)))
            step_t = _array(state["step"])
            step_t += 1
            asgd_update(
                _array(p), _grad_array(p, maximize), _array(state["ax"]), _array(state["eta"]),
                _array(state["mu"]), float(step_t), lr=lr, lambd=lambd, alpha=alpha, t0=t0,
                weight_decay=wd,
            )  # fmt: skip
            self._bump(p)
