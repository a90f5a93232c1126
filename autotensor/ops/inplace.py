"""`CopySlices`: the node a base takes when one of its views is modified in place while a
graph is recorded (Note [In-place] in docs/design.md, torch's CopySlices).

    out = base with view(out) = value        (view: the view steps, replayed)
    d base  = g with view(g) set to zero     (that region of the base was overwritten)
    d value = view(g)
"""

from __future__ import annotations

import numpy as np

from autotensor.function import Function
from autotensor.grad_mode import no_grad
from autotensor.tensor import _new
from autotensor.testing.sample import Sample


def replay(t, steps):
    """The view that `steps` make of `t`, recorded in the current grad mode."""
    for cls, tail, kwargs, nr in steps:
        t = cls.apply(t, *tail, **kwargs)
        if nr is not None:
            t = t[nr]
    return t


class CopySlices(Function):
    """out = base with the view that `steps` make of it replaced by `value`.

    Shapes: base (any), value = the view's shape; out = base's shape. `steps` is a tuple of
    view steps (cls, extra args, kwargs, output index or None), each a view primitive applied
    to the result of the one before (autotensor._views records them)."""

    takes_arrays = True

    @classmethod
    def name(cls) -> str:
        return "CopySlices"  # torch's node name

    @staticmethod
    def forward(ctx, base, value, steps):
        ctx.steps = steps
        out = base.copy()
        with no_grad():
            region = replay(_new(out), steps)._data
        if region.base is None and region is not out:
            raise RuntimeError("CopySlices: the view steps do not give a view of the base")
        ctx.shared = region.size > 1 and any(
            s == 0 and n > 1 for n, s in zip(region.shape, region.strides)
        )  # an expanded region: several of its elements are one element of the base
        if not region.flags.writeable:  # through an expand (autotensor._views.writable)
            region = region.view()
            region.flags.writeable = True
        np.copyto(region, value, casting="unsafe")
        return out

    @staticmethod
    def backward(ctx, g):
        steps = ctx.steps
        if ctx.shared and ctx.needs_input_grad[0]:
            # torch writes the view's gradient into that region of the base's: refused when
            # the region is an expanded one, whose elements share memory (the value's
            # gradient alone reads the region, which is fine)
            raise RuntimeError(
                "CopySlices: unsupported operation: more than one element of the written-to "
                "tensor refers to a single memory location. Please clone() the tensor before "
                "performing the operation."
            )
        gv = replay(g, steps) if ctx.needs_input_grad[1] else None
        if ctx.needs_input_grad[0]:
            hole = _new(np.zeros(replay(g.detach(), steps).shape, g.dtype))
            gb = CopySlices.apply(g, hole, steps=steps)
        else:
            gb = None
        return gb, gv

    @staticmethod
    def sample_inputs(rng):
        from autotensor.ops.movement import GetItem, Permute, Reshape

        def step(cls, *tail, **kwargs):
            return (cls, tail, kwargs, None)

        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(5,)),
                     steps=(step(GetItem, index=1),))  # fmt: skip
        yield Sample(rng.normal(size=(4, 5)), rng.normal(size=(2, 5)),
                     steps=(step(GetItem, index=(slice(1, 3),)),))  # fmt: skip
        yield Sample(rng.normal(size=(3,)), rng.normal(size=()),
                     steps=(step(GetItem, index=(2, Ellipsis)),), note="0-d")  # fmt: skip
        yield Sample(rng.normal(size=(2, 6)), rng.normal(size=(3, 2)),
                     steps=(step(Reshape, (3, 4)), step(GetItem, index=(slice(None), slice(1, 3)))),
                     note="view of a view")  # fmt: skip
        yield Sample(rng.normal(size=(4, 3)).T, rng.normal(size=(4,)),
                     steps=(step(Permute, dims=(1, 0)), step(GetItem, index=(slice(None), 0))),
                     note="transposed")  # fmt: skip
        yield Sample(rng.normal(size=(3, 1)), rng.normal(size=(1,)),
                     steps=(step(GetItem, index=0),), note="size-1")  # fmt: skip
        yield Sample(rng.normal(size=(0, 3)), rng.normal(size=(0, 3)),
                     steps=(step(GetItem, index=(slice(None),)),), note="empty")  # fmt: skip
