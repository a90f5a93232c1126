"""ONNX export: `at.onnx.export(model, args, f, ...)`, in the shape of `torch.onnx.export`.

The exporter runs the model once on the example arguments with every primitive call
observed (Note [Observing primitives] in docs/design.md), and maps each call to ONNX
operators (`autotensor.onnx._symbolic`). Parameters and buffers become initializers named
as in `model.named_parameters()` / `named_buffers()`; other arrays the forward reads become
constants. The model is then checked with `onnx.checker.check_model`.

Two safety nets keep an exported graph from being silently wrong:

- every primitive needs a mapping; one without raises `UnsupportedOperatorError` naming it;
- the forward is recorded a second time on perturbed inputs: a constant that changed (the
  result of something computed from the inputs outside the primitives, or a random draw)
  raises `ExportError` naming the operator that read it.

Needs the optional packages `onnx` (building and checking) and, to run the result,
`onnxruntime`: `pip install "autotensor[onnx]"`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from typing import Any

from autotensor.onnx._export import ExportError, UnsupportedOperatorError, export_model

__all__ = ["ExportError", "UnsupportedOperatorError", "export", "supported_ops"]

_MIN_OPSET = 18  # Col2Im, and reductions taking their axes as an input


def export(
    model: Any,
    args: Any,
    f: str | os.PathLike | io.IOBase | None = None,
    *,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Any] | None = None,
    opset_version: int | None = None,
    export_params: bool = True,
    do_constant_folding: bool = True,
    training: Any = None,
    verbose: bool = False,
    keep_initializers_as_inputs: bool = False,
    dynamo: bool = False,
    **kwargs: Any,
) -> Any:
    """Export `model` (a Module or any callable of Tensors) to ONNX and return the ModelProto.

    args: the example inputs: one Tensor, or a tuple of Tensors (a last element that is a
        dict is passed as keyword arguments, as torch does).
    f: a path or a binary file object to write to; None only returns the model.
    input_names / output_names: names of the graph's inputs and (flattened) outputs.
    dynamic_axes: {name: [axis, ...]} or {name: {axis: "dim_name"}} for inputs and outputs
        whose size may change (typically the batch axis).
    opset_version: 18 (the default) or newer.

    The model is exported in eval mode (dropout off, batch norm on running statistics), as
    torch's exporter does by default, and put back in the mode it was in. Keywords of
    torch's exporter that change what is written (`export_params=False`,
    `keep_initializers_as_inputs=True`, `training=TRAIN`, `dynamo=True`, custom opsets, ...)
    raise NotImplementedError naming the keyword.
    """
    if kwargs:
        name = next(iter(kwargs))
        raise NotImplementedError(f"onnx.export: the keyword {name!r} is not supported")
    for key, value, default in (
        ("export_params", export_params, True),
        ("keep_initializers_as_inputs", keep_initializers_as_inputs, False),
        ("dynamo", dynamo, False),
    ):
        if value != default:
            raise NotImplementedError(f"onnx.export: {key}={value!r} is not supported")
    if training is not None and "EVAL" not in str(training).upper():
        raise NotImplementedError(
            f"onnx.export: training={training!r} is not supported (eval mode only)"
        )
    opset = _MIN_OPSET if opset_version is None else int(opset_version)
    if opset < _MIN_OPSET:
        raise ValueError(
            f"onnx.export: opset_version {opset} is not supported; the exporter writes opset "
            f"{_MIN_OPSET} or newer"
        )
    proto = export_model(
        model,
        args,
        input_names=list(input_names or []),
        output_names=list(output_names or []),
        dynamic_axes=dict(dynamic_axes or {}),
        opset=opset,
        verbose=verbose,
    )
    if f is not None:
        data = proto.SerializeToString()
        if isinstance(f, (str, os.PathLike)):
            with open(f, "wb") as fh:
                fh.write(data)
        else:
            f.write(data)
    return proto


def supported_ops() -> list[str]:
    """Names of the primitives (and tensor comparisons) the exporter can map."""
    from autotensor.onnx._symbolic import MAPPINGS

    return sorted(MAPPINGS)
