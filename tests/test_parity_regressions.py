"""One named test per class of difference from torch that the differential fuzzer found
(tests/fuzzlib.py, benchmarks/fuzz_vs_torch.py), each a shrunk program.

Every case runs the same lines with `torch` bound to torch and to autotensor and compares
what the fuzzer compares: values, shapes, dtypes and requires_grad after every line, whether
both raise (and the class), then the gradients of a random-weighted sum of the float
results. Where the point of a case is an error, the test also checks autotensor's own
exception and message, so it cannot pass by both sides quietly doing nothing.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: parity tests skipped")

import fuzzlib  # noqa: E402

import autotensor as at  # noqa: E402


def _program(src: str) -> fuzzlib.Program:
    stmts = []
    for line in src.strip().splitlines():
        line = line.strip()
        head = line.split("(")[0]
        lhs = head.split("=")[0].strip() if "=" in head else ""
        out = lhs if lhs.isidentifier() and not re.search(r"[-+*/]=", head) else None
        op = "input" if "requires_grad=True" in line else line.split("=")[-1].strip()[:20]
        stmts.append(fuzzlib.Stmt(op, line, out))
    return fuzzlib.Program({}, stmts, seed=7)


def agree(src: str) -> None:
    """The program gives the same results, errors and gradients on both libraries."""
    m = fuzzlib.compare(_program(src), torch, at)
    assert m is None, f"{m.key}: {m.detail}\n{src}"


def raises_alike(src: str, exc: type, pattern: str) -> None:
    """Both raise; autotensor with `exc` and a message matching `pattern`."""
    agree(src)
    ns = {"torch": at, "F": fuzzlib.functional(at), "np": np}
    with pytest.raises(exc, match=pattern):
        exec(src.strip().replace("\n    ", "\n"), ns)


# -- dtype rules (Note: torch's promotion and dtype support live in autotensor/dtypes.py) ----
def test_square_of_bool_is_int64() -> None:
    agree("y = torch.tensor([True, False]).square()")
    assert at.tensor([True]).square().dtype == at.int64


def test_matmul_of_mixed_floats_raises() -> None:
    raises_alike("y = torch.ones(2, 3) @ torch.ones(3, 2, dtype=torch.float64)", RuntimeError,
                 "same dtype, but got: float != double")  # fmt: skip


def test_matmul_bool_and_empty_bool() -> None:
    raises_alike("y = torch.ones(2, 2, dtype=torch.bool) @ torch.ones(2, 2, dtype=torch.bool)",
                 NotImplementedError, "Bool")  # fmt: skip
    agree("y = torch.zeros(3, 0, dtype=torch.bool) @ torch.zeros(0, 2, dtype=torch.bool)")
    agree("y = torch.zeros(4, 1, dtype=torch.bool) @ torch.zeros(1, 1, 3, dtype=torch.float64)")
    agree("y = torch.zeros(0, 3, 0, 2) @ torch.zeros(1, 2, 1, dtype=torch.float64)")


@pytest.mark.parametrize(
    "expr",
    ["torch.tensor([True]) - torch.tensor([False])", "torch.tensor([True]) - 1",
     "1.5 - torch.tensor([True])", "torch.tensor([1.5]) - True"],
)  # fmt: skip
def test_subtraction_with_bool_raises(expr: str) -> None:
    raises_alike(f"y = {expr}", RuntimeError, "Subtraction, the `-` operator, with a bool")


@pytest.mark.parametrize("op", ["abs", "floor", "ceil", "trunc", "round"])
def test_rounding_and_abs_of_bool_raise(op: str) -> None:
    raises_alike(f"y = torch.tensor([True, False]).{op}()", NotImplementedError, "Bool")
    agree(f"y = torch.tensor([3, -2]).{op}()")  # integers stay integers


def test_pow_of_bools_raises_and_bool_exponents_promote() -> None:
    raises_alike("y = torch.tensor([True]) ** torch.tensor([True])", NotImplementedError, "pow")
    agree("y = torch.tensor([True, False]) ** 2")
    agree("x = torch.tensor([-float('inf'), 2.0])\nx.pow_(torch.tensor([False, True]))")
    # a float base that requires grad: torch's backward refuses `bool_exponent - 1`
    agree("x = torch.tensor([1.5, 2.0], requires_grad=True)\ny = x ** torch.tensor([True, False])")


def test_integer_pow_with_negative_exponents() -> None:
    agree("y = torch.tensor([1, -1, 2, 0, -3]) ** torch.tensor([-2, -3, -1, 2, 3])")
    raises_alike("y = torch.tensor([2, 3]) ** -1", RuntimeError, "negative integer powers")


@pytest.mark.parametrize(
    "expr, exc",
    [("torch.tensor([1, 2]).norm()", RuntimeError), ("torch.tensor([1, 2]).var()", RuntimeError),
     ("torch.tensor([1, 2]).log_softmax(0)", NotImplementedError),
     ("torch.tensor([True]).softmax(0)", NotImplementedError),
     ("torch.tensor([True, False]).argmax()", RuntimeError),
     ("torch.tensor([True]).relu()", RuntimeError), ("-torch.tensor([True])", RuntimeError),
     ("torch.tensor([1.5]) & torch.tensor([2.5])", NotImplementedError),
     ("~torch.tensor([1.5])", TypeError)],
)  # fmt: skip
def test_ops_refuse_dtypes_as_torch(expr: str, exc: type) -> None:
    raises_alike(f"y = {expr}", exc, "")


def test_softmax_family_of_integers_and_empties() -> None:
    agree("y = torch.zeros(2, 0, dtype=torch.int64).softmax(1)")
    agree("y = torch.zeros(0, dtype=torch.bool).log_softmax(0)")
    agree("y = torch.tensor([True, False]).logsumexp(0)")
    agree("y = torch.tensor([1, 2]).logsumexp(0)")


def test_bitwise_ops_on_integers_are_bitwise() -> None:
    agree("y = torch.tensor([3, 5]) & torch.tensor([6, 4])")
    agree("y = torch.tensor([True, False]) | torch.tensor([2, 1])")
    agree("y = torch.tensor([3]) ^ True")


def test_rsqrt_values_at_special_points() -> None:
    agree("x = torch.tensor([-float('inf'), -1.0, 0.0, 4.0, float('inf')], requires_grad=True)"
          "\ny = x.rsqrt()")  # fmt: skip


def test_inplace_refuses_results_it_cannot_hold() -> None:
    raises_alike("x = torch.tensor([1, 2])\nx += 0.5", RuntimeError,
                 "result type Float can't be cast to the desired output type Long")  # fmt: skip
    raises_alike("x = torch.tensor([1, 2])\nx /= 2", RuntimeError, "can't be cast")
    agree("x = torch.tensor([1, 2])\nx.fill_(1.5)")  # fill_ and copy_ cast, as torch
    agree("x = torch.tensor([1, 2])\nx.copy_(torch.tensor([0.5, 2.5]))")


def test_add_alpha_rules() -> None:
    raises_alike("y = torch.add(torch.tensor([1, 2]), 3, alpha=0.5)", RuntimeError, "alpha")
    raises_alike("y = torch.add(torch.tensor([1, 2]), 3, alpha=True)", RuntimeError, "Boolean")
    agree("y = torch.add(torch.tensor([True, False]), torch.tensor(False), alpha=3)")
    agree("y = torch.add(torch.tensor([True, False]), True, alpha=2)")


def test_integer_division_by_zero_raises() -> None:
    raises_alike("y = torch.tensor([1, 2]) // 0", RuntimeError, "ZeroDivisionError")
    raises_alike("y = torch.tensor([1, 2]) % torch.tensor([1, 0])", RuntimeError, "ZeroDivision")
    raises_alike("y = torch.div(torch.tensor([3]), 0, rounding_mode='trunc')", RuntimeError,
                 "ZeroDivisionError")  # fmt: skip
    agree("y = torch.zeros(4, 0, dtype=torch.int64) // 0")  # nothing divided: no error
    agree("y = torch.tensor([1.0, -1.0, 0.0, -float('inf')]) // 0.0")


def test_division_with_rounding_modes() -> None:
    agree(
        "x = torch.tensor([7.5, -7.5, 3.0], requires_grad=True)\n"
        "y = torch.tensor([2.0, 2.0, 0.0], requires_grad=True)\n"
        "a = torch.div(x, y, rounding_mode='floor')\nb = torch.div(x, y, rounding_mode='trunc')"
    )
    agree("y = torch.div(torch.tensor([-7, 7]), torch.tensor([2, -2]), rounding_mode='trunc')")
    agree("y = torch.tensor([-7, 7]) % torch.tensor([2, -3])")
    # torch's `//` has no derivative: backward raises on both sides
    agree("x = torch.tensor([7.5, -7.5], requires_grad=True)\ny = x // 2.0")
    agree("x = torch.tensor([7.5, -7.5], requires_grad=True)\ny = x % 2.0")


def test_tensor_from_an_int_beyond_int64_raises() -> None:
    agree("y = torch.tensor([2**63])")
    agree("y = torch.tensor([-2**63])")


def test_index_put_needs_matching_float_dtypes() -> None:
    raises_alike("x = torch.zeros(3, dtype=torch.float64)\nx[torch.tensor([0, 1])] = "
                 "torch.tensor(1.0)", RuntimeError, "Index put requires")  # fmt: skip
    raises_alike("x = torch.zeros(3, dtype=torch.int64)\nx[[0]] = torch.tensor(True)",
                 RuntimeError, "Long for the destination and Bool")  # fmt: skip
    agree("x = torch.zeros(3, dtype=torch.int64)\nx[x == 0] = torch.tensor(True)")  # a mask casts
    agree("x = torch.zeros(3, dtype=torch.float64)\nx[1] = torch.tensor(2.5)")


# -- indexing dimension order ----------------------------------------------------------------
@pytest.mark.parametrize(
    "index",
    ["0, :, [0, 1]", ":, 0, :, [0, 1]", "[0, 1], 0, [0, 1]", "None, [0, 1], None, 0",
     "torch.tensor(0), :, [0, 1]", "0, ..., [1, 2]", ":, [0, 1], 0, [1, 2]",
     ":, [[0], [1]], 1, torch.tensor([True, False, True, True])", "[], :, []"],
)  # fmt: skip
def test_advanced_indexing_dimension_order(index: str) -> None:
    agree(f"x = torch.arange(120.0).reshape(2, 3, 4, 5).requires_grad_()  # requires_grad=True\n"
          f"y = x[{index}]")  # fmt: skip
    agree(f"x = torch.zeros(2, 3, 4, 5)\ny = torch.ones_like(x[{index}])\nx[{index}] = y")


# -- exception classes and messages ----------------------------------------------------------
@pytest.mark.parametrize("expr", ["x.sum(5)", "x.amax(-3)", "x.softmax(2)", "x.cumsum(7)"])
def test_dimension_out_of_range_is_index_error(expr: str) -> None:
    raises_alike(
        f"x = torch.zeros(2, 3)\ny = {expr}",
        IndexError,
        r"Dimension out of range \(expected to be in range of \[-2, 1\], but got",
    )


def test_repeated_reduction_dims_are_refused() -> None:
    raises_alike("y = torch.zeros(2, 3).sum((0, 0))", RuntimeError, "appears multiple times")
    raises_alike("y = torch.zeros(2, 3).amax((1, -1))", RuntimeError, "appears multiple times")


def test_empty_reductions_raise_as_torch() -> None:
    raises_alike("y = torch.zeros(0).max()", RuntimeError, r"numel\(\) == 0")
    raises_alike("y = torch.zeros(0).amin()", RuntimeError, r"numel\(\) == 0")
    raises_alike("y = torch.zeros(0, 3).amax(0)", IndexError, "non-zero size")
    raises_alike("y = torch.zeros(0, 3).max(0)", IndexError, "non-zero size")
    raises_alike("y = torch.zeros(0, 3).argmax()", IndexError, r"numel\(\) == 0")


def test_zero_dim_tensors_in_list_ops() -> None:
    raises_alike("y = torch.cat([torch.tensor(1.0), torch.tensor(2.0)])", RuntimeError,
                 "zero-dimensional")  # fmt: skip
    raises_alike("y = torch.tensor(1.0).unbind(0)", IndexError, "no dimensions")
    raises_alike("y = torch.tensor(1.0).chunk(2)", RuntimeError, "1-dimensional")
    raises_alike("y = torch.outer(torch.tensor(1.0), torch.ones(2))", RuntimeError, "1-D")
    raises_alike("y = torch.dot(torch.ones(2, 2), torch.ones(2))", RuntimeError, "1D")
    raises_alike("y = torch.ones(3).mT", RuntimeError, "matrices")
    raises_alike("y = torch.ones(3) @ 2", TypeError, "")


def test_allclose_of_different_dtypes_raises() -> None:
    raises_alike("y = torch.tensor([True]).allclose(torch.tensor([1.0]))", RuntimeError,
                 "did not match")  # fmt: skip


def test_sum_to_an_integer_dtype_of_a_tensor_requiring_grad_raises() -> None:
    raises_alike("x = torch.ones(2, requires_grad=True)\ny = x.sum(dtype=torch.int64)",
                 RuntimeError, "Autograd not support dtype: Long")  # fmt: skip


def test_setitem_shape_mismatch_is_runtime_error() -> None:
    raises_alike("x = torch.zeros(2, dtype=torch.int64)\n"
                 "x[torch.tensor([False, True])] = torch.ones(4, 3, dtype=torch.int64)",
                 RuntimeError, "shape mismatch")  # fmt: skip


# -- values ----------------------------------------------------------------------------------
def test_cross_entropy_with_an_infinite_logit_is_finite() -> None:
    agree("x = torch.tensor([[0.0, -float('inf'), 1.0]], requires_grad=True)\n"
          "y = F.cross_entropy(x, torch.tensor([0]))")  # fmt: skip


def test_cumsum_of_float32_accumulates_like_torch() -> None:
    x = np.random.default_rng(0).uniform(0, 1, 100_000).astype(np.float32)
    ours = at.tensor(x).cumsum(0).numpy()
    ref = torch.tensor(x).cumsum(0).numpy()
    exact = np.cumsum(x.astype(np.float64))
    assert np.abs(ours / exact - 1).max() < 1e-6  # a float32 running sum drifts ~1e-4 here
    np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_softmax_family_of_0d_nan() -> None:
    agree("x = torch.tensor(float('nan'), requires_grad=True)\ny = x.softmax(0)\n"
          "z = x.log_softmax(0)")  # fmt: skip
    agree("x = torch.tensor(0.0, requires_grad=True)\ny = (x ** -1.5).log_softmax(0)")


def test_linear_with_empty_features() -> None:
    agree(
        "x = torch.zeros(3, 0, dtype=torch.float64, requires_grad=True)\n"
        "w = torch.zeros(0, 0, dtype=torch.float64, requires_grad=True)\ny = F.linear(x, w)"
    )


# -- gradients at edge points ----------------------------------------------------------------
SPECIAL = "[0.0, -0.0, 1.5, -1.5, float('nan'), float('inf'), -float('inf')]"


UNARY = ["abs()", "sqrt()", "relu()", "clamp(-1.5, 1.5)", "clamp(min=0.0)", "sign()",
         "rsqrt()", "exp()", "log()"]  # fmt: skip


@pytest.mark.parametrize("op", UNARY)
def test_unary_gradients_at_special_points(op: str) -> None:
    agree(f"x = torch.tensor({SPECIAL}, requires_grad=True)\ny = x.{op}")


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_at_ties_and_nan(op: str) -> None:
    agree(f"x = torch.tensor([1.0, 2.0, float('nan'), 0.0, float('nan')], requires_grad=True)\n"
          f"z = torch.tensor([1.0, 1.0, 0.0, float('nan'), float('nan')], requires_grad=True)\n"
          f"y = torch.{op}(x, z)")  # fmt: skip


def test_unselected_branches_leak_no_nan() -> None:
    # the gradient of sqrt at 0 is inf; the branch that lost must still get exactly 0
    agree("x = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)\n"
          "y = torch.minimum(x, torch.tensor(0.0)).sqrt()")  # fmt: skip
    agree("x = torch.tensor([[-1.0, 1.5, 0.0], [0.5, 1.0, 1.25]], requires_grad=True)\n"
          "y = x.min().sqrt()")  # fmt: skip
    agree("x = torch.tensor([[0.0, -1.0], [2.0, 3.0]], requires_grad=True)\n"
          "y = x.amin(1).sqrt()")  # fmt: skip
    agree("x = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)\ny = x.relu().sqrt()")
    agree("x = torch.tensor([0.0, 1.0, -1.0], requires_grad=True)\ny = x.clamp(0, 1).sqrt()")


def test_zero_base_power_gradient() -> None:
    agree("x = torch.tensor([1.5, 0.0, -0.5, 2.0], requires_grad=True)\ny = 0 ** x")
    agree("x = torch.tensor([1.5, 0.0, 2.0], requires_grad=True)\ny = 0.0 ** x")


@pytest.mark.parametrize("p", ["1", "3", "0.5", "2", "float('inf')", "0"])
def test_norm_gradients_at_zero(p: str) -> None:
    agree(f"x = torch.tensor([0.0, 0.0, 0.0], requires_grad=True)\ny = x.norm(p={p})")
    agree(f"x = torch.tensor([[0.0, 0.0], [1.5, 0.0]], requires_grad=True)\n"
          f"y = x.norm(p={p}, dim=1)")  # fmt: skip


def test_variance_of_one_element() -> None:
    agree("x = torch.tensor([1.5], requires_grad=True)\ny = x.var()")
    agree("x = torch.tensor([[-0.1, 0.5]], requires_grad=True)\ny = x.var(dim=0)")


def test_max_ties_and_nan_gradients() -> None:
    agree("x = torch.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]], requires_grad=True)\n"
          "a = x.max()\nb = x.amax(1)\nc = x.max(dim=1)[0]\nd = x.min(dim=0)[0]")  # fmt: skip
    agree("x = torch.tensor([[1.0, float('nan')], [0.0, 0.0]], requires_grad=True)\n"
          "a = x.max()\nb = x.amax(1)\nc = x.max(dim=1)[0]")  # fmt: skip


def test_prod_gradients_with_zeros_and_infinities() -> None:
    agree("x = torch.tensor([0.0, 3.0, float('inf'), 0.0], requires_grad=True)\ny = x.prod()")
    agree("x = torch.tensor([-float('inf'), 3.0, 2.0], requires_grad=True)\ny = x.prod()")
    agree("x = torch.tensor(2.0, requires_grad=True)\ny = x.prod(dim=-1)")


# -- tensors saved for backward, modified in place (version counters) -----------------------
@pytest.mark.parametrize(
    "lines",
    ["y = x.amax(dim=0)\ny.mul_(2)", "y = x.max()\ny -= 2", "y = x.logsumexp(0)\ny /= 2",
     "y = x.reciprocal().reciprocal()\ny -= 3",
     "y = x.gather(0, torch.tensor([0]))\nx2 = x * 1\nz = x2.gather(0, torch.tensor([1]))\nx2 += 1",
     "y = x * 1\nz = torch.div(y, 2.0, rounding_mode='floor')\ny.mul_(2)",
     "y = x.norm(p=0)\ny /= 2", "y = x.norm(p=3)\ny *= 2", "y = x ** torch.tensor(2.0)\ny += 1"],
)  # fmt: skip
def test_saved_results_modified_in_place_refuse_backward(lines: str) -> None:
    agree("x = torch.tensor([0.5, 1.5, -1.0], requires_grad=True)\n" + lines)


# -- memory overlap: expanded tensors and operands that share memory with the written one ---
@pytest.mark.parametrize(
    "write",
    ["e.zero_()", "e.fill_(2)", "e[0] = 5", "e[0, 1] = 5", "e[torch.tensor([0])] = 5",
     "e[e > 0] = 5", "e[0].mul_(2)", "e[1, 2].add_(torch.tensor(1.5))", "e[0] += 1"],
)  # fmt: skip
def test_inplace_on_an_expanded_tensor_writes_through(write: str) -> None:
    """An expanded tensor is written through to the memory it shares (its base sees it),
    as torch does, where the written elements do not share a location."""
    agree(f"x = torch.tensor([0.0, 1.0, 2.0])\ne = x.expand(2, 3)\n{write}\ny = x * 1")
    agree(f"x = torch.zeros(3)\ne = x.expand(0, 3)\n{write.replace('e[0', 'e[:')}")


@pytest.mark.parametrize(
    "write", ["e.mul_(2)", "e.add_(1)", "e.copy_(torch.ones(2, 3))", "e.clamp_(0, 1)",
              "e.pow_(2)", "e[:, 0] = 5", "e[:, 1:2].mul_(2)", "e.fill_(torch.tensor(2.0))"],
)  # fmt: skip
def test_inplace_on_shared_elements_of_an_expanded_tensor_raises(write: str) -> None:
    raises_alike(f"x = torch.tensor([0.0, 1.0, 2.0])\ne = x.expand(2, 3)\n{write}",
                 RuntimeError, "more than one element of the written-to tensor")  # fmt: skip


def test_inplace_on_an_expanded_view_while_recording() -> None:
    """e = x.expand(...) of a tensor that requires grad: a setitem writes x (CopySlices on the
    written row); a fill_ of the whole expanded view makes torch's backward refuse."""
    agree("w = torch.tensor([1.0, 2.0], requires_grad=True)\nx = w * 1\ne = x.expand(3, 2)\n"
          "e[0] = torch.tensor(7.0)\ny = x * 1")  # fmt: skip
    agree("w = torch.tensor([1.0, 2.0], requires_grad=True)\nx = w * 1\ne = x.expand(3, 2)\n"
          "e[1, 0] = w[1] * 3\ny = x * 1")  # fmt: skip
    agree("w = torch.tensor([1.0, 2.0], requires_grad=True)\nx = w * 1\ne = x.expand(3, 2)\n"
          "e.fill_(3)\ny = e * 1")  # fmt: skip


@pytest.mark.parametrize(
    "write",
    ["x *= x[0]", "x[1:] *= x[:2]", "x[1:].copy_(x[:2])", "x[1:] = x[:2]",
     "x[torch.tensor([1, 2])] = x[:2]", "x[torch.tensor([0, 1, 2])] = x",
     "x[torch.tensor([0, 1, 2])] = x[0]", "x.pow_(x[0])", "x.view(3, 1).mul_(x)",
     "x[:2] += x[1:]"],
)  # fmt: skip
def test_inplace_from_partly_overlapping_memory_raises(write: str) -> None:
    raises_alike(f"x = torch.arange(3.0)\n{write}", RuntimeError,
                 "some elements of the input tensor and the written-to tensor")  # fmt: skip


@pytest.mark.parametrize(
    "write",
    ["x *= x", "x[::2] *= x[1::2]", "x.copy_(x)", "x[0:1].copy_(x[1:2])", "x[1] = x[0]",
     "x[[]] = x[:0]", "x[x > 0] = x[0]", "x.fill_(x[0])", "x.masked_fill_(x > 0, x[0])",
     "x[torch.tensor([1, 2])] = x[torch.tensor([0, 1])]"],
)  # fmt: skip
def test_inplace_from_the_same_or_disjoint_memory_is_allowed(write: str) -> None:
    agree(f"x = torch.arange(3.0)\n{write}")


def test_no_grad_inplace_refuses_results_it_cannot_hold() -> None:
    """clamp_ and pow_ (no fast ufunc path) refuse a result that does not fit the dtype."""
    raises_alike("x = torch.tensor([-3, 1])\nx.clamp_(max=1.0)", RuntimeError,
                 "result type Float can't be cast to the desired output type Long")  # fmt: skip
    raises_alike("x = torch.tensor([True, False])\nx.pow_(torch.tensor(-2))", RuntimeError,
                 "can't be cast to the desired output type Bool")  # fmt: skip
    agree("x = torch.tensor([-3, 1])\nx.clamp_(max=0)")


def test_repeat_of_an_empty_tensor_is_a_writable_copy() -> None:
    agree("x = torch.zeros(0, 3)\ny = x.repeat((2, 1, 1))\ny.mul_(2)\ny[0] = 1.5")
    agree("x = torch.zeros(0, 3, requires_grad=True)\ny = x.repeat((2, 1, 1))\n"
          "y[torch.tensor([1, 1]), torch.tensor([], dtype=torch.int64), 1] = y.sum()")  # fmt: skip


def test_index_put_dtypes_with_one_mask_and_one_element() -> None:
    """A single mask and a one-element value: torch's masked_fill path, which casts."""
    agree("x = torch.zeros(3)\nx[torch.tensor([False, True, False])] = torch.tensor([1])")
    agree("x = torch.zeros(3, 2, dtype=torch.int64)\nx[x >= 0] = torch.tensor([1.5])")
    agree("x = torch.zeros(3)\nx[x >= 0] = torch.tensor([[7.0]])")
    agree("x = torch.zeros(3, 2)\nx[:, torch.tensor([True, False])] = torch.tensor(2)")
    raises_alike(
        "x = torch.zeros(3)\nx[torch.tensor([0, 1])] = torch.tensor([1, 2])",
        RuntimeError,
        "Index put requires the source and destination dtypes match",
    )


def test_index_put_checks_index_shapes_before_dtypes() -> None:
    raises_alike(
        "x = torch.zeros(0, 1, dtype=torch.int64)\n"
        "x[torch.tensor([], dtype=torch.int64), [-1, 0, -1]] = torch.tensor(1.5)",
        IndexError,
        "shape mismatch: indexing tensors could not be broadcast",
    )


def test_copy_into_an_integer_view_records_nothing() -> None:
    """copy_ into an integer tensor has nothing to differentiate: torch records no node, so
    even one of several views (split) may be written from a tensor that requires grad."""
    agree("w = torch.tensor([[1.5]], requires_grad=True)\nx = torch.tensor([[3]])\n"
          "v = x.split(2, dim=-1)[-1]\nv.copy_(w * 2)")  # fmt: skip
    agree("w = torch.tensor(1.5, requires_grad=True)\nx = torch.tensor([1, 2, 3])\n"
          "x[0] = w\nx[1:].copy_(w)")  # fmt: skip


def test_bool_tensor_to_a_python_bool_power() -> None:
    agree("y = torch.tensor([True, False]) ** True\nz = torch.tensor([True, False]) ** False")
    agree("y = torch.zeros(0, dtype=torch.bool) ** True\nx = torch.tensor([True])\nx.pow_(True)")


@pytest.mark.parametrize(
    "lines",
    ["y = x ** 1e-3\ny[:] = 2", "y = -1 / x\nx2 = x * 1\nz = 2.0 / x2\nx2 += 1",
     "x2 = x * 1\ny = torch.div(x2, torch.tensor(1e-3), rounding_mode='trunc')\nx2[:1] = 0",
     "x2 = x * 1\ny = x2 % torch.tensor(0.7)\nx2.mul_(2)",
     "x2 = x.double()\ny = x2 @ torch.tensor([1.5, 2.0, 0.5], dtype=torch.float64)\nx2.fill_(0)"],
)  # fmt: skip
def test_inputs_torch_does_not_save_may_change_in_place(lines: str) -> None:
    """torch saves an input only for the gradients that use it (pow by a number: its base, not
    its result; number / x: the reciprocal; div with rounding and %: the divisor; mm: each
    operand for the other's gradient), so changing the others in place is fine."""
    agree("x = torch.tensor([0.5, 1.5, -1.0], requires_grad=True)\n" + lines)


def test_reciprocal_and_division_at_special_points() -> None:
    agree("x = torch.tensor([0.0, -0.0, 2.0, -0.5, float('inf'), -float('inf'), float('nan')],"
          " requires_grad=True)\ny = x.reciprocal()\nz = 2.0 / x\nr = x.rsqrt()")  # fmt: skip


def test_signed_zeros_survive_relu_clamp_maximum_and_remainder() -> None:
    """torch keeps x's own -0.0 at a tie (relu, clamp, maximum) and gives +0.0 for 0 % -y;
    a reciprocal shows the sign."""
    agree("x = torch.tensor([-0.0, 0.0, -1.0, 2.0], requires_grad=True)\n"
          "a = 1 / x.relu()\nb = 1 / x.clamp(0, 1)\nc = 1 / torch.maximum(x, torch.tensor(0.0))\n"
          "d = 1 / torch.minimum(-x, torch.tensor(0.0))")  # fmt: skip
    agree("x = torch.tensor([0.0, -0.0, 1.0, -1.0, 5.5])\n"
          "y = 1 / (x % torch.tensor([-0.53, 0.53, -1.0, 1.0, 2.0]))")  # fmt: skip


def test_setitem_drops_leading_ones_of_the_value() -> None:
    agree("x = torch.zeros(3)\nx[-1] = torch.tensor([2.5])\nx[0] = torch.tensor([[1.5]])")
    agree("w = torch.tensor([1.5], requires_grad=True)\nx = torch.zeros(2, 3) * w\n"
          "x[0, 1] = w\nx[torch.tensor([1]), 2] = w * 2")  # fmt: skip
    agree("x = torch.zeros(0)\nx[torch.zeros(0, dtype=torch.bool)] = torch.zeros(1, 0)")


def test_empty_values_must_broadcast_to_the_indexed_region() -> None:
    raises_alike(
        "x = torch.zeros(2, 3)\nx[torch.tensor([], dtype=torch.int64), -3] = torch.zeros(3, 0)",
        RuntimeError,
        "cannot be broadcast to indexing result",
    )
    agree("x = torch.zeros(2, 3)\nx[torch.tensor([], dtype=torch.int64)] = torch.zeros(0, 3)")


def test_index_arrays_out_of_range_into_an_empty_result() -> None:
    """torch checks an index array's bounds only on the elements it reads or writes."""
    agree("x = torch.zeros(0, 4, 3, 3)\ny = x[..., [3]]\nx[..., torch.tensor([5, -9])] = 2.0")
    agree("x = torch.zeros(2, 0)\ny = x[[5]]\nx[[5]] = 1.0")
    raises_alike("y = torch.zeros(2, 3)[:, [5]]", IndexError, "out of bounds")


def test_repeat_of_a_view_is_no_view() -> None:
    agree("w = torch.zeros(0, 3, 4, requires_grad=True)\nv = w.view((0,))\ny = v.repeat((1, 1))\n"
          "y[y > 0] = torch.tensor(2.0)")  # fmt: skip


def test_one_of_several_views_after_its_base_changed_refuses_backward() -> None:
    """torch cannot rebuild the history of a split/chunk/unbind output once its base was
    modified in place: any recorded op on it raises (its grad_fn cannot be read)."""
    agree("w = torch.zeros(2, 3, requires_grad=True)\nb = w * 1\nv = b.chunk(3, dim=0)[0]\n"
          "b.zero_()\ny = b * 2")  # fmt: skip
    agree("w = torch.zeros(2, 3, requires_grad=True)\nb = w * 1\nv = b.unbind(0)[1]\n"
          "b[0] += 1\ny = v * 2")  # fmt: skip
    with pytest.raises(RuntimeError, match="Output 1 of .* is a view and its base"):
        w = at.zeros(2, 3, requires_grad=True)
        b = w * 1
        v = b.unbind(0)[1]
        b[0] += 1
        v * 2


def test_advanced_setitem_into_an_expanded_tensor_slices_first() -> None:
    agree("w = torch.tensor([1.5, 1.0, 2.2], requires_grad=True)\nx = w - w\n"
          "e = x.expand(2, 3)\ne[-2:10:2, torch.tensor([2, -1])] = e.sum()\ny = x * 1")  # fmt: skip


def test_setitem_of_a_tensor_into_itself() -> None:
    """index_put_ refuses its own destination as the value, unless the value is first viewed
    without leading 1s (another tensor then) or is empty; copy_ of itself does nothing."""
    raises_alike("x = torch.zeros(2, 0)\nx[torch.tensor([0, 1])] = x", RuntimeError,
                 "some elements of the input tensor")  # fmt: skip
    agree("x = torch.zeros(1, 0)\nx[torch.tensor([0])] = x")
    agree("x = torch.zeros(0, 1, 1).permute(2, 1, 0)\nx[x > 0] = x")
    agree("x = torch.tensor([False, True]).expand(2, 2)\nx.copy_(x)")


@pytest.mark.parametrize(
    "write", ["x[0] = float('inf')", "x.fill_(float('nan'))", "x[x == 0] = torch.tensor(1e30)",
              "x.masked_fill_(x == 0, float('inf'))", "x[torch.tensor([0])] = float('inf')"],
)  # fmt: skip
def test_python_numbers_into_integer_tensors_check_overflow(write: str) -> None:
    raises_alike(f"x = torch.zeros(3, dtype=torch.int64)\n{write}", RuntimeError,
                 "value cannot be converted to type int64_t without overflow")  # fmt: skip


def test_tensors_into_integer_tensors_do_not_check_overflow() -> None:
    agree("x = torch.zeros(3, dtype=torch.bool)\nx[x == 0] = float('inf')\ny = torch.zeros(2)")
    agree("x = torch.zeros(3, dtype=torch.int64)\nx[torch.tensor([0])] = 2.5")


def test_clamp_with_tensor_bounds_nan_ties_and_crossed_bounds() -> None:
    """Tensor bounds: NaN in x or a bound gives NaN; at a tie x gets the gradient; with
    min > max the value is max, which gets the gradient (torch's clamp_backward_min_max)."""
    agree("x = torch.tensor([[float('inf'), 0.5, float('nan'), 0.0, -1.0, 2.0]], "
          "requires_grad=True)\nm = torch.tensor([[0.0, float('nan'), 1.0, 0.0, -2.0, 3.0]], "
          "requires_grad=True)\ny = torch.clamp(x, min=m)\nz = torch.clamp(x, max=m)\n"
          "q = torch.clamp(x, min=m, max=m * 0.5)\nr = torch.clamp(x, min=m * 0.5, max=m)\n"
          "s = torch.clamp(x, min=x)")  # fmt: skip
    agree("x = torch.tensor([1, -2, 3])\ny = torch.clamp(x, min=torch.tensor([0.5, 0.5, 0.5]))")
    agree(
        "x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)\n"
        "m = torch.tensor([2.0, 2.0, 2.0], requires_grad=True)\ny = torch.clamp(x, min=m, max=m)"
    )


def test_split_of_a_0d_tensor_raises() -> None:
    raises_alike("y = torch.tensor(2.0).split(3, dim=-1)", RuntimeError,
                 "split expects at least a 1-dimensional tensor")  # fmt: skip


@pytest.mark.parametrize(
    "lines",
    ["v = x.var(dim=1, correction=0)\ny = v / torch.tensor(False)",
     "v = x.var()\ny = v / torch.tensor(False)", "y = x[:1].var(dim=0)", "y = x[0, 0].var()",
     "y = x[:1].std(dim=0)", "y = x[:, [0, 2, 0]].std(dim=1, correction=0, keepdim=True)"],
)  # fmt: skip
def test_variance_gradients_follow_torchs_formula(lines: str) -> None:
    """var's gradient is 2 / (n - correction) g (x - mean), also for an infinite g (a
    division by zero after it) and with no degrees of freedom left (inf or NaN)."""
    agree("x = torch.tensor([[0.5, 1.5, -1.0], [2.0, 2.0, 0.25]], requires_grad=True)\n" + lines)


@pytest.mark.parametrize("p", ["2", "1", "3", "1.5", "0.5", "float('inf')", "0"])
def test_norm_gradients_with_nan_inf_and_infinite_upstream(p: str) -> None:
    agree(f"x = torch.tensor([[float('nan'), 1.0, 0.0], [0.0, -1.0, 2.0]], requires_grad=True)\n"
          f"y = x.norm(p={p})\nz = x.norm(p={p}, dim=1)")  # fmt: skip
    agree(f"x = torch.tensor([[float('inf'), 1.0, 0.0], [0.0, -1.0, 2.0]], requires_grad=True)\n"
          f"y = x.norm(p={p}, dim=0) / torch.tensor(False)")  # fmt: skip


def test_norm_errors_as_torch() -> None:
    raises_alike("y = torch.zeros(0).norm(p=float('inf'))", RuntimeError, "inf norm")
    raises_alike("y = torch.zeros(2, 2, 2).norm(dim=(0, 1, 2))", RuntimeError, "2-tuple")
    agree("y = torch.zeros(2, 2, 2).norm(p=2, dim=(0, 1, 2))")


def test_prod_of_a_0d_tensor_passes_the_gradient() -> None:
    agree("x = torch.tensor(-float('inf'), requires_grad=True)\ny = x.prod(dim=0)")
    agree("x = torch.tensor(float('inf'), requires_grad=True)\ny = x.prod()")


def test_power_gradients_with_a_false_exponent_and_infinite_upstream() -> None:
    agree("x = torch.tensor([1.5, float('nan'), float('inf'), 0.0, -1.0], requires_grad=True)\n"
          "y = x ** False")  # fmt: skip
    agree("x = torch.tensor([1.5, float('inf'), 0.0], requires_grad=True)\n"
          "y = (0 ** x) / torch.tensor(False)\nz = x ** (0 ** x % 0.5)")  # fmt: skip


def test_results_are_contiguous_as_torchs() -> None:
    """Advanced indexing, roll and number ** tensor give contiguous results in torch, so a
    later view() works and contiguous() is the tensor itself (writes reach it)."""
    agree("x = torch.tensor([[2, 4, 2, -2], [0, -4, 1, 1]])\ny = x.index_select(1, "
          "torch.tensor([3, 3]))\nz = y.contiguous()\nz[-1] = y.sum()")  # fmt: skip
    agree("x = torch.tensor([[True, False, True], [False, True, False]])\ny = x.roll(2, -1)\n"
          "z = y.view((-1,))")  # fmt: skip
    agree(
        "x = torch.tensor([[0.5, 1.0], [2.0, -0.25], [1.5, 0.0]], requires_grad=True)\n"
        "y = 3.0 ** x.t()\nz = y.reshape((1, -1))\ny.add_(torch.tensor([[1.0], [2.0]]))"
    )


def test_inplace_checks_shapes_before_dtypes() -> None:
    raises_alike("x = torch.tensor([[False]])\nx.pow_(torch.tensor([[True, False]]))",
                 RuntimeError, "doesn't match the broadcast shape")  # fmt: skip


_MM_SHAPES = [(3,), (0,), (2, 3), (3, 2), (0, 3), (3, 0), (2, 2, 3), (2, 3, 2), (1, 3, 2),
              (2, 0, 3), (2, 3, 0), (3, 1, 0, 3), (2, 0, 0)]  # fmt: skip


@pytest.mark.parametrize("a", _MM_SHAPES, ids=str)
def test_matmul_dispatch_dtypes_and_errors_as_torch(a: tuple) -> None:
    """torch's matmul goes through dot, mv, mm or bmm, each with its own order of checks
    (shapes, dtypes, bool support) and an empty bmm returning early in the second operand's
    dtype; every pair of shapes and dtypes behaves alike (result shape and dtype, or the
    exception class)."""
    kinds = ["torch.float32", "torch.float64", "torch.int64", "torch.bool"]
    for b in _MM_SHAPES:
        for da in kinds:
            for db in kinds:
                agree(f"y = torch.zeros({a}, dtype={da}) @ torch.zeros({b}, dtype={db})")


def test_matmul_folding_and_gradients() -> None:
    agree("x = torch.tensor([[[0.5, 1.5, -1.0], [2.0, 0.0, 1.0]]], requires_grad=True)\n"
          "w = torch.tensor([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]], requires_grad=True)\n"
          "y = x @ w\nz = w.t() @ x.mT\nv = x @ w[:, 0]\nu = w[:, 1] @ x.mT")  # fmt: skip
    agree("x = torch.tensor([[[0.5, 1.5], [2.0, 0.0]]]).permute(2, 1, 0)\n"
          "w = torch.tensor([[1.0, 2.0]], requires_grad=True)\ny = x @ w")  # fmt: skip


def test_linear_with_empty_input_features() -> None:
    agree(
        "x = torch.zeros(2, 1, 1, 0, dtype=torch.float64, requires_grad=True)\n"
        "w = torch.zeros(4, 0, dtype=torch.float64, requires_grad=True)\ny = F.linear(x, w)"
    )


def test_softplus_and_elu_gradients_are_torchs_rules() -> None:
    """One node each, with torch's formulas: an infinite upstream gradient stays infinite
    through softplus, and ELU's gradient is 1 at NaN (torch's scalar rule), alpha at 0."""
    agree("x = torch.tensor([[-0.7, 0.1, 0.7], [0.13, -1.97, 30.0]], requires_grad=True)\n"
          "y = F.softplus(x)\ny /= False")  # fmt: skip
    agree("x = torch.tensor([-0.75, 1.1, 0.0, -0.0, float('nan')], dtype=torch.float64, "
          "requires_grad=True)\ny = F.elu(x, alpha=0.7)\nz = 1 / y")  # fmt: skip


def test_advanced_indices_around_an_empty_ellipsis_stay_adjacent() -> None:
    """torch expands `...` before deciding whether the advanced indices are adjacent; a `...`
    that covers no dims does not separate them (numpy's rule would move their dims first)."""
    agree("x = torch.zeros(3, 2, 1, 1)\n"
          "y = x[0:1, torch.tensor([True, True]), torch.tensor([True]), ..., [0, 0]]\n"
          "x[0:1, torch.tensor([True, True]), torch.tensor([True]), ..., [0, 0]] = "
          "torch.ones(1, 2)")  # fmt: skip


def test_more_write_and_save_rules() -> None:
    """True / x keeps the reciprocal as number / x does; an index result of a reduction is an
    array that its views follow."""
    agree("x = torch.tensor([[0.5, 1.5], [2.0, 0.25]], requires_grad=True)\ny = x.cos()\n"
          "z = True / y\ny.sub_(3.0)")  # fmt: skip
    agree("x = torch.tensor(-3)\ni = x.argmin(dim=-1)\nj = i.squeeze()\ni.copy_(x)")


def test_logits_changed_in_place_after_cross_entropy() -> None:
    # torch saves log_softmax's result, not the logits: changing them afterwards is no error
    def run(lib):
        w = lib.tensor([[1.5, -0.7, 0.2]], dtype=lib.float64, requires_grad=True)
        x = w * 1
        loss = lib.nn.functional.cross_entropy(x, lib.tensor([0]))
        x.mul_(2)
        loss.backward()
        return w.grad.numpy()

    np.testing.assert_allclose(run(at), run(torch), rtol=1e-12)
    # a second backward still refuses, as torch's
    w = at.tensor([[1.0, 2.0]], requires_grad=True)
    loss = at.nn.functional.cross_entropy(w * 1, at.tensor([1]))
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_cat_of_one_tensor_is_a_new_tensor_and_of_legacy_empties_ignores_dim() -> None:
    agree("x = torch.ones(2, 3, requires_grad=True)\ny = torch.cat([x])\nz = y * 2")
    agree("x = torch.ones(2, 3)\ny = torch.cat([x.t()])\ny.add_(1.0)\nz = x * 1")
    raises_alike("x = torch.ones(2, 3)\ny = torch.cat([x], dim=3)", IndexError, "out of range")
    agree("x = torch.zeros(0, dtype=torch.float64, requires_grad=True)\n"
          "y = torch.cat([x, 2 - x], dim=4)")  # fmt: skip
    x = at.ones(2)
    y = at.cat([x])
    y.add_(1.0)
    assert y is not x and x.tolist() == [1.0, 1.0]


def test_empty_batched_matmul_into_an_integer_result_refuses_a_graph() -> None:
    raises_alike("x = torch.zeros(0, 0, 0, 3, dtype=torch.float64, requires_grad=True)\n"
                 "y = x @ torch.ones(1, 3, 3, dtype=torch.int64)",
                 RuntimeError, "Autograd not support dtype: Long")  # fmt: skip
    agree("x = torch.zeros(0, 2, 3, dtype=torch.float64)\n"
          "y = x @ torch.ones(0, 3, 3, dtype=torch.int64)")  # fmt: skip
    agree("x = torch.zeros(0, 2, 3, dtype=torch.int64)\n"
          "y = x @ torch.ones(0, 3, 3, dtype=torch.float64, requires_grad=True)")  # fmt: skip


def test_layout_after_masked_fill_of_a_permuted_tensor_lets_view_work() -> None:
    agree("x = torch.tensor([[-1.0, -0.5], [-0.8, -0.3]], dtype=torch.float64).permute(1, 0)\n"
          "y = (2.0 / x).masked_fill(x > 0, 1.0).neg().abs()\nz = y.view((1, -1))")  # fmt: skip


# -- layouts of elementwise and indexing results (Note [Result layouts]) -------------------
@pytest.mark.parametrize(
    "src",
    [
        # operands that broadcast each other: the tie-breaks decide, even when C-contiguous
        "a = torch.tensor(np.arange(3).reshape(3, 1, 1))\n"
        "b = torch.tensor(np.ones((3, 1, 1, 1))).permute(3, 2, 1, 0)\ny = b + a",
        "a = torch.tensor(np.array([[-3], [-1]]))\n"
        "b = torch.tensor(np.ones((3, 1, 1), np.float32)).permute(2, 1, 0)\ny = b - a",
        "a = torch.tensor(np.array([[[1, 3]]])).permute(2, 1, 0)\n"
        "y = torch.minimum(a, a.amax(dim=-1))",
        # comparisons: torch's elementwise layout, after its cast of the other dtype
        "a = torch.tensor(np.ones((3, 3))).t().requires_grad_()\n"
        "y = a < torch.tensor(np.ones((3, 3), np.float32))",
        "a = torch.tensor(np.ones((2, 2))).t()\ny = a == a.movedim(-2, -1)",
        "a = torch.tensor(np.ones((1, 3, 4, 1), np.float32)).permute(3, 2, 1, 0)\n"
        "y = a >= torch.tensor(np.zeros((4, 3, 1), np.int64))",
        # bitwise results feed a division: their layout decides the next one's
        "a = torch.tensor(np.ones((3, 1, 2, 3), np.int64)).permute(3, 2, 1, 0)\n"
        "b = a & torch.tensor(np.ones((3, 1, 1, 3), np.int64))\n"
        "y = torch.div(torch.ones(2, 2, 1, requires_grad=True), b, rounding_mode='trunc')",
        # an expanded operand of another dtype: torch's cast gives the expanded dim a stride
        "a = torch.ones(2, 1).expand(2, 3)\ny = a == torch.zeros(3, 2, dtype=torch.int64).t()",
    ],
)  # fmt: skip
def test_elementwise_layout_of_broadcast_and_mixed_dtype_operands(src: str) -> None:
    agree(src)


def test_index_layout_reads_the_strides_of_size1_dims() -> None:
    agree(
        "a = torch.tensor(np.zeros((3, 2, 1, 1), bool)).permute(3, 1, 0, 2)\n"
        "y = a[-2::2, [-1, -1, 1]]"
    )


def test_none_in_an_index_gives_unsqueeze_strides() -> None:
    x = at.zeros(2, 3)
    t = torch.zeros(2, 3)
    for idx in [None, (slice(None), None), (None, slice(None, None, 2)), (Ellipsis, None),
                (None, 0), (0, None)]:  # fmt: skip
        assert x[idx].stride() == t[idx].stride(), idx
    agree("x = torch.zeros(2, 3)\ny = x[None] + x[:, None]")


def test_getitem_backward_with_an_empty_ellipsis_between_index_arrays() -> None:
    agree(
        "x = torch.tensor(np.ones((3, 3, 1))).permute(2, 1, 0).requires_grad_()\n"
        "y = x[0:3:3, torch.tensor([2]), ..., torch.tensor([0, 1])]"
    )


def test_setitem_out_of_bounds_on_a_size0_dim_before_the_dtype_check() -> None:
    raises_alike(
        "x = torch.zeros(3, 2, 0, dtype=torch.float64)\n"
        "x[..., [1, 1], torch.tensor([1, 1])] = torch.tensor(1.0)",
        IndexError,
        "out of bounds for dimension with size 0",
    )


def test_linear_weight_changed_in_place_when_no_gradient_reads_it() -> None:
    # torch's linear saves the weight only for the input's gradient: with an input that
    # does not require grad, changing the weight afterwards is no error
    agree(
        "w = torch.ones(2, 3, requires_grad=True).clone()\n"
        "y = F.linear(torch.ones(4, 3), w)\nw[...] = torch.tensor(2.0)"
    )
    raises_alike(
        "w = torch.ones(2, 3, requires_grad=True).clone()\n"
        "y = F.linear(torch.ones(4, 3, requires_grad=True), w)\nw[...] = torch.tensor(2.0)\n"
        "y.sum().backward()",
        RuntimeError,
        "modified by an inplace operation",
    )


def test_in_place_through_a_none_index_view_writes_through() -> None:
    agree("x = torch.tensor([1.5], requires_grad=True)\ny = x.neg()\ny[None, 0].mul_(0.5)")


def test_expand_gives_torch_strides_to_size1_dims() -> None:
    cases = [((3, 1, 1, 3), (3, 1, 3, 3)), ((3,), (1, 2, 1, 3)), ((1, 3), (1, 1, 3)),
             ((2, 1), (2, 4)), ((), (1, 1))]  # fmt: skip
    for shape, to in cases:
        assert at.zeros(shape).expand(*to).stride() == torch.zeros(shape).expand(*to).stride()
    assert at.zeros(3)[::2].expand(1, 2).stride() == torch.zeros(3)[::2].expand(1, 2).stride()
    agree(
        "a = torch.zeros(3, 1, 1, 3, dtype=torch.int64).permute(0, 1, 3, 2).expand(3, 1, 3, 3)\n"
        "y = a + torch.ones(3, 3, 3, 1).permute(1, 3, 2, 0)"
    )


# -- signed zeros, integer powers, index checks in torch's order ----------------------------
def test_a_zero_cross_entropy_is_plus_zero() -> None:
    agree(
        "x = torch.tensor([[0.99], [2.75]], requires_grad=True)\n"
        "y = 1 / F.cross_entropy(x, torch.tensor([0, 0]))\n"
        "z = 1 / F.cross_entropy(x, torch.tensor([0, 0]), reduction='none')"
    )
    assert float(1 / F_at().cross_entropy(at.tensor([[0.5]]), at.tensor([0]))) == float("inf")


def F_at():
    return at.nn.functional


@pytest.mark.parametrize("expr", ["torch.add(x, False, alpha=-1)", "torch.sub(x, 0, alpha=-1)",
                                  "x.sub(0.0, alpha=2)", "x.add(0, alpha=-2)"])  # fmt: skip
def test_add_sub_scale_a_number_by_alpha_in_floating_point(expr: str) -> None:
    agree(f"x = torch.tensor([-0.0, 1.5, float('inf')])\ny = 3.0 / {expr}")


def test_integer_power_with_the_lowest_int64_exponent() -> None:
    agree("e = torch.tensor([-2**63, -3, 2])\ny = 1 ** e\nz = (-1) ** e\nw = e ** 0")


def test_setitem_on_a_leaf_checks_the_integers_of_the_index_first() -> None:
    raises_alike(
        "x = torch.zeros(3, 3, 0, 1).requires_grad_()\nx[..., [-1, -2], -3] = torch.tensor(1.0)",
        IndexError,
        "out of bounds",
    )


def test_setitem_of_a_tensor_into_a_strided_view_of_itself_overlaps() -> None:
    raises_alike("x = torch.ones(1, 4).neg()\nx[0::3] = x", RuntimeError, "memory location")
    agree("x = torch.ones(1, 4).neg()\nx[:] = x\nx[...] = x")


@pytest.mark.parametrize("index", ["[..., torch.zeros(0, dtype=torch.bool)]",
                                   "[torch.zeros(3, dtype=torch.bool)]"])  # fmt: skip
def test_a_mask_of_the_wrong_shape_raises_even_on_an_empty_tensor(index: str) -> None:
    raises_alike(f"x = torch.zeros(2, 0, 4)\ny = x{index}", IndexError, "shape of the mask")


def test_backward_of_an_empty_index_with_an_index_out_of_range() -> None:
    agree(
        "x = torch.ones(1, 1, 4, 2, requires_grad=True)\n"
        "y = x[None, -2:-1:2, ..., torch.tensor([-1, 3])]"
    )


def test_add_alpha_scales_a_tensor_in_the_result_dtype() -> None:
    agree("x = torch.ones(3, dtype=torch.float64)\ny = torch.add(x, torch.tensor(1e-3), alpha=3)")
    agree("y = torch.add(torch.tensor([True, False]), torch.tensor(False), alpha=True)")


def test_maximum_of_broadcast_inputs_that_require_grad_keeps_torch_layout() -> None:
    agree(
        "a = torch.ones(3, 1, 1).permute(2, 1, 0).requires_grad_()\n"
        "b = torch.ones(3, 1, requires_grad=True)\ny = torch.maximum(b, a)"
    )


def test_a_leaf_setitem_with_a_mask_refuses_the_leaf_first() -> None:
    raises_alike(
        "x = torch.ones(4, 1, dtype=torch.float64, requires_grad=True)\n"
        "x[..., torch.tensor([False, False, False, True])] = torch.tensor(1.0)",
        RuntimeError,
        "leaf Variable",
    )


def test_setitem_from_itself_through_none_and_whole_slices() -> None:
    agree("x = torch.ones(1, 3, 4).neg()\nx[None] = x")
    raises_alike(
        "x = torch.zeros(0, 1, dtype=torch.int64)\nx[0:3, torch.tensor([], dtype=torch.int64)] = x",
        RuntimeError,
        "memory location",
    )


@pytest.mark.parametrize("index", ["[0:3, i]", "[:, i]", "[-2:10, i]", "[0:10, i]", "[1:, i]"])
def test_setitem_from_itself_reads_slices_as_written(index: str) -> None:
    # torch's slicing answers x itself only for a slice written from 0 (or none) to at least
    # the dim's length with step 1; index_put_ then refuses a value that is x
    agree(f"x = torch.zeros(0, 1)\ni = torch.tensor([], dtype=torch.int64)\nx{index} = x")
    agree(f"x = torch.zeros(2, 1)\ni = torch.tensor([0], dtype=torch.int64)\nx{index} = x")


def test_setitem_from_itself_with_leading_ones_dropped_as_a_view() -> None:
    agree("x = torch.zeros(1, 3, 1, dtype=torch.int64).permute(2, 1, 0)\nx[-1, ...] = x")
    agree("x = torch.zeros(1, 2, 3)\nx[0] = x")


def test_pow_by_a_0d_tensor_half_is_c_pow_and_by_a_number_half_is_sqrt() -> None:
    agree(
        "x = torch.tensor([1.0, -float('inf'), -0.5, 0.0, -0.0])\n"
        "y = 1 / (x ** torch.tensor(0.5))\nz = 1 / (x ** 0.5)\n"
        "w = x.clone()\nw.pow_(torch.tensor(0.5))"
    )


def test_elementwise_result_keeps_the_strides_of_size1_dims_of_its_operand() -> None:
    agree(
        "a = torch.tensor(np.ones((1, 1, 1, 4))).permute(3, 2, 1, 0).requires_grad_()\n"
        "b = -1.5 - a\ny = torch.ones(2, 1, requires_grad=True) == b"
    )


def test_view_as_of_a_transposed_tensor_raises_as_view() -> None:
    raises_alike("x = torch.ones(4, 2)\ny = (-1.5 * x).t().view_as(x)", RuntimeError,
                 "view size is not compatible")  # fmt: skip
    agree("x = torch.ones(4, 2)\ny = x.view_as(torch.ones(8))")


def test_power_minus_half_is_rsqrt_in_values_and_in_the_gradient_of_sqrt() -> None:
    agree(
        "x = torch.tensor([-float('inf'), -0.0, 4.0, -1.0, 0.0, float('inf')], "
        "dtype=torch.float64, requires_grad=True)\ny = x ** 0.5\nz = x.detach() ** -0.5"
    )


def test_cast_to_an_integer_of_a_multi_view_whose_base_changed_in_place() -> None:
    # no gradient reaches an integer result, so the cast never reads the view's grad_fn
    # (which torch cannot rebuild for an output of chunk after its base changed)
    src = (
        "x = torch.tensor([[-1.5, 2.0]], requires_grad=True)\ny = x.log_softmax(dim=1)\n"
        "v = y.chunk(1, dim=1)[-1]\ny.add_(torch.tensor(0.0))\nz = v.long()\nb = v.bool()"
    )
    agree(src)
    raises_alike(src + "\nw = v.sum()", RuntimeError, "Output 0 of .* is a view and its base")
    x = at.tensor([[-1.5, 2.0]], requires_grad=True)
    y = x * 1
    v = y.chunk(1)[0]
    y.add_(at.tensor(0.0))
    assert repr(v).endswith("grad_fn=<Invalid>)")  # torch's repr of such a view


def test_setitem_overlap_with_a_value_of_only_size1_dims() -> None:
    # torch drops every leading 1 of the value (leaving a 0-d view of it) before expanding
    raises_alike("x = torch.zeros(1)\nv = x.unsqueeze(-2)\nv[-2:10:2, ..., -1] = v",
                 RuntimeError, "refer to a single memory location")  # fmt: skip
    agree("x = torch.zeros(1)\nv = x.unsqueeze(-2)\nv[0:1, ..., -1] = v.clone()")


def test_advanced_setitem_into_an_expanded_tensor_with_a_value_that_needs_grad() -> None:
    # the base needs no gradient, so the expanded region is only read (for the value's)
    agree(
        "v = torch.tensor(-0.25, requires_grad=True)\nb = torch.tensor([[-0.25, 0.5, -1.25]])\n"
        "e = b.expand(2, 3)\n"
        "e[..., torch.tensor([-2, 1, 0]), torch.tensor([True, False, False])] = v"
    )
    with pytest.warns(UserWarning, match="Use of index_put_ on expanded tensors"):
        at.zeros(1, 3).expand(2, 3)[at.tensor([0])] = 1.0
    with pytest.warns(UserWarning, match="Use of masked_fill_ on expanded tensors"):
        at.zeros(1, 3).expand(2, 3).masked_fill_(at.tensor([True, False, False]), 1.0)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_as_torch(accumulate: bool) -> None:
    agree(
        "x = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)\n"
        "v = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64, requires_grad=True)\n"
        f"y = (x * 2).index_put((torch.tensor([0, 0, 2]), torch.tensor([1, 1, 3])), v, "
        f"accumulate={accumulate})\n"
        "z = x * 3\n"
        f"z.index_put_((torch.tensor([2, 0, 2]),), v[:, None] * 1, accumulate={accumulate})\n"
        f"w = torch.zeros(3, 4).index_put((torch.tensor([True, False, True]),), "
        f"torch.tensor(5.0), accumulate={accumulate})"
    )
    raises_alike("x = torch.zeros(3)\nx.index_put_((torch.tensor([0]),), 1.0)", TypeError,
                 "must be Tensor, not float")  # fmt: skip
    raises_alike("x = torch.zeros(3)\nx.index_put_((torch.tensor([0]),), torch.ones(1).double())",
                 RuntimeError, "got Float for the destination and Double")  # fmt: skip
    raises_alike("x = torch.zeros(3, 2)\nx.index_put_((torch.tensor([0, 1]),), torch.ones(3), "
                 f"accumulate={accumulate})", RuntimeError, "shape mismatch")  # fmt: skip
    raises_alike("x = torch.zeros(3)\nx.index_put_(torch.tensor([0]), torch.ones(1))",
                 TypeError, "must be tuple of Tensors")  # fmt: skip


def test_elementwise_result_of_same_shape_operands_takes_torch_fast_setup() -> None:
    # all C-contiguous: a new C-contiguous result (its size-1 dims' strides too); all
    # channels_last: a channels_last result
    agree(
        "a = torch.tensor([[True, False]]).permute(1, 0)\nb = torch.clamp(a, min=a)\n"
        "x = torch.tensor([[[-0.5, 1.5]]]).permute(2, 1, 0).requires_grad_()\n"
        "y = torch.clamp(b, min=x)"
    )
    agree(
        "x = torch.tensor(np.ones((2, 1, 4, 1))).permute(3, 2, 1, 0).requires_grad_()\n"
        "y = x.sqrt() >= torch.tensor(0.5)\nz = (x * x).roll(1, 3)"
    )


def test_roll_is_laid_out_as_torch_cat_of_its_two_parts() -> None:
    # a shift that is a multiple of the size leaves one part empty: contiguous
    agree(
        "x = torch.tensor(np.ones((3, 1, 3, 3))).permute(0, 3, 2, 1).requires_grad_()\n"
        "y = (x + 1).roll(1, 3)\nz = (x + 1).roll(2, 2)\nw = (x + 1).roll((1, -1), (1, 2))"
    )
    assert at.ones(2, 3, 4).unsqueeze(-1).stride() == (12, 4, 1, 1)  # unsqueeze's strides


@pytest.mark.parametrize("rg", ["x", "y", "both", "none"])
def test_matmul_drops_a_batch_of_one_of_an_operand_that_requires_grad(rg: str) -> None:
    # torch then folds the other operand into one mm: the kernel (and its dtype check and
    # message) is mm's, not bmm's, even when nothing is multiplied
    rx, ry = rg in ("x", "both"), rg in ("y", "both")
    for a, b in [((1, 4, 3), (2, 3, 5)), ((2, 4, 3), (1, 3, 5)), ((1, 4, 1), (4, 1, 0))]:
        agree(
            f"x = torch.ones({a}, requires_grad={rx})\n"
            f"y = torch.ones({b}, dtype=torch.float64, requires_grad={ry})\nz = x @ y"
        )
        agree(
            f"x = torch.ones({a}, requires_grad={rx})\ny = torch.ones({b}, requires_grad={ry})\n"
            "z = x @ y"
        )


def test_flatten_and_unflatten_check_their_arguments_as_torch() -> None:
    raises_alike("x = torch.tensor(True)\ny = x.flatten(3)", IndexError, "range of \\[-1, 0\\]")
    agree("x = torch.tensor(1.5)\ny = x.flatten(0, -1)\nz = x.flatten(-1, 0)")
    raises_alike("x = torch.ones(2, 6)\ny = x.unflatten(1, (2, 4))", RuntimeError,
                 "don't multiply up to the size of dim 1")  # fmt: skip
    raises_alike("x = torch.ones(2, 6)\ny = x.unflatten(1, (-1, 4))", RuntimeError,
                 "don't multiply up")  # fmt: skip
    raises_alike("x = torch.ones(2, 6)\ny = x.unflatten(2, (2, 3))", IndexError, "out of range")
    raises_alike("x = torch.ones(2, 6)\ny = x.unflatten(1, ())", RuntimeError, "non-empty")
    raises_alike("x = torch.ones(2, 0)\ny = x.unflatten(1, (-1, 0))", RuntimeError, "ambiguous")
    agree("x = torch.ones(2, 6, requires_grad=True)\ny = x.unflatten(-1, (-1, 3))")


def test_linear_of_an_input_that_cannot_be_viewed_as_a_matrix_saves_a_copy() -> None:
    # torch folds such an input with a reshape that copies, and saves that copy for the
    # weight's gradient: changing the input in place afterwards is then no error
    agree(
        "w = torch.tensor(np.eye(3), requires_grad=True)\n"
        "x = torch.tensor(np.ones((3, 3, 3))).permute(1, 0, 2) * 2\n"
        "y = F.linear(x, w, torch.ones(3, dtype=torch.float64))\nx += 1"
    )
    raises_alike(  # a contiguous input is saved itself (a view of it), as torch's
        "w = torch.tensor(np.eye(3), requires_grad=True)\nx = torch.ones(3, 3, 3).double() * 2\n"
        "y = F.linear(x, w)\nx += 1\ny.sum().backward()",
        RuntimeError, "modified by an inplace operation",
    )  # fmt: skip
    x = at.ones(2, 3)
    assert x.data_ptr() == x[0].data_ptr() != x[1].data_ptr() and at.ones(0).data_ptr() == 0


@pytest.mark.parametrize("index", ["[..., [], -1]", "[:, [0], -1]", "[[], -1]", "[..., [-3, 3]]"])
def test_setitem_checks_integers_and_shapes_before_the_value_dtype(index: str) -> None:
    # torch selects with the integers first, then broadcasts the value, then compares dtypes
    agree(
        "x = torch.zeros(1, 3, 0, dtype=torch.bool)\n"
        f"v = torch.ones(4, 3, 1, requires_grad=True)\nx{index} = v"
    )


@pytest.mark.parametrize(
    "src",
    [
        "x = torch.tensor(np.arange(48.0).reshape(4, 4, 3))\nv = x.select(1, -2)\nx.copy_(v)",
        "x = torch.tensor(np.arange(1.0, 10.0).reshape(3, 3)).t()\nv = x[-2::2]\nx.pow_(v)",
    ],
)
def test_inplace_from_an_operand_overlapping_the_target_is_a_deliberate_difference(
    src: str,
) -> None:
    # torch's loops read elements they wrote earlier; autotensor reads the operand first, so
    # the result is the formula's on the tensors as they were (docs/design.md)
    m = fuzzlib.compare(_program(src), torch, at)
    assert m is not None and m.kind == "overlap_order" and fuzzlib.is_deliberate(m), m
    ns = {"torch": at, "np": np}
    exec(src.replace("x.copy_(v)", "e = v.clone()\nx.copy_(v)").replace(
        "x.pow_(v)", "e = x.clone() ** v.clone()\nx.pow_(v)"), ns)  # fmt: skip
    want = np.broadcast_to(ns["e"].numpy(), ns["x"].shape)
    np.testing.assert_array_equal(ns["x"].numpy(), want)


def test_gradient_of_a_power_of_zero_is_zero_even_where_the_incoming_one_is_inf() -> None:
    agree(
        "x = torch.tensor([-0.25, -1.0, 0.0], requires_grad=True)\ny = x ** 0\n"
        "y.div_(torch.tensor([False, True, False]))\nz = x ** 0.0 * float('inf')"
    )


def test_integer_rounding_and_sign_are_elementwise_copies_laid_out_as_torch() -> None:
    # torch's floor/ceil/trunc/round of an integer tensor and sign of a bool one run its
    # elementwise copy: a C-contiguous input gives a new C-contiguous result
    for op in ("round()", "floor()", "ceil()", "trunc()", "bool().sign()"):
        agree(
            f"x = torch.tensor(np.array([[[-4]], [[-3]], [[2]]])).permute(2, 1, 0)\ny = x.{op}\n"
            "z = torch.tensor([False]) @ y"
        )  # fmt: skip  (mv's check when it folds)


def test_masked_fill_and_clone_to_contiguous_give_c_strides_to_size1_dims() -> None:
    agree(
        "x = torch.tensor(np.array([[[True], [False]]])).permute(2, 1, 0)\n"
        "a = x.masked_fill(x, True)\nb = x.movedim(-2, -3)\nc = torch.where(x + x, b, a)\n"
        "d = torch.where(x + x, b, x.clone(memory_format=torch.contiguous_format))"
    )
    x = at.tensor(np.ones((2, 1, 1))).permute(2, 1, 0)
    assert x.clone(memory_format=at.contiguous_format).stride() == (2, 2, 1)


def test_cumsum_is_never_minus_zero_as_torch_running_sum_from_plus_zero() -> None:
    agree(
        "x = torch.tensor([[-0.0, 1.0], [-0.0, -0.0], [0.0, -0.0]], requires_grad=True)\n"
        "y = torch.div(torch.tensor([2, -2]), x.cumsum(0), rounding_mode='trunc')\n"
        "z = 1 / x.float().cumsum(1)\nw = 1 / torch.tensor(-0.0).cumsum(0)"
    )


@pytest.mark.parametrize("fn", ["sinh", "atan", "asinh", "log2", "tan", "expm1", "exp2"])
def test_elementwise_family_saves_what_torch_saves(fn: str) -> None:
    # torch's backward keeps the input (or, for tan, expm1, exp2, the result): an in-place
    # change of the other one is no error, of that one it is
    for target in ("x", "y"):
        agree(f"a = torch.tensor([0.5, 1.5], requires_grad=True)\nx = a * 1\ny = x.{fn}()\n"
              f"{target}.mul_(2.0)")  # fmt: skip


@pytest.mark.parametrize(
    "write",
    ["y.detach().add_(1.0)", "b.detach().mul_(2.0)", "y.detach()[3] = 5.0",
     "torch.autograd.graph.increment_version(y)"],
)  # fmt: skip
def test_split_output_refuses_use_after_its_base_changed_without_a_record(write: str) -> None:
    # torch cannot rebuild the history of one of several views once their shared counter has
    # moved on, however the write was made (a detached alias shares the counter)
    raises_alike(
        f"x = torch.tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)\ny = x * 1\n"
        f"a, b = y.chunk(2)\n{write}\nz = a * 2",
        RuntimeError, "Output 0 of Split is a view and its base",
    )  # fmt: skip


def test_a_single_view_and_data_alias_stay_usable_after_an_unrecorded_write() -> None:
    agree(
        "x = torch.tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)\ny = x * 1\n"
        "a = y[:2]\ny.detach().add_(1.0)\nz = a * 2\nc, d = y.chunk(2)\ny.data.mul_(2.0)\n"
        "w = c * d"
    )


def test_data_has_a_version_counter_of_its_own_as_torch() -> None:
    # an in-place change through .data is invisible to autograd: no error at backward
    agree(
        "x = torch.tensor([0.5, 1.5], requires_grad=True)\ny = x.sin()\nx.data.mul_(2.0)\nz = y * 1"
    )
    x = at.tensor([0.5, 1.5], requires_grad=True)
    y = x.sin()
    x.data.mul_(2.0)
    y.sum().backward()
    assert x._version == 0 and np.allclose(x.grad.numpy(), np.cos([1.0, 3.0]))


def test_a_view_made_under_no_grad_refuses_its_grad_fn_after_its_base_changed() -> None:
    for T in (torch, at):
        x = T.tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)
        y = x * 1
        with T.no_grad():
            a = y[:2]
        y.mul_(2.0)
        with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
            a.grad_fn  # noqa: B018


def test_a_write_of_a_tensor_onto_its_own_memory_is_no_overlap_error() -> None:
    # torch's copy_ writes nothing when the source is the destination's memory with the same
    # shape and strides (a setitem's value after its expand), so an expanded tensor may take it
    agree(
        "x = torch.tensor(np.array([[[[False]]]])).permute(3, 2, 1, 0)\n"
        "y = x.expand(1, 2, 2, 2, 2)\ny[0::2] = x\nu = torch.zeros(1)\nw = u.expand(3)\n"
        "w.copy_(u.expand(3))\nw[:] = u\nv = w * 1"
    )
    raises_alike("u = torch.zeros(1)\nw = u.expand(3)\nw.copy_(u)", RuntimeError,
                 "more than one element of the written-to tensor")  # fmt: skip


def test_a_0d_minus_inf_to_a_0d_half_is_plus_inf() -> None:
    agree(
        "a = torch.tensor(np.array(-np.inf), requires_grad=True)\nb = a.mean(dim=0)\n"
        "c = b ** torch.tensor(0.5)"
    )


@pytest.mark.parametrize(
    "write",
    ["x[torch.tensor([0, 5])] = 1.0", "x.index_fill_(0, torch.tensor([3, 8]), 5.0)",
     "x.scatter_(0, torch.tensor([0, 1, 9]), torch.ones(3))"],
)  # fmt: skip
def test_an_indexed_write_with_a_bad_index_writes_nothing(write: str) -> None:
    # deliberate (partial_write): torch has written the elements before the bad index
    m = fuzzlib.compare(_program(f"x = torch.zeros(4)\n{write}\ny = x * 1"), torch, at)
    assert m is not None and m.kind == "partial_write" and fuzzlib.is_deliberate(m)
    x = at.zeros(4)
    with pytest.raises((IndexError, RuntimeError), match="out of bounds"):
        exec(write, {"torch": at, "x": x})
    assert not x.numpy().any()


def test_a_value_that_requires_grad_written_into_a_split_of_an_int_tensor() -> None:
    # torch makes no differentiable views of an integer or bool tensor, so the several-views
    # rule does not apply and nothing is recorded
    agree(
        "x = torch.tensor(np.zeros((1, 4), dtype=np.bool_))\n"
        "w = torch.tensor([-1.0], dtype=torch.float64, requires_grad=True)\n"
        "v = x.chunk(2, dim=-1)[0]\nv[-2::3, -2:-1:3] = w\ni = torch.zeros(1, 4).long()\n"
        "u = i.split(2, 1)[1]\nu[0, 1] = w[0]\nz = w * 2"
    )


def test_a_setitem_value_aliasing_its_target_is_refused_before_the_masks_are_read() -> None:
    raises_alike(
        "x = torch.tensor(np.zeros((0, 2, 3), dtype=np.bool_))\n"
        "x[torch.zeros(0, dtype=torch.bool), ..., torch.tensor([True, False])] = x",
        RuntimeError, "refer to a single memory location",
    )  # fmt: skip
    raises_alike(
        "x = torch.tensor(np.zeros((1, 2, 3), dtype=np.bool_))\n"
        "x[torch.ones(1, dtype=torch.bool), ..., torch.tensor([True, False])] = x[0, 0, :1]",
        RuntimeError, "refer to a single memory location",
    )  # fmt: skip
