"""torch.autograd.functional: derivatives of a whole function, built on `autograd.grad`.

For func: inputs -> outputs (a Tensor or a tuple of Tensors each way),

- `vjp(func, x, v)`  = v^T J, one backward pass;
- `jvp(func, x, v)`  = J v, by the double-backward trick: for u a dummy cotangent,
  g(u) = J^T u is linear in u, so d(g . v)/du = J v, two backward passes;
- `jacobian(func, x)` of shape out.shape + in.shape, one backward pass per output element;
- `hessian(func, x)`  of a function with one output element: the Jacobian of its gradient;
- `vhp(func, x, v)`  = v^T H (the gradient of g . v), `hvp(func, x, v)` = H v (the
  double-backward trick on g).

Every result is detached unless `create_graph=True`, which keeps it differentiable. An output
that does not depend on an input gives zeros there, or raises with `strict=True`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import autotensor as at
from autotensor.tensor import Tensor

__all__ = ["hessian", "hvp", "jacobian", "jvp", "vhp", "vjp"]


def _with_grad(fn: Callable) -> Callable:
    """Run under grad mode: the derivatives need a graph even when called under no_grad (as
    torch's functions, which a numerical gradcheck of them calls that way)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with at.enable_grad():
            return fn(*args, **kwargs)

    return wrapper


def _as_tuple(x: Any, what: str, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    """(whether x was a tuple, x as a tuple of Tensors); torch's TypeError otherwise."""
    if isinstance(x, Tensor):
        return False, (x,)
    if not isinstance(x, tuple):
        raise TypeError(
            f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the "
            f"given {what} has type {type(x)}."
        )
    for i, t in enumerate(x):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but "
                f"the value at index {i} has type {type(t)}."
            )
    return True, x


def _outputs_of(func: Callable, inputs: tuple, fn: str) -> tuple[bool, tuple[Tensor, ...]]:
    return _as_tuple(func(*inputs), "outputs of the user-provided function", fn)


def _prepare(inputs: tuple, create_graph: bool) -> tuple[Tensor, ...]:
    """Inputs to differentiate against: fresh leaves, or, with create_graph, aliases that
    keep the graph to what made an input that requires grad (so the result stays
    differentiable with respect to it)."""
    return tuple(
        x.view_as(x) if create_graph and x.requires_grad else x.detach().requires_grad_(True)
        for x in inputs
    )


def _grads(outs: tuple, ins: tuple, grad_outs: tuple, create_graph: bool, strict: bool,
           fn: str, what: str = "Output 0") -> tuple:  # fmt: skip
    """d(outs)/d(ins) weighted by grad_outs; None where an input is not used."""
    pairs = [(o, g) for o, g in zip(outs, grad_outs) if o.requires_grad]
    if not pairs:
        res: tuple = (None,) * len(ins)
    else:
        res = at.autograd.grad(
            [o for o, _ in pairs], ins, [g for _, g in pairs], retain_graph=True,
            create_graph=create_graph, allow_unused=True,
        )  # fmt: skip
    if strict:
        for i, r in enumerate(res):
            if r is None:
                raise RuntimeError(
                    f"{what} of the user-provided function is independent of input {i}. This "
                    f"is not allowed in strict mode."
                )
    return res


def _fill(res: tuple, like: tuple, create_graph: bool) -> tuple[Tensor, ...]:
    """None -> zeros of the input's shape; results detached unless create_graph."""
    out = []
    for r, x in zip(res, like):
        if r is None:
            r = at.zeros_like(x)
        elif not create_graph:
            r = r.detach()
        out.append(r)
    return tuple(out)


def _detach(ts: tuple, create_graph: bool) -> tuple:
    return ts if create_graph else tuple(t.detach() for t in ts)


def _vectors(v: Any, like: tuple, fn: str, what: str) -> tuple[Tensor, ...]:
    """v as a tuple matching `like` in shapes; None only for one single-element tensor."""
    if v is None:
        if len(like) != 1 or like[0].numel() != 1:
            raise RuntimeError(
                f"The vector v can only be None if the {what} is a single Tensor with a "
                f"single element."
            )
        return (at.ones_like(like[0]),)
    _, vs = _as_tuple(v, "v", fn)
    if len(vs) != len(like):
        raise RuntimeError(
            f"v is a tuple of invalid length: should be {len(like)} but got {len(vs)}."
        )
    for a, b in zip(vs, like):
        if a.shape != b.shape:
            raise RuntimeError(f"v has invalid size: should be {b.shape} but got {a.shape}.")
    return vs


def _single(is_tuple: bool, ts: tuple) -> Any:
    return ts if is_tuple else ts[0]


@_with_grad
def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """(func(inputs), v^T J): J (out, in) the Jacobian; v of the outputs' shapes."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    xs = _prepare(xs, create_graph)
    out_tuple, outs = _outputs_of(func, xs, "vjp")
    vs = _vectors(v, outs, "vjp", "user-provided function returns")
    res = _fill(_grads(outs, xs, vs, create_graph, strict, "vjp"), xs, create_graph)
    return _single(out_tuple, _detach(outs, create_graph)), _single(in_tuple, res)


@_with_grad
def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """(func(inputs), J v): v of the inputs' shapes, by the double-backward trick."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    xs = _prepare(xs, create_graph)
    vs = _vectors(v, xs, "jvp", "input to the user-provided function")
    out_tuple, outs = _outputs_of(func, xs, "jvp")
    us = tuple(at.zeros_like(o).requires_grad_(True) for o in outs)  # dummy cotangents
    g = _grads(outs, xs, us, True, strict, "jvp")
    pairs = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None and gi.requires_grad]
    if pairs:
        jv = at.autograd.grad(
            [p for p, _ in pairs], us, [q for _, q in pairs], retain_graph=True,
            create_graph=create_graph, allow_unused=True,
        )  # fmt: skip
    else:
        jv = (None,) * len(us)
    res = _fill(jv, outs, create_graph)
    return _single(out_tuple, _detach(outs, create_graph)), _single(out_tuple, res)


@_with_grad
def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:  # fmt: skip
    """d func / d inputs: for output o and input x, a tensor of shape o.shape + x.shape. One
    Tensor for one of each; a tuple over the inputs, or over the outputs, or a tuple (over
    outputs) of tuples (over inputs) otherwise. `vectorize` changes nothing here; only
    reverse mode is built."""
    if strategy not in ("reverse-mode", "forward-mode"):
        raise AssertionError(  # torch's class for this mistake
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more '
            'performant. Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode":
        raise NotImplementedError(
            "jacobian: strategy='forward-mode' is not available; use the default 'reverse-mode'"
        )
    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    xs = _prepare(xs, create_graph)
    out_tuple, outs = _outputs_of(func, xs, "jacobian")
    rows = []
    for k, o in enumerate(outs):
        flat = o.reshape(-1)
        per_input: list[list[Tensor]] = [[] for _ in xs]
        for j in range(flat.shape[0]):
            r = _grads((flat[j],), xs, (at.ones_like(flat[j]),), create_graph, strict,
                       "jacobian", f"Output {k}")  # fmt: skip
            for i, g in enumerate(_fill(r, xs, create_graph)):
                per_input[i].append(g)
        row = tuple(
            (at.stack(gs) if gs else at.zeros((0,) + tuple(x.shape), dtype=x.dtype)).reshape(
                tuple(o.shape) + tuple(x.shape)
            )
            for gs, x in zip(per_input, xs)
        )
        rows.append(row if in_tuple else row[0])
    return _single(out_tuple, tuple(rows))


def _scalar_output(func: Callable, xs: tuple, fn: str) -> Tensor:
    out_tuple, outs = _outputs_of(func, xs, fn)
    if out_tuple and len(outs) != 1:
        raise RuntimeError(
            f"The function given to {fn} should return a single Tensor"
        )  # fmt: skip
    if outs[0].numel() != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn} should contain "
                           f"a single element")  # fmt: skip
    return outs[0]


@_with_grad
def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False,
            outer_jacobian_strategy: str = "reverse-mode") -> Any:  # fmt: skip
    """d^2 func / d inputs^2 of a function with one output element: for inputs x_i, x_j a
    tensor of shape x_i.shape + x_j.shape (a tuple of tuples for a tuple of inputs)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")

    def gradient(*ys: Tensor) -> tuple[Tensor, ...]:
        out = _scalar_output(func, ys, "hessian")
        return _fill(_grads((out,), ys, (at.ones_like(out),), True, strict, "hessian"), ys,
                     True)  # fmt: skip

    h = jacobian(gradient, xs, create_graph, strict, vectorize, outer_jacobian_strategy)
    return h if in_tuple else h[0][0]


@_with_grad
def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Any]:  # fmt: skip
    """(func(inputs), v^T H): the gradient of g . v, g the gradient of func."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vhp")
    xs = _prepare(xs, create_graph)
    vs = _vectors(v, xs, "vhp", "input to the user-provided function")
    out = _scalar_output(func, xs, "vhp")
    g = _fill(_grads((out,), xs, (at.ones_like(out),), True, strict, "vhp"), xs, True)
    res = _fill(_grads(g, xs, vs, create_graph, strict, "vhp", "The jacobian"), xs,
                create_graph)  # fmt: skip
    return _detach((out,), create_graph)[0], _single(in_tuple, res)


@_with_grad
def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple[Tensor, Any]:  # fmt: skip
    """(func(inputs), H v), by the double-backward trick: for w a dummy cotangent of the
    gradient g, d(g)/dx^T w = H^T w is linear in w, so d((H^T w) . v)/dw = H v."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hvp")
    xs = _prepare(xs, create_graph)
    vs = _vectors(v, xs, "hvp", "input to the user-provided function")
    out = _scalar_output(func, xs, "hvp")
    g = _fill(_grads((out,), xs, (at.ones_like(out),), True, strict, "hvp"), xs, True)
    ws = tuple(at.zeros_like(x).requires_grad_(True) for x in xs)
    hw = _grads(g, xs, ws, True, strict, "hvp", "The jacobian")
    pairs = [(a, w) for a, w in zip(hw, vs) if a is not None and a.requires_grad]
    hv: tuple = (None,) * len(xs)
    if pairs:
        hv = at.autograd.grad([a for a, _ in pairs], ws, [w for _, w in pairs],
                              retain_graph=True, create_graph=create_graph,
                              allow_unused=True)  # fmt: skip
    return _detach((out,), create_graph)[0], _single(in_tuple, _fill(hv, xs, create_graph))
