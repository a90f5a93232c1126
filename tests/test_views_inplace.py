"""Views and in-place operations against torch (Note [Views], Note [In-place]).

Each test runs the same small program through autotensor and torch from the same numpy
inputs and compares values, `requires_grad`, gradients, and whether (and with which
class) it raises. The last test draws random chains of views and in-place operations.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at

RNG = np.random.default_rng(7)
X0 = RNG.normal(size=(3, 4)).astype(np.float32)
W0 = RNG.normal(size=(4,)).astype(np.float32)


def _run(lib: Any, program: Callable[..., dict]) -> Any:
    """program(lib, x, w) -> {name: tensor}; x (3, 4) and w (4,) leaves requiring grad.
    Returns the outputs plus the gradients of x and w after backward of a weighted sum of
    the outputs that require grad, or the exception raised."""
    x = lib.tensor(X0.copy(), requires_grad=True)
    w = lib.tensor(W0.copy(), requires_grad=True)
    try:
        outs = program(lib, x, w)
        rec = {k: (v.detach().numpy().copy(), v.requires_grad) for k, v in outs.items()}
        loss = None
        for i, v in enumerate(outs.values()):
            if v.requires_grad:
                term = (v * (i + 1.5)).sum()
                loss = term if loss is None else loss + term
        if loss is not None:
            loss.backward()
        for k, t in (("x.grad", x), ("w.grad", w)):
            rec[k] = (None if t.grad is None else t.grad.numpy().copy(), None)
        return rec
    except Exception as e:  # compared with torch's below
        return e


def _same(program: Callable[..., dict], error: str | None = None) -> Any:
    ours, theirs = _run(at, program), _run(torch, program)
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        assert type(ours) is type(theirs), f"autotensor: {ours!r}\ntorch: {theirs!r}"
        if error is not None:
            assert error in str(ours) and error in str(theirs), (str(ours), str(theirs))
        return ours
    assert error is None, f"torch did not raise {error!r}"
    assert ours.keys() == theirs.keys()
    for k in ours:
        (a, ra), (b, rb) = ours[k], theirs[k]
        assert ra == rb, f"{k}: requires_grad {ra} vs torch {rb}"
        if a is None or b is None:
            assert a is None and b is None, f"{k}: {a} vs torch {b}"
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=k)
    return ours


# -- write-through and rebasing (CopySlices) --------------------------------------------------
@needs_torch
def test_slice_view_imul_writes_through_and_rebases() -> None:
    def prog(lib, x, w):
        y = x * 1
        v = y[1:]
        v *= 2
        return {"y": y, "v": v}

    _same(prog)


@needs_torch
def test_column_iadd() -> None:
    def prog(lib, x, w):
        y = x * 2
        y[:, 0] += 1
        return {"y": y}

    _same(prog)


@needs_torch
@pytest.mark.parametrize(
    "op",
    ["fill_", "zero_", "clamp_", "copy_", "div_", "mul_w", "add_w", "sub_"],
)
def test_inplace_ops_on_a_slice(op: str) -> None:
    def prog(lib, x, w):
        y = x.exp()
        y = y * 1  # the exp output itself is saved; modify a copy of it
        v = y[1]
        if op == "fill_":
            v.fill_(0.5)
        elif op == "zero_":
            y[:, 1:3].zero_()
        elif op == "clamp_":
            v.clamp_(0.5, 1.5)
        elif op == "copy_":
            v.copy_(w * 3)
        elif op == "div_":
            v.div_(w.abs() + 1)
        elif op == "mul_w":
            v.mul_(w)
        elif op == "add_w":
            y[:, 2].add_(w[:3])
        else:
            v.sub_(2.0)
        return {"y": y, "v": v}

    _same(prog)


@needs_torch
def test_inplace_on_view_of_plain_tensor_makes_base_require_grad() -> None:
    def prog(lib, x, w):
        z = lib.zeros(3, 4)
        u = z[0]  # a sibling view, re-derived from the base's new history
        z[1].add_(w)
        return {"z": z, "u": u}

    _same(prog)


@needs_torch
def test_view_of_view_chain_and_transpose() -> None:
    def prog(lib, x, w):
        y = x + 0
        t = y.t()
        r = t[1:3]
        r.mul_(w[:3])
        return {"y": y, "t": t, "r": r}

    _same(prog)


@needs_torch
def test_reshape_view_inplace() -> None:
    def prog(lib, x, w):
        y = x * 1
        f = y.view(12)
        f[2:5] = w[:3] * 2
        return {"y": y, "f": f}

    _same(prog)


# -- element views write through even without a graph ---------------------------------------
@needs_torch
def test_element_views_write_through_under_no_grad() -> None:
    for lib in (at, torch):
        e = lib.arange(4.0)
        with lib.no_grad():
            e[1].mul_(10)
            s = e.select(0, 2)
            s /= 2
            v = e[1:]
            v[0].fill_(5)
        assert e.tolist() == [0.0, 5.0, 1.0, 3.0], lib


@needs_torch
def test_inplace_on_view_under_no_grad_writes_into_leaf() -> None:
    for lib in (at, torch):
        p = lib.ones(3, requires_grad=True)
        with lib.no_grad():
            p[1:].mul_(3)
        assert p.tolist() == [1.0, 3.0, 3.0] and p.requires_grad and p.is_leaf


@needs_torch
def test_repeat_all_ones_copies() -> None:
    for lib in (at, torch):
        x = lib.arange(3.0)
        r = x.repeat((1,))
        x.add_(1)
        assert r.tolist() == [0.0, 1.0, 2.0], lib


@needs_torch
def test_view_of_non_contiguous_raises_like_torch() -> None:
    for lib in (at, torch):
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            lib.zeros(2, 3).t().view(6)
        assert lib.zeros(2, 3).t().reshape(6).shape == (6,)  # reshape copies instead
        assert lib.zeros(2, 3).t().view(3, 2).shape == (3, 2)  # a view the strides allow


@needs_torch
def test_fill_and_copy_do_not_carry_nan() -> None:
    def prog(lib, x, w):
        y = lib.sqrt(x)  # NaN where x < 0
        y = y * 1
        y.fill_(1.5)
        z = lib.log(x) * 1
        z.copy_(w.expand(3, 4))
        return {"y": y, "z": z}

    out = _same(prog)
    assert np.isfinite(out["y"][0]).all() and np.isfinite(out["z"][0]).all()


# -- setitem ---------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize(
    "case", ["bcast_row", "neg_index", "mask", "grad_value", "int_array", "scalar"]
)
def test_setitem_as_torch(case: str) -> None:
    def prog(lib, x, w):
        y = lib.zeros(3, 4)
        if case == "bcast_row":
            y[1] = lib.ones(1)
        elif case == "neg_index":
            y[-1, -2:] = w[:2] * 2
        elif case == "mask":
            y = x * 1
            y[x > 0] = 0.0
        elif case == "grad_value":
            y[0] = w
            y[2, 1] = w[0] * w[1]
        elif case == "int_array":
            y = x * 1
            y[lib.tensor([0, 2])] = w * 3
        else:
            y = x * 1
            y[1, 1] = 7.0
        return {"y": y}

    _same(prog)


@needs_torch
def test_setitem_in_model_loop() -> None:
    def prog(lib, x, w):
        out = lib.zeros(3, 4)
        for i in range(3):
            out[i] = (x[i] * w).tanh()
        return {"out": out}

    _same(prog)


# -- version counters ------------------------------------------------------------------------
@needs_torch
def test_modified_through_another_view_raises_at_backward() -> None:
    def prog(lib, x, w):
        y = x * 1
        p = y * y  # saves y
        v = y[0:2]
        v.add_(1)
        return {"p": p}

    _same(prog, "modified by an inplace operation")


@needs_torch
def test_modified_by_setitem_raises_at_backward() -> None:
    def prog(lib, x, w):
        y = x * 1
        p = y.sin()  # saves y
        y[0, 0] = 5.0
        return {"p": p}

    _same(prog, "modified by an inplace operation")


def test_saved_output_modified_raises_and_names_the_op() -> None:
    y = at.tensor([1.0, 2.0], requires_grad=True).exp()
    y.add_(1)
    with pytest.raises(RuntimeError, match="saved by ExpBackward.*version 1; expected version 0"):
        y.sum().backward()


@needs_torch
def test_version_shared_by_base_and_views() -> None:
    for lib in (at, torch):
        b = lib.zeros(4)
        v = b[1:]
        e = v[0]
        e.add_(1)
        b[0] = 2.0
        assert b._version == v._version == e._version == 2, lib


# -- leaf errors and requires_grad ------------------------------------------------------------
@needs_torch
def test_inplace_on_leaf_requiring_grad_raises() -> None:
    _same(lambda lib, x, w: {"x": x.mul_(2)}, "a leaf Variable that requires grad")


@needs_torch
def test_inplace_on_view_of_leaf_raises() -> None:
    def prog(lib, x, w):
        x[0].add_(1)
        return {"x": x}

    _same(prog, "a view of a leaf Variable that requires grad")


@needs_torch
def test_inplace_on_view_made_under_no_grad_raises() -> None:
    def prog(lib, x, w):
        with lib.no_grad():
            v = x[1:]
        v.mul_(2)
        return {"v": v}

    _same(prog, "A view was created in no_grad mode")


@needs_torch
def test_inplace_on_split_output_raises() -> None:
    def prog(lib, x, w):
        a, b = (x * 1).split(2)
        a.mul_(2)
        return {"a": a}

    _same(prog, "is a view and is being modified inplace")


@needs_torch
def test_requires_grad_after_inplace_follows_torch() -> None:
    def prog(lib, x, w):
        z = lib.zeros(4)
        z.add_(w)  # a plain tensor takes the history of a requiring-grad operand
        c = (w * 1).detach()
        c.mul_(3)  # no grad anywhere: stays a plain tensor
        return {"z": z, "c": c}

    out = _same(prog)
    assert out["z"][1] is True and out["c"][1] is False


@needs_torch
def test_broadcast_view_inplace_raises() -> None:
    for lib in (at, torch):
        with pytest.raises(RuntimeError):
            lib.zeros(3).expand(2, 3).add_(1)


# -- random view chains + in-place ops --------------------------------------------------------
hyp = pytest.importorskip("hypothesis")
st = hyp.strategies

VIEWS = ["row", "col", "slice", "t", "flat", "elem", "none"]
INPLACE = ["mul_", "add_w", "fill_", "zero_", "clamp_", "copy_", "setitem", "div_", "sub_"]


def _view(t: Any, kind: str) -> Any:
    if t.ndim == 0 or kind == "none":
        return t
    if kind == "row":
        return t[t.shape[0] - 1]
    if kind == "col" and t.ndim == 2:
        return t[:, 0]
    if kind == "slice":
        return t[1:] if t.shape[0] > 1 else t[:]
    if kind == "t" and t.ndim == 2:
        return t.t()
    if kind == "flat" and t.ndim == 2 and t.is_contiguous():
        return t.view(-1)
    if kind == "elem":
        return t[(0,) * t.ndim]
    return t


def _inplace(lib: Any, v: Any, op: str, w: Any) -> None:
    k = v.shape[-1] if v.ndim else 1
    wv = w.repeat(3)[:k] if v.ndim else w[0] * 1  # 12 values: enough for any last dim
    if op == "mul_":
        v.mul_(1.5)
    elif op == "add_w":
        v.add_(wv)
    elif op == "fill_":
        v.fill_(0.25)
    elif op == "zero_":
        v.zero_()
    elif op == "clamp_":
        v.clamp_(-0.5, 0.5)
    elif op == "copy_":
        v.copy_(wv * 2)
    elif op == "setitem":
        if v.ndim:
            v[..., 0] = wv[0] if wv.ndim else wv
        else:
            v.fill_(wv)
    elif op == "div_":
        v.div_(wv.abs() + 1)
    else:
        v.sub_(wv)


@needs_torch
@hyp.settings(max_examples=int(os.environ.get("VIEW_CHAIN_EXAMPLES", 60)), deadline=None)
@hyp.given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(VIEWS), min_size=0, max_size=3),
            st.sampled_from(INPLACE),
            st.booleans(),
        ),
        min_size=1,
        max_size=4,
    ),  # fmt: skip
    st.sampled_from(["graph", "plain", "leaf"]),
    st.booleans(),
)
def test_random_view_chains_match_torch(steps: list, base_kind: str, save: bool) -> None:
    """Random chains of views of one base, each followed by an in-place op (some under
    no_grad), with optional saved values; values, requires_grad, gradients and raise-or-not
    (with the class) agree with torch."""

    def prog(lib, x, w):
        base = {"graph": lambda: x * 1, "plain": lambda: lib.zeros(3, 4), "leaf": lambda: x}[
            base_kind
        ]()
        kept = base.sin() if save and base.requires_grad else None  # saves base: writes raise
        outs = {}
        for i, (chain, op, nograd) in enumerate(steps):
            v = base
            for kind in chain:
                v = _view(v, kind)
            if nograd:
                with lib.no_grad():
                    _inplace(lib, v, op, w)
            else:
                _inplace(lib, v, op, w)
            outs[f"v{i}"] = v
        outs["base"] = base
        if kept is not None:
            outs["kept"] = kept
        return outs

    _same(prog)


@needs_torch
def test_every_live_view_is_rebased_after_a_write_through_another() -> None:
    """Regression (found by the random chains): re-deriving the views of a base registers
    new ones; every earlier view must still be re-derived, so the gradient through the last
    in-place op counts all three recorded multiplications."""

    def prog(lib, x, w):
        base = x * 1
        v0 = base[2]
        v0.mul_(1.5)
        v1 = base[2][3]
        v1.mul_(1.5)
        v2 = base[2][1:][2]
        with lib.no_grad():
            v2.mul_(1.5)
        v3 = base[2][3]
        v3.mul_(1.5)
        return {"v3": v3, "v0": v0}

    _same(prog)
