"""Bad input gets a clear error that names the op and the shapes or dtypes involved.

Each case checks the exception type (torch's, where torch has one) and that the message
names the operation and the shapes/dtypes, so the user is never left with a bare numpy
message from deep inside a primitive.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import autotensor as at


def _raises(exc: type, *patterns: str):
    """pytest.raises that also requires every regex pattern to appear in the message."""

    class _Check:
        def __enter__(self):
            self._ctx = pytest.raises(exc)
            self.info = self._ctx.__enter__()
            return self.info

        def __exit__(self, *a):
            handled = self._ctx.__exit__(*a)
            msg = str(self.info.value)
            for p in patterns:
                assert re.search(p, msg), f"{p!r} not in error message: {msg!r}"
            return handled

    return _Check()


# -- shapes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize(
    "op, name",
    [
        (lambda a, b: a + b, "Add"),
        (lambda a, b: a - b, "Sub"),
        (lambda a, b: a * b, "Mul"),
        (lambda a, b: a / b, "Div"),
        (lambda a, b: a**b, "Pow"),
        (lambda a, b: at.maximum(a, b), "Maximum"),
    ],
    ids=["add", "sub", "mul", "div", "pow", "maximum"],
)
def test_mismatched_shapes(op, name: str, requires_grad: bool) -> None:
    a = at.ones(2, 3, requires_grad=requires_grad)
    b = at.ones(4)
    with _raises(RuntimeError, name, r"\(2, 3\)", r"\(4,\)", "broadcast"):
        op(a, b)


def test_mismatched_shapes_with_ndarray_operand() -> None:
    with _raises(RuntimeError, "Mul", r"\(2, 3\)", r"\(4,\)"):
        at.ones(2, 3) * np.ones(4)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_matmul_inner_dim_mismatch(requires_grad: bool) -> None:
    a = at.ones(2, 3, requires_grad=requires_grad)
    # torch's kernel message, then the operands' shapes
    with _raises(RuntimeError, "cannot be multiplied", "2x3 and 4x5", r"matmul of \(2, 3\)"):
        a @ at.ones(4, 5)
    with _raises(RuntimeError, "matmul", r"\(7, 2, 3\)", r"\(4, 5\)"):
        at.ones(7, 2, 3) @ at.ones(4, 5)
    with _raises(RuntimeError, "matmul", "3 and 4 elements"):
        at.ones(3) @ at.ones(4)
    with _raises(RuntimeError, "matmul", "3", r"\(4, 2\)"):
        at.ones(3) @ at.ones(4, 2)
    with _raises(RuntimeError, "matmul", "0D"):
        at.matmul(at.tensor(1.0), at.ones(3))


def test_linear_feature_mismatch() -> None:
    with _raises(RuntimeError, "linear", r"\(2, 3\)", r"\(4, 5\)"):
        at.functional.linear(at.ones(2, 3), at.ones(4, 5))


def test_shape_functions() -> None:
    with _raises(RuntimeError, "reshape", r"\[5, 2\]", "12", r"\(3, 4\)"):
        at.ones(3, 4).reshape(5, 2)
    with _raises(RuntimeError, "reshape", r"\[4\]", r"\(2, 3\)"):
        at.ones(2, 3).view(4)
    with _raises(RuntimeError, "expand", r"\(2, 3\)", r"\(4, 3\)"):
        at.ones(2, 3).expand(4, 3)
    with _raises(RuntimeError, "Cat", r"\(2, 3\)", r"\(2, 4\)"):
        at.cat([at.ones(2, 3), at.ones(2, 4)])
    with _raises(RuntimeError, "cat", "number of dimensions"):
        at.cat([at.ones(2, 3), at.ones(3)])
    with _raises(RuntimeError, "stack", r"\(2, 3\)", r"\(2, 4\)"):
        at.stack([at.ones(2, 3), at.ones(2, 4)])
    with _raises(RuntimeError, "split", r"\[1, 2\]", "4"):
        at.ones(4).split([1, 2])
    with _raises(RuntimeError, "permute", r"\[0, 0\]", r"\(2, 3\)"):
        at.ones(2, 3).permute(0, 0)
    with _raises(RuntimeError, "Where", r"\(2, 3\)", r"\(4,\)"):
        at.where(at.ones(2, 3) > 0, at.ones(4), at.ones(3))
    with _raises(RuntimeError, "masked_fill", r"\(2,\)", r"\(3,\)"):
        at.ones(3).masked_fill(at.tensor([True, False]), 0.0)
    with _raises(RuntimeError, "pad", r"\[1, 1, 1, 1\]", r"\(3,\)"):
        at.functional.pad(at.ones(3), (1, 1, 1, 1))
    with _raises(RuntimeError, "add_", r"\(2, 3\)", r"\(4,\)"):
        at.ones(2, 3).add_(at.ones(4))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x: x.sum(2), "sum"),
        (lambda x: x.mean(-3), "mean"),
        (lambda x: x.softmax(2), "softmax"),
        (lambda x: x.transpose(0, 3), "transpose"),
        (lambda x: x.unsqueeze(3), "unsqueeze"),
        (lambda x: x.flatten(3), "flatten"),
        (lambda x: x.max(5), "max"),
        (lambda x: x.cumsum(2), "cumsum"),
    ],
    ids=["sum", "mean", "softmax", "transpose", "unsqueeze", "flatten", "max", "cumsum"],
)
def test_dimension_out_of_range(call, name: str) -> None:
    valid = r"\[-3, 2\]" if name == "unsqueeze" else r"\[-2, 1\]"  # unsqueeze may add a dim
    with _raises(IndexError, name, "Dimension out of range", valid):
        call(at.ones(2, 3))


def test_reducing_an_empty_dim() -> None:
    # torch: RuntimeError without a dim, IndexError for an empty reduced dim
    with _raises(RuntimeError, r"max\(\)", "numel\\(\\) == 0", "dim"):
        at.ones(0).max()
    with _raises(IndexError, "amax", "dim 0", "non-zero size", r"\(0, 3\)"):
        at.ones(0, 3).amax(0)
    with _raises(IndexError, r"max\(\)", "dim 1", "non-zero size"):
        at.ones(3, 0).max(1)
    with _raises(IndexError, "argmax", "numel"):
        at.ones(0).argmax()


# -- autograd misuse -------------------------------------------------------------------------
def test_backward_on_non_scalar_without_gradient() -> None:
    y = at.ones(3, requires_grad=True) * 2
    with _raises(RuntimeError, "scalar outputs", r"\(3,\)", "gradient"):
        y.backward()


def test_backward_gradient_of_wrong_shape() -> None:
    y = at.ones(3, requires_grad=True) * 2
    with _raises(RuntimeError, r"\(4,\)", r"\(3,\)"):
        y.backward(at.ones(4))


def test_backward_twice_through_freed_graph() -> None:
    x = at.ones(3, requires_grad=True)
    loss = (x.exp() * x).sum()
    loss.backward()
    with _raises(RuntimeError, "Backward", "second time", "retain_graph=True"):
        loss.backward()


def test_requires_grad_on_integer_tensor() -> None:
    with _raises(RuntimeError, "floating point", "int64"):
        at.tensor([1, 2], requires_grad=True)
    with _raises(RuntimeError, "floating point", "int64"):
        at.zeros(3, dtype=at.int64, requires_grad=True)
    with _raises(RuntimeError, "floating point", "bool"):
        at.tensor([True]).requires_grad_()


def test_saved_tensor_modified_in_place() -> None:
    x = at.ones(2, 3, requires_grad=True)
    y = x * 2
    z = y.exp() * y  # Mul saves y
    y.mul_(3)
    with _raises(RuntimeError, "modified by an inplace operation", r"\(2, 3\)", "MulBackward",
                 "version 1", "version 0"):  # fmt: skip
        z.sum().backward()


def test_in_place_on_leaf_requiring_grad() -> None:
    w = at.ones(2, 3, requires_grad=True)
    with _raises(RuntimeError, "add_", "leaf", r"\(2, 3\)", "no_grad"):
        w.add_(1.0)


def test_backward_of_tensor_without_grad() -> None:
    with _raises(RuntimeError, "does not require grad"):
        (at.ones(2) * 2).sum().backward()


def test_grad_of_unused_input() -> None:
    x, z = at.ones(2, requires_grad=True), at.ones(3, requires_grad=True)
    with _raises(RuntimeError, "input 1", r"\(3,\)", "allow_unused"):
        at.grad((x * 2).sum(), [x, z])


def test_numpy_of_tensor_requiring_grad() -> None:
    with _raises(RuntimeError, r"detach\(\)"):
        at.ones(2, requires_grad=True).numpy()


# -- indexing --------------------------------------------------------------------------------
@pytest.mark.parametrize("requires_grad", [False, True])
def test_indexing_out_of_range(requires_grad: bool) -> None:
    x = at.ones(3, 4, requires_grad=requires_grad)
    with _raises(IndexError, "GetItem", r"\(3, 4\)", "index 5", "size 3"):
        x[5]
    with _raises(IndexError, "GetItem", r"\(3, 4\)", "index 7", "size 4"):
        x[1, 7]
    with _raises(IndexError, "GetItem", r"\(3, 4\)", "index 3"):
        x[at.tensor([0, 3])]
    with _raises(IndexError, "GetItem", r"\(3, 4\)", "too many indices"):
        x[0, 0, 0]


def test_setitem_out_of_range() -> None:
    with _raises(IndexError, "__setitem__", r"\(3,\)", "index 5"):
        at.ones(3)[5] = 1.0
    y = at.ones(3, requires_grad=True) * 1.0
    with _raises(IndexError, "IndexPut", r"\(3,\)"):
        y[5] = 1.0


def test_gather_scatter_index_out_of_range() -> None:
    with _raises(IndexError, "gather", "index 4", r"\(3, 4\)"):
        at.ones(3, 4).gather(1, at.tensor([[4]]))
    with _raises(IndexError, "scatter_add", "index 5", r"\(3,\)"):
        at.ones(3).scatter_add(0, at.tensor([5]), at.ones(1))
    with _raises(IndexError, "index_select", "index 3", "size 3"):
        at.ones(3, 4).index_select(0, at.tensor([3]))
    with _raises(TypeError, "gather", "integer", "float32"):
        at.ones(3, 4).gather(1, at.ones(3, 1))


# -- construction ----------------------------------------------------------------------------
def test_ragged_data() -> None:
    with _raises(ValueError, "tensor", "regular shape"):
        at.tensor([[1, 2], [3]])


def test_unsupported_data() -> None:
    with _raises(TypeError, "tensor", "<U3"):
        at.tensor("abc")


def test_item_of_many_elements() -> None:
    with _raises(RuntimeError, "item", "3 elements"):
        at.ones(3).item()


def test_errors_from_numpy_are_not_bare() -> None:
    """The numpy error text may be quoted, but the message starts with the op and its inputs."""
    with pytest.raises(RuntimeError) as info:
        at.ones(2, 3, dtype=at.float64) + at.ones(4, dtype=at.float64)
    assert str(info.value).startswith("Add(Tensor(2, 3):float64, Tensor(4,):float64)")
