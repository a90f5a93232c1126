"""Convolution and pooling (autotensor.convolution, autotensor.ops.conv).

Three kinds of evidence:
- numerical: gradcheck and gradgradcheck in float64 over a grid of stride, padding,
  dilation and groups (tiny shapes: every check builds full finite-difference Jacobians);
- oracle: outputs, indices and gradients equal torch's on random inputs, and the fast conv2d
  equals the book's loop version (`conv2d_reference`);
- the book's worked 1-D example gives the book's numbers.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
from autotensor import convolution as C
from autotensor.testing import assert_close

if torch is not None:  # torch-side definitions of the parity tests
    TF = torch.nn.functional

try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


def _t(a: np.ndarray, grad: bool = True) -> at.Tensor:
    return at.tensor(a, requires_grad=grad)


def _tt(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, requires_grad=grad)


def _distinct(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Values with no ties (max pooling is differentiable there), spaced >> eps."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.01, n)).reshape(shape)


def _parity(ours, theirs, arrays, rng, tol=1e-10, nondiff=()):
    """Same outputs (and int outputs), and same gradients for a random output gradient."""
    xs = [_t(a, i not in nondiff) for i, a in enumerate(arrays)]
    ts = [_tt(a, i not in nondiff) for i, a in enumerate(arrays)]
    ya, yt = ours(*xs), theirs(*ts)
    if isinstance(yt, tuple):
        np.testing.assert_array_equal(ya[1].numpy(), yt[1].numpy())
        ya, yt = ya[0], yt[0]
    assert ya.shape == tuple(yt.shape)
    assert_close(ya.detach(), yt.detach().numpy(), rtol=tol, atol=tol, msg="output")
    g = rng.standard_normal(tuple(yt.shape)).astype(arrays[0].dtype)
    ya.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    for i, (x, t) in enumerate(zip(xs, ts)):
        if i in nondiff:
            continue
        assert_close(x.grad, t.grad.numpy(), rtol=tol, atol=tol, msg=f"grad of input {i}")


# -- conv2d ----------------------------------------------------------------------------------
CONV_GRID = [
    (s, p, d, g)
    for s, p, d, g in itertools.product([1, 2], [0, 1, "same", (0, 2)], [1, 2], [1, 2])
    if not (p == "same" and s > 1)
]


@needs_torch
@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_GRID)
def test_conv2d_matches_torch(stride, padding, dilation, groups, rng) -> None:
    x = rng.standard_normal((2, 4, 7, 6))
    for k in [(3, 3), (2, 3)]:  # (2, 3): an even kernel, padded one extra on the right by 'same'
        w = rng.standard_normal((6, 4 // groups, *k))
        b = rng.standard_normal(6)
        _parity(
            lambda x, w, b: C.conv2d(x, w, b, stride, padding, dilation, groups),
            lambda x, w, b: TF.conv2d(x, w, b, stride, padding, dilation, groups),
            [x, w, b], rng,
        )  # fmt: skip


@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_GRID)
def test_conv2d_gradcheck(stride, padding, dilation, groups, rng) -> None:
    x = _t(rng.standard_normal((1, 2, 5, 4)))
    w = _t(rng.standard_normal((2, 2 // groups, 2, 2)))
    b = _t(rng.standard_normal(2))

    def f(x, w, b):
        return C.conv2d(x, w, b, stride, padding, dilation, groups)

    assert at.gradcheck(f, (x, w, b))
    assert at.gradgradcheck(f, (x, w, b))


@needs_torch
def test_conv2d_without_bias_and_float32(rng) -> None:
    x = rng.standard_normal((3, 2, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    _parity(lambda x, w: C.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
            [x, w], rng, tol=1e-5)  # fmt: skip
    xa, wa = _t(x), _t(w)
    out = C.conv2d(xa, wa, stride=2)
    out.sum().backward()
    assert out.dtype == np.float32 and xa.grad.dtype == np.float32 and wa.grad.dtype == np.float32


@needs_torch
def test_conv2d_noncontiguous_input_and_weight(rng) -> None:
    x = rng.standard_normal((6, 5, 3, 2)).transpose(3, 2, 1, 0)  # (2, 3, 5, 6), transposed
    w = rng.standard_normal((3, 3, 3, 4)).transpose(3, 2, 1, 0)  # (4, 3, 3, 3)
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    _parity(lambda x, w: C.conv2d(x, w), lambda x, w: TF.conv2d(x, w), [x, w], rng)


@needs_torch
def test_conv2d_unbatched_input_is_accepted(rng) -> None:
    x = rng.standard_normal((3, 6, 5))
    w = rng.standard_normal((2, 3, 3, 3))
    _parity(lambda x, w: C.conv2d(x, w, padding=1), lambda x, w: TF.conv2d(x, w, padding=1),
            [x, w], rng)  # fmt: skip


@pytest.mark.parametrize("padding", [0, 1, (0, 2)])
def test_kept_chunk_columns_equal_fresh_ones_call_after_call(padding, rng, monkeypatch) -> None:
    """The chunk buffers kept per geometry (ops.conv._kept_columns) give, on every later
    call with other images and another batch size (a partial last chunk), exactly the
    columns that a fresh im2col gives: padding, the ones row and zero rows stay as set up."""
    from autotensor.ops import conv as ops_conv

    monkeypatch.setattr(ops_conv, "_CHUNK_BYTES", 3 * 11 * 25 * 8)  # 3 images a chunk
    win = ops_conv.as_window(3, padding=padding)
    for n in (7, 5, 7, 2):
        x = rng.standard_normal((n, 1, 5, 5))
        for ones, rows in ((True, None), (False, None), (True, 16)):
            got = np.concatenate([c.copy() for _, c in ops_conv._chunks(x, win, ones, rows)])
            np.testing.assert_array_equal(got, ops_conv.im2col(x, win, ones, rows))
    kept = ops_conv._KEPT.columns
    assert 0 < len(kept) <= ops_conv._KEPT_MAX


@needs_torch
@pytest.mark.parametrize("avx512", [True, False])
def test_conv2d_wide_rows(avx512, rng, monkeypatch) -> None:
    """Both orientations of the weight-gradient product (ops.conv._wide_rows picks by the
    BLAS kernels), on a layer where the AVX-512 rule takes the padded 'wide' one."""
    from autotensor.ops import conv as ops_conv

    monkeypatch.setattr(ops_conv, "_avx512_kernels", lambda: avx512)
    assert (ops_conv._wide_rows(64, 28) is not None) == avx512
    x = rng.standard_normal((1, 2, 3, 70))
    w = rng.standard_normal((2, 2, 2, 3))
    _parity(lambda x, w: C.conv2d(x, w, padding=(0, 1)),
            lambda x, w: TF.conv2d(x, w, padding=(0, 1)), [x, w], rng)  # fmt: skip
    x = rng.standard_normal((2, 3, 5, 5))
    w, b = rng.standard_normal((64, 3, 3, 3)), rng.standard_normal(64)
    _parity(lambda x, w, b: C.conv2d(x, w, b, padding=1),
            lambda x, w, b: TF.conv2d(x, w, b, padding=1), [x, w, b], rng)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("stride,groups,out", [(2, 1, 3), (1, 2, 2), (1, 1, 9)])
def test_conv2d_double_backward_matches_torch(stride, groups, out, rng) -> None:
    """A gradient penalty: d/dw of |d loss / dx|^2 needs the second derivative. (The cases
    take both ways to dx: stride 1 with out <= 2 in channels convolves g with the flipped
    weight, the others go through Col2Im.)"""
    x, w = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((out, 4 // groups, 3, 3))
    b = rng.standard_normal(out)
    xa, wa, ba, xt, wt, bt = _t(x), _t(w), _t(b), _tt(x), _tt(w), _tt(b)
    ya = C.conv2d(xa, wa, ba, padding=1, stride=stride, groups=groups)
    yt = TF.conv2d(xt, wt, bt, padding=1, stride=stride, groups=groups)
    (ga, gwa) = at.grad((ya**2).sum(), [xa, wa], create_graph=True)
    (gt, gwt) = torch.autograd.grad((yt**2).sum(), [xt, wt], create_graph=True)
    ((ga * ga).sum() + (gwa**3).sum()).backward()
    ((gt * gt).sum() + (gwt**3).sum()).backward()
    for a, t in [(wa, wt), (xa, xt), (ba, bt)]:
        assert_close(a.grad, t.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("stride,padding,dilation,groups", CONV_GRID[::3])
def test_conv2d_primitive_equals_the_im2col_matmul_composite(stride, padding, dilation,
                                                             groups, rng) -> None:  # fmt: skip
    x = rng.standard_normal((2, 4, 6, 5))
    w = rng.standard_normal((6, 4 // groups, 3, 2))
    b = rng.standard_normal(6)
    ins = [_t(a) for a in (x, w, b)]
    ref = [_t(a) for a in (x, w, b)]
    out = C.conv2d(*ins, stride, padding, dilation, groups)
    exp = C.conv2d_composite(*ref, stride, padding, dilation, groups)
    assert_close(out.detach(), exp.detach(), rtol=1e-12, atol=1e-12)
    g = at.tensor(rng.standard_normal(out.shape))
    out.backward(g)
    exp.backward(g)
    for a, e in zip(ins, ref):
        assert_close(a.grad, e.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "stride,padding,dilation,groups",
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2), (1, 1, 2, 3),
     ((2, 1), (1, 0), (1, 2), 1)],
)  # fmt: skip
def test_fast_conv2d_equals_the_book_loops(stride, padding, dilation, groups, rng) -> None:
    x = rng.standard_normal((2, 6, 6, 5))
    w = rng.standard_normal((6, 6 // groups, 3, 2))
    b = rng.standard_normal(w.shape[0])
    xa, wa, ba = _t(x), _t(w), _t(b)
    out = C.conv2d(xa, wa, ba, stride, padding, dilation, groups)
    ref = C.conv2d_reference(x, w, b, stride, padding, dilation, groups)
    assert_close(out.detach(), ref, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(at.tensor(g))
    gx, gw = C.conv2d_reference_grads(x, w, g, stride, padding, dilation, groups)
    assert_close(xa.grad, gx, rtol=1e-12, atol=1e-12)
    assert_close(wa.grad, gw, rtol=1e-12, atol=1e-12)
    assert_close(ba.grad, g.sum(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)


def test_the_book_1d_example() -> None:
    """Chapter 5: input [1, 2, 3, 4, 5], filter [1, 1, 1], padding so the output keeps the
    input's length: output [3, 6, 9, 12, 9]; for the loss sum(output) the input gradient is
    [2, 3, 3, 3, 2] and the filter gradient [10, 15, 14] (the book's numbers)."""
    x = at.tensor([[[1.0, 2.0, 3.0, 4.0, 5.0]]], requires_grad=True)
    w = at.tensor([[[1.0, 1.0, 1.0]]], requires_grad=True)
    out = C.conv1d(x, w, padding="same")
    assert out.tolist() == [[[3.0, 6.0, 9.0, 12.0, 9.0]]]
    out.sum().backward()
    assert x.grad.tolist() == [[[2.0, 3.0, 3.0, 3.0, 2.0]]]
    assert w.grad.tolist() == [[[10.0, 15.0, 14.0]]]


# -- conv1d and transposed convolutions ------------------------------------------------------
@needs_torch
@pytest.mark.parametrize(
    "stride,padding,dilation,groups",
    [(1, 0, 1, 1), (2, 1, 1, 2), (1, "same", 2, 1), (1, "same", 1, 2), (3, 2, 2, 1),
     (1, "valid", 1, 1)],
)  # fmt: skip
def test_conv1d_matches_torch(stride, padding, dilation, groups, rng) -> None:
    x = rng.standard_normal((2, 4, 11))
    w = rng.standard_normal((6, 4 // groups, 4))
    b = rng.standard_normal(6)
    _parity(lambda x, w, b: C.conv1d(x, w, b, stride, padding, dilation, groups),
            lambda x, w, b: TF.conv1d(x, w, b, stride, padding, dilation, groups),
            [x, w, b], rng)  # fmt: skip


TRANSPOSE_GRID = [
    (s, p, op, d, g)
    for s, p, op, d, g in itertools.product([1, 2, 3], [0, 1], [0, 1, 2], [1, 2], [1, 2])
    if op < s or op < d
]


@needs_torch
@pytest.mark.parametrize("stride,padding,output_padding,dilation,groups", TRANSPOSE_GRID)
def test_conv_transpose2d_matches_torch(stride, padding, output_padding, dilation, groups,
                                        rng) -> None:  # fmt: skip
    x = rng.standard_normal((2, 4, 4, 3))
    w = rng.standard_normal((4, 6 // groups, 3, 2))
    b = rng.standard_normal(6)
    args = (stride, padding, output_padding, groups, dilation)
    _parity(lambda x, w, b: C.conv_transpose2d(x, w, b, *args),
            lambda x, w, b: TF.conv_transpose2d(x, w, b, *args), [x, w, b], rng)  # fmt: skip


@pytest.mark.parametrize(
    "stride,padding,output_padding,dilation,groups",
    [(1, 0, 0, 1, 1), (2, 1, 1, 1, 1), (2, 0, 1, 2, 2), (1, 1, 1, 2, 1), (3, 1, 2, 1, 2)],
)
def test_conv_transpose2d_gradcheck(stride, padding, output_padding, dilation, groups,
                                    rng) -> None:  # fmt: skip
    x = _t(rng.standard_normal((1, 2, 3, 2)))
    w = _t(rng.standard_normal((2, 4 // groups, 2, 2)))
    b = _t(rng.standard_normal(4))

    def f(x, w, b):
        return C.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    assert at.gradcheck(f, (x, w, b))
    assert at.gradgradcheck(f, (x, w, b))


@needs_torch
def test_conv_transpose1d_matches_torch(rng) -> None:
    x, w = rng.standard_normal((2, 4, 5)), rng.standard_normal((4, 3, 3))
    _parity(lambda x, w: C.conv_transpose1d(x, w, None, 2, 1, 1),
            lambda x, w: TF.conv_transpose1d(x, w, None, 2, 1, 1), [x, w], rng)  # fmt: skip


def test_conv_transpose2d_is_the_input_gradient_of_conv2d(rng) -> None:
    """<conv2d(x, w), y> = <x, conv_transpose2d(y, w)>: the two are adjoint."""
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2))
    y = rng.standard_normal(C.conv2d(at.tensor(x), at.tensor(w), stride=2, padding=1).shape)
    lhs = (C.conv2d(at.tensor(x), at.tensor(w), stride=2, padding=1) * at.tensor(y)).sum()
    back = C.conv_transpose2d(at.tensor(y), at.tensor(w), stride=2, padding=1)
    assert back.shape == x.shape
    assert abs(lhs.item() - (back * at.tensor(x)).sum().item()) < 1e-9


@needs_torch
def test_unfold_and_fold_match_torch(rng) -> None:
    x = rng.standard_normal((2, 3, 6, 7))
    args = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    _parity(lambda x: C.unfold(x, **args), lambda x: TF.unfold(x, **args), [x], rng)
    cols = rng.standard_normal(TF.unfold(torch.tensor(x), **args).shape)
    _parity(lambda c: C.fold(c, (6, 7), **args), lambda c: TF.fold(c, (6, 7), **args),
            [cols], rng)  # fmt: skip


# -- pooling ---------------------------------------------------------------------------------
MAXPOOL_GRID = list(itertools.product([2, 3], [None, 1, 2], [0, 1], [1, 2], [False, True]))


@needs_torch
@pytest.mark.parametrize("kernel,stride,padding,dilation,ceil_mode", MAXPOOL_GRID)
def test_max_pool2d_matches_torch(kernel, stride, padding, dilation, ceil_mode, rng) -> None:
    x = _distinct(rng, 2, 3, 7, 8)
    args = (kernel, stride, padding, dilation, ceil_mode, True)
    _parity(lambda x: C.max_pool2d(x, *args), lambda x: TF.max_pool2d(x, *args), [x], rng)


@pytest.mark.parametrize(
    "kernel,stride,padding,dilation,ceil_mode",
    [(2, None, 0, 1, False), (3, 2, 1, 1, True), (2, 1, 1, 2, False),
     ((2, 3), (1, 2), (1, 0), 1, True)],
)  # fmt: skip
def test_max_pool2d_gradcheck(kernel, stride, padding, dilation, ceil_mode, rng) -> None:
    x = _t(_distinct(rng, 1, 2, 5, 5))

    def f(x):
        return C.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode)

    assert at.gradcheck(f, (x,))
    assert at.gradgradcheck(f, (x,))


@needs_torch
def test_max_pool2d_ties_nan_and_inf_as_torch() -> None:
    """Ties go to the first maximum in window order; NaN propagates (and wins the index);
    an infinite gradient lands only on the argmax."""
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 1.0, 3.0],
                    [np.nan, 0.0, 5.0, 5.0], [1.0, np.nan, 5.0, 5.0]]]])  # fmt: skip
    for k, s in [(2, 2), (3, 1), (2, 1)]:
        xa, xt = _t(x), _tt(x)
        ya, ia = C.max_pool2d(xa, k, s, return_indices=True)
        yt, it = TF.max_pool2d(xt, k, s, return_indices=True)
        np.testing.assert_array_equal(ia.numpy(), it.numpy())
        np.testing.assert_array_equal(ya.detach().numpy(), yt.detach().numpy())
        g = np.ones(tuple(yt.shape))
        g.flat[0] = np.inf
        ya.backward(at.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_array_equal(xa.grad.numpy(), xt.grad.numpy())


@needs_torch
def test_max_pool2d_scan_without_nan_equals_the_nan_aware_one(rng) -> None:
    """MaxPool2d scans windows NaN-aware only when its maximum holds a NaN
    (ops.conv._window_max): without NaN both scans give the same maxima and positions, ties
    included; with a NaN in a window the forward takes the NaN-aware one."""
    from autotensor.ops import conv as ops_conv

    x = np.round(rng.standard_normal((2, 3, 7, 6)), 1)  # many ties
    for win in (ops_conv.as_window(2, stride=2), ops_conv.as_window(3, 1, 1)):
        xp = win.pad(x, -np.inf)
        oh, ow = win.out_hw(7, 6)
        plain = ops_conv._window_max(xp, win, oh, ow, np.uint8, nan=False)
        aware = ops_conv._window_max(xp, win, oh, ow, np.uint8, nan=True)
        np.testing.assert_array_equal(plain[0], aware[0])
        np.testing.assert_array_equal(plain[1], aware[1])
    x[0, 1, 2, 3] = np.nan
    out, idx = C.max_pool2d(at.tensor(x), 2, return_indices=True)
    assert np.isnan(out.numpy()[0, 1, 1, 1]) and idx.numpy()[0, 1, 1, 1] == 2 * 6 + 3


def test_max_pool2d_all_minus_inf_windows_pick_the_first_inside() -> None:
    """Padding is -inf too: a window of -inf values must still point at the input."""
    x = np.full((1, 1, 5, 4), -np.inf)
    x[0, 0, 3, 3] = 1.0
    for args in [(3, 2, 1), (2, 2, 1), (3, 1, 1, 2), ((3, 2), (2, 1), (1, 1), (2, 1))]:
        _parity(lambda x, a=args: C.max_pool2d(x, *a, return_indices=True),
                lambda x, a=args: TF.max_pool2d(x, *a, return_indices=True), [x],
                np.random.default_rng(0), tol=0)  # fmt: skip


@needs_torch
def test_max_pool2d_on_relu_output_ties_at_zero(rng) -> None:
    """After a ReLU whole windows are 0: the gradient goes to one element, as torch's."""
    x = np.maximum(rng.standard_normal((2, 3, 8, 8)), 0).astype(np.float32)
    _parity(lambda x: C.max_pool2d(x, 2), lambda x: TF.max_pool2d(x, 2), [x], rng, tol=0)


@needs_torch
def test_max_pool2d_unbatched_and_1d(rng) -> None:
    x = _distinct(rng, 3, 6, 7)
    _parity(lambda x: C.max_pool2d(x, 3, 2, 1, return_indices=True),
            lambda x: TF.max_pool2d(x, 3, 2, 1, return_indices=True), [x], rng)  # fmt: skip
    x = _distinct(rng, 2, 3, 11)
    _parity(lambda x: C.max_pool1d(x, 3, 2, 1, 2, True, True),
            lambda x: TF.max_pool1d(x, 3, 2, 1, 2, True, True), [x], rng)  # fmt: skip
    x = _distinct(rng, 3, 9)
    _parity(lambda x: C.max_pool1d(x, 2), lambda x: TF.max_pool1d(x, 2), [x], rng)


AVGPOOL_GRID = list(
    itertools.product([2, 3], [None, 2], [0, 1], [False, True], [False, True], [None, 5])
)


@needs_torch
@pytest.mark.parametrize("kernel,stride,padding,ceil_mode,count_include_pad,divisor", AVGPOOL_GRID)
def test_avg_pool2d_matches_torch(kernel, stride, padding, ceil_mode, count_include_pad,
                                  divisor, rng) -> None:  # fmt: skip
    x = rng.standard_normal((2, 3, 7, 8))
    args = (kernel, stride, padding, ceil_mode, count_include_pad, divisor)
    _parity(lambda x: C.avg_pool2d(x, *args), lambda x: TF.avg_pool2d(x, *args), [x], rng)


@needs_torch
def test_avg_pool_gradcheck_and_1d(rng) -> None:
    x = _t(rng.standard_normal((1, 2, 5, 4)))
    for args in [(2,), (3, 2, 1, True, False), ((2, 3), 1, (1, 0), False, True, 4)]:
        assert at.gradcheck(lambda x, a=args: C.avg_pool2d(x, *a), (x,))
        assert at.gradgradcheck(lambda x, a=args: C.avg_pool2d(x, *a), (x,))
    x = rng.standard_normal((2, 3, 10))
    _parity(lambda x: C.avg_pool1d(x, 3, 2, 1, True, False),
            lambda x: TF.avg_pool1d(x, 3, 2, 1, True, False), [x], rng)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("size", [1, 2, 3, (5, 4), (None, 3), 7, (4, 8), (6, 1)])
def test_adaptive_avg_pool2d_matches_torch(size, rng) -> None:
    x = rng.standard_normal((2, 3, 7, 8))  # 7 and 8 do not divide by 3, 5, 6: unequal windows
    _parity(lambda x: C.adaptive_avg_pool2d(x, size),
            lambda x: TF.adaptive_avg_pool2d(x, size), [x], rng)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool_over_tiling_windows_equals_the_im2col_path(dtype, rng, monkeypatch) -> None:
    """The reshape-and-sum path (windows that tile the input) against the Im2Col path it
    replaces there, and against torch: values and gradients, float32 and float64."""
    x = rng.standard_normal((2, 3, 14, 21)).astype(dtype)
    cases = [
        lambda x: C.avg_pool2d(x, 7),
        lambda x: C.avg_pool2d(x, (14, 7), divisor_override=5),
        lambda x: C.adaptive_avg_pool2d(x, 1),
        lambda x: C.adaptive_avg_pool2d(x, (1, 3)),
    ]
    taken = []
    tiles = C._avg_pool_tiles
    monkeypatch.setattr(C, "_avg_pool_tiles", lambda *a: taken.append(1) or tiles(*a))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for i, run in enumerate(cases):
        fast, ref = _t(x), _t(x)
        yf = run(fast)
        assert len(taken) == i + 1  # the fast path ran
        with monkeypatch.context() as m:
            m.setattr(C, "_tiles", lambda *a: False)
            yr = run(ref)
        assert yf.dtype == yr.dtype == (at.float32 if dtype == np.float32 else at.float64)
        g = np.cos(np.arange(yf.numel())).reshape(yf.shape).astype(dtype)
        yf.backward(at.tensor(g))
        yr.backward(at.tensor(g))
        assert_close(yf.detach(), yr.detach().numpy(), rtol=tol, atol=tol)
        assert_close(fast.grad, ref.grad.numpy(), rtol=tol, atol=tol)
    x64 = x.astype(np.float64)
    _parity(lambda x: C.avg_pool2d(x, 7, divisor_override=3),
            lambda x: TF.avg_pool2d(x, 7, divisor_override=3), [x64], rng)  # fmt: skip
    assert at.gradgradcheck(lambda x: C.adaptive_avg_pool2d(x, 1), (_t(x64[:1, :2, :7, :7]),))


@needs_torch
def test_adaptive_avg_pool_gradcheck_unbatched_and_1d(rng) -> None:
    x = _t(rng.standard_normal((2, 5, 4)))
    assert at.gradcheck(lambda x: C.adaptive_avg_pool2d(x, (3, 3)), (x,))
    assert at.gradgradcheck(lambda x: C.adaptive_avg_pool2d(x, (3, 3)), (x,))
    _parity(lambda x: C.adaptive_avg_pool2d(x, 3), lambda x: TF.adaptive_avg_pool2d(x, 3),
            [rng.standard_normal((2, 5, 4))], rng)  # fmt: skip
    _parity(lambda x: C.adaptive_avg_pool1d(x, 4), lambda x: TF.adaptive_avg_pool1d(x, 4),
            [rng.standard_normal((2, 3, 10))], rng)  # fmt: skip


@needs_torch
def test_pool_double_backward_matches_torch(rng) -> None:
    x = _distinct(rng, 2, 2, 6, 6)
    for ours, theirs in [
        (lambda x: C.max_pool2d(x, 3, 2, 1), lambda x: TF.max_pool2d(x, 3, 2, 1)),
        (lambda x: C.avg_pool2d(x, 3, 2, 1), lambda x: TF.avg_pool2d(x, 3, 2, 1)),
    ]:
        xa, xt = _t(x), _tt(x)
        (ga,) = at.grad((ours(xa) ** 3).sum(), [xa], create_graph=True)
        (gt,) = torch.autograd.grad((theirs(xt) ** 3).sum(), [xt], create_graph=True)
        (ga * ga).sum().backward()
        (gt * gt).sum().backward()
        assert_close(xa.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)


# -- property test over shapes ---------------------------------------------------------------
if given is not None:

    @needs_torch
    @settings(max_examples=25, deadline=None)
    @given(
        n=st.integers(1, 2), c=st.integers(1, 3), o=st.integers(1, 3), g=st.integers(1, 2),
        h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 3), kw=st.integers(1, 3),
        s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), seed=st.integers(0, 99),
    )  # fmt: skip
    def test_conv2d_matches_torch_on_any_shape(n, c, o, g, h, w, kh, kw, s, p, d, seed) -> None:
        rng = np.random.default_rng(seed)
        c, o = c * g, o * g
        if h + 2 * p < d * (kh - 1) + 1 or w + 2 * p < d * (kw - 1) + 1:
            return  # kernel larger than the padded input: an error, tested below
        x, wt = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c // g, kh, kw))
        _parity(lambda x, w: C.conv2d(x, w, None, s, p, d, g),
                lambda x, w: TF.conv2d(x, w, None, s, p, d, g), [x, wt], rng)  # fmt: skip


# -- bad input -------------------------------------------------------------------------------
def test_errors_name_the_op_and_shapes() -> None:
    x = at.zeros((2, 3, 5, 5))
    with pytest.raises(RuntimeError, match=r"conv2d.*weight of size \[4, 2, 3, 3\].*to have 2 "
                                           r"channels, but got 3"):  # fmt: skip
        C.conv2d(x, at.zeros((4, 2, 3, 3)))
    with pytest.raises(RuntimeError, match=r"conv2d.*padded input size.*\(5 x 5\).*Kernel size: "
                                           r"\(6 x 6\)"):  # fmt: skip
        C.conv2d(x, at.zeros((4, 3, 6, 6)))
    with pytest.raises(RuntimeError, match=r"conv2d.*groups=2.*divisible by 2.*\[3, 3, 3, 3\]"):
        C.conv2d(at.zeros((2, 6, 5, 5)), at.zeros((3, 3, 3, 3)), groups=2)
    with pytest.raises(RuntimeError, match=r"conv2d.*3D \(unbatched\) or 4D.*\[5, 5\]"):
        C.conv2d(at.zeros((5, 5)), at.zeros((4, 3, 3, 3)))
    with pytest.raises(RuntimeError, match=r"conv2d.*bias.*4 elements.*\[3\]"):
        C.conv2d(x, at.zeros((4, 3, 3, 3)), at.zeros(3))
    with pytest.raises(RuntimeError, match=r"conv2d.*float64.*float32"):
        C.conv2d(x.double(), at.zeros((4, 3, 3, 3)))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        C.conv2d(x, at.zeros((4, 3, 3, 3)), stride=2, padding="same")
    with pytest.raises(RuntimeError, match=r"conv_transpose2d.*output padding must be smaller"):
        C.conv_transpose2d(x, at.zeros((3, 2, 3, 3)), stride=2, output_padding=2)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d.*to have 4 channels, but got 3"):
        C.conv_transpose2d(x, at.zeros((4, 2, 3, 3)))
    with pytest.raises(RuntimeError, match=r"max_pool2d.*pad should be at most half"):
        C.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d.*output size is too small"):
        C.max_pool2d(at.zeros((1, 1, 2, 2)), 3)
    with pytest.raises(RuntimeError, match=r"avg_pool2d.*3D \(unbatched\) or 4D"):
        C.avg_pool2d(at.zeros((2, 2)), 2)


@needs_torch
def test_errors_match_torch_in_kind() -> None:
    """Every input torch refuses here, we refuse too (and the other way round)."""
    cases = [
        ((2, 3, 5, 5), (4, 2, 3, 3), {}),
        ((2, 3, 5, 5), (4, 3, 6, 6), {}),
        ((2, 3, 5, 5), (4, 3, 6, 6), {"padding": 1}),
        ((2, 6, 5, 5), (3, 3, 3, 3), {"groups": 2}),
        ((3, 5, 5), (4, 3, 3, 3), {"padding": 1}),
        ((2, 3, 5, 5), (4, 3, 3, 3), {"dilation": 3}),
    ]
    for xs, ws, kw in cases:
        try:
            TF.conv2d(torch.zeros(xs), torch.zeros(ws), **kw)
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        try:
            C.conv2d(at.zeros(xs), at.zeros(ws), **kw)
            ours_ok = True
        except RuntimeError:
            ours_ok = False
        assert ours_ok == torch_ok, (xs, ws, kw)
