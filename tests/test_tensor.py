"""Tensor basics: creation, dtypes and torch's type promotion, repr, indexing, conversion.

torch is the oracle where it is installed; the checks that need it skip cleanly otherwise.
"""

from __future__ import annotations

import itertools
import operator
import re

import numpy as np
import pytest

import autotensor as at

try:
    import torch
except ImportError:  # the torch comparisons below skip
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch not installed: parity tests skipped")

DTYPES = ["bool", "uint8", "int32", "int64", "float32", "float64"]


def _torch_dtype_name(t) -> str:
    return str(t.dtype).removeprefix("torch.")


# -- creation --------------------------------------------------------------------------------
def test_default_dtypes_follow_torch() -> None:
    assert at.tensor([1.0, 2.0]).dtype == at.float32
    assert at.tensor(1.5).dtype == at.float32
    assert at.tensor([1, 2]).dtype == at.int64
    assert at.tensor(3).dtype == at.int64
    assert at.tensor([True, False]).dtype == at.bool
    assert at.tensor([1, 2.5]).dtype == at.float32
    assert at.tensor(np.array([1.0, 2.0])).dtype == at.float64  # an ndarray keeps its dtype
    assert at.tensor(np.array([1, 2], dtype=np.int32)).dtype == at.int32
    assert at.zeros(2, 3).dtype == at.float32 and at.zeros(2, 3).shape == (2, 3)
    assert at.ones((2, 3)).shape == (2, 3)
    assert at.arange(5).dtype == at.int64 and at.arange(0.0, 1.0, 0.25).dtype == at.float32
    assert at.full((2,), 7).dtype == at.int64 and at.full((2,), 7.0).dtype == at.float32


def test_creation_functions() -> None:
    np.testing.assert_array_equal(at.arange(2, 8, 2).numpy(), [2, 4, 6])
    np.testing.assert_allclose(at.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(at.eye(2).numpy(), np.eye(2))
    np.testing.assert_array_equal(at.full((2, 2), 3.0).numpy(), np.full((2, 2), 3.0))
    x = at.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=at.float64)
    for f, v in ((at.zeros_like, 0.0), (at.ones_like, 1.0)):
        y = f(x)
        assert y.shape == x.shape and y.dtype == at.float64 and (y.numpy() == v).all()
    assert at.full_like(x, 2.5).dtype == at.float64
    assert at.empty(3, 2).shape == (3, 2)
    assert at.rand_like(x).shape == x.shape and at.randn_like(x).dtype == at.float64
    r = at.randint(0, 5, (100,))
    assert r.dtype == at.int64 and 0 <= r.numpy().min() and r.numpy().max() < 5
    assert at.zeros(2, requires_grad=True).requires_grad


def test_tensor_copies_but_from_numpy_shares() -> None:
    a = np.array([1.0, 2.0])
    t, s = at.tensor(a), at.from_numpy(a)
    a[0] = 9.0
    assert t.numpy()[0] == 1.0 and s.numpy()[0] == 9.0


def test_manual_seed_reproduces() -> None:
    at.manual_seed(7)
    a = at.randn(5)
    at.manual_seed(7)
    b = at.randn(5)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    g = at.Generator().manual_seed(3)
    c = at.rand(4, generator=g)
    g.manual_seed(3)
    np.testing.assert_array_equal(c.numpy(), at.rand(4, generator=g).numpy())


def test_dtype_conversions() -> None:
    x = at.tensor([1.7, -2.2])
    assert x.double().dtype == at.float64
    assert x.long().dtype == at.int64 and x.long().tolist() == [1, -2]  # truncation, as torch
    assert x.to(at.float64).dtype == at.float64
    assert x.to("float64").dtype == at.float64
    assert x.to(at.tensor([1], dtype=at.int32)).dtype == at.int32
    assert x.float() is x  # already float32: no copy, as torch
    assert x.bool().tolist() == [True, True]
    assert x.to("cpu") is x


def test_conversion_is_differentiable() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    y = (x.double() * 3).sum()
    y.backward()
    assert x.grad.dtype == at.float32
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_only_float_tensors_require_grad() -> None:
    with pytest.raises(RuntimeError, match="floating point.*int64"):
        at.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        at.tensor([1, 2]).requires_grad_()


def test_integer_results_do_not_require_grad() -> None:
    x = at.tensor([1.5, 2.5], requires_grad=True)
    assert not x.argmax().requires_grad
    assert not (x > 2).requires_grad
    assert not x.max(0).indices.requires_grad
    for y in (x.long(), x.bool(), x.to(at.int32)):
        assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert repr(x.long()) == "tensor([1, 2])"


# -- type promotion --------------------------------------------------------------------------
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv}


def _make(lib, dt: str, zero_dim: bool):
    v = 1 if zero_dim else [1, 1]
    if lib is at:
        return at.tensor(v, dtype=dt)
    return torch.tensor(v, dtype=getattr(torch, dt))


@needs_torch
@pytest.mark.parametrize("op", list(OPS))
def test_promotion_tensor_tensor(op: str) -> None:
    f = OPS[op]
    for a, b in itertools.product(DTYPES, DTYPES):
        if op == "sub" and "bool" in (a, b):
            continue
        for za, zb in itertools.product((False, True), repeat=2):
            expected = _torch_dtype_name(f(_make(torch, a, za), _make(torch, b, zb)))
            got = str(f(_make(at, a, za), _make(at, b, zb)).dtype)
            assert got == expected, f"{a}{' 0-d' * za} {op} {b}{' 0-d' * zb}"


@needs_torch
@pytest.mark.parametrize("scalar", [True, 2, 2.5], ids=["bool", "int", "float"])
def test_promotion_weak_python_scalars(scalar) -> None:
    for a, za, (op, f), reflected in itertools.product(DTYPES, (False, True), OPS.items(),
                                                       (False, True)):  # fmt: skip
        if op == "sub" and (a == "bool" or scalar is True):
            continue
        tt, ta = _make(torch, a, za), _make(at, a, za)
        expected = _torch_dtype_name(f(scalar, tt) if reflected else f(tt, scalar))
        got = str((f(scalar, ta) if reflected else f(ta, scalar)).dtype)
        assert got == expected, f"{a} {op} {scalar!r} reflected={reflected}"


def test_float32_stays_float32_with_python_floats() -> None:
    x = at.tensor([1.0, 2.0])
    for y in (x * 0.1, 0.1 * x, x / 3, 2.0**x, x**0.5, x - 1e-3, x * np.float64(2.0)):
        assert y.dtype == at.float32


def test_zero_dim_float64_does_not_upcast() -> None:
    x = at.tensor([1.0, 2.0])
    s = at.tensor(2.0, dtype=at.float64)
    assert (x * s).dtype == at.float32  # same category: the dimensioned tensor wins
    assert (at.tensor([1, 2]) * at.tensor(2.5)).dtype == at.float32  # higher category wins


def test_ndarray_operand() -> None:
    x = at.tensor([1.0, 2.0])
    y = x * np.array([2.0, 3.0])
    assert isinstance(y, at.Tensor)
    z = np.array([2.0, 3.0]) * x  # ndarray on the left dispatches to Tensor
    assert isinstance(z, at.Tensor)
    np.testing.assert_array_equal(z.numpy(), [2.0, 6.0])


# -- repr ------------------------------------------------------------------------------------
REPR_CASES = [
    [1.0, 2.0, 3.0], [0.1, 2.5, -3.25], [[1.5, 2.0], [3.0, 4.0]], 3.14159, 2.0, 0.0,
    [1e-5, 1.0], [1e10, 1.0], [1e-10, 2e-10], [float("nan"), 1.0, float("inf")], [1, 2, 3],
    [True, False], [True, True], [], [[1, 2], [3, 4]], [123456.789, 1.0], [1e8, 1.0],
    [0.001, 1000.0], [-1.0, 1.0], [[0.5]], [100.0, 2.5], [12345678.0], [0.0, 5e-4, 1.0],
    [[]], [[], []],
]  # fmt: skip


def _same_layout(r: str) -> str:
    """torch's repr with 'torch.' written 'at.'. A suffix may sit on its own line in one and
    not the other only because 'dtype=torch.float64' is 3 characters longer than
    'dtype=at.float64' (the line-length rule is the same), so suffixes are joined."""
    return re.sub(
        r",\n +(dtype=|grad_fn=|requires_grad=|size=)", r", \1", r.replace("torch.", "at.")
    )


@needs_torch
@pytest.mark.parametrize("case", range(len(REPR_CASES)))
def test_repr_matches_torch(case: int) -> None:
    data = REPR_CASES[case]
    for dt in (None, "float64", "int32"):
        if dt == "int32" and not all(float(v).is_integer() and abs(v) < 2**31
                                     for v in np.ravel(data)):  # fmt: skip
            continue
        expected = repr(torch.tensor(data, dtype=getattr(torch, dt) if dt else None))
        assert _same_layout(repr(at.tensor(data, dtype=dt))) == _same_layout(expected)


@needs_torch
@pytest.mark.parametrize(
    "shape", [(3, 4, 2), (4, 10), (40, 40), (3, 500), (2000,), (5, 300, 2)], ids=str
)
def test_repr_matches_torch_random_and_summarized(shape) -> None:
    a = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    assert repr(at.from_numpy(a)) == repr(torch.from_numpy(a))
    b = (a * 1000).astype(np.int64)
    assert repr(at.from_numpy(b)) == repr(torch.from_numpy(b))


@needs_torch
def test_repr_matches_torch_over_random_scales_and_dtypes() -> None:
    for seed in range(40):
        rng = np.random.default_rng(seed)
        shape = tuple(rng.integers(1, 13, size=rng.integers(0, 4)))
        a = np.asarray(rng.normal(size=shape) * 10.0 ** rng.integers(-6, 9), dtype=np.float32)
        if seed % 5 == 0:
            a.reshape(-1)[0] = np.nan
        if seed % 3 == 0:
            a = np.round(a)
        for arr in (a, a.astype(np.float64), np.nan_to_num(a).astype(np.int64), a > 0):
            arr = np.asarray(arr)
            assert _same_layout(repr(at.from_numpy(arr))) == _same_layout(
                repr(torch.from_numpy(arr))
            ), f"seed {seed}, dtype {arr.dtype}"


@needs_torch
def test_repr_autograd_suffixes() -> None:
    x, tx = at.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x) == repr(tx)
    y = at.tensor(2.5, dtype=at.float64, requires_grad=True)
    ty = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    assert repr(y) == repr(ty).replace("torch.", "at.")
    # grad_fn names follow torch's pattern without its version suffix (MulBackward0)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert repr(x.detach()) == "tensor([1., 2.])"


# -- attributes and conversion ---------------------------------------------------------------
def test_attributes() -> None:
    x = at.zeros(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and x.numel() == 24
    assert x.T.shape == (4, 3, 2)
    assert x.is_leaf and x.grad is None and x.grad_fn is None and not x.requires_grad
    assert x.is_floating_point() and not at.tensor([1]).is_floating_point()


def test_item_tolist_numpy_array() -> None:
    x = at.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert at.tensor(2.5).item() == 2.5 and isinstance(at.tensor(3).item(), int)
    assert at.tensor([[7.0]]).item() == 7.0
    with pytest.raises(RuntimeError, match="4 elements"):
        x.item()
    assert x.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert at.tensor(1.5).tolist() == 1.5
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().dtype == np.float32
    arr = np.asarray(x)
    np.testing.assert_array_equal(arr, [[1.5, 2.0], [3.0, 4.0]])
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert float(at.tensor(2.5)) == 2.5 and int(at.tensor(3)) == 3


def test_numpy_refuses_tensors_requiring_grad() -> None:
    x = at.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"detach\(\)\.numpy\(\)"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


def test_len_iter_bool() -> None:
    x = at.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    assert len(x) == 3
    rows = list(x)
    assert len(rows) == 3 and rows[1].tolist() == [3.0, 4.0] and rows[1].shape == (2,)
    with pytest.raises(TypeError):
        len(at.tensor(1.0))
    with pytest.raises(TypeError):
        iter(at.tensor(1.0))
    assert bool(at.tensor([1.0])) and not bool(at.tensor(0.0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x)


def test_iteration_is_differentiable() -> None:
    x = at.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    total = sum(row * (i + 1) for i, row in enumerate(x))
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0], [2.0, 2.0]])


def test_data_is_detached_and_shares_memory() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    d = x.data
    assert not d.requires_grad
    d[0] = 5.0  # writes through, as torch's .data
    assert x.detach().tolist() == [5.0, 2.0]


def test_tensors_hash_by_identity() -> None:
    a, b = at.tensor([1.0]), at.tensor([1.0])
    d = {a: 1, b: 2}
    assert d[a] == 1 and d[b] == 2


# -- indexing --------------------------------------------------------------------------------
_INDICES = [
    0, -1, slice(1, 3), slice(None, None, 2), (1, 2), (slice(None), 1), (Ellipsis, 0),
    (None, 1), (0, None, slice(1, None)), (slice(None), None), ([0, 2],), ([0, 2], [1, 3]),
    (slice(None), [3, 0, 0]), ([[0, 1], [2, 2]],), (1, Ellipsis, None), (-2, slice(-3, -1)),
    (slice(None), [True, False, True, False]),
]  # fmt: skip


@pytest.mark.parametrize("index", _INDICES, ids=repr)
def test_getitem_value_and_gradient_match_numpy(index) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    x = at.tensor(a, requires_grad=True)
    y = x[index]
    expected = a[index]
    np.testing.assert_array_equal(y.detach().numpy(), expected)
    w = rng.normal(size=expected.shape)
    (y * at.tensor(w)).sum().backward()
    g = np.zeros_like(a)
    np.add.at(g, index, w)  # repeated indices accumulate
    np.testing.assert_allclose(x.grad.numpy(), g, rtol=1e-12)


def test_getitem_with_tensor_indices_and_masks() -> None:
    a = np.arange(12.0).reshape(3, 4)
    x = at.tensor(a)
    np.testing.assert_array_equal(x[at.tensor([2, 0])].numpy(), a[[2, 0]])
    np.testing.assert_array_equal(x[x > 5].numpy(), a[a > 5])
    np.testing.assert_array_equal(x[at.tensor(1)].numpy(), a[1])


@needs_torch
def test_getitem_matches_torch_advanced_mixed() -> None:
    a = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    t, x = torch.tensor(a), at.tensor(a)
    for index in [
        (slice(None), [0, 2], slice(None), [1, 4]),
        ([0, 1], slice(None), [2, 3]),
        (Ellipsis, [1, 1, 0]),
        (0, [0, 1], [2, 3]),
        (None, slice(None), 1, [0, 2]),
    ]:
        np.testing.assert_array_equal(x[index].numpy(), t[index].numpy(), err_msg=repr(index))


def test_setitem_no_grad_paths() -> None:
    x = at.zeros(3, 4)
    x[0] = 1.0
    x[1, 2] = 5.0
    x[:, 3] = at.tensor([7.0, 8.0, 9.0])
    x[x == 0] = -1.0
    expected = np.full((3, 4), -1.0)
    expected[0] = 1.0
    expected[1, 2] = 5.0
    expected[:, 3] = [7.0, 8.0, 9.0]
    np.testing.assert_array_equal(x.numpy(), expected)
    y = at.zeros(3, dtype=at.int64)
    y[1] = 4
    assert y.tolist() == [0, 4, 0]


def test_setitem_gradient_to_value_and_base() -> None:
    base = at.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    v = at.tensor([10.0, 20.0], requires_grad=True)
    y = base * 1.0
    y[1:3] = v
    (y * at.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    np.testing.assert_array_equal(base.grad.numpy(), [1.0, 0.0, 0.0, 4.0])
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 3.0])


def test_device_arguments_cpu_accepted_others_refused_clearly():
    t = at.ones(2)
    assert t.to("cpu") is t and t.cpu() is t and t.device == at.device("cpu")
    assert t.to("cpu", at.float64).dtype == at.float64
    for dev in ("cuda", "cuda:0"):
        with pytest.raises(RuntimeError, match="CPU only"):
            t.to(dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        t.to(device="cuda")
