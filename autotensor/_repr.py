"""A repr in torch's format: tensor([[0.1000, 2.0000], ...], dtype=..., grad_fn=<...>)."""

from __future__ import annotations

from typing import Any

import numpy as np

from autotensor import dtypes


def _float_formatter(a: np.ndarray) -> Any:
    finite = a[np.isfinite(a)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    amax, amin = np.abs(finite).max(), np.abs(finite).min()
    if np.all(finite == np.round(finite)) and amax < 1e8:
        width = max(len(f"{v:.0f}.") for v in finite.flat)
        return lambda v: (_special(v) or f"{v:.0f}.").rjust(width)
    sci = amax >= 1e8 or (amin > 0 and (amax / amin > 1e3 or amin < 1e-4))
    fmt = "{:.4e}" if sci else "{:.4f}"
    width = max(len(fmt.format(v)) for v in finite.flat)
    return lambda v: (_special(v) or fmt.format(v)).rjust(width)


def _special(v: float) -> str | None:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def tensor_repr(t: Any) -> str:
    a = t._data
    prefix = "tensor("
    if a.dtype.kind in "fc":
        fmt = {"float_kind": _float_formatter(a)}
    elif a.dtype.kind == "b":
        fmt = {"bool": lambda v: "True" if v else "False"}
    else:
        fmt = None
    if a.size == 0:
        body = "[]" if a.ndim <= 1 else f"size={tuple(a.shape)}"
    else:
        body = np.array2string(
            a, separator=", ", prefix=prefix, formatter=fmt, threshold=1000, edgeitems=3,
            max_line_width=80,
        )
    extras = []
    if a.size == 0 and a.ndim > 1:
        pass
    if a.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
        extras.append(f"dtype=at.{a.dtype}")
    elif a.size == 0 and a.dtype != dtypes.get_default_dtype():
        extras.append(f"dtype=at.{a.dtype}")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + body + "".join(", " + e for e in extras) + ")"
