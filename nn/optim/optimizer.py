"""`Optimizer`: the base class of every optimizer, with torch's param groups and state dicts.

An optimizer holds

    param_groups  list of dicts: {"params": [Tensor, ...], "lr": ..., <other options>}
    state         Tensor -> dict of per-parameter buffers (Tensors), created on first use
    defaults      the options given to the constructor, filled into every group

`step()` loops over the groups and calls one pure update function per parameter (for
example `sgd_update`), which works on the parameter's ndarray in place. Keeping the rule in
a plain function over arrays makes it testable on its own and keeps the loop free of
autograd: nothing an optimizer does is recorded in a graph.

Note [Optimizer dtypes]: every hyperparameter enters the update as a Python float, which
numpy treats as "weak" (it takes the array's dtype), and every buffer is created with the
parameter's dtype, so a float32 model stays float32 end to end. A float64 numpy scalar in
an expression would silently promote the whole update to float64.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

import autotensor as at
from autotensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks an option that has no default (torch's `required`)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


class Optimizer:
    """Base class: `Optimizer(params, defaults)`.

    Args:
        params: an iterable of Tensors, of `(name, Tensor)` pairs, or of dicts that each
            define a parameter group (`{"params": [...], "lr": 0.1}`); options missing from
            a group are taken from `defaults`.
        defaults: the default value of every option.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__module__}.{type(params).__name__}"
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    # -- groups ------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (defaults fill the rest)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):  # named parameters: (name, tensor)
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError(
                    "all optimizer param groups should be with/without names. cannot add param "
                    f"group {which} to the optimizer"
                )
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients ---------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's `.grad`: to None (default) or to zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if g.grad_fn is not None:
                    g = g.detach()
                    p.grad = g
                if _array(g).flags.writeable:
                    g.zero_()
                else:  # a gradient may be a read-only broadcast view: give it fresh zeros
                    g.data = at.zeros_like(p)

    # -- stepping ----------------------------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient.

        `closure`, when given, re-evaluates the model and returns the loss (it runs with
        grad enabled); its result is returned.
        """
        loss = None
        if closure is not None:
            with at.enable_grad():
                loss = closure()
        with at.no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    def _update_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    @staticmethod
    def _bump(p: Tensor) -> None:
        """Record an in-place change of p (as torch's version counter does), so a graph that
        saved its old value refuses to backward."""
        at.autograd.graph.increment_version(p)

    # -- state dicts -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """`{"state": {index: {...}}, "param_groups": [{..., "params": [index, ...]}]}`.

        Parameters are replaced by their position across all groups (torch's layout), so the
        dict can be saved and loaded into an optimizer built the same way. As in torch, the
        state Tensors are the live buffers, not copies.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a dict made by `state_dict()` (here or, converted to numpy, by torch).

        Buffers are copied and cast to their parameter's dtype (the step count keeps its own).
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(
                "load_state_dict: expected a dict with keys 'state' and 'param_groups' (as made "
                "by Optimizer.state_dict())"
            )
        groups = self.param_groups
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        for i, (g, s) in enumerate(zip(groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    "loaded state dict contains a parameter group that doesn't match the size "
                    f"of optimizer's group (group {i}: {len(s['params'])} saved, "
                    f"{len(g['params'])} here)"
                )
        id_map = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in groups),
            )
        )
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = {key: _cast_state(param, key, val) for key, val in v.items()}
            else:
                state[k] = v
        for g, s in zip(groups, saved_groups):
            s["params"] = g["params"]
            if "param_names" in g and "param_names" not in s:
                s["param_names"] = g["param_names"]
        self.state = state
        self.param_groups = saved_groups

    # -- display -----------------------------------------------------------------------------
    def __repr__(self) -> str:
        lines = [self.__class__.__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _cast_state(param: Tensor, key: str, value: Any) -> Any:
    """A private, writeable copy of one loaded state entry, in the parameter's dtype."""
    if isinstance(value, (Tensor, np.ndarray)):
        arr = np.asarray(_array(value) if isinstance(value, Tensor) else value)
        if key != "step" and param.is_floating_point() and arr.dtype.kind in "fc":
            arr = arr.astype(param.dtype, order="C", copy=True)
        else:
            arr = arr.copy(order="C")
        return at.from_numpy(arr)
    if isinstance(value, dict):
        return {k: _cast_state(param, k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # LBFGS keeps lists of history vectors
        return type(value)(_cast_state(param, key, v) for v in value)
    return copy.deepcopy(value)


def _state_tensor(arr: np.ndarray) -> Tensor:
    """Wrap a buffer array as the Tensor kept in `optimizer.state`."""
    return at.from_numpy(arr)


def _atleast_1d(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays, with 0-d ones as 1-element views (0-d temporaries would be numpy scalars,
    which cannot be updated in place)."""
    return tuple(a.reshape(1) if a.ndim == 0 else a for a in arrays)


def _array(t: Tensor) -> np.ndarray:
    """The array a parameter or a state tensor holds, its own memory (`numpy(force=True)`):
    the update rules write into it in place, as torch's in-place updates under no_grad do."""
    return t.numpy(force=True)


def _grad_array(p: Tensor, maximize: bool) -> np.ndarray:
    """The gradient of p as an array (negated for maximize); never written to: the engine
    may hand several leaves the same array."""
    assert p.grad is not None
    g = _array(p.grad)
    return np.negative(g) if maximize else g


def _check_modes(
    optimizer: str,
    *,
    foreach: bool | None = None,
    fused: bool | None = None,
    differentiable: bool = False,
    capturable: bool = False,
) -> None:
    """Refuse torch's execution modes that have no meaning here.

    `foreach` (multi-tensor kernels) and `fused` (one kernel per step) are speed paths of
    torch's; `differentiable` (a step recorded by autograd) and `capturable` (CUDA graphs)
    change what a step is. Their default values (None/False) run the one update rule there
    is; asking for any of them raises, naming the optimizer and the keyword.
    """
    modes = (("foreach", foreach), ("fused", fused), ("differentiable", differentiable),
             ("capturable", capturable))  # fmt: skip
    for keyword, value in modes:
        if value:
            raise NotImplementedError(
                f"{optimizer}: {keyword}=True is not supported (autotensor has one CPU update "
                f"rule per optimizer); leave {keyword} at its default"
            )


def _check_float(name: str, value: Any) -> None:
    if isinstance(value, Tensor) and value.numel() != 1:
        raise ValueError(f"Tensor {name} must be 1-element")


def _check_adam_args(lr: Any, eps: float, betas: tuple, weight_decay: float) -> None:
    """The hyperparameter checks the Adam family shares, with torch's messages."""
    _check_float("lr", lr)
    if not 0.0 <= lr:
        raise ValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise ValueError(f"Invalid epsilon value: {eps}")
    if not 0.0 <= betas[0] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
    if not 0.0 <= betas[1] < 1.0:
        raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise ValueError(f"Invalid weight_decay value: {weight_decay}")


def _scalar(v: Any) -> Any:
    """A hyperparameter as a Python float (weak for numpy, see Note [Optimizer dtypes]).

    A float32 Tensor (torch allows `lr=torch.tensor(0.01)`) stays a float32 numpy scalar:
    torch computes with it as a 0-d float32 tensor, so `lr / bias_correction` and the like
    are rounded to float32 before they meet the parameters, and numpy does the same with a
    float32 scalar. Any other Tensor becomes a Python float (what a float64 0-d tensor is).
    """
    if isinstance(v, Tensor):
        arr = _array(v).reshape(())
        return arr[()] if arr.dtype == np.float32 else float(arr)
    return float(v)
