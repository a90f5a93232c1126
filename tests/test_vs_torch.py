"""Every operator and function of the autotensor API against PyTorch: the same inputs give
the same values, dtypes and gradients, in float32 (within ~1e-5 relative) and float64 (within
~1e-10); then second derivatives, Hessian-vector products and Hessians against
torch.autograd.functional and torch's double backward.

Each case is one function `fn(lib, *inputs)` run twice, with lib = autotensor and lib = torch,
so both sides are spelled the same way, as a user porting a script would spell them.
"""

from __future__ import annotations

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at

if torch is not None:
    torch.set_num_threads(1)

TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}


# -- input specifications --------------------------------------------------------------------
def real(*shape):  # any sign
    return ("real", shape)


def pos(*shape):  # in [0.5, 2]: log, sqrt, division, fractional powers
    return ("pos", shape)


def away(*shape):  # |x| in [0.2, 2]: clear of kinks at 0 (abs, relu, sign)
    return ("away", shape)


def const(array):  # a constant tensor (integer indices, masks, fixed floats)
    return ("const", np.asarray(array))


def _materialize(spec, rng):
    kind, v = spec
    if kind == "real":
        return rng.normal(size=v)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, v)
    if kind == "away":
        return rng.uniform(0.2, 2.0, v) * rng.choice([-1.0, 1.0], v)
    return v


def _make(lib, spec, arr, dtype):
    kind = spec[0]
    if lib is at:
        if kind == "const":
            return at.tensor(arr) if arr.dtype.kind != "f" else at.tensor(arr, dtype=dtype)
        return at.tensor(arr, dtype=dtype, requires_grad=True)
    tdt = getattr(torch, dtype)
    if kind == "const":
        return torch.tensor(arr) if arr.dtype.kind != "f" else torch.tensor(arr, dtype=tdt)
    return torch.tensor(arr, dtype=tdt, requires_grad=True)


def _outputs(out):
    if isinstance(out, (tuple, list)):
        return list(out)
    return [out]


def _np(t):
    if isinstance(t, at.Tensor):
        return t.detach().numpy()
    return t.detach().numpy()


def check(fn, specs, dtype="float64", seed=0, grad=True, arrays=None):
    """Run fn on autotensor and torch with the same inputs; compare values, dtypes, grads.

    `arrays` gives the input values directly (they still require grad unless `const`)."""
    rng = np.random.default_rng(seed)
    if arrays is None:
        arrays = [_materialize(s, rng) for s in specs]
    ours = [_make(at, s, a, dtype) for s, a in zip(specs, arrays)]
    theirs = [_make(torch, s, a, dtype) for s, a in zip(specs, arrays)]
    out_a, out_t = _outputs(fn(at, *ours)), _outputs(fn(torch, *theirs))
    assert len(out_a) == len(out_t)
    tol = TOL[dtype]
    for k, (a, t) in enumerate(zip(out_a, out_t)):
        if not isinstance(t, torch.Tensor):  # a Python value (allclose, equal, ...)
            assert a == t, f"output {k}: {a!r} vs {t!r}"
            continue
        assert tuple(a.shape) == tuple(t.shape), f"output {k}: shape {a.shape} vs {tuple(t.shape)}"
        assert str(a.dtype) == str(t.dtype).removeprefix("torch."), f"output {k} dtype"
        if t.dtype.is_floating_point:
            np.testing.assert_allclose(_np(a), _np(t), **tol, err_msg=f"output {k}")
        else:
            np.testing.assert_array_equal(_np(a), _np(t), err_msg=f"output {k}")
    if not grad:
        return
    pairs = [
        (a, t) for a, t in zip(out_a, out_t) if isinstance(t, torch.Tensor) and t.requires_grad
    ]
    assert pairs, "no differentiable output"
    loss_a, loss_t = 0.0, 0.0
    for a, t in pairs:
        assert a.requires_grad, "our output does not require grad"
        w = rng.normal(size=tuple(t.shape))
        loss_a = loss_a + (a * at.tensor(w, dtype=a.dtype)).sum()
        loss_t = loss_t + (t * torch.tensor(w, dtype=t.dtype)).sum()
    loss_a.backward()
    loss_t.backward()
    for i, (s, xa, xt) in enumerate(zip(specs, ours, theirs)):
        if s[0] == "const":
            continue
        ga = np.zeros(xa.shape) if xa.grad is None else xa.grad.numpy()
        gt = np.zeros(tuple(xt.shape)) if xt.grad is None else xt.grad.numpy()
        if xa.grad is not None:
            assert str(xa.grad.dtype) == dtype, f"gradient of input {i} came back {xa.grad.dtype}"
        np.testing.assert_allclose(ga, gt, **tol, err_msg=f"gradient of input {i}")


def _F(lib):
    return at if lib is at else torch.nn.functional


# -- the cases -------------------------------------------------------------------------------
CASES = {
    # arithmetic, with broadcasting and reflected forms
    "add": (lambda m, x, y: x + y, [real(3, 4), real(4)]),
    "add_alpha": (lambda m, x, y: m.add(x, y, alpha=2.5), [real(3, 4), real(3, 1)]),
    "sub": (lambda m, x, y: x - y, [real(2, 1, 4), real(3, 1)]),
    "mul": (lambda m, x, y: x * y, [real(3, 4), real(1, 4)]),
    "div": (lambda m, x, y: x / y, [real(3, 4), pos(4)]),
    "pow": (lambda m, x, y: x**y, [pos(3, 4), real(3, 4)]),
    "pow_scalar": (lambda m, x: x**3 + x**0.5 * 2, [pos(5)]),
    "pow_int_exponent_negative_base": (lambda m, x: x**2 - x**3, [real(5)]),
    "radd_rsub_rmul": (lambda m, x: 2.5 + x - (1.5 - x) * 3.0 + 2 * x, [real(2, 3)]),
    "rdiv_rpow": (lambda m, x: 2.0 / x + 3.0**x, [pos(2, 3)]),
    "neg_abs": (lambda m, x: -x + x.abs() + abs(x) + m.abs(x), [away(3, 3)]),
    "add_sub_mul_div_functions": (
        lambda m, x, y: m.sub(m.add(x, y), m.mul(x, y)) + m.div(x, y),
        [real(3), pos(3)],
    ),
    "pow_function": (lambda m, x, y: m.pow(x, y), [pos(4), real(4)]),
    # matmul and its 1-D / batched rules
    "matmul_2d": (lambda m, x, y: x @ y, [real(3, 4), real(4, 5)]),
    "matmul_1d_1d": (lambda m, x, y: x @ y, [real(4), real(4)]),
    "matmul_1d_2d": (lambda m, x, y: m.matmul(x, y), [real(4), real(4, 5)]),
    "matmul_2d_1d": (lambda m, x, y: x.matmul(y), [real(3, 4), real(4)]),
    "matmul_batched_1d": (lambda m, x, y: x @ y, [real(2, 3, 4), real(4)]),
    "matmul_1d_batched": (lambda m, x, y: x @ y, [real(4), real(2, 4, 5)]),
    "matmul_batch_broadcast": (lambda m, x, y: x @ y, [real(2, 1, 3, 4), real(5, 4, 2)]),
    "mm_bmm_dot": (
        lambda m, a, b, c, d, u, v: a.mm(b).sum() + c.bmm(d).sum() + u.dot(v),
        [real(2, 3), real(3, 2), real(2, 2, 3), real(2, 3, 4), real(3), real(3)],
    ),
    # elementwise functions
    "exp": (lambda m, x: x.exp() + m.exp(x), [real(3, 4)]),
    "log": (lambda m, x: x.log() + m.log(x), [pos(3, 4)]),
    "log1p": (lambda m, x: x.log1p(), [pos(3, 4)]),
    "sqrt": (lambda m, x: x.sqrt() + m.sqrt(x), [pos(3, 4)]),
    "rsqrt": (lambda m, x: x.rsqrt() + m.rsqrt(x), [pos(3, 4)]),
    "sin_cos": (lambda m, x: x.sin() * x.cos() + m.sin(x) - m.cos(x), [real(3, 4)]),
    "tanh": (lambda m, x: x.tanh() + m.tanh(x), [real(3, 4)]),
    "trig": (lambda m, x: x.tan() * m.atan(x) + m.arcsin(x * 0.3) - x.acos(), [away(3, 4)]),
    "hyperbolic": (
        lambda m, x: x.sinh() * m.cosh(x) + m.asinh(x) + (x * 0.3).atanh() + (x * x + 1.5).acosh(),
        [real(3, 4)],
    ),
    "exp_log_bases": (lambda m, x: x.expm1() + m.exp2(x) + x.log2() * m.log10(x), [pos(3, 4)]),
    "inplace_functions": (
        lambda m, x: (x * 1).exp_() + (x * 2).log_() + (x * 0.5).atan_() * (x + 1).sqrt_(),
        [pos(3, 4)],
    ),
    "sigmoid": (lambda m, x: x.sigmoid() + m.sigmoid(x), [real(3, 4)]),
    "sigmoid_extreme": (lambda m, x: (x * 50).sigmoid(), [real(20)]),
    "relu": (lambda m, x: x.relu() + m.relu(x), [away(3, 4)]),
    "square_reciprocal": (lambda m, x: x.square() + x.reciprocal(), [pos(5)]),
    "clamp": (
        lambda m, x: x.clamp(-0.5, 0.5) + m.clamp(x, min=0.1) + x.clamp(max=0.3),
        [away(4, 5)],
    ),
    "clip": (lambda m, x: x.clip(-0.5, 0.5) + m.clip(x, -1.0, 1.0), [away(4, 5)]),
    "clamp_tensor_bounds": (
        lambda m, x, lo, hi: x.clamp(lo, hi),
        [real(3, 4), real(4), real(3, 1)],
    ),
    "maximum_minimum": (
        lambda m, x, y: m.maximum(x, y) + m.minimum(x, y) * 2,
        [real(3, 4), real(4)],
    ),
    "where": (
        lambda m, c, x, y: m.where(c, x, y),
        [const(np.array([[True], [False], [True]])), real(3, 4), real(4)],
    ),
    "where_scalar": (lambda m, c, x: m.where(c, x, 0.0), [const([True, False, True]), real(2, 3)]),
    # reductions
    "sum": (
        lambda m, x: (x.sum(), x.sum(1), x.sum((0, 2), keepdim=True), m.sum(x, -1)),
        [real(2, 3, 4)],
    ),
    "mean": (lambda m, x: (x.mean(), x.mean(-1), x.mean((0, 1), keepdim=True)), [real(2, 3, 4)]),
    "prod": (lambda m, x: (x.prod(), x.prod(1), x.prod(0, keepdim=True)), [away(3, 4)]),
    "prod_with_zero": (
        lambda m, x: (x * m.tensor([[1.0, 0.0, 1.0]], dtype=x.dtype)).prod(1),
        [real(2, 3)],
    ),
    "var": (
        lambda m, x: (
            x.var(),
            x.var(1),
            x.var(0, unbiased=False),
            x.var(1, keepdim=True),
            x.var(1, correction=0),
            x.var(1, correction=2),
            m.var(x, (0, 1)),
        ),
        [real(4, 5)],
    ),  # fmt: skip
    "std": (
        lambda m, x: (
            x.std(),
            x.std(1),
            x.std(0, unbiased=False),
            x.std(1, correction=2),
            m.std(x, 1, keepdim=True),
        ),
        [real(4, 5)],
    ),  # fmt: skip
    "max_min_full": (lambda m, x: (x.max(), x.min(), m.max(x), m.min(x)), [real(3, 4)]),
    "max_min_dim": (
        lambda m, x: (*x.max(1), *x.min(0), *x.max(-1, keepdim=True), *m.max(x, 0)),
        [real(3, 4)],
    ),
    "max_binary": (lambda m, x, y: m.max(x, y) + x.min(y), [real(3, 4), real(3, 4)]),
    "amax_amin": (
        lambda m, x: (x.amax(), x.amax(1), x.amin((0, 2)), m.amax(x, -1, keepdim=True)),
        [real(2, 3, 4)],
    ),
    "argmax_argmin": (
        lambda m, x: (
            x.argmax(),
            x.argmax(1),
            x.argmin(0),
            x.argmin(-1, keepdim=True),
            m.argmax(x, 1),
        ),
        [real(3, 4)],
        False,  # integer results: nothing to differentiate
    ),  # fmt: skip
    "logsumexp": (
        lambda m, x: (x.logsumexp(1), m.logsumexp(x, (0, 1)), x.logsumexp(-1, keepdim=True)),
        [real(3, 4)],
    ),
    "logsumexp_large": (lambda m, x: (x * 1000).logsumexp(1), [real(3, 4)]),
    "softmax": (lambda m, x: (x.softmax(1), m.softmax(x, 0), x.softmax(-1)), [real(3, 4)]),
    "log_softmax": (lambda m, x: (x.log_softmax(1), m.log_softmax(x, 0)), [real(3, 4)]),
    "log_softmax_extreme": (lambda m, x: (x * 1000).log_softmax(-1), [real(3, 4)]),
    "norm": (
        lambda m, x: (
            x.norm(),
            x.norm(dim=1),
            x.norm(p=1),
            x.norm(1, dim=0),
            x.norm(3, dim=1),
            x.norm(float("inf")),
            x.norm(dim=1, keepdim=True),
            m.norm(x),
        ),
        [away(3, 4)],
    ),  # fmt: skip
    "cumsum": (lambda m, x: (x.cumsum(0), x.cumsum(-1), m.cumsum(x, 1)), [real(3, 4)]),
    # shapes
    "reshape_view": (
        lambda m, x: (
            x.reshape(4, 3),
            x.reshape(-1),
            x.view(2, 6),
            x.view(-1, 4),
            m.reshape(x, (6, 2)),
            x.reshape((3, 2, 2)),
        ),
        [real(3, 4)],
    ),  # fmt: skip
    "view_as_reshape_as": (
        lambda m, x, y: x.view_as(y) + x.reshape_as(y),
        [real(3, 4), real(2, 6)],
    ),
    "flatten": (
        lambda m, x: (x.flatten(), x.flatten(1), x.flatten(0, 1), m.flatten(x, -2)),
        [real(2, 3, 4)],
    ),
    "squeeze_unsqueeze": (
        lambda m, x: (
            x.squeeze(),
            x.squeeze(1),
            x.squeeze(0),
            x.unsqueeze(0),
            x.unsqueeze(-1),
            m.unsqueeze(x, 2),
            m.squeeze(x, (1, 3)),
        ),
        [real(2, 1, 3, 1)],
    ),  # fmt: skip
    "transpose_permute_t": (
        lambda m, x, y: (
            x.transpose(0, 2),
            x.permute(2, 0, 1),
            x.permute((1, 0, 2)),
            y.t(),
            y.T,
            m.transpose(x, -1, 0),
            m.permute(x, (0, 2, 1)),
            x.mT,
        ),
        [real(2, 3, 4), real(3, 5)],
    ),  # fmt: skip
    "expand": (
        lambda m, x, y: (x.expand(2, 3, 4), x.expand(-1, 4), y.expand_as(m.zeros(3, 3))),
        [real(3, 1), real(3)],
    ),
    "repeat": (lambda m, x: (x.repeat(2, 3), x.repeat(2, 1, 2)), [real(2, 3)]),
    "flip": (lambda m, x: (x.flip(0), x.flip(0, 2), m.flip(x, (-1,))), [real(2, 3, 4)]),
    "contiguous": (lambda m, x: x.t().contiguous() * 2, [real(3, 4)]),
    # joining and splitting
    "cat": (
        lambda m, x, y: (m.cat([x, y]), m.cat((x, x), dim=1), m.cat([y, x], -2)),
        [real(2, 3), real(4, 3)],
    ),
    "stack": (lambda m, x, y: (m.stack([x, y]), m.stack((x, y), dim=-1)), [real(2, 3), real(2, 3)]),
    "split": (lambda m, x: (*x.split(2), *x.split([1, 3], dim=1), *m.split(x, 3)), [real(5, 4)]),
    "chunk": (lambda m, x: (*x.chunk(3), *x.chunk(2, dim=1), *m.chunk(x, 5, 1)), [real(5, 4)]),
    "unbind": (lambda m, x: (*x.unbind(), *x.unbind(1), *m.unbind(x, -1)), [real(2, 3)]),
    # indexing
    "getitem_basic": (
        lambda m, x: (x[0], x[-1, 1:3], x[:, None, ::2], x[..., 1], x[1:, ..., None], x[None]),
        [real(3, 4, 2)],
    ),
    "getitem_advanced": (
        lambda m, x, i, j: (x[i], x[i, j], x[:, j], x[m.tensor([[0, 1], [2, 2]])]),
        [real(3, 4), const([2, 0, 2]), const([1, 3, 1])],
    ),
    "getitem_mask": (
        lambda m, x, b: (x[b], x[x.detach() > 0]),
        [real(3, 4), const(np.eye(3, 4) > 0)],
    ),
    "setitem": (_setitem := lambda m, x, v: _do_setitem(x, v), [real(3, 4), real(4)]),
    "gather": (
        lambda m, x, i, j: (x.gather(1, i), m.gather(x, 0, j)),
        [real(3, 4), const([[0, 0], [3, 1], [2, 2]]), const([[2, 0, 1, 1]])],
    ),
    "scatter_add": (
        lambda m, x, i, s: (x.scatter_add(0, i, s), m.scatter_add(x, 1, i, s)),
        [real(3, 3), const([[0, 1, 2], [0, 0, 1]]), real(2, 3)],
    ),
    "index_select": (
        lambda m, x, i: (x.index_select(0, i), m.index_select(x, 1, i)),
        [real(3, 4), const([2, 0, 2])],
    ),
    "masked_fill": (
        lambda m, x, b: (x.masked_fill(b, 0.5), m.masked_fill(x, b, m.tensor(-1.0, dtype=x.dtype))),
        [real(3, 4), const(np.array([True, False, False, True]))],
    ),
    "pad_constant": (
        lambda m, x: (
            _F(m).pad(x, (1, 2)),
            _F(m).pad(x, (1, 0, 0, 2), value=1.5),
            _F(m).pad(x, (-1, 1)),
            _F(m).pad(x, (0, 0, 0, 0, 1, 1)),
        ),
        [real(2, 3, 4)],
    ),  # fmt: skip
    "pad_reflect": (lambda m, x: _F(m).pad(x, (2, 1, 1, 2), mode="reflect"), [real(1, 2, 4, 5)]),
    "pad_replicate": (
        lambda m, x: _F(m).pad(x, (3, 1, 0, 2), mode="replicate"),
        [real(1, 2, 3, 4)],
    ),
    "pad_circular": (lambda m, x: _F(m).pad(x, (2, 1, 1, 1), mode="circular"), [real(1, 2, 3, 4)]),
    "pad_reflect_1d": (lambda m, x: _F(m).pad(x, (3, 2), mode="reflect"), [real(2, 2, 5)]),
    # zero-gradient functions
    "sign_floor_round": (
        lambda m, x: (
            x.sign(),
            x.floor(),
            x.round(),
            m.sign(x) * x,
            m.floor(x) + m.round(x),
            x.ceil(),
        ),
        [away(3, 4)],
    ),
    "round_decimals": (lambda m, x: (x * 10).round(decimals=1), [away(3, 4)]),
}


def _do_setitem(x, v):
    y = x * 1.0
    y[1] = v
    y[0, ::2] = 7.0
    return y


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_torch(name: str, dtype: str) -> None:
    fn, specs, *grad = CASES[name]
    check(fn, specs, dtype, grad=grad[0] if grad else True)


# -- no-grad functions: comparisons, predicates --------------------------------------------
@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_comparisons_match_torch(dtype: str) -> None:
    a = np.array([[1.0, 2.0, np.nan], [3.0, -1.0, 2.0]])
    b = np.array([2.0, 2.0, 1.0])
    x, tx = at.tensor(a, dtype=dtype), torch.tensor(a, dtype=getattr(torch, dtype))
    y, ty = at.tensor(b, dtype=dtype), torch.tensor(b, dtype=getattr(torch, dtype))
    pairs = [
        (x == y, tx == ty), (x != y, tx != ty), (x < y, tx < ty), (x <= y, tx <= ty),
        (x > y, tx > ty), (x >= y, tx >= ty), (x == 2.0, tx == 2.0), (x > 1, tx > 1),
        (2.0 < x, 2.0 < tx), (x.eq(y), tx.eq(ty)), (x.ne(y), tx.ne(ty)), (x.lt(y), tx.lt(ty)),
        (x.le(y), tx.le(ty)), (x.gt(y), tx.gt(ty)), (x.ge(y), tx.ge(ty)),
        (x.isnan(), tx.isnan()), (at.isnan(x), torch.isnan(tx)), (x.isinf(), tx.isinf()),
        (at.isfinite(x / 0.0), torch.isfinite(tx / 0.0)), (x.isfinite(), tx.isfinite()),
    ]  # fmt: skip
    for k, (ours, theirs) in enumerate(pairs):
        assert ours.dtype == at.bool and not ours.requires_grad
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=f"pair {k}")


def test_comparisons_do_not_record() -> None:
    x = at.tensor([1.0, 2.0], requires_grad=True)
    assert not (x > 1).requires_grad and (x > 1).grad_fn is None


@needs_torch
def test_allclose_and_equal_match_torch() -> None:
    a = np.array([1.0, 2.0, 3.0])
    for b in (a + 1e-9, a + 1e-3, a * (1 + 2e-5)):
        for kw in ({}, {"rtol": 1e-2}, {"atol": 1e-2}):
            assert at.allclose(at.tensor(a), at.tensor(b), **kw) == torch.allclose(
                torch.tensor(a), torch.tensor(b), **kw
            )
            assert at.tensor(a).allclose(at.tensor(b), **kw) == torch.tensor(a).allclose(
                torch.tensor(b), **kw
            )
    n = np.array([1.0, np.nan])
    assert at.allclose(at.tensor(n), at.tensor(n), equal_nan=True)
    assert not at.allclose(at.tensor(n), at.tensor(n))
    assert at.equal(at.tensor(a), at.tensor(a)) and not at.equal(at.tensor(a), at.tensor(a + 1))


# -- tie-breaking and kinks: where the gradient is a convention, torch's convention ----------
TIES = {
    "amax_ties": (lambda m, x: (x.amax(1), x.amin(0)), [const([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]])]),
    "max_full_ties": (lambda m, x: (x.max(), x.min()), [const([[1.0, 3.0, 3.0], [3.0, 0.5, 0.5]])]),
    "max_dim_ties": (
        lambda m, x: (*x.max(1), *x.min(1), *x.max(0)),
        [const([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5], [2.0, 3.0, 0.5]])],
    ),
    "maximum_ties": (
        lambda m, x, y: (m.maximum(x, y), m.minimum(x, y)),
        [const([1.0, 2.0, 3.0]), const([1.0, 0.0, 3.0])],
    ),
    "clamp_at_bounds": (lambda m, x: x.clamp(-1.0, 1.0), [const([-1.0, 1.0, 0.0, 2.0, -2.0])]),
    "relu_abs_at_zero": (lambda m, x: x.relu() + x.abs(), [const([0.0, 1.0, -1.0])]),
    "norm_at_zero": (lambda m, x: (x.norm(), x.norm(dim=1)), [const([[0.0, 0.0], [3.0, 4.0]])]),
    "argmax_ties": (
        lambda m, x: (x.argmax(1), x.argmin(1)),
        [const([[1.0, 3.0, 3.0], [0.5, 0.5, 2.0]])],
    ),
}


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(TIES))
def test_tie_breaking_matches_torch(name: str, dtype: str) -> None:
    fn, specs = TIES[name]
    # the fixed values are the points of interest: feed them as differentiable inputs
    arrays = [s[1].astype(np.float64) for s in specs]
    check(fn, [real(*a.shape) for a in arrays], dtype, grad=name != "argmax_ties", arrays=arrays)


# -- higher order ----------------------------------------------------------------------------
def _scalar_fn(m, x, w):
    """A scalar function mixing many primitives, to differentiate twice."""
    h = (x @ w).tanh()
    z = h.sigmoid() * x.sum(1, keepdim=True) + (x * x).exp().mean()
    return z.logsumexp(1).sum() + (x.softmax(1) * x).sum() + x.norm() + (x.abs() + 1.0).log().sum()


@needs_torch
def test_hessian_vector_product_matches_torch() -> None:
    rng = np.random.default_rng(0)
    xa, wa, va = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)), rng.normal(size=(3, 4))
    x = at.tensor(xa, dtype=at.float64, requires_grad=True)
    w = at.tensor(wa, dtype=at.float64)
    (g,) = at.grad(_scalar_fn(at, x, w), x, create_graph=True)
    (hv,) = at.grad((g * at.tensor(va, dtype=at.float64)).sum(), x)
    wt = torch.tensor(wa)
    _, hv_t = torch.autograd.functional.hvp(
        lambda t: _scalar_fn(torch, t, wt), torch.tensor(xa), torch.tensor(va)
    )
    np.testing.assert_allclose(hv.numpy(), hv_t.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_hessian_matches_torch() -> None:
    rng = np.random.default_rng(1)
    xa, wa = rng.normal(size=(2, 3)) * 0.5, rng.normal(size=(3, 3))
    x = at.tensor(xa, dtype=at.float64, requires_grad=True)
    w = at.tensor(wa, dtype=at.float64)
    (g,) = at.grad(_scalar_fn(at, x, w), x, create_graph=True)
    rows = []
    for i in range(g.numel()):
        (r,) = at.grad(g.reshape(-1)[i], x, retain_graph=True)
        rows.append(r.numpy().reshape(-1))
    wt = torch.tensor(wa)
    h_t = torch.autograd.functional.hessian(lambda t: _scalar_fn(torch, t, wt), torch.tensor(xa))
    np.testing.assert_allclose(np.stack(rows), h_t.reshape(6, 6).numpy(), rtol=1e-9, atol=1e-12)


SECOND_ORDER = {
    "exp": (lambda m, x: x.exp(), "real"),
    "log": (lambda m, x: x.log(), "pos"),
    "sqrt": (lambda m, x: x.sqrt(), "pos"),
    "rsqrt": (lambda m, x: x.rsqrt(), "pos"),
    "sin": (lambda m, x: x.sin(), "real"),
    "cos": (lambda m, x: x.cos(), "real"),
    "tanh": (lambda m, x: x.tanh(), "real"),
    "tan": (lambda m, x: (x * 0.5).tan(), "real"),
    "atan_asinh": (lambda m, x: x.atan() * x.asinh(), "real"),
    "sinh_cosh": (lambda m, x: x.sinh() * x.cosh(), "real"),
    "log2_expm1": (lambda m, x: x.log2() * x.expm1(), "pos"),
    "sigmoid": (lambda m, x: x.sigmoid(), "real"),
    "pow": (lambda m, x: x**2.5, "pos"),
    "rpow": (lambda m, x: 1.7**x, "real"),
    "div": (lambda m, x: 1.0 / x, "pos"),
    "mul_self": (lambda m, x: x * x * x, "real"),
    "softmax": (lambda m, x: x.softmax(1), "real"),
    "log_softmax": (lambda m, x: x.log_softmax(1), "real"),
    "logsumexp": (lambda m, x: x.logsumexp(1), "real"),
    "norm": (lambda m, x: x.norm(dim=1), "real"),
    "var": (lambda m, x: x.var(1), "real"),
    "std": (lambda m, x: x.std(0), "real"),
    "prod": (lambda m, x: x.prod(1), "pos"),
    "cumsum_sq": (lambda m, x: x.cumsum(1) ** 2, "real"),
    "matmul_sq": (lambda m, x: (x @ x.t()) ** 2, "real"),
    "gather_sq": (lambda m, x: x.gather(1, m.tensor([[0, 0], [2, 1], [1, 3]])) ** 2, "real"),
    "index_sq": (lambda m, x: x[[0, 2, 2]] ** 3, "real"),
}


@needs_torch
@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_double_backward_matches_torch(name: str) -> None:
    """d/dx [ v . J(x) u ]: differentiate the first-order gradient again, on both sides."""
    fn, kind = SECOND_ORDER[name]
    rng = np.random.default_rng(2)
    xa = _materialize((kind, (3, 4)), rng)
    x, tx = (
        at.tensor(xa, requires_grad=True, dtype=at.float64),
        torch.tensor(xa, requires_grad=True),
    )
    y, ty = fn(at, x), fn(torch, tx)
    v = rng.normal(size=tuple(ty.shape))
    u = rng.normal(size=(3, 4))
    (g,) = at.grad(y, x, at.tensor(v, dtype=at.float64), create_graph=True)
    (gt,) = torch.autograd.grad(ty, tx, torch.tensor(v), create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-10, atol=1e-12)
    (gg,) = at.grad((g * at.tensor(u, dtype=at.float64)).sum(), x)
    (ggt,) = torch.autograd.grad((gt * torch.tensor(u)).sum(), tx)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy(), rtol=1e-9, atol=1e-12)


@needs_torch
def test_second_derivative_with_respect_to_grad_output() -> None:
    """Double backward also differentiates through the incoming gradient (v), as torch."""
    rng = np.random.default_rng(3)
    xa, va = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    x = at.tensor(xa, dtype=at.float64, requires_grad=True)
    v = at.tensor(va, dtype=at.float64, requires_grad=True)
    (g,) = at.grad(x.tanh() * x, x, v, create_graph=True)
    (gv,) = at.grad(g.sum(), v)
    tx, tv = torch.tensor(xa, requires_grad=True), torch.tensor(va, requires_grad=True)
    (gt,) = torch.autograd.grad(tx.tanh() * tx, tx, tv, create_graph=True)
    (gvt,) = torch.autograd.grad(gt.sum(), tv)
    np.testing.assert_allclose(gv.numpy(), gvt.numpy(), rtol=1e-10, atol=1e-12)


# -- the API surface -------------------------------------------------------------------------
API_FUNCTIONS = """
add sub mul div pow matmul neg abs exp log log1p sqrt rsqrt sin cos tanh sigmoid relu clamp
clip minimum maximum where sum mean prod var std max min amax amin argmax argmin logsumexp
softmax log_softmax norm cumsum reshape view flatten squeeze unsqueeze transpose permute t
expand expand_as repeat flip contiguous cat stack split chunk unbind gather scatter_add
index_select masked_fill eq ne lt le gt ge sign floor round isnan isinf isfinite allclose
tensor zeros ones empty full zeros_like ones_like full_like rand_like randn_like rand randn
randint arange linspace eye from_numpy manual_seed no_grad enable_grad set_grad_enabled
is_grad_enabled float32 float64 int64 bool float double long detach numel mm bmm dot
""".split()
TENSOR_ATTRIBUTES = """
data shape size dtype ndim dim numel T grad requires_grad is_leaf grad_fn numpy item tolist
__array__ __len__ __iter__ backward detach requires_grad_ retain_grad register_hook float
double long to add_ mul_ zero_ __iadd__ __setitem__ __getitem__
""".split()


@needs_torch
@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_api_function_exists_where_torch_has_it(name: str) -> None:
    """Every name of the API, as `at.X` and as `Tensor.X` wherever torch has that form."""
    assert hasattr(torch, name) or hasattr(torch.Tensor, name), f"not a torch name: {name}"
    if hasattr(torch, name):
        assert hasattr(at, name), f"at.{name} is missing"
    if hasattr(torch.Tensor, name) and not name[0].isupper():
        assert hasattr(at.Tensor, name), f"Tensor.{name} is missing"


def test_tensor_attributes_exist() -> None:
    x = at.ones(2, 3, requires_grad=True)
    missing = [a for a in TENSOR_ATTRIBUTES if not hasattr(x, a)]
    assert not missing
    assert callable(at.autograd.detect_anomaly) and callable(at.testing.check_function)
    assert at.gradcheck and at.gradgradcheck and at.grad and at.Function and at.Tensor
    assert callable(at.functional.pad)


# -- edge cases found by a parity sweep (each one a former mismatch with torch) ----------------
def _same(a, t) -> None:
    """Values, dtype and shape of an autotensor result equal torch's (bit-exact up to float64
    rounding for these small cases)."""
    assert str(a.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (a.dtype, t.dtype)
    assert tuple(a.shape) == tuple(t.shape)
    np.testing.assert_allclose(
        np.asarray(a.detach()._data, dtype=np.float64),
        t.detach().double().numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


@needs_torch
def test_sweep_weak_scalar_promotion_in_clamp_where_masked_fill() -> None:
    for lib in (at, torch):
        lib.manual_seed(0)
    xi = np.array([[1, 5, -3], [0, 2, 7]])
    a, t = at.tensor(xi), torch.tensor(xi)
    _same(a.clamp(max=0.5), t.clamp(max=0.5))  # int tensor, float scalar bound -> float32
    _same(a.clamp(-1.5, 2), t.clamp(-1.5, 2))
    _same(a.clamp(min=0, max=2), t.clamp(min=0, max=2))  # int bounds stay int64
    lo = np.array([0.5, 1.5, 2.5], dtype=np.float32)
    _same(a.clamp(min=at.tensor(lo)), t.clamp(min=torch.tensor(lo)))  # float tensor bound
    _same(at.where(a > 0, 2, 3.5), torch.where(t > 0, 2, 3.5))  # two scalars: float32
    _same(at.where(a > 0, 2, 3), torch.where(t > 0, 2, 3))
    _same(a.masked_fill(a > 0, 1.5), t.masked_fill(t > 0, 1.5))  # value takes x's dtype
    _same((a > 0).masked_fill(a > 1, 0), (t > 0).masked_fill(t > 1, 0))


@needs_torch
def test_sweep_integer_reductions_and_rounding_division() -> None:
    u8 = np.array([[1, 255], [7, 3]], dtype=np.uint8)
    a, t = at.tensor(u8), torch.tensor(u8)
    _same(a.sum(), t.sum())  # uint8 sums, products and cumsums are int64 in torch
    _same(a.prod(), t.prod())
    _same(a.cumsum(-1), t.cumsum(-1))
    for arr in (np.array([7, -7, 5]), np.array([7, -7, 5], dtype=np.int32), u8.ravel()):
        a, t = at.tensor(arr), torch.tensor(arr)
        for mode in ("floor", "trunc"):
            _same(a.div(2, rounding_mode=mode), t.div(2, rounding_mode=mode))  # stays integer
            _same(a.div(2.5, rounding_mode=mode), t.div(2.5, rounding_mode=mode))  # float
    b = np.array([True, False])
    _same(at.tensor(b).div(2, rounding_mode="floor"), torch.tensor(b).div(2, rounding_mode="floor"))
    with pytest.raises(ValueError, match="rounding_mode"):
        at.tensor([1.0]).div(2, rounding_mode="round")


@needs_torch
def test_sweep_sign_of_nan_and_bool() -> None:
    x = np.array([np.nan, -0.0, 2.0, -3.0])
    _same(at.tensor(x).sign(), torch.tensor(x).sign())  # torch: sign(nan) = 0
    _same(at.tensor(np.nan).sign(), torch.tensor(np.nan).sign())
    b = np.array([True, False])
    _same(at.tensor(b).sign(), torch.tensor(b).sign())


@needs_torch
def test_sweep_negative_slice_step_is_refused() -> None:
    x = at.arange(5)
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[::-1]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[None, ::-2]
    with pytest.raises(ValueError):
        torch.arange(5)[::-1]


@needs_torch
def test_sweep_circular_pad_with_negative_pads() -> None:
    """torch crops the negative side first and wraps around what is left."""
    x4 = np.arange(24.0).reshape(1, 2, 2, 6)
    for p in [(-1, 2), (2, -1), (-2, -1), (1, 2, -1, 1), (3, 0, 0, -1)]:
        x = x4[0] if len(p) == 2 else x4  # torch wants 3-D input for one padded dim
        a = at.pad(at.tensor(x), p, mode="circular")
        t = torch.nn.functional.pad(torch.tensor(x), p, mode="circular")
        _same(a, t)


@needs_torch
def test_sweep_empty_softmax_chunk_unbind() -> None:
    for shape, dim in [((0, 3), 0), ((2, 0), -1)]:
        x = np.zeros(shape)
        _same(at.tensor(x).softmax(dim), torch.tensor(x).softmax(dim))
        _same(at.tensor(x).log_softmax(dim), torch.tensor(x).log_softmax(dim))
    e = np.zeros((0, 3))
    a_parts, t_parts = at.tensor(e).chunk(2, 0), torch.tensor(e).chunk(2, 0)
    assert [tuple(p.shape) for p in a_parts] == [tuple(p.shape) for p in t_parts]
    assert at.tensor(e).unbind(0) == () == torch.tensor(e).unbind(0)


def _grads(fn, *arrays):
    """Gradients of sum(fn(lib, *inputs) * w) w.r.t. every input, in both libraries."""
    out = []
    for lib in (at, torch):
        xs = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in arrays]
        y = fn(lib, *xs)
        w = lib.tensor(np.arange(1.0, y.numel() + 1).reshape(tuple(y.shape)), dtype=lib.float64)
        (y * w).sum().backward()
        out.append([x.grad for x in xs])
    return out


@needs_torch
def test_sweep_gradients_at_special_points() -> None:
    cases = [
        # pow with a tensor exponent at x == 0: torch gives 0, not 0 * log(0) = nan
        (lambda lib, a, b: a**b, [np.array([0.0, 1.0, 2.0, 0.0]), np.array([2.0, 0.0, 1.5, 0.0])]),
        # std of a constant row: torch's gradient is 0 there, not nan
        (lambda lib, a: a.std(1), [np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])]),
        (lambda lib, a: a.std(correction=0), [np.ones(4)]),
        # clamp with tensor bounds at ties: x gets the whole gradient, as torch
        (
            lambda lib, a, lo, hi: a.clamp(lo, hi),
            [np.array([0.0, 1.0, 2.0, 5.0]), np.array([0.0, 2.0, 1.0, 6.0]),
             np.array([3.0, 3.0, 2.0, 4.0])],
        ),
        (lambda lib, a, lo: lib.clamp(a, min=lo), [np.array([[1.0, 2.0], [0.0, -1.0]]),
                                                  np.array([[1.0], [0.0]])]),
    ]  # fmt: skip
    for fn, arrays in cases:
        ga, gt = _grads(fn, *arrays)
        for a, t in zip(ga, gt):
            _same(a, t)


@needs_torch
def test_sweep_inplace_float_into_integer_tensor_is_refused() -> None:
    for lib in (at, torch):
        for op in (lambda x: x.add_(1.5), lambda x: x.div_(2), lambda x: x.mul_(x * 0.5)):
            with pytest.raises(RuntimeError, match="can't be cast"):
                op(lib.arange(3))
    x = at.arange(3)
    x.mul_(2)  # an integer operand is fine
    assert x.tolist() == torch.arange(3).mul_(2).tolist()


@needs_torch
def test_sweep_argmax_keepdim_cat_legacy_empty_index_select_negative() -> None:
    x = np.arange(6.0).reshape(2, 3)
    for name in ("argmax", "argmin"):
        a = getattr(at.tensor(x), name)(keepdim=True)
        t = getattr(torch.tensor(x), name)(keepdim=True)
        _same(a, t)  # all dims kept as size 1
    for parts in ([np.zeros(0), x], [np.zeros(0), np.zeros(0)], [x, np.zeros(0), x]):
        _same(at.cat([at.tensor(p) for p in parts]), torch.cat([torch.tensor(p) for p in parts]))
    with pytest.raises(IndexError):
        torch.tensor(x).index_select(0, torch.tensor([-1]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        at.tensor(x).index_select(0, at.tensor([-1]))


@needs_torch
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sweep_narrow_select_movedim_roll_tril_triu(dtype: str) -> None:
    """Values and gradients against torch, negative dims and offsets included."""
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(dtype)
    cases = [
        lambda lib, a: a.narrow(-1, -3, 2),
        lambda lib, a: lib.narrow(a, 1, 1, 0),
        lambda lib, a: a.select(-2, -1),
        lambda lib, a: lib.select(a, 0, 2),
        lambda lib, a: a.movedim(0, -1),
        lambda lib, a: lib.movedim(a, (0, 1), (-1, 0)),
        lambda lib, a: a.roll(2, -1),
        lambda lib, a: a.roll((1, -3), (0, 2)),
        lambda lib, a: lib.roll(a, 7),
        lambda lib, a: a.tril(),
        lambda lib, a: lib.tril(a, -1),
        lambda lib, a: a.triu(2),
        lambda lib, a: lib.triu(a, diagonal=-2),
    ]
    tol = TOL[dtype]
    for fn in cases:
        a = at.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        ya, yt = fn(at, a), fn(torch, t)
        assert tuple(ya.shape) == tuple(yt.shape) and str(ya.dtype) == dtype
        np.testing.assert_allclose(ya.detach().numpy(), yt.detach().numpy(), **tol)
        w = np.arange(yt.numel(), dtype=dtype).reshape(tuple(yt.shape))
        (ya * at.tensor(w)).sum().backward()
        (yt * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), **tol)
    i = np.arange(12).reshape(3, 4)
    assert at.tensor(i).tril(1).tolist() == torch.tensor(i).tril(1).tolist()
    assert str(at.tensor(i).triu().dtype) == "int64"
    with pytest.raises(RuntimeError, match="tril"):
        at.ones(3).tril()
    with pytest.raises(IndexError, match="narrow"):
        at.ones(3).narrow(0, 2, 2)


@needs_torch
def test_sweep_nan_extremum_gradients() -> None:
    """max()/min() over everything give a NaN result's gradient to the NaNs; amax/amin leave
    it NaN; max(dim) follows its index: each as torch."""
    x = np.array([[1.0, np.nan, 3.0], [2.0, 5.0, 5.0]])
    cases = [
        lambda lib, a: a.max(),
        lambda lib, a: a.min(),
        lambda lib, a: lib.max(a, 1)[0],
        lambda lib, a: a.amax(1),
        lambda lib, a: a.amin(0),
    ]
    for fn in cases:
        ga, gt = _grads(fn, x)
        np.testing.assert_array_equal(ga[0].numpy(), gt[0].numpy())  # NaNs in the same places


@needs_torch
def test_sweep_small_api_gaps() -> None:
    x = np.array([[-1.5, 0.25, 2.75]])
    _same(at.trunc(at.tensor(x)), torch.trunc(torch.tensor(x)))
    _same(at.reciprocal(at.tensor(x)), torch.reciprocal(torch.tensor(x)))
    # a uint8 tensor in an index is a mask, as torch (deprecated there, but still a mask)
    m = np.array([[1, 0, 1]], dtype=np.uint8)
    with pytest.warns(UserWarning):
        t = torch.tensor(x)[torch.tensor(m)]
    _same(at.tensor(x)[at.tensor(m)], t)
    # a 1-D empty tensor joins a cat of any shape and still gets its (empty) gradient
    ga, gt = _grads(lambda lib, e, a: lib.cat([e, a], 1), np.zeros(0), x)
    for a, t in zip(ga, gt):
        _same(a, t)


# -- the one-ufunc elementwise family (ops/special.py) over shapes and layouts ----------------
_FAMILY = ["tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh", "expm1",
           "exp2", "log2", "log10"]  # fmt: skip


@needs_torch
@pytest.mark.parametrize("name", _FAMILY)
def test_elementwise_family_over_shapes_and_layouts_as_torch(name: str) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    lo, hi = getattr(at.ops, name.capitalize()).domain

    @settings(max_examples=25, deadline=None)
    @given(
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
        seed=st.integers(0, 2**31 - 1),
        dtype=st.sampled_from(["float32", "float64"]),
    )
    def check(shape: tuple, seed: int, dtype: str) -> None:
        rng = np.random.default_rng(seed)
        perm = [int(p) for p in rng.permutation(len(shape))]
        a = rng.uniform(lo, hi, shape).astype(dtype)
        w = rng.normal(size=[shape[p] for p in perm]).astype(dtype)
        res = []
        for lib in (at, torch):
            x = lib.tensor(a, requires_grad=True)
            y = getattr(x.permute(*perm) if perm else x, name)()  # a strided input
            (y * lib.tensor(w)).sum().backward()
            res.append((y, x.grad))
        (y, g), (ty, tg) = res
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
        np.testing.assert_allclose(g.numpy(), tg.numpy(), **TOL[dtype])
        assert y.dtype == at.float32 if dtype == "float32" else y.dtype == at.float64
        assert y.is_contiguous() == ty.is_contiguous()

    check()
