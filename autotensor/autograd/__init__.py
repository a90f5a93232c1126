"""torch.autograd's names: `at.autograd.grad`, `backward`, `Function`, `detect_anomaly`,
`gradcheck`, `gradgradcheck`; `graph.increment_version`; `functional.jacobian`, `hessian`,
`vjp`, `jvp`, `hvp`, `vhp`."""

from __future__ import annotations

from autotensor.anomaly import detect_anomaly
from autotensor.autograd import functional, graph
from autotensor.engine import backward, grad
from autotensor.function import Function
from autotensor.grad_mode import enable_grad, no_grad, set_grad_enabled
from autotensor.testing.gradcheck import gradcheck, gradgradcheck

__all__ = [
    "Function", "backward", "detect_anomaly", "enable_grad", "grad", "gradcheck",
    "functional", "gradgradcheck", "graph", "no_grad", "set_grad_enabled",
]  # fmt: skip
