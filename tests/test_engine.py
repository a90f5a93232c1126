"""The backward engine: accumulation, graph freeing, higher order, hooks, grad mode,
in-place semantics, anomaly detection and user-written Functions (torch's conventions).

Expected values here are derived by hand from the chain rule (the comment says how), never
computed by the engine under test.
"""

from __future__ import annotations

import gc
import math
import tracemalloc
import weakref

import numpy as np
import pytest

import autotensor as at


def _line_of(marker: str) -> int:
    """The line number in this file of the line that contains `marker` (for traceback checks)."""
    with open(__file__) as f:
        for n, line in enumerate(f, 1):
            if marker in line and "_line_of" not in line:
                return n
    raise AssertionError(marker)


# -- the chain rule on small graphs ----------------------------------------------------------
def test_book_example_gives_35() -> None:
    # d = (4a + 3)(a + 2);  dd/da = 4(a + 2) + (4a + 3) = 20 + 15 at a = 3
    a = at.tensor(3.0, requires_grad=True)
    b = a * 4
    c = b + 3
    d = c * (a + 2)
    d.backward()
    assert d.item() == 75.0
    assert a.grad.item() == 35.0


def test_reused_non_leaf() -> None:
    # y = x + x = 4a: the book's scalar engine overwrites instead of accumulating (gives 2)
    a = at.tensor(3.0, requires_grad=True)
    x = a * 2
    y = x + x
    y.backward()
    assert a.grad.item() == 4.0


def test_square_accumulates() -> None:
    x = at.tensor([1.0, -2.0, 3.0], requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, -4.0, 6.0])


def test_diamond() -> None:
    # a -> (exp, sin) -> product: d/da [e^a sin a] = e^a (sin a + cos a)
    a = at.tensor([0.3, -1.2], dtype=at.float64, requires_grad=True)
    b, c = a.exp(), a.sin()
    (b * c).sum().backward()
    av = np.array([0.3, -1.2])
    np.testing.assert_allclose(a.grad.numpy(), np.exp(av) * (np.sin(av) + np.cos(av)), rtol=1e-12)


def test_deep_diamond_lattice() -> None:
    # Each level doubles every path: y_{k+1} = y_k * 1 + y_k; y_n = 2^n a, so dy/da = 2^n.
    a = at.tensor(1.0, dtype=at.float64, requires_grad=True)
    y = a
    for _ in range(30):
        y = y * 1.0 + y
    y.backward()
    assert a.grad.item() == 2.0**30


def test_shared_subexpression_used_by_two_outputs() -> None:
    # u = a * b; loss = u * u + u.exp(): d/da = b (2u + e^u)
    a = at.tensor(0.5, dtype=at.float64, requires_grad=True)
    b = at.tensor(-0.7, dtype=at.float64, requires_grad=True)
    u = a * b
    (u * u + u.exp()).backward()
    uv = 0.5 * -0.7
    assert a.grad.item() == pytest.approx(-0.7 * (2 * uv + math.exp(uv)), rel=1e-12)
    assert b.grad.item() == pytest.approx(0.5 * (2 * uv + math.exp(uv)), rel=1e-12)


def test_broadcast_gradient_is_summed_to_input_shape() -> None:
    x = at.ones(2, 3, requires_grad=True)
    b = at.ones(3, requires_grad=True)
    s = at.ones(1, 1, requires_grad=True)
    ((x + b) * s).sum().backward()
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])
    assert s.grad.shape == (1, 1) and s.grad.item() == 12.0  # sum of (x + b) = 6 * 2


def test_leaf_grad_accumulates_across_backward_calls() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    for k in range(1, 4):
        (x * 3).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), [3.0 * k, 3.0 * k])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_non_leaf_grad_is_none_unless_retained() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y
    w = z * 1.0
    z.retain_grad()
    assert z.retains_grad and not y.retains_grad
    w.sum().backward()
    assert y.grad is None
    assert not y.is_leaf and x.is_leaf
    np.testing.assert_array_equal(z.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])  # d(4x^2)/dx = 8x


def test_backward_on_a_leaf_root() -> None:
    x = at.tensor(2.0, requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_explicit_gradient_argument() -> None:
    x = at.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(at.tensor([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, -6.0])


def test_gradient_dtype_follows_the_leaf() -> None:
    x32 = at.tensor([1.0, 2.0], requires_grad=True)
    x64 = at.tensor([1.0, 2.0], dtype=at.float64, requires_grad=True)
    (x32 * x64).sum().backward()  # the product is float64; x32's gradient comes back float32
    assert x32.grad.dtype == at.float32 and x64.grad.dtype == at.float64
    np.testing.assert_array_equal(x32.grad.numpy(), [1.0, 2.0])


# -- deep graphs and memory ------------------------------------------------------------------
def test_100k_op_chain_backpropagates() -> None:
    # y = x * c^n: dy/dx = c^n, with no recursion anywhere in the engine
    n, c = 100_000, 1.000001
    x = at.tensor(1.0, dtype=at.float64, requires_grad=True)
    y = x
    for _ in range(n):
        y = y * c
    y.backward()
    assert x.grad.item() == pytest.approx(c**n, rel=1e-9)


def test_graph_arrays_released_after_backward() -> None:
    x = at.randn(300, 300, requires_grad=True)
    y = x.exp()  # Exp saves its output array for backward
    ref = weakref.ref(y._data)
    loss = (y * 2.0).sum()
    del y
    gc.collect()
    assert ref() is not None, "the graph must keep the saved array until backward"
    loss.backward()
    gc.collect()
    assert ref() is None, "the saved array outlived backward without retain_graph"


def test_retain_graph_keeps_arrays() -> None:
    x = at.randn(50, 50, requires_grad=True)
    y = x.exp()
    ref = weakref.ref(y._data)
    loss = y.sum()
    del y
    loss.backward(retain_graph=True)
    gc.collect()
    assert ref() is not None
    loss.backward()
    gc.collect()
    assert ref() is None


def test_memory_returns_after_backward() -> None:
    # A chain of 20 ops on a 1 MB float32 tensor saves ~20 MB; after backward, and once the
    # result is dropped, all of it is released.
    x = at.randn(512, 512, requires_grad=True)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(20):
            y = (y * 1.01).tanh()
        loss = y.sum()
        del y
        held = tracemalloc.get_traced_memory()[0] - base
        loss.backward()
        del loss
        x.grad = None
        gc.collect()
        after = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert held > 20 * 512 * 512 * 4  # the graph did hold the intermediates
    assert after < 2 * 512 * 512 * 4, f"{after} bytes still held after backward"


def test_graph_has_no_reference_cycles() -> None:
    # Note [Saved outputs]: nodes do not hold their output tensors, so dropping the result
    # frees the whole graph by reference counting, without waiting for the cycle collector.
    x = at.randn(3, requires_grad=True)
    gc.disable()
    try:
        y = ((x * 2).exp().tanh() * x + x).sum()
        refs, stack = [], [y.grad_fn]
        while stack:
            node = stack.pop()
            refs.append(weakref.ref(node))
            stack += [n for n, _ in node.next_functions if isinstance(n, at.Function)]
        del y, node, stack
        assert len(refs) == 6
        assert all(r() is None for r in refs), "part of the graph outlived its result"
    finally:
        gc.enable()


def test_backward_twice_through_freed_graph_raises() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        loss.backward()


def test_backward_twice_with_retain_graph() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 * 2x


# -- higher order ----------------------------------------------------------------------------
def test_create_graph_higher_derivatives() -> None:
    # y = x^3 + sin x: y' = 3x^2 + cos x, y'' = 6x - sin x, y''' = 6 - cos x
    x = at.tensor(0.7, dtype=at.float64, requires_grad=True)
    y = x**3 + x.sin()
    (d1,) = at.grad(y, x, create_graph=True)
    (d2,) = at.grad(d1, x, create_graph=True)
    (d3,) = at.grad(d2, x)
    assert d1.item() == pytest.approx(3 * 0.49 + math.cos(0.7), rel=1e-12)
    assert d2.item() == pytest.approx(6 * 0.7 - math.sin(0.7), rel=1e-12)
    assert d3.item() == pytest.approx(6 - math.cos(0.7), rel=1e-12)
    assert not d3.requires_grad


def test_backward_create_graph_then_backward_of_grad() -> None:
    # f = sum(x^2 y): df/dx = 2xy; then d/dy sum(df/dx) = sum(2x)
    x = at.tensor([1.0, 2.0], dtype=at.float64, requires_grad=True)
    y = at.tensor([3.0, -1.0], dtype=at.float64, requires_grad=True)
    (x * x * y).sum().backward(create_graph=True)
    gx = x.grad
    assert gx.requires_grad
    np.testing.assert_array_equal(gx.detach().numpy(), [6.0, -4.0])
    x.grad = None
    y.grad = None
    gx.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, -2.0])  # d/dx sum(2xy) = 2y


def test_grad_without_create_graph_is_detached() -> None:
    x = at.tensor(2.0, requires_grad=True)
    (g,) = at.grad(x * x, x)
    assert not g.requires_grad and g.grad_fn is None


# -- at.grad ---------------------------------------------------------------------------------
def test_grad_does_not_touch_dot_grad() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    (g,) = at.grad((x * x).sum(), [x])
    assert x.grad is None
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])


def test_grad_allow_unused() -> None:
    x = at.tensor(1.0, requires_grad=True)
    z = at.tensor(1.0, requires_grad=True)
    y = x * 3
    with pytest.raises(RuntimeError, match="input 1.*not used.*allow_unused=True"):
        at.grad(y, [x, z], retain_graph=True)
    gx, gz = at.grad(y, [x, z], allow_unused=True)
    assert gx.item() == 3.0 and gz is None


def test_grad_with_respect_to_non_leaf_and_grad_outputs() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    y = h * h
    (gh,) = at.grad(y, h, grad_outputs=at.tensor([1.0, 10.0]))
    np.testing.assert_array_equal(gh.numpy(), [6.0, 120.0])  # 2h * v


def test_grad_of_several_outputs_sums() -> None:
    x = at.tensor(2.0, requires_grad=True)
    (g,) = at.grad([x * 3, x * x], x)
    assert g.item() == 7.0


def test_backward_inputs_restricts_accumulation() -> None:
    a = at.tensor(1.0, requires_grad=True)
    b = at.tensor(2.0, requires_grad=True)
    (a * b).backward(inputs=[a])
    assert a.grad.item() == 2.0 and b.grad is None


def test_backward_inputs_non_leaf() -> None:
    a = at.tensor(1.0, requires_grad=True)
    h = a * 5
    (h * h).backward(inputs=[h])
    assert h.grad.item() == 10.0 and a.grad is None


# -- hooks -----------------------------------------------------------------------------------
def test_hook_on_leaf_sees_total_and_can_replace() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(g.numpy().copy())
        return g * 10

    x.register_hook(hook)
    (x * 2 + x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [5.0, 5.0])
    np.testing.assert_array_equal(x.grad.numpy(), [50.0, 50.0])


def test_hook_on_non_leaf_changes_what_flows_on() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    seen = []
    handle = h.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 0.5)
    (h * h).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(seen[0], [4.0, 8.0])  # 2h
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 8.0])  # 2 * (2h * 0.5)
    handle.remove()
    x.grad = None
    (h * h).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])


def test_hook_requires_grad() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        at.tensor([1.0]).register_hook(lambda g: g)


# -- grad mode -------------------------------------------------------------------------------
def test_no_grad_context() -> None:
    x = at.tensor([1.0], requires_grad=True)
    with at.no_grad():
        assert not at.is_grad_enabled()
        y = x * 2
        with at.enable_grad():
            assert at.is_grad_enabled()
            z = x * 2
    assert at.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn is not None


def test_grad_mode_decorators() -> None:
    @at.no_grad()
    def f(t):
        return t * 2

    @at.enable_grad()
    def g(t):
        return t * 2

    @at.set_grad_enabled(False)
    def h(t):
        return t * 2

    x = at.tensor([1.0], requires_grad=True)
    assert not f(x).requires_grad
    assert not h(x).requires_grad
    assert at.is_grad_enabled()  # the decorator does not leak
    with at.no_grad():
        assert g(x).requires_grad
        assert not at.is_grad_enabled()


def test_set_grad_enabled_as_function_and_context() -> None:
    x = at.tensor([1.0], requires_grad=True)
    with at.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert at.is_grad_enabled()
    at.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        at.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_no_grad_restores_after_exception() -> None:
    with pytest.raises(ValueError), at.no_grad():
        raise ValueError("boom")
    assert at.is_grad_enabled()


def test_detach_and_requires_grad_() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.grad_fn is None
    d.requires_grad_()
    (d * d).sum().backward()
    assert x.grad is None and d.grad is not None


# -- in-place --------------------------------------------------------------------------------
def test_inplace_on_non_leaf_is_differentiable() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.add_(1)
    y.mul_(3)  # y = 3 (2x + 1)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [9.0, 15.0])
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_iadd_and_setitem_on_non_leaf() -> None:
    x = at.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y += 1
    y[1] = 0.0  # the overwritten element gets no gradient
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [2.0, 0.0, 10.0])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 0.0, 6.0])


def test_setitem_with_a_tensor_that_requires_grad() -> None:
    x = at.zeros(3)
    v = at.tensor(2.0, requires_grad=True)
    x[0] = v
    x[2] = v * 3
    x.sum().backward()
    assert v.grad.item() == 4.0


def test_inplace_on_leaf_requiring_grad_is_refused() -> None:
    w = at.tensor([1.0, 2.0], requires_grad=True)
    for op in (
        lambda: w.add_(1),
        lambda: w.mul_(2),
        lambda: w.zero_(),
        lambda: w.__setitem__(0, 1.0),
    ):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()
    with at.no_grad():
        w.add_(1)  # allowed: an optimizer step
    np.testing.assert_array_equal(w.detach().numpy(), [2.0, 3.0])


def test_version_counter_catches_modified_saved_tensor() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * y  # saves y
    y.add_(1)
    with pytest.raises(
        RuntimeError, match="modified by an inplace operation.*version 1.*version 0"
    ):
        z.sum().backward()


def test_version_counter_on_leaf_modified_under_no_grad() -> None:
    w = at.tensor([1.0, 2.0], requires_grad=True)
    loss = (w.exp()).sum()  # Exp saves its output, not w; Mul saves w
    loss2 = (w * w).sum()
    with at.no_grad():
        w.mul_(2)
    loss.backward()  # fine: nothing saved depends on w's storage
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss2.backward()


def test_version_counter_bumps() -> None:
    x = at.zeros(3)
    v0 = x._version
    x.add_(1)
    x[0] = 5.0
    x.zero_()
    assert x._version == v0 + 3


def test_no_grad_inplace_writes_through_views() -> None:
    base = at.zeros(4)
    view = base.data
    with at.no_grad():
        base.add_(1.5)
    np.testing.assert_array_equal(view.numpy(), [1.5] * 4)


# -- anomaly detection -----------------------------------------------------------------------
def test_detect_anomaly_forward_names_op_and_source_line() -> None:
    x = at.tensor([-1.0, 1.0], requires_grad=True)
    with at.autograd.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(RuntimeError) as info:
            x.log()  # ANOMALY-FORWARD
    msg = str(info.value)
    assert "Log" in msg and "nan" in msg
    assert f"line {_line_of('# ANOMALY-FORWARD')}" in msg and "test_engine.py" in msg


def test_detect_anomaly_backward_names_forward_op_and_line() -> None:
    # sqrt is finite at 0, but its gradient 1 / (2 sqrt x) is not
    x = at.tensor([0.0, 1.0], requires_grad=True)
    with at.autograd.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt()  # ANOMALY-BACKWARD
        with pytest.raises(RuntimeError) as info:
            y.sum().backward()
    msg = str(info.value)
    assert "SqrtBackward" in msg
    assert f"line {_line_of('# ANOMALY-BACKWARD')}" in msg and "test_engine.py" in msg


def test_without_anomaly_mode_nan_passes_silently() -> None:
    x = at.tensor([0.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()).all()


# -- user-written Functions (torch's conventions) --------------------------------------------
class _Cube(at.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_custom_function_first_and_second_order() -> None:
    x = at.tensor(2.0, dtype=at.float64, requires_grad=True)
    y = _Cube.apply(x)
    assert y.grad_fn.name() == "_CubeBackward"
    (g,) = at.grad(y, x, create_graph=True)
    (gg,) = at.grad(g, x)
    assert g.item() == 12.0 and gg.item() == 12.0  # 3x^2, 6x
    assert at.gradcheck(_Cube.apply, (at.randn(3, dtype=at.float64, requires_grad=True),))
    assert at.gradgradcheck(_Cube.apply, (at.randn(3, dtype=at.float64, requires_grad=True),))


def test_custom_function_forward_runs_without_recording() -> None:
    class Probe(at.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.inner = (x * 2).requires_grad
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = at.tensor([1.0], requires_grad=True)
    y = Probe.apply(x)
    assert y.grad_fn.inner is False
    assert y.grad_fn.next_functions[0][0].name() == "AccumulateGrad"


def test_custom_function_non_tensor_args_and_needs_input_grad() -> None:
    class Scale(at.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.k = k
            ctx.save_for_backward(x, w)
            return x * w * k

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            nx, nw, nk = ctx.needs_input_grad
            assert nk is False
            return (g * w * ctx.k if nx else None), (g * x * ctx.k if nw else None), None

    x = at.tensor([1.0, 2.0], requires_grad=True)
    w = at.tensor([3.0, 4.0])
    Scale.apply(x, w, 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.5, 2.0])


def test_custom_function_mark_non_differentiable_multi_output() -> None:
    class SortWithIndex(at.Function):
        @staticmethod
        def forward(ctx, x):
            idx = at.from_numpy(np.argsort(x.detach().numpy(), axis=-1))
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return x.gather(-1, idx), idx

        @staticmethod
        def backward(ctx, g_values, g_index):
            (idx,) = ctx.saved_tensors
            return at.zeros(*idx.shape, dtype=g_values.dtype).scatter_add(-1, idx, g_values)

    x = at.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    values, index = SortWithIndex.apply(x)
    assert values.requires_grad and not index.requires_grad
    np.testing.assert_array_equal(values.detach().numpy(), [[1.0, 2.0, 3.0]])
    (values * at.tensor([[1.0, 10.0, 100.0]])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[100.0, 1.0, 10.0]])


def test_custom_function_mark_non_differentiable_float_output() -> None:
    class WithMask(at.Function):
        @staticmethod
        def forward(ctx, x):
            mask = (x > 0).float()
            ctx.mark_non_differentiable(mask)
            return x * 2, mask

        @staticmethod
        def backward(ctx, g, g_mask):
            return g * 2

    y, m = WithMask.apply(at.tensor([1.0, -1.0], requires_grad=True))
    assert y.requires_grad and not m.requires_grad and m.grad_fn is None


def test_custom_function_materialize_grads() -> None:
    received = {}

    class TwoOut(at.Function):
        @staticmethod
        def forward(ctx, x, materialize):
            ctx.set_materialize_grads(materialize)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            received["ga"], received["gb"] = ga, gb
            out = 0.0
            if ga is not None:
                out = out + ga * 2
            if gb is not None:
                out = out + gb * 3
            return out, None

    x = at.tensor([1.0, 2.0], requires_grad=True)
    _, b = TwoOut.apply(x, True)
    b.sum().backward()
    np.testing.assert_array_equal(received["ga"].numpy(), [0.0, 0.0])  # zeros, materialized
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    _, b = TwoOut.apply(x, False)
    b.sum().backward()
    assert received["ga"] is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    a, b = TwoOut.apply(x, False)
    (a + b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 5.0])


def test_custom_function_wrong_gradient_shape_is_named() -> None:
    class Bad(at.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, g):
            return g  # should be expanded back to x's shape

    x = at.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(
        RuntimeError, match=r"BadBackward returned a gradient of shape \(\) .*\(2,\)"
    ):
        Bad.apply(x).backward()


def test_custom_function_wrong_number_of_gradients_is_named() -> None:
    class Bad(at.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g  # one gradient for two inputs

    x = at.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="BadBackward.*1 gradients, expected 2"):
        Bad.apply(x, x).sum().backward()


def test_grad_fn_graph_structure() -> None:
    a = at.tensor([1.0], requires_grad=True)
    b = at.tensor([2.0])
    y = (a * b).exp()
    assert y.grad_fn.name() == "ExpBackward"
    ((mul, _),) = y.grad_fn.next_functions
    assert mul.name() == "MulBackward"
    (acc, _), (none, _) = mul.next_functions
    assert acc.name() == "AccumulateGrad" and acc.variable is a
    assert none is None


def test_ops_on_tensors_not_requiring_grad_record_nothing() -> None:
    x = at.tensor([1.0, 2.0])
    y = (x * 2).exp().sum()
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_views_share_the_version_counter_with_their_base():
    """Note [Views]: modifying a view in place is seen by a node that saved its base, and
    modifying the base is seen by a node that saved a view; torch raises in both cases."""
    a = at.randn(4, requires_grad=True)
    b = a * 1.0
    c = (b * b).sum()  # saves b
    with at.no_grad():
        b[0:2].add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.backward()

    for make_view in (lambda t: t.reshape(2, 2), lambda t: t.T, lambda t: t.split(2)[0]):
        a = at.randn(4, requires_grad=True)
        b = a * 1.0
        v = make_view(b)
        c = (v * v).sum()  # saves the view
        with at.no_grad():
            b.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            c.backward()


def test_a_copy_does_not_share_the_version_counter():
    a = at.randn(2, 3, requires_grad=True)
    b = a * 1.0
    f = b.flip(0)  # torch's flip copies
    c = (b * b).sum()
    with at.no_grad():
        f.add_(1.0)
    c.backward()  # b was not modified: no error
    assert np.allclose(a.grad.numpy(), 2 * a.detach().numpy())
    x = at.arange(4.0)
    y = x.flip(0)
    with at.no_grad():
        y.add_(10.0)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0]


# -- fast helpers against their reference paths (Note [Recording cost]) ----------------------
def _program_record() -> tuple:
    """A few ops of every shape of call (1, 2 and 3 inputs, saved outputs and inputs,
    broadcasting, several outputs, an integer output) and the graph's structure."""
    from autotensor import graph

    rng = np.random.default_rng(3)
    x = at.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    w = at.tensor(rng.normal(size=(4,)), requires_grad=True)
    y = (x * w).tanh() + x.exp() * 0.5  # broadcasting, saved output, saved inputs
    a, b = y.split(2)  # several outputs
    z = at.where(x > 0, a.sum(0, keepdim=True), w) / 3.0  # three inputs
    loss = z.sum() + b.amax() + y.argmax().float() * 0
    nodes = graph.topo_sort([loss.grad_fn])
    shape = [
        (n.name(), n._out_meta, n.needs_input_grad, [type(e).__name__ for e in n._edges],
         [np.asarray(s._data if isinstance(s, at.Tensor) else s).tolist()
          for s in n.saved_tensors])
        for n in nodes
    ]  # fmt: skip
    loss.backward()
    return shape, x.grad.numpy().copy(), w.grad.numpy().copy()


def test_recording_fast_helpers_match_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_record_few` (graph.py), `_seed_loss` and `_run_one` (engine.py) give the same graph
    and gradients as the reference helpers they stand in for."""
    from autotensor import engine, graph

    fast = _program_record()
    monkeypatch.setattr(graph, "_record_few", graph._record_general)
    monkeypatch.setattr(engine, "_seed_loss", lambda r: engine._seed([r], [], False))
    monkeypatch.setattr(engine, "_run_one", lambda node, g: engine._run_node(node, [g], False))
    ref = _program_record()
    assert fast[0] == ref[0]
    np.testing.assert_array_equal(fast[1], ref[1])
    np.testing.assert_array_equal(fast[2], ref[2])
