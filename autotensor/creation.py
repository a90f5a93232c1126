"""Tensor creation functions with torch's names and defaults."""

from __future__ import annotations

from typing import Any

import numpy as np

from autotensor import _views, dtypes
from autotensor._device import check as _check_device
from autotensor.random import generator as _gen
from autotensor.tensor import Tensor, _new, _size, to_array


def _place(op: str, device: Any, pin_memory: bool = False, layout: Any = None) -> None:
    """Check torch's placement keywords: only the CPU exists, so any other device raises;
    pinned memory needs an accelerator, so pin_memory=True raises too (never ignored)."""
    _check_device(device, op)
    if pin_memory:
        raise RuntimeError(f"{op}: pin_memory=True needs an accelerator; only the CPU exists")
    if layout is not None and str(layout) not in ("strided", "torch.strided"):
        raise NotImplementedError(f"{op}: layout={layout!r} is not supported (only strided)")


def _finish(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = _new(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float(dtype: Any) -> np.dtype:
    return dtypes.get_default_dtype() if dtype is None else dtypes.as_dtype(dtype)


P = Any  # placement keywords (device, layout) are typed loosely, as torch's are


def tensor(data: Any, dtype: Any = None, device: P = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:  # fmt: skip
    """A new tensor holding a copy of data (floats -> float32, ints -> int64, as torch)."""
    _place("tensor", device, pin_memory)
    return _finish(to_array(data, dtype), requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: P = None) -> Tensor:
    """data itself when it is already a tensor (or ndarray) of that dtype, else a copy."""
    _place("as_tensor", device)
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return data
    if isinstance(data, Tensor):
        return data.to(dtype)
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == dtypes.as_dtype(dtype)):
        return _new(data)
    return _new(to_array(data, dtype))


def from_numpy(a: np.ndarray) -> Tensor:
    """A tensor sharing memory with the ndarray a (its dtype kept)."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"from_numpy: expected np.ndarray (got {type(a).__name__})")
    return _new(a)


def zeros(*size: Any, dtype: Any = None, layout: P = None, device: P = None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:  # fmt: skip
    _place("zeros", device, pin_memory, layout)
    return _finish(np.zeros(_size(size), _float(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, layout: P = None, device: P = None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:  # fmt: skip
    _place("ones", device, pin_memory, layout)
    return _finish(np.ones(_size(size), _float(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, layout: P = None, device: P = None,
          requires_grad: bool = False, pin_memory: bool = False) -> Tensor:  # fmt: skip
    _place("empty", device, pin_memory, layout)
    return _finish(np.empty(_size(size), _float(dtype)), requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, layout: P = None, device: P = None,
         requires_grad: bool = False, pin_memory: bool = False) -> Tensor:  # fmt: skip
    _place("full", device, pin_memory, layout)
    if dtype is None:
        dtype = to_array(fill_value).dtype
    return _finish(np.full(_size((size,)), fill_value, dtypes.as_dtype(dtype)), requires_grad)


def _like(op: str, x: Tensor, dtype: Any, device: Any, layout: Any, memory_format: Any) -> tuple:
    _place(op, device, False, layout)
    fmt = _views.check_memory_format(op, memory_format, x.ndim)
    return x.shape, (x.dtype if dtype is None else dtypes.as_dtype(dtype)), fmt


def _laid_out_like(x: Tensor, arr: np.ndarray, fmt: Any) -> np.ndarray:
    """arr (of x's shape) laid out as torch's *_like lays out its result: x's order of dims
    in memory for preserve_format (the default), else the format asked for."""
    return _views.layout_as(arr, x._data, fmt)


def _filled_like(op: str, x: Tensor, fill: Any, dtype: Any, device: Any, layout: Any,
                 requires_grad: bool, memory_format: Any) -> Tensor:  # fmt: skip
    s, d, fmt = _like(op, x, dtype, device, layout, memory_format)
    arr = _laid_out_like(x, np.empty(s, d), fmt)  # no copy when x is C-contiguous
    if fill is not None:
        arr[...] = fill
    return _finish(arr, requires_grad)


def zeros_like(x: Tensor, dtype: Any = None, layout: P = None, device: P = None,
               requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    return _filled_like("zeros_like", x, 0, dtype, device, layout, requires_grad, memory_format)


def ones_like(x: Tensor, dtype: Any = None, layout: P = None, device: P = None,
              requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    return _filled_like("ones_like", x, 1, dtype, device, layout, requires_grad, memory_format)


def empty_like(x: Tensor, dtype: Any = None, layout: P = None, device: P = None,
               requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    return _filled_like("empty_like", x, None, dtype, device, layout, requires_grad,
                        memory_format)  # fmt: skip


def full_like(x: Tensor, fill_value: Any, dtype: Any = None, layout: P = None, device: P = None,
              requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    return _filled_like("full_like", x, fill_value, dtype, device, layout, requires_grad,
                        memory_format)  # fmt: skip


def rand(*size: Any, generator: Any = None, dtype: Any = None, layout: P = None,
         device: P = None, requires_grad: bool = False,
         pin_memory: bool = False) -> Tensor:  # fmt: skip
    """Uniform on [0, 1)."""
    _place("rand", device, pin_memory, layout)
    return _finish(_gen(generator).random(_size(size)).astype(_float(dtype)), requires_grad)


def randn(*size: Any, generator: Any = None, dtype: Any = None, layout: P = None,
          device: P = None, requires_grad: bool = False,
          pin_memory: bool = False) -> Tensor:  # fmt: skip
    """Standard normal."""
    _place("randn", device, pin_memory, layout)
    arr = _gen(generator).standard_normal(_size(size)).astype(_float(dtype))
    return _finish(arr, requires_grad)


def randint(low: int, high: Any = None, size: Any = None, generator: Any = None,
            dtype: Any = None, layout: P = None, device: P = None,
            requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Integers uniform on [low, high) (randint(high, size) also works, as torch)."""
    _place("randint", device, False, layout)
    if size is None:
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return _finish(_gen(generator).integers(low, high, _size((size,))).astype(d), requires_grad)


def randperm(n: int, generator: Any = None, dtype: Any = None, layout: P = None,
             device: P = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    _place("randperm", device, False, layout)
    d = dtypes.int64 if dtype is None else dtypes.as_dtype(dtype)
    return _finish(_gen(generator).permutation(n).astype(d), requires_grad)


def rand_like(x: Tensor, dtype: Any = None, layout: P = None, device: P = None,
              requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    s, d, fmt = _like("rand_like", x, dtype, device, layout, memory_format)
    arr = _laid_out_like(x, rand(*s, dtype=d)._data, fmt)
    return _finish(arr, requires_grad)


def randn_like(x: Tensor, dtype: Any = None, layout: P = None, device: P = None,
               requires_grad: bool = False, memory_format: P = None) -> Tensor:  # fmt: skip
    s, d, fmt = _like("randn_like", x, dtype, device, layout, memory_format)
    arr = _laid_out_like(x, randn(*s, dtype=d)._data, fmt)
    return _finish(arr, requires_grad)


def randint_like(x: Tensor, low: int, high: int | None = None, dtype: Any = None,
                 layout: P = None, device: P = None, requires_grad: bool = False,
                 memory_format: P = None) -> Tensor:  # fmt: skip
    s, d, fmt = _like("randint_like", x, dtype, device, layout, memory_format)
    arr = _laid_out_like(x, randint(low, high, s, dtype=d)._data, fmt)
    return _finish(arr, requires_grad)


def normal(mean: float, std: float, size: Any, generator: Any = None, dtype: Any = None,
           layout: P = None, device: P = None, requires_grad: bool = False,
           pin_memory: bool = False) -> Tensor:  # fmt: skip
    _place("normal", device, pin_memory, layout)
    arr = _gen(generator).normal(mean, std, _size((size,))).astype(_float(dtype))
    return _finish(arr, requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, layout: P = None,
           device: P = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    _place("arange", device, False, layout)
    if end is None:
        start, end = 0, start
    if dtype is None:
        is_int = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = dtypes.int64 if is_int else dtypes.get_default_dtype()
    return _finish(np.arange(start, end, step).astype(dtypes.as_dtype(dtype)), requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, layout: P = None,
             device: P = None, requires_grad: bool = False) -> Tensor:  # fmt: skip
    _place("linspace", device, False, layout)
    return _finish(np.linspace(start, end, steps).astype(_float(dtype)), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, layout: P = None, device: P = None,
        requires_grad: bool = False) -> Tensor:  # fmt: skip
    _place("eye", device, False, layout)
    return _finish(np.eye(n, m, dtype=_float(dtype)), requires_grad)


def bernoulli(p: Tensor, generator: Any = None) -> Tensor:
    return _new((_gen(generator).random(p.shape) < p._data).astype(p.dtype))


def multinomial(probs: Tensor, num_samples: int, replacement: bool = False,
                generator: Any = None) -> Tensor:  # fmt: skip
    """Draw indices from each row of (unnormalised) probabilities."""
    rng = _gen(generator)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {probs.shape}")
    p = np.atleast_2d(probs._data).astype(np.float64)
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples ({num_samples})")
    if not replacement and num_samples > p.shape[-1]:
        raise RuntimeError(
            f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without "
            f"replacement ({num_samples} > {p.shape[-1]})"
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise RuntimeError(
            "multinomial: probability tensor contains either `inf`, `nan` or element < 0"
        )
    if (p.sum(axis=-1) <= 0).any():
        raise RuntimeError(
            "multinomial: invalid multinomial distribution (sum of probabilities <= 0)"
        )
    if not replacement and ((p > 0).sum(axis=-1) < num_samples).any():
        raise RuntimeError(
            "multinomial: invalid multinomial distribution (with replacement=False, not enough "
            "non-negative category to sample)"
        )
    p = p / p.sum(axis=-1, keepdims=True)
    out = np.stack([rng.choice(p.shape[-1], num_samples, replace=replacement, p=row) for row in p])
    return _new(out.astype(np.int64).reshape(probs.shape[:-1] + (num_samples,)))
