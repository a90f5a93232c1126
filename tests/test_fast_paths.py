"""The engine's shortcuts give exactly what the general paths give.

- Note [No-grad arithmetic]: with no graph recorded, a few Tensor methods are one numpy call;
  their values, dtypes and shapes must equal the primitive's (run with a graph recorded),
  and anything they do not handle must reach the primitive and its error.
- Note [Recording cost]: version counters are created lazily, rules save only what their
  backward needs, and `loss.backward()` builds its root gradient directly; in-place checks,
  memory release and gradients must be unaffected.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis not installed")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import autotensor as at  # noqa: E402
import nn  # noqa: E402

# name -> (fn(x, y) using Tensor methods, needs a positive x)
OPS = {
    "add": (lambda x, y: x + y, False),
    "sub": (lambda x, y: x - y, False),
    "mul": (lambda x, y: x * y, False),
    "div": (lambda x, y: x / y, False),
    "add_scalar": (lambda x, y: x + 2.5, False),
    "rsub_scalar": (lambda x, y: 1.0 - x, False),
    "rmul_int": (lambda x, y: 3 * x, False),
    "div_scalar": (lambda x, y: x / 7, False),
    "neg": (lambda x, y: -x, False),
    "neg_method": (lambda x, y: x.neg(), False),
    "exp": (lambda x, y: x.exp(), False),
    "log": (lambda x, y: x.log(), True),
    "reshape_flat": (lambda x, y: x.reshape(-1), False),
    "reshape_tuple": (lambda x, y: x.reshape((1,) + tuple(x.shape)), False),
    "view": (lambda x, y: x.view(x.numel()), False),
    "expand": (lambda x, y: x.expand(2, *x.shape), False),
    "expand_tuple": (lambda x, y: x.expand((3,) + tuple(x.shape)), False),
    "transpose": (lambda x, y: x.transpose(0, -1) if x.ndim >= 2 else x, False),
    "permute": (lambda x, y: x.permute(*reversed(range(x.ndim))), False),
    "sum_all": (lambda x, y: x.sum(), False),
    "sum_dim": (lambda x, y: x.sum(-1) if x.ndim else x.sum(), False),
    "sum_keepdim": (lambda x, y: x.sum(0, keepdim=True) if x.ndim else x.sum(), False),
    "sum_dims": (lambda x, y: x.sum(tuple(range(x.ndim))) if x.ndim else x.sum(), False),
}


def _recorded(fn, x: np.ndarray, y: np.ndarray) -> at.Tensor:
    """The primitive's result: the same call with a graph recorded."""
    xt = at.tensor(x, requires_grad=True)
    yt = at.tensor(y, requires_grad=True)
    out = fn(xt, yt)
    assert out.grad_fn is not None or out is xt  # the primitive path really ran
    return out.detach()


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_shortcut_equals_primitive(name: str, data: st.DataObject) -> None:
    fn, positive = OPS[name]
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), label="shape")
    elems = (
        st.floats(0.5, 4.0) if positive else st.floats(-4.0, 4.0).filter(lambda v: abs(v) > 0.25)
    )
    x = data.draw(hnp.arrays(dtype, shape, elements=elems), label="x")
    y = data.draw(hnp.arrays(dtype, shape, elements=elems), label="y")
    want = _recorded(fn, x, y)
    with at.no_grad():
        got = fn(at.tensor(x), at.tensor(y))
    assert not got.requires_grad and got.grad_fn is None
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_shortcut_keeps_torch_promotion() -> None:
    torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")
    cases = [
        (np.ones(3, np.float32), np.array(2.0, np.float64)),  # a 0-d tensor does not promote
        (np.ones(3, np.float64), np.ones(3, np.float32)),
        (np.arange(3), np.ones(3, np.float32)),
    ]
    with at.no_grad():
        for a, b in cases:
            for op in (lambda p, q: p * q, lambda p, q: p / q, lambda p, q: p - q):
                ours = op(at.tensor(a), at.tensor(b))
                theirs = op(torch.tensor(a), torch.tensor(b))
                assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
                np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)
        assert (at.tensor([1, 2]) * 2.5).dtype == np.float32  # int tensor, weak float
        assert at.tensor([1, 2]).sum().dtype == np.int64
        assert at.tensor(np.ones(2, np.float16)).exp().dtype == np.float16


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda x: x.reshape(5, 5), RuntimeError, "reshape"),
        (lambda x: x.view(7), RuntimeError, "reshape"),
        (lambda x: x.expand(4, 5), RuntimeError, "expand"),
        (lambda x: x.expand(1), RuntimeError, "expand"),
        (lambda x: x.permute(0, 0), RuntimeError, "permute"),
        (lambda x: x.transpose(0, 3), IndexError, "transpose"),
        (lambda x: x.sum(2), IndexError, "sum"),
        (lambda x: x + at.ones(4), RuntimeError, "Add"),
        (lambda x: x * at.ones(5, 2), RuntimeError, "Mul"),
    ],
)
def test_what_the_shortcuts_refuse_gets_the_primitives_error(call, error, match) -> None:
    x = at.ones(2, 3)
    with pytest.raises(error, match=match) as with_graph:
        call(x.clone().requires_grad_())
    with at.no_grad(), pytest.raises(error, match=match) as without:
        call(x)
    if match in ("Add", "Mul"):  # recorded, broadcasting names the shapes; else numpy does
        assert "(2, 3)" in str(with_graph.value) and "(2,3)" in str(without.value)
    else:  # the very same message: the primitive raised it both times
        assert str(without.value) == str(with_graph.value)


def test_shortcuts_return_the_tensor_itself_when_nothing_changes() -> None:
    x = at.ones(2, 3)
    with at.no_grad():
        assert x.reshape(2, 3) is x and x.view((2, 3)) is x and x.expand(2, 3) is x
        assert x.reshape(np.int64(3), 2).shape == (3, 2)  # a numpy int is a size, not a shape


# -- version counters (created lazily) ------------------------------------------------------
def test_version_counter_starts_at_zero_and_is_shared_by_detach() -> None:
    x = at.randn(3)
    assert x._version == 0
    d = x.detach()
    with at.no_grad():
        d.add_(1.0)
    assert x._version == d._version == 1
    v = x.data  # as torch's .data: the same memory, a counter of its own
    v.mul_(2.0)
    assert (x._version, v._version) == (1, 1)
    assert np.array_equal(x.numpy(), v.numpy())


def test_saved_input_modified_through_a_later_detached_alias_is_caught() -> None:
    a = at.randn(4, requires_grad=True)
    h = a * 2.0  # non-leaf, saved by the product below
    y = (h * a).sum()
    h.detach().add_(1.0)  # the counter is created after the node saved h
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_saved_output_modified_under_no_grad_is_caught() -> None:
    a = at.randn(4, requires_grad=True)
    t = a.tanh()
    with at.no_grad():
        t.add_(1.0)
    with pytest.raises(RuntimeError, match="TanhBackward"):
        t.sum().backward()


def test_parameter_shares_the_counter_of_its_tensor() -> None:
    t = at.randn(3)
    p = nn.Parameter(t)
    with at.no_grad():
        t.add_(1.0)
    assert p._version == 1


# -- rules save only what their backward uses -----------------------------------------------
@pytest.mark.parametrize("c_requires_grad", [False, True])
def test_mul_keeps_an_input_alive_only_when_needed(c_requires_grad: bool) -> None:
    x = at.randn(1000, requires_grad=True)
    c = at.randn(1000, requires_grad=c_requires_grad)
    h = x * 2.0
    y = (h * c).sum()  # h is needed only for c's gradient
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert (ref() is not None) == c_requires_grad
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2.0 * c.detach().numpy(), rtol=1e-6)


def test_linear_without_weight_gradient_saves_no_input() -> None:
    w = at.randn(3, 4)  # a frozen weight
    x = at.randn(5, 4, requires_grad=True)
    h = x * 1.0
    y = at.ops.Linear.apply(h, w).sum()
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is None
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((5, 3), np.float32) @ w.numpy(), rtol=1e-6)


# -- the implicit root gradient -------------------------------------------------------------
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scalar_root_gradient_is_one_of_its_shape_and_dtype(shape, dtype) -> None:
    x = at.tensor(np.full(shape, 3.0, dtype), requires_grad=True)
    y = x * x
    seen = []
    y.register_hook(lambda g: seen.append(g))
    y.backward()
    assert seen[0].shape == shape and seen[0].dtype == dtype
    np.testing.assert_array_equal(seen[0].numpy(), np.ones(shape, dtype))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, 6.0, dtype))


# -- the branch-free select of plain backward rules (ops/elementwise.py `_select`) ----------
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_branch_free_select_equals_where(data: st.DataObject) -> None:
    from autotensor.ops.elementwise import _select

    dtype = data.draw(st.sampled_from([np.float16, np.float32, np.float64]), label="dtype")
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), label="shape")
    d = data.draw(hnp.arrays(dtype, shape, elements=st.floats(allow_nan=True, width=16)), label="d")
    cond = data.draw(hnp.arrays(np.bool_, shape), label="cond")
    if d.ndim >= 2 and data.draw(st.booleans(), label="transposed"):
        d, cond = d.T, cond.T  # strided operands
    for invert in (False, True):
        got = _select(cond, d, invert=invert)
        zero = np.zeros((), dtype)
        want = np.where(cond, zero, d) if invert else np.where(cond, d, zero)
        assert got.dtype == want.dtype and got.shape == want.shape
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


def test_relu_gradient_is_zero_where_masked_even_for_nan_and_inf() -> None:
    x = at.tensor([-1.0, 2.0, -3.0, 4.0, 0.0], requires_grad=True)
    g = at.tensor([np.nan, np.nan, np.inf, -np.inf, 5.0])
    x.relu().backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, np.nan, 0.0, -np.inf, 0.0])
    assert not np.signbit(x.grad.numpy()[[0, 2, 4]]).any()


# -- plain backward rules on arrays (Mul, Tanh) against their Tensor-op rules --------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "fn",
    [lambda x, y: x * y, lambda x, y: 2.5 * x, lambda x, y: x * 3, lambda x, y: (x * y).tanh(),
     lambda x, y: x.tanh() * y.double()],
    ids=["mul", "rmul_float", "mul_int", "tanh", "mul_promoted"],
)  # fmt: skip
def test_plain_backward_rules_equal_tensor_op_rules(fn, dtype) -> None:
    r = np.random.default_rng(0)
    xs, ys = r.normal(size=(3, 4)).astype(dtype), r.normal(size=(4,)).astype(dtype)
    grads = []
    for create_graph in (False, True):  # True runs the Tensor-op rules (Note [Higher order])
        x, y = at.tensor(xs, requires_grad=True), at.tensor(ys, requires_grad=True)
        out = fn(x, y)
        gx, gy = at.grad(out.sum(), (x, y), create_graph=create_graph, allow_unused=True,
                         materialize_grads=True)  # fmt: skip
        grads.append((gx.detach().numpy(), gy.detach().numpy()))
    for plain, ref in zip(*grads):
        assert plain.dtype == ref.dtype == dtype
        np.testing.assert_array_equal(plain, ref)
