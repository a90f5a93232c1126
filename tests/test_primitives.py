"""Every primitive under autotensor.ops is checked from its own declaration.

The primitives are found through Python's own `Function.__subclasses__()`, so a new one is
picked up without registering it anywhere: it must declare `sample_inputs`, those samples
must cover the shapes where gradient bugs hide, and `check_function` must pass on them
(forward sanity in float32 and float64, gradcheck and gradgradcheck in float64).
"""

from __future__ import annotations

import importlib
import pkgutil

import numpy as np
import pytest

import autotensor as at
import autotensor.ops
from autotensor.function import Function
from autotensor.testing import Sample, check_function

# Import every module of the package, so primitives in files that nothing imports yet are
# found as well.
for _mod in pkgutil.walk_packages(autotensor.ops.__path__, "autotensor.ops."):
    importlib.import_module(_mod.name)


def _all_subclasses(cls: type) -> list[type]:
    out, stack = [], [cls]
    while stack:
        for sub in stack.pop().__subclasses__():
            out.append(sub)
            stack.append(sub)
    return out


def _is_abstract(cls: type) -> bool:
    """Shared bases (the zero-gradient family, the one-ufunc elementwise family) are private
    (a leading underscore) or define no forward of their own; they are never applied."""
    return cls.forward is Function.forward or cls.__name__.startswith("_")


PRIMITIVES = sorted(
    {
        c
        for c in _all_subclasses(Function)
        if c.__module__.startswith("autotensor.ops") and not _is_abstract(c)
    },
    key=lambda c: c.__name__,
)

# Shape features a primitive's samples must cover. A primitive that cannot take one (torch
# refuses it too) says so in its own class, with the reason:
#     shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}
FEATURES = ("0-d", "empty", "size-1", "transposed")


def _features(op: type) -> set[str]:
    found = set()
    for s in op.sample_inputs(np.random.default_rng(0)):
        arrays = [a for a in s.args if isinstance(a, np.ndarray)]
        floats = [a for a in arrays if a.dtype.kind == "f"]
        if any(a.ndim == 0 for a in floats):
            found.add("0-d")
        if any(a.size == 0 for a in arrays):
            found.add("empty")
        if any(1 in a.shape for a in arrays):
            found.add("size-1")
        if any(not a.flags.c_contiguous for a in floats):
            found.add("transposed")
        shapes = {a.shape for a in floats} | {() for a in s.args if isinstance(a, float)}
        if len(shapes) > 1:
            found.add("broadcast")
    return found


def test_primitives_are_found() -> None:
    names = {c.__name__ for c in PRIMITIVES}
    # A few that must be there; the list itself grows as primitives are added.
    assert {"Add", "Mul", "MatMul", "Sum", "Tanh", "GetItem", "BroadcastTo", "Cat"} <= names
    assert len(PRIMITIVES) >= 40


@pytest.mark.parametrize("op", PRIMITIVES, ids=lambda op: op.__name__)
def test_declares_sample_inputs(op: type) -> None:
    """A primitive without samples would go unchecked: refuse it."""
    assert "sample_inputs" in {k for c in op.__mro__ if c is not Function for k in vars(c)}, (
        f"{op.__name__} (in {op.__module__}) does not define sample_inputs(rng); every "
        f"primitive must, so that check_function can verify it"
    )
    samples = list(op.sample_inputs(np.random.default_rng(0)))
    assert samples and all(isinstance(s, Sample) for s in samples)


@pytest.mark.parametrize("op", PRIMITIVES, ids=lambda op: op.__name__)
def test_samples_cover_edge_shapes(op: type) -> None:
    found = _features(op)
    exempt = getattr(op, "shape_exemptions", {})
    assert all(f in FEATURES + ("broadcast",) and why for f, why in exempt.items()), exempt
    missing = [f for f in FEATURES if f not in found and f not in exempt]
    if op.broadcasts and "broadcast" not in found:
        missing.append("broadcast")
    assert not missing, f"{op.__name__}.sample_inputs has no sample for: {', '.join(missing)}"


@pytest.mark.parametrize("op", PRIMITIVES, ids=lambda op: op.__name__)
def test_check_function(op: type) -> None:
    n = check_function(op)
    assert n >= 1


def test_check_function_catches_a_wrong_first_derivative() -> None:
    class BadTanh(at.Function):
        takes_arrays = True

        @staticmethod
        def forward(ctx, x):
            out = np.tanh(x)
            ctx.save_for_backward(out)
            return out

        @staticmethod
        def backward(ctx, g):
            (out,) = ctx.saved_tensors
            return g * (1.0 - out)  # should be 1 - out**2

        @staticmethod
        def sample_inputs(rng):
            yield Sample(rng.normal(size=(3, 4)))

    with pytest.raises(AssertionError, match=r"BadTanh sample 0.*Jacobian mismatch"):
        check_function(BadTanh)


def test_check_function_catches_a_wrong_second_derivative() -> None:
    """A backward that is right to first order but drops out of the graph (a constant
    cos(x) array) must fail the second-order check."""

    class SinConstGrad(at.Function):
        takes_arrays = True

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return np.sin(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * at.tensor(np.cos(x.detach().numpy()))

        @staticmethod
        def sample_inputs(rng):
            yield Sample(rng.normal(size=(3, 4)))

    with pytest.raises(AssertionError, match=r"second order"):
        check_function(SinConstGrad)


def test_check_function_catches_float32_upcast() -> None:
    class Upcast(at.Function):
        takes_arrays = True

        @staticmethod
        def forward(ctx, x):
            return x * np.float64(2.0) if x.dtype == np.float64 else x.astype(np.float64) * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

        @staticmethod
        def sample_inputs(rng):
            yield Sample(rng.normal(size=(3,)))

    with pytest.raises(AssertionError, match="float32 inputs gave a float64 output"):
        check_function(Upcast)


def test_check_function_catches_wrong_broadcast_reduction() -> None:
    """A broadcasting primitive that does not declare `broadcasts` and reduces nothing in
    backward hands the engine a gradient of the wrong shape: it must be named."""

    class NaiveAdd(at.Function):
        takes_arrays = True

        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g, g

        @staticmethod
        def sample_inputs(rng):
            yield Sample(rng.normal(size=(2, 3)), rng.normal(size=(3,)))

    with pytest.raises(AssertionError, match=r"NaiveAddBackward returned a gradient of shape"):
        check_function(NaiveAdd)
