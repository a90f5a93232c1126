"""Finite-difference checks of gradients, and `check_function` for a whole primitive.

gradcheck compares the Jacobian autograd computes with central differences
(f(x + eps) - f(x - eps)) / 2 eps, element by element, in float64. Above `max_full`
elements it compares random directional derivatives instead (u^T J v), which still catch
any wrong rule with probability ~1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from autotensor.engine import grad as _grad
from autotensor.grad_mode import enable_grad, no_grad
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample

if TYPE_CHECKING:  # annotations only: ops/ imports autotensor.testing while it loads
    from autotensor.function import Function


class GradcheckError(AssertionError):
    """A gradient that disagrees with finite differences (names the worst element)."""


def _tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _float_outputs(out: Any) -> list[Tensor]:
    return [o for o in _tuple(out) if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _evaluate(fn: Callable, inputs: tuple) -> list[np.ndarray]:
    with no_grad():
        return [o._data.astype(np.float64).copy() for o in _float_outputs(fn(*inputs))]


def _numerical_jacobians(fn: Callable, inputs: tuple, diff: list[int], eps: float) -> list:
    """J[out][inp] with shape (out.size, inp.size), by central differences."""
    outs0 = _evaluate(fn, inputs)
    jac = [[np.zeros((o.size, inputs[i]._data.size)) for i in diff] for o in outs0]
    for k, i in enumerate(diff):
        data = inputs[i]._data
        for col, idx in enumerate(np.ndindex(data.shape)):
            orig = data[idx]
            data[idx] = orig + eps
            plus = _evaluate(fn, inputs)
            data[idx] = orig - eps
            minus = _evaluate(fn, inputs)
            data[idx] = orig
            for o, (p, m) in enumerate(zip(plus, minus)):
                jac[o][k][:, col] = ((p - m) / (2 * eps)).reshape(-1)
    return jac


def _analytical_jacobians(fn: Callable, inputs: tuple, diff: list[int]) -> list:
    with enable_grad():
        outs = _float_outputs(fn(*inputs))
    xs = [inputs[i] for i in diff]
    jac = [[np.zeros((o._data.size, x._data.size)) for x in xs] for o in outs]
    for o, out in enumerate(outs):
        if not out.requires_grad:
            continue
        for row in range(out._data.size):
            g = np.zeros(out.shape, dtype=out.dtype)
            g.reshape(-1)[row] = 1
            grads = _grad(out, xs, _new(g), retain_graph=True, allow_unused=True)
            for k, gk in enumerate(grads):
                if gk is not None:
                    jac[o][k][row, :] = gk._data.reshape(-1)
    return jac


def _compare(name: str, ana: list, num: list, diff: list[int], atol: float, rtol: float) -> None:
    if len(ana) != len(num):
        raise GradcheckError(
            f"{name}: {len(ana)} differentiable outputs with grad mode on but {len(num)} "
            f"under no_grad"
        )
    for o, (ao, no) in enumerate(zip(ana, num)):
        for k, (a, n) in enumerate(zip(ao, no)):
            if a.size == 0:
                continue
            err = np.abs(a - n) - (atol + rtol * np.abs(n))
            if np.isnan(a).any() or np.isnan(n).any() or (err > 0).any():
                err = np.where(np.isnan(a) | np.isnan(n), np.inf, err)
                r, c = np.unravel_index(np.argmax(err), err.shape)
                raise GradcheckError(
                    f"{name}: Jacobian mismatch for output {o} with respect to input "
                    f"{diff[k]}: worst at (output element {r}, input element {c}): "
                    f"analytical {a[r, c]!r} vs numerical {n[r, c]!r} "
                    f"(atol={atol}, rtol={rtol})"
                )


def _directional(fn: Callable, inputs: tuple, diff: list[int], eps: float, atol: float,
                 rtol: float, name: str, rng: np.random.Generator) -> None:  # fmt: skip
    """u^T J v against (u . (f(x + eps v) - f(x - eps v))) / 2 eps, for random u, v."""
    with enable_grad():
        outs = _float_outputs(fn(*inputs))
    vs = [rng.standard_normal(inputs[i].shape) for i in diff]
    us = [rng.standard_normal(o.shape) for o in outs]
    ana = 0.0
    for o, u in zip(outs, us):
        if o.requires_grad:
            gs = _grad(o, [inputs[i] for i in diff], _new(u), retain_graph=True, allow_unused=True)
            ana += sum(float((g._data * v).sum()) for g, v in zip(gs, vs) if g is not None)
    orig = [inputs[i]._data.copy() for i in diff]
    for i, v, x0 in zip(diff, vs, orig):
        inputs[i]._data[...] = x0 + eps * v
    plus = _evaluate(fn, inputs)
    for i, v, x0 in zip(diff, vs, orig):
        inputs[i]._data[...] = x0 - eps * v
    minus = _evaluate(fn, inputs)
    for i, x0 in zip(diff, orig):
        inputs[i]._data[...] = x0
    num = sum(float((u * (p - m)).sum()) / (2 * eps) for u, p, m in zip(us, plus, minus))
    if not abs(ana - num) <= atol + rtol * abs(num):
        raise GradcheckError(
            f"{name}: directional derivative mismatch: analytical {ana!r} vs numerical {num!r}"
        )


def gradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    max_full: int = 2000,
    name: str | None = None,
) -> bool:
    """Check the gradients of fn at inputs against finite differences.

    Args:
        fn: takes the inputs, returns a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple; the floating Tensors that require grad are checked.
            Use float64: float32 finite differences are too coarse.
    Returns:
        True; raises GradcheckError naming the worst element otherwise (or returns False
        with raise_exception=False).
    """
    inputs = _tuple(inputs)
    name = name or str(getattr(fn, "__name__", "function"))
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    try:
        if sum(inputs[i]._data.size for i in diff) > max_full:
            rng = np.random.default_rng(0)
            for _ in range(3):
                _directional(fn, inputs, diff, eps, atol, rtol, name, rng)
        else:
            num = _numerical_jacobians(fn, inputs, diff, eps)
            ana = _analytical_jacobians(fn, inputs, diff)
            _compare(name, ana, num, diff, atol, rtol)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradgradcheck(
    fn: Callable[..., Any],
    inputs: Any,
    grad_outputs: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
    name: str | None = None,
) -> bool:
    """Check second derivatives: gradcheck of (inputs, v) -> v^T J(inputs), the first-order
    gradient computed with create_graph=True, against finite differences."""
    inputs = _tuple(inputs)
    name = name or str(getattr(fn, "__name__", "function"))
    diff = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    with enable_grad():
        outs = _float_outputs(fn(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = [_new(rng.standard_normal(o.shape).astype(o.dtype), True) for o in outs]
    vs = list(_tuple(grad_outputs))
    n = len(inputs)

    def first_order(*args: Any) -> tuple:
        # gradcheck evaluates this under no_grad for its finite differences; the first-order
        # gradient itself needs the graph, so it is always recorded here.
        xs, gs = args[:n], args[n:]
        with enable_grad():
            outs = _float_outputs(fn(*xs))
            pairs = [(o, g) for o, g in zip(outs, gs) if o.requires_grad]
            if not pairs:
                return ()
            res = _grad(
                [o for o, _ in pairs],
                [xs[i] for i in diff],
                [g for _, g in pairs],
                create_graph=True,
                allow_unused=True,
            )
        return tuple(r for r in res if r is not None)

    return gradcheck(first_order, tuple(inputs) + tuple(vs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, name=f"{name} (second order)")  # fmt: skip


def _build(sample: Sample, dtype: Any, requires_grad: bool = True) -> tuple[tuple, dict]:
    """Sample -> (args, kwargs): float arrays become Tensors of dtype that require grad."""
    args = []
    for i, a in enumerate(sample.args):
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            t = _new(a.astype(dtype, copy=True))  # order 'K': a transposed sample stays so
            t.requires_grad = requires_grad and i not in sample.nondiff
            args.append(t)
        else:
            args.append(a)
    return tuple(args), dict(sample.kwargs)


def check_function(
    cls: type[Function],
    rng: np.random.Generator | None = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    second_order: bool | None = None,
) -> int:
    """Check a Function subclass from its own `sample_inputs`: for every sample,

    1. forward sanity: float32 inputs give float32 outputs close to the float64 ones, and
       outputs require grad exactly when an input does;
    2. gradcheck (first order, float64) through `cls.apply`, broadcasting included;
    3. gradgradcheck (second order), unless `differentiable_backward` is False;
    4. float32 gradients stay float32.

    Returns the number of samples checked; raises AssertionError naming op and sample.
    """
    rng = rng or np.random.default_rng(0)
    if second_order is None:
        second_order = cls.differentiable_backward
    samples = list(cls.sample_inputs(rng))
    if not samples:
        raise AssertionError(f"{cls.__name__}.sample_inputs yielded no samples")
    op = cls.__name__

    for k, s in enumerate(samples):
        where = f"{op} sample {k} {s!r}"
        try:
            _check_sample(cls, s, where, eps, atol, rtol, second_order and s.gradgrad)
        except AssertionError:
            raise
        except Exception as e:  # an error inside the op or the engine: name the sample
            raise AssertionError(f"{where}: {type(e).__name__}: {e}") from e
    return len(samples)


def _check_sample(cls: type[Function], s: Sample, where: str, eps: float, atol: float, rtol: float,
                  second_order: bool) -> None:  # fmt: skip
    kwargs = dict(s.kwargs)

    def fn(*args: Any) -> Any:
        return cls.apply(*args, **kwargs)

    args64, _ = _build(s, np.float64)
    args32, _ = _build(s, np.float32)
    out64 = _float_outputs(fn(*args64))
    out32 = _float_outputs(fn(*args32))
    any_grad = any(isinstance(a, Tensor) and a.requires_grad for a in args64)
    if len(out64) != len(out32):
        raise AssertionError(f"{where}: float32 and float64 inputs give different outputs")
    for o64, o32 in zip(out64, out32):
        if o32.dtype != np.float32 and getattr(cls, "preserves_dtype", True):
            raise AssertionError(f"{where}: float32 inputs gave a {o32.dtype} output")
        if o32.shape != o64.shape:
            raise AssertionError(f"{where}: output shapes {o32.shape} (float32) and {o64.shape}")
        if any_grad and not o64.requires_grad:
            raise AssertionError(f"{where}: output does not require grad")
        if not np.allclose(o32._data, o64._data, rtol=1e-4, atol=1e-5, equal_nan=True):
            raise AssertionError(f"{where}: float32 and float64 forwards disagree")
    if not any_grad:
        return
    diff32 = [a for a in args32 if isinstance(a, Tensor) and a.requires_grad]
    outs = [o for o in out32 if o.requires_grad]
    if outs:
        gs = _grad(outs, diff32, [_new(np.ones(o.shape, np.float32)) for o in outs],
                   allow_unused=True)  # fmt: skip
        for g in gs:
            if g is not None and g.dtype != np.float32:
                raise AssertionError(f"{where}: float32 gradient came back {g.dtype}")
    gradcheck(fn, args64, eps=eps, atol=atol, rtol=rtol, name=where)
    if second_order:
        gradgradcheck(fn, args64, eps=eps, atol=atol, rtol=rtol, name=where)


def assert_close(actual: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8,
                 msg: str = "") -> None:  # fmt: skip
    """Compare tensors/arrays; the message names the worst element."""
    a = np.asarray(actual._data if isinstance(actual, Tensor) else actual, dtype=np.float64)
    e = np.asarray(expected._data if isinstance(expected, Tensor) else expected, np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{msg} shape mismatch: {a.shape} vs {e.shape}")
    bad = ~np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if bad.any():
        err = np.where(bad, np.abs(a - e), 0)
        i = np.unravel_index(np.argmax(err), err.shape)
        raise AssertionError(
            f"{msg} {int(bad.sum())} of {a.size} elements differ; worst at {i}: {a[i]!r} vs "
            f"{e[i]!r} (rtol={rtol}, atol={atol})"
        )
