"""Memory layout of results as torch's: strides, is_contiguous() and whether view() works.

Every op is run on the same non-contiguous inputs (permuted, transposed, sliced with a step,
size-1 dims, expanded, channels-last-like 4-d, empty) in both libraries; the results must
agree on is_contiguous(), on the strides of their dims of size > 1 (in elements), on
whether `.view(-1)` raises, and on values and gradients. The families and their rules are
in autotensor/_views.py (contiguous_layout, preserved_layout, iterator_layout).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
from autotensor import _views

# name -> (shape of the array made, the view taken of it, the same in both libraries)
INPUTS = {
    "permuted": ((3, 4, 5), lambda t: t.permute(2, 0, 1)),
    "transposed": ((4, 5), lambda t: t.t()),
    "step": ((4, 6), lambda t: t[:, ::2]),
    "size1": ((3, 1, 5), lambda t: t.permute(2, 1, 0)),
    "channels_last": ((2, 3, 4, 5), lambda t: t.permute(0, 3, 1, 2)),
    "expanded": ((4, 1), lambda t: t.expand(4, 3)),
    "permuted4": ((2, 3, 4, 5), lambda t: t.permute(3, 1, 2, 0)),
    "empty": ((0, 3), lambda t: t.t()),
}


def _input(lib, name: str, requires_grad: bool = False):
    shape, view = INPUTS[name]
    a = np.random.default_rng(len(name)).uniform(0.1, 0.9, shape)
    leaf = lib.tensor(a, requires_grad=requires_grad)
    return leaf, view(leaf)


def _f(lib):
    return lib.nn.functional


def _zeros_index(lib, x):
    return lib.zeros(tuple(x.shape), dtype=lib.int64)


# (name, fn(lib, x)); every op here has torch's layout on every input
OPS = {
    "masked_fill": lambda L, x: x.masked_fill(x > 0.5, 1.0),
    "tril": lambda L, x: x.tril(),
    "triu": lambda L, x: x.triu(1),
    "index_fill": lambda L, x: x.index_fill(0, L.tensor([0]), 2.0),
    "cumprod": lambda L, x: x.cumprod(-1),
    "cummax_values": lambda L, x: x.cummax(0)[0],
    "cummin_indices": lambda L, x: x.cummin(0)[1],
    "logcumsumexp": lambda L, x: x.logcumsumexp(0),
    "cat": lambda L, x: L.cat([x, x], 0),
    "cat_last": lambda L, x: L.cat([x, x], -1),
    "stack": lambda L, x: L.stack([x, x]),
    "stack_1": lambda L, x: L.stack([x, x], 1),
    "stack_last": lambda L, x: L.stack([x, x], -1),
    "sort_values": lambda L, x: x.sort(-1)[0],
    "sort_indices": lambda L, x: x.sort(0)[1],
    "argsort": lambda L, x: x.argsort(0),
    "argsort_descending": lambda L, x: x.argsort(0, descending=True),
    "msort": lambda L, x: x.msort(),
    "topk": lambda L, x: x.topk(1, 0)[0],
    "median_keepdim": lambda L, x: x.median(0, keepdim=True)[0],
    "kthvalue": lambda L, x: x.kthvalue(1, 0)[0],
    "flip": lambda L, x: x.flip(0),
    "pad": lambda L, x: _f(L).pad(x, (1, 1)),
    "pad_nothing": lambda L, x: _f(L).pad(x, (0, 0)),
    "zeros_like": lambda L, x: L.zeros_like(x),
    "ones_like": lambda L, x: L.ones_like(x),
    "full_like": lambda L, x: L.full_like(x, 2.0),
    "empty_like": lambda L, x: L.empty_like(x),
    "rand_like": lambda L, x: L.rand_like(x),
    "randn_like": lambda L, x: L.randn_like(x),
    "randint_like": lambda L, x: L.randint_like(x, 3),
    "clone_contiguous": lambda L, x: x.clone(memory_format=L.contiguous_format),
    "contiguous": lambda L, x: x.contiguous(),
    "all": lambda L, x: (x > 0.5).all(0),
    "any_keepdim": lambda L, x: (x > 0.5).any(-1, keepdim=True),
    "count_nonzero": lambda L, x: L.count_nonzero(x > 0.5, 0),
    "max_dim": lambda L, x: x.max(-1)[0],
    "gather": lambda L, x: x.gather(0, _zeros_index(L, x)),
    "scatter": lambda L, x: x.scatter(0, _zeros_index(L, x), 1.0),
    "index_select": lambda L, x: x.index_select(0, L.tensor([0, 0])),
    "index_select_last": lambda L, x: x.index_select(-1, L.tensor([0, 0])),
    "getitem_first": lambda L, x: x[[0, 0]],
    "getitem_second": lambda L, x: x[:, [0, 0]],
    "getitem_last": lambda L, x: x[..., [0, 0]],
    "getitem_separated": lambda L, x: x[[0, 0], ..., [0, 0]],
    "getitem_broadcast_index": lambda L, x: x[[[0], [0]], ..., [0, 0]],
    "getitem_int_and_array": lambda L, x: x[0, ..., [0, 0]],
    "getitem_index_tensor": lambda L, x: x[:, L.tensor([[0, 0], [0, 0]]).t()],
    "getitem_mask": lambda L, x: x[x > 0.5],
    "getitem_step_then_array": lambda L, x: x[::2][[0, 0]],
    "roll_first": lambda L, x: x.roll(1, 0),
    "roll_second": lambda L, x: x.roll(1, 1),
    "roll_two": lambda L, x: x.roll((1, 1), (0, 1)),
    "roll_flat": lambda L, x: x.roll(1),
    "repeat": lambda L, x: x.repeat(*([1] * (x.ndim - 1)), 2),
    "repeat_ones": lambda L, x: x.repeat(*([1] * x.ndim)),
    "clamp_tensor_bound": lambda L, x: x.clamp(min=L.zeros(x.shape[-1])),
    "where_scalar": lambda L, x: L.where(x > 0.5, x, 0.0),
    "where_broadcast": lambda L, x: L.where(x > 0.5, x, L.zeros(x.shape[-1])),
    "to_float32": lambda L, x: x.float(),
    "to_int64": lambda L, x: x.long(),
    "to_bool": lambda L, x: x.bool(),
    "exp": lambda L, x: x.exp(),
    "erfinv": lambda L, x: x.erfinv(),
    "atan2_contiguous_operand": lambda L, x: L.atan2(x, x.contiguous()),
    "add_scalar": lambda L, x: x + 1,
    "add_broadcast": lambda L, x: x + L.zeros(1),
    "matmul_transposed": lambda L, x: x @ x.transpose(-1, -2),
    "sum_all": lambda L, x: x.sum(),
    "unfold": lambda L, x: x.unfold(0, 1, 1),
    "unfold_last": lambda L, x: x.unfold(-1, 2, 1) if x.shape[-1] >= 2 else x.unfold(-1, 1, 1),
    "sum_dim": lambda L, x: x.sum(0),
    "sum_keepdim": lambda L, x: x.sum(-1, keepdim=True),
    "mean_keepdim": lambda L, x: x.mean(-1, keepdim=True),
    "amax": lambda L, x: x.amax(-1),
    "amin_keepdim": lambda L, x: x.amin(0, keepdim=True),
    "var": lambda L, x: x.var(0),
    "std_keepdim": lambda L, x: x.std(-1, keepdim=True),
    "norm_dim": lambda L, x: x.norm(dim=0),
    "prod": lambda L, x: x.prod(0),
    "logsumexp": lambda L, x: x.logsumexp(0),
    "cumsum": lambda L, x: x.cumsum(0),
    "softmax": lambda L, x: x.softmax(-1),
    "log_softmax": lambda L, x: x.log_softmax(0),
    "clone": lambda L, x: x.clone(),
    "to_copy": lambda L, x: x.to(x.dtype, copy=True),
    "add_contiguous_operand": lambda L, x: x + x.contiguous(),
    "maximum": lambda L, x: L.maximum(x, x.contiguous()),
    "clamp_tensor_bounds": lambda L, x: x.clamp(L.zeros(x.shape[-1]), x.contiguous() + 0.1),
    "sign_bool": lambda L, x: (x > 0.5).sign(),
    "ceil_int": lambda L, x: (x * 10).long().ceil(),
    "round_int": lambda L, x: (x * 10).long().round(),
    "div_trunc": lambda L, x: L.div(x, x.contiguous() + 0.5, rounding_mode="trunc"),
    "remainder": lambda L, x: x % (x.contiguous() + 0.5),
    "gelu": lambda L, x: _f(L).gelu(x),
    "gelu_tanh": lambda L, x: _f(L).gelu(x, approximate="tanh"),
}


def _layout(y) -> tuple:
    """What a user can see of a result's layout."""
    try:
        y.view(-1)
        views = True
    except RuntimeError:
        views = False
    st = tuple(s for s, n in zip(y.stride(), y.shape) if n > 1) if y.numel() else ()
    return y.is_contiguous(), st, views


def _params():
    for op in OPS:
        for name in INPUTS:
            yield pytest.param(op, name, id=f"{op}-{name}")


def _fn(op: str):
    return OPS[op]


_RANDOM = {"empty_like", "rand_like", "randn_like", "randint_like"}


@needs_torch
@pytest.mark.parametrize(("op", "name"), list(_params()))
def test_layout_as_torch(op: str, name: str) -> None:
    fn = _fn(op)
    tl, tx = _input(torch, name)
    al, ax = _input(at, name)
    try:
        ty = fn(torch, tx)
    except (RuntimeError, IndexError) as e:  # an empty reduction: both refuse it
        with pytest.raises(type(e)):
            fn(at, ax)
        return
    ay = fn(at, ax)
    assert tuple(ay.shape) == tuple(ty.shape)
    if op not in _RANDOM:
        np.testing.assert_allclose(ay.numpy(), ty.numpy(), rtol=1e-12, atol=1e-12)
    assert _layout(ay) == _layout(ty), f"{op} on a {name} input"


def _differentiable(op: str) -> bool:
    return op not in _RANDOM | {"sort_indices", "argsort", "argsort_descending",
                                "cummin_indices", "all", "any_keepdim", "count_nonzero",
                                "to_int64", "to_bool", "zeros_like", "ones_like",
                                "full_like", "sign_bool", "ceil_int",
                                "round_int"}  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", [op for op in OPS if _differentiable(op)])
def test_values_and_gradients_as_torch(op: str, dtype: str) -> None:
    """The layout changes leave values and gradients as they were (torch's)."""
    fn = OPS[op]
    for name in ("permuted", "channels_last", "step"):
        shape, view = INPUTS[name]
        a = np.random.default_rng(1).uniform(0.1, 0.9, shape).astype(dtype)
        ys = []
        for lib in (torch, at):
            leaf = lib.tensor(a, requires_grad=True)
            y = fn(lib, view(leaf))
            w = lib.tensor(np.random.default_rng(2).normal(size=tuple(y.shape)).astype(dtype))
            (y * w).sum().backward()
            ys.append((y.detach().numpy(), leaf.grad.numpy()))
        tol = 1e-5 if dtype == "float32" else 1e-10
        for t, ours in zip(*ys):
            np.testing.assert_allclose(ours, t, rtol=tol, atol=tol)


# -- the helpers against torch on random strided arrays ------------------------------------
def _strided(rng, shape, expand: bool = True):
    """A numpy array of `shape` with a random order of dims in memory (sometimes sliced with
    a step, sometimes expanded) and the torch tensor with the same memory layout."""
    nd = len(shape)
    perm = rng.permutation(nd)
    step = 2 if nd and rng.random() < 0.3 else 1
    full = (shape[0] * step,) + tuple(shape[1:]) if nd else ()
    base = rng.random([full[p] for p in perm])
    a = base.transpose(np.argsort(perm))
    if step > 1:
        a = a[::step]
    if expand and nd and rng.random() < 0.2:
        d = int(rng.integers(nd))
        if a.shape[d] == 1:
            a = np.broadcast_to(a, a.shape[:d] + (3,) + a.shape[d + 1 :])
    flat = torch.from_numpy(base.copy()).reshape(-1)
    offset = (a.__array_interface__["data"][0] - base.__array_interface__["data"][0]) // 8
    t = flat.as_strided(a.shape, [s // 8 for s in a.strides], offset)
    assert np.array_equal(t.numpy(), a)
    return a, t


def _seen(strides, shape) -> tuple:
    return tuple(s for s, n in zip(strides, shape) if n > 1)


@needs_torch
@given(seed=st.integers(0, 2**31 - 1))
@settings(max_examples=150, deadline=None)
def test_preserved_and_iterator_layouts_as_torch(seed: int) -> None:
    """preserved_layout is torch's empty_like(preserve_format) and iterator_layout is the
    layout of torch's elementwise results (TensorIterator), on random strides, with one
    operand or two broadcast ones that may disagree on the order."""
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(1, 5))
    shape = tuple(int(n) for n in rng.integers(1, 4, nd))
    a, ta = _strided(rng, shape)
    shape = a.shape
    like = _views.preserved_layout(np.ascontiguousarray(a), a)
    assert np.array_equal(like, a)
    tl = torch.empty_like(ta)
    assert _seen([s // 8 for s in like.strides], shape) == _seen(tl.stride(), shape)
    other = tuple(1 if rng.random() < 0.3 else n for n in shape)[int(rng.integers(0, nd)) :]
    b, tb = _strided(rng, other, expand=False)
    if rng.random() < 0.5:
        a, ta, b, tb = b, tb, a, ta
    out = _views.iterator_layout(np.ascontiguousarray(a + b), a, b)
    np.testing.assert_array_equal(out, a + b)
    tr = ta + tb
    assert _seen([s // 8 for s in out.strides], tr.shape) == _seen(tr.stride(), tr.shape)


def test_layout_helpers_copy_nothing_on_the_contiguous_path() -> None:
    a = np.ones((3, 4))
    assert _views.contiguous_layout(a) is a
    assert _views.preserved_layout(a, a) is a
    assert _views.iterator_layout(a, a, 2.0) is a
    f = np.ones((4, 3)).T
    assert _views.preserved_layout(f, f) is f  # already in f's layout
    assert _views.contiguous_layout(f) is not f and _views.contiguous_layout(f).flags.c_contiguous
    c = np.empty((2, 4, 5, 3)).transpose(0, 3, 1, 2)
    assert _views.suggest_memory_format(c) is at.channels_last
    assert _views.format_layout(c, at.channels_last) is c
    assert _views.suggest_memory_format(np.empty((2, 3, 4, 5))) is at.contiguous_format


# -- memory formats ---------------------------------------------------------------------------
def _format_params():
    for op in ("clone", "contiguous", "empty_like", "zeros_like", "full_like"):
        for fmt in ("contiguous_format", "channels_last", "preserve_format"):
            yield pytest.param(op, fmt, id=f"{op}-{fmt}")


@needs_torch
@pytest.mark.parametrize(("op", "fmt"), list(_format_params()))
def test_memory_format_argument(op: str, fmt: str) -> None:
    results = []
    for lib in (torch, at):
        x = lib.tensor(np.arange(120.0).reshape(2, 3, 4, 5)).permute(0, 2, 1, 3)
        f = getattr(lib, fmt)
        try:
            if op == "full_like":
                y = lib.full_like(x, 2.0, memory_format=f)
            elif op in ("empty_like", "zeros_like"):
                y = getattr(lib, op)(x, memory_format=f)
            else:
                y = getattr(x, op)(memory_format=f)
        except RuntimeError as e:
            results.append(("raises", str(e)))
            continue
        if op != "empty_like":
            want = {"full_like": np.full(x.shape, 2.0), "zeros_like": np.zeros(x.shape)}
            np.testing.assert_array_equal(y.numpy(), want.get(op, x.numpy()))
        results.append(_layout(y))
    assert results[0] == results[1]


@needs_torch
def test_memory_format_errors_as_torch() -> None:
    for lib in (torch, at):
        x = lib.zeros(2, 3, 4)
        with pytest.raises(RuntimeError, match="required rank 4 tensor to use channels_last"):
            x.clone(memory_format=lib.channels_last)
        with pytest.raises(RuntimeError, match="required rank 5 tensor to use channels_last_3d"):
            x.contiguous(memory_format=lib.channels_last_3d)
        with pytest.raises(TypeError, match="memory_format"):
            x.clone(memory_format="channels_last")
        with pytest.raises(RuntimeError, match="preserve memory format is unsupported"):
            x.transpose(0, 1).contiguous(memory_format=lib.preserve_format)
    assert repr(at.channels_last) == repr(torch.channels_last) == "torch.channels_last"


def test_clone_contiguous_keeps_the_graph() -> None:
    x = at.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x.t().clone(memory_format=at.contiguous_format)
    assert y.is_contiguous() and y.grad_fn is not None
    (y * at.tensor(np.arange(12.0).reshape(4, 3))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(12.0).reshape(4, 3).T)


# -- the fuzzer's finding -------------------------------------------------------------------
@needs_torch
def test_view_of_masked_fill_chain_as_torch() -> None:
    """masked_fill gives a contiguous result, so what follows it views as in torch."""
    a = np.random.default_rng(0).uniform(0.1, 0.9, (3, 4))
    m = np.random.default_rng(1).random((4, 3)) > 0.5
    out = []
    for lib in (torch, at):
        v = lib.tensor(a).permute(1, 0)
        w = (2.0 / v).masked_fill(lib.tensor(m), 1.0).neg().log().abs()
        out.append(w.view(1, -1).numpy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-12)


# -- Tensor.unfold ----------------------------------------------------------------------------
UNFOLD_CASES = [
    ((3, 7), 1, 3, 2),
    ((5, 2), 0, 2, 1),
    ((4, 6), -1, 6, 1),
    ((4, 6), 1, 0, 1),
    ((2, 3, 5), 2, 2, 3),
    ((), 0, 1, 1),
    ((), -1, 0, 2),
    ((0, 3), 1, 2, 1),
    ((3, 1), 1, 1, 1),
]


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("shape", "dim", "size", "step"), UNFOLD_CASES)
@pytest.mark.parametrize("transposed", [False, True])
def test_unfold_as_torch(shape, dim, size, step, transposed, dtype) -> None:
    if transposed and len(shape) != 2:
        pytest.skip("transposing needs 2 dims")
    a = np.random.default_rng(0).normal(size=shape[::-1] if transposed else shape).astype(dtype)
    res = []
    for lib in (torch, at):
        leaf = lib.tensor(a, requires_grad=True)
        x = leaf.t() if transposed else leaf
        y = x.unfold(dim, size, step)
        w = lib.tensor(np.random.default_rng(1).normal(size=tuple(y.shape)).astype(dtype))
        (y * w * y).sum().backward()
        res.append((tuple(y.shape), y.stride(), y.is_contiguous(), y.detach().numpy(),
                    leaf.grad.numpy()))  # fmt: skip
    assert res[0][:3] == res[1][:3]
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(res[1][3], res[0][3], rtol=tol, atol=tol)
    np.testing.assert_allclose(res[1][4], res[0][4], rtol=tol, atol=tol)


@needs_torch
@pytest.mark.parametrize(
    ("shape", "args", "cls"),
    [((2, 5), (1, 6, 1), RuntimeError), ((2, 5), (1, 2, 0), RuntimeError),
     ((2, 5), (1, -1, 1), RuntimeError), ((2, 5), (3, 2, 1), IndexError),
     ((), (0, 2, 1), RuntimeError), ((), (1, 1, 1), IndexError),
     ((2, 5), (1.5, 2, 1), TypeError)],
)  # fmt: skip
def test_unfold_errors_as_torch(shape, args, cls) -> None:
    msgs = []
    for lib in (torch, at):
        with pytest.raises(cls) as e:
            lib.zeros(shape).unfold(*args)
        msgs.append(str(e.value))
    if cls is RuntimeError:
        assert msgs[1] == msgs[0]


@needs_torch
def test_unfold_is_a_view_written_through_as_torch() -> None:
    a = np.arange(12.0).reshape(3, 4)
    res = []
    for lib in (torch, at):
        z = lib.tensor(a) * 1
        v = z.unfold(1, 2, 2)
        v.mul_(10)  # no graph: written into z's memory
        z[0, 0] = -1.0  # and z's writes are seen by the view
        res.append((z.numpy().copy(), v.numpy().copy()))
        leaf = lib.tensor(a, requires_grad=True)
        y = leaf * 1
        u = y.unfold(0, 2, 1)
        u[1].add_(leaf[0, :2] * 3)  # while recording: y's history is rebased
        (y * y).sum().backward()
        res.append((y.detach().numpy().copy(), leaf.grad.numpy().copy()))
    for t, ours in zip(res[:2], res[2:]):
        for p, q in zip(t, ours):
            np.testing.assert_array_equal(q, p)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        at.tensor(a, requires_grad=True).unfold(0, 2, 1).mul_(2)


def test_unfold_gradcheck() -> None:
    x = at.tensor(np.random.default_rng(0).normal(size=(3, 7)), requires_grad=True)
    assert at.autograd.gradcheck(lambda t: t.t().unfold(0, 3, 2) ** 2, (x,))
    assert at.autograd.gradgradcheck(lambda t: t.unfold(1, 2, 1) ** 2, (x,))


@needs_torch
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
    data=st.data(),
)
@settings(max_examples=60, deadline=None)
def test_unfold_property_as_torch(shape, data) -> None:
    nd = len(shape)
    dim = data.draw(st.integers(-nd, nd - 1))
    size = data.draw(st.integers(0, shape[dim]))
    step = data.draw(st.integers(1, 4))
    a = np.random.default_rng(0).normal(size=shape)
    t = torch.tensor(a).unfold(dim, size, step)
    y = at.tensor(a).unfold(dim, size, step)
    assert tuple(y.shape) == tuple(t.shape)
    assert y.stride() == t.stride()
    np.testing.assert_array_equal(y.numpy(), t.numpy())


def _operand(lib, rng: np.random.Generator, shape: tuple, dtype: str, out: tuple):
    """The same tensor in both libraries, made with the same view ops (a permutation, a step,
    a size-1 dim expanded to the result's size `out`) from a tensor of dtype `dtype`."""
    nd = len(shape)
    perm = [int(p) for p in rng.permutation(nd)]
    step = 2 if nd and rng.random() < 0.3 else 1
    made = [shape[p] for p in np.argsort(perm)]
    if nd:
        made[perm[0]] = made[perm[0]] * step
    base = rng.integers(-3, 4, made) if dtype != "bool" else rng.random(made) < 0.5
    t = lib.tensor(base.astype(dtype)).permute(*perm)
    if step > 1:
        t = t[::step]
    out = out[len(out) - nd :]
    ones = [d for d in range(nd) if shape[d] == 1 and out[d] > 1]
    if ones and rng.random() < 0.4:
        t = t.expand(*[out[d] if d == ones[0] else -1 for d in range(nd)])
    return t


ITERATOR_OPS = {
    "add": lambda L, x, y: x + y,
    "mul": lambda L, x, y: y * x,
    "eq": lambda L, x, y: x == y,
    "lt": lambda L, x, y: x < y,
    "ge": lambda L, x, y: y >= x,
    "minimum": lambda L, x, y: L.minimum(x, y),
    "div_trunc": lambda L, x, y: L.div(x, y + 10, rounding_mode="trunc"),
    # a Python scalar is a 0-d operand of torch's: no fast setup
    "scalar": lambda L, x, y: (y * 1.5) + x,
    "unary": lambda L, x, y: L.exp(y.double()) + x,
    "roll": lambda L, x, y: (x + y).roll(1, -1),
}


@needs_torch
@given(seed=st.integers(0, 2**31 - 1), op=st.sampled_from(sorted(ITERATOR_OPS)))
@settings(max_examples=300, deadline=None)
def test_elementwise_layout_over_dtypes_and_broadcasting_as_torch(seed: int, op: str) -> None:
    """Elementwise results are laid out as torch's when the operands broadcast each other
    (so that even C-contiguous operands leave the order to the tie-breaks) and differ in
    dtype (torch then casts an operand first, which gives an expanded dim a stride)."""
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(1, 5))
    shape = tuple(int(n) for n in rng.integers(1, 4, nd))
    other = tuple(1 if rng.random() < 0.4 else n for n in shape)[int(rng.integers(0, nd)) :]
    if rng.random() < 0.5:
        shape, other = other, shape
    dts = [str(d) for d in rng.choice(["float32", "float64", "int64", "bool"], 2)]
    if op == "div_trunc":
        dts = [d if d != "bool" else "int64" for d in dts]
    res = []
    for lib in (torch, at):
        r = np.random.default_rng(seed + 1)
        out = np.broadcast_shapes(shape, other)
        x, y = _operand(lib, r, shape, dts[0], out), _operand(lib, r, other, dts[1], out)
        res.append(ITERATOR_OPS[op](lib, x, y))
    t, ours = res
    np.testing.assert_array_equal(ours.numpy(), t.numpy())
    assert ours.is_contiguous() == t.is_contiguous(), (shape, other, dts)
    assert _seen(ours.stride(), t.shape) == _seen(t.stride(), t.shape), (shape, other, dts)
