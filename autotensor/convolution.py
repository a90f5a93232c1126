"""Convolution and pooling, with torch.nn.functional's names, signatures and semantics.

A convolution is the `Conv2d` primitive: im2col (every kernel window as a column) and one
matrix product per image with the flattened weight; `conv2d_composite` writes the same thing
as `Im2Col` followed by `MatMul`. A transposed convolution is a `MatMul` followed by
`Col2Im`, max pooling is the `MaxPool2d` primitive, average pooling is `Im2Col` and a sum,
adaptive average pooling two products with averaging matrices. The gradients (first and
second order) come from those primitives (`autotensor.ops.conv`).

Layout, as torch: input (N, C, H, W) or unbatched (C, H, W); conv weight
(out_channels, in_channels / groups, kH, kW); transposed-conv weight
(in_channels, out_channels / groups, kH, kW). 1-D variants run the 2-D code with H = 1.

`conv2d_reference` is the book's loop version (chapter 5), kept as the slow, obviously
right reference that the fast path is tested against.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from autotensor import ops
from autotensor.ops.conv import Window, as_window
from autotensor.tensor import Tensor, _new, as_tensor

IntOrPair = int | Sequence[int]


# -- argument handling -----------------------------------------------------------------------
def _pair(v: Any, op: str, name: str) -> tuple[int, int]:
    if isinstance(v, (int, np.integer)):
        return int(v), int(v)
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v[0], v[0]
    if len(v) != 2:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v}")
    return v


def _single(v: Any, op: str, name: str) -> int:
    if isinstance(v, (int, np.integer)):
        return int(v)
    v = tuple(int(a) for a in v)
    if len(v) != 1:
        raise ValueError(f"{op}: {name} must be an int or a 1-tuple, got {v}")
    return v[0]


def _batched(x: Any, dims: int, op: str) -> tuple[Tensor, bool]:
    """(x with a batch dim, whether one was added): torch accepts unbatched input."""
    x = as_tensor(x)
    if x.ndim == dims:
        return x, False
    if x.ndim == dims - 1:
        return x.unsqueeze(0), True
    kind = {4: "3D (unbatched) or 4D (batched)", 3: "2D (unbatched) or 3D (batched)"}[dims]
    raise RuntimeError(f"{op}: expected {kind} input, but got input of size {list(x.shape)}")


def _same_dtype(op: str, x: Tensor, w: Tensor, b: Tensor | None) -> None:
    if w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        bias = f" and bias type {b.dtype}" if b is not None else ""
        raise RuntimeError(
            f"{op}: input type {x.dtype}, weight type {w.dtype}{bias} should be the same"
        )


def _check_bias(op: str, b: Tensor | None, n: int, w: Tensor) -> None:
    if b is not None and (b.ndim != 1 or b.shape[0] != n):
        raise RuntimeError(
            f"{op}: given weight of size {list(w.shape)}, expected bias to be 1-dimensional "
            f"with {n} elements, but got bias of size {list(b.shape)} instead"
        )


def _conv_padding(op: str, padding: Any, k: tuple[int, int], d: tuple[int, int],
                  s: tuple[int, int]) -> tuple[int, int, int, int]:  # fmt: skip
    """torch's padding argument -> (top, bottom, left, right). 'same' pads d (k - 1) in
    total, the odd one on the bottom/right, as torch does."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding != "same":
            raise ValueError(f"{op}: invalid padding string {padding!r}; use 'same' or 'valid'")
        if s != (1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
        return th // 2, th - th // 2, tw // 2, tw - tw // 2
    ph, pw = _pair(padding, op, "padding")
    if ph < 0 or pw < 0:
        raise RuntimeError(f"{op}: negative padding is not supported, got {(ph, pw)}")
    return ph, ph, pw, pw


# -- convolution -----------------------------------------------------------------------------
def _conv(op: str, x: Tensor, weight: Tensor, bias: Tensor | None, win: Window,
          groups: int) -> Tensor:  # fmt: skip
    """The 2-D convolution of a batched input with a resolved window: checks, then the
    `Conv2d` primitive (out[n] = W (O, C/g kh kw) @ cols[n] (C/g kh kw, OH OW) + b per
    group)."""
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    if groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got {groups}")
    if o % groups:
        raise RuntimeError(
            f"{op}: given groups={groups}, expected weight to be divisible by {groups} at "
            f"dimension 0, but got weight of size {list(weight.shape)} instead"
        )
    if c != cg * groups:
        raise RuntimeError(
            f"{op}: given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {cg * groups} channels, but got {c} channels instead"
        )
    hp, wp = h + win.top + win.bottom, w + win.left + win.right
    eh, ew = win.dh * (kh - 1) + 1, win.dw * (kw - 1) + 1
    if hp < eh or wp < ew:
        raise RuntimeError(
            f"{op}: calculated padded input size per channel: ({hp} x {wp}) for input "
            f"{list(x.shape)}. Kernel size: ({eh} x {ew}). Kernel size can't be greater than "
            f"actual input size"
        )
    _check_bias(op, bias, o, weight)
    _same_dtype(op, x, weight, bias)
    return ops.Conv2d.apply(x, weight, bias, win=win, groups=groups)


def conv2d_composite(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: IntOrPair = 1, padding: IntOrPair = 0, dilation: IntOrPair = 1,
                     groups: int = 1) -> Tensor:  # fmt: skip
    """conv2d as a composite of primitives, Im2Col then one MatMul per image:
    out[n] = W (O, C kh kw) @ cols[n] (C kh kw, OH OW) + b. Its gradients come from Im2Col
    (Col2Im) and MatMul. The `Conv2d` primitive does the same forward with a backward that
    picks the cheaper way to dx; this version is kept as the plain statement of the method
    and as a check on the primitive. Batched 4-D input, int or pair padding."""
    x = as_tensor(input)
    n, _, h, w = x.shape
    o, cg, kh, kw = weight.shape
    s, d = _pair(stride, "conv2d", "stride"), _pair(dilation, "conv2d", "dilation")
    win = as_window((kh, kw), s, _conv_padding("conv2d", padding, (kh, kw), d, s), d)
    oh, ow = win.out_hw(h, w)
    k = cg * kh * kw
    cols = ops.Im2Col.apply(x, win)  # (N, C kh kw, OH OW)
    if groups == 1:
        out = ops.MatMul.apply(weight.reshape(o, k), cols)  # (O, K) @ (N, K, L) -> (N, O, L)
    else:
        wg = weight.reshape(groups, o // groups, k)
        out = ops.MatMul.apply(wg, cols.reshape(n, groups, k, oh * ow)).reshape(n, o, oh * ow)
    if bias is not None:
        out = out + bias.reshape(o, 1)
    return out.reshape(n, o, oh, ow)


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair | str = 0,
    dilation: IntOrPair = 1,
    groups: int = 1,
) -> Tensor:
    """2-D cross-correlation, torch.nn.functional.conv2d:
    out[n, o, y, x] = b[o] + sum_{c in group(o), i, j} W[o, c, i, j] xpad[n, c, ys + id, xs + jd].

    Shapes: input (N, C, H, W) or (C, H, W); weight (O, C / groups, kH, kW); bias (O,) ->
    (N, O, OH, OW) with OH = (H + 2 p - d (kH - 1) - 1) // s + 1. padding may be an int, a
    pair, 'valid' (0) or 'same' (output size = input size; stride 1 only).
    """
    x, unbatched = _batched(input, 4, "conv2d")
    if weight.ndim != 4:
        raise RuntimeError(
            f"conv2d: expected a 4-D weight (out_channels, in_channels / groups, kH, kW), got "
            f"weight of size {list(weight.shape)}"
        )
    k = (weight.shape[2], weight.shape[3])
    s, d = _pair(stride, "conv2d", "stride"), _pair(dilation, "conv2d", "dilation")
    pads = _conv_padding("conv2d", padding, k, d, s)
    out = _conv("conv2d", x, weight, bias, Window(*k, *s, *pads, *d), groups)
    return out.squeeze(0) if unbatched else out


def conv1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] | str = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> Tensor:
    """1-D cross-correlation, torch.nn.functional.conv1d:
    out[n, o, t] = b[o] + sum_{c in group(o), i} W[o, c, i] xpad[n, c, t s + i d].

    Shapes: input (N, C, L) or (C, L); weight (O, C / groups, k); bias (O,) -> (N, O, OL).
    Runs conv2d on (N, C, 1, L)."""
    x, unbatched = _batched(input, 3, "conv1d")
    if weight.ndim != 3:
        raise RuntimeError(
            f"conv1d: expected a 3-D weight (out_channels, in_channels / groups, k), got "
            f"weight of size {list(weight.shape)}"
        )
    s, d = _single(stride, "conv1d", "stride"), _single(dilation, "conv1d", "dilation")
    k = weight.shape[2]
    if isinstance(padding, str):
        _, _, lo, hi = _conv_padding("conv1d", padding, (1, k), (1, d), (1, s))
    else:
        lo = hi = _single(padding, "conv1d", "padding")
        _conv_padding("conv1d", lo, (1, k), (1, d), (1, s))
    win = Window(1, k, 1, s, 0, 0, lo, hi, 1, d)
    out = _conv("conv1d", x.unsqueeze(2), weight.unsqueeze(2), bias, win, groups).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _conv_transpose(op: str, x: Tensor, weight: Tensor, bias: Tensor | None,
                    s: tuple[int, int], p: tuple[int, int], op_: tuple[int, int],
                    d: tuple[int, int], groups: int) -> Tensor:  # fmt: skip
    """The transposed convolution (the gradient of conv2d with respect to its input):
    cols = W^T x (one MatMul), out = Col2Im(cols) + b."""
    n, cin, h, w = x.shape
    if weight.ndim != 4:
        raise RuntimeError(
            f"{op}: expected a 4-D weight (in_channels, out_channels / groups, kH, kW), got "
            f"weight of size {list(weight.shape)}"
        )
    wc, cog, kh, kw = weight.shape
    if groups < 1:
        raise RuntimeError(f"{op}: non-positive groups is not supported, got {groups}")
    if wc != cin:
        raise RuntimeError(
            f"{op}: given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {wc} channels, but got {cin} channels instead"
        )
    if cin % groups:
        raise RuntimeError(
            f"{op}: given groups={groups}, expected weight to be divisible by {groups} at "
            f"dimension 0, but got weight of size {list(weight.shape)} instead"
        )
    for a in range(2):
        if op_[a] < 0 or not (op_[a] < s[a] or op_[a] < d[a]):
            raise RuntimeError(
                f"{op}: output padding must be smaller than either stride or dilation, but got "
                f"output_padding={op_}, stride={s}, dilation={d}"
            )
    cout = cog * groups
    _check_bias(op, bias, cout, weight)
    _same_dtype(op, x, weight, bias)
    oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op_[0] + 1
    ow = (w - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op_[1] + 1
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"{op}: given input of size {list(x.shape)}, weight {list(weight.shape)}, stride "
            f"{s}, padding {p}, dilation {d}, output_padding {op_}: the output size "
            f"({oh} x {ow}) is too small"
        )
    # Output padding adds rows/columns at the bottom/right. Where it exceeds the padding they
    # lie beyond every window and stay zero: Col2Im stops at the windows' span, Pad adds them.
    extra = (max(op_[0] - p[0], 0), max(op_[1] - p[1], 0))
    win = Window(kh, kw, s[0], s[1], p[0], p[0] - op_[0] + extra[0], p[1],
                 p[1] - op_[1] + extra[1], d[0], d[1])  # fmt: skip
    k = cog * kh * kw
    xs = x.reshape(n, cin, h * w)
    if groups == 1:
        cols = ops.MatMul.apply(weight.reshape(cin, k).transpose(0, 1), xs)  # (N, k, HW)
    else:
        wg = weight.reshape(groups, cin // groups, k).transpose(1, 2)  # (G, k, Cin/G)
        cols = ops.MatMul.apply(wg, xs.reshape(n, groups, cin // groups, h * w))
        cols = cols.reshape(n, groups * k, h * w)
    out = ops.Col2Im.apply(cols, (oh - extra[0], ow - extra[1]), win)
    if extra != (0, 0):
        out = ops.Pad.apply(out, (0, extra[1], 0, extra[0]))
    if bias is not None:
        out = out + bias.reshape(cout, 1, 1)
    return out


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    groups: int = 1,
    dilation: IntOrPair = 1,
) -> Tensor:
    """2-D transposed convolution, torch.nn.functional.conv_transpose2d: the adjoint of
    conv2d with respect to its input (each input pixel scatters W-weighted copies of itself).

    Shapes: input (N, Cin, H, W) or (Cin, H, W); weight (Cin, Cout / groups, kH, kW); bias
    (Cout,) -> (N, Cout, OH, OW) with OH = (H - 1) s - 2 p + d (kH - 1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    x, unbatched = _batched(input, 4, op)
    s, p, op_, d = (_pair(v, op, n) for v, n in ((stride, "stride"), (padding, "padding"),
                                                (output_padding, "output_padding"),
                                                (dilation, "dilation")))  # fmt: skip
    out = _conv_transpose(op, x, weight, bias, s, p, op_, d, groups)
    return out.squeeze(0) if unbatched else out


def conv_transpose1d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    groups: int = 1,
    dilation: int | Sequence[int] = 1,
) -> Tensor:
    """1-D transposed convolution, torch.nn.functional.conv_transpose1d.

    Shapes: input (N, Cin, L) or (Cin, L); weight (Cin, Cout / groups, k) -> (N, Cout, OL)."""
    op = "conv_transpose1d"
    x, unbatched = _batched(input, 3, op)
    if weight.ndim != 3:
        raise RuntimeError(f"{op}: expected a 3-D weight, got size {list(weight.shape)}")
    s = (1, _single(stride, op, "stride"))
    p = (0, _single(padding, op, "padding"))
    o = (0, _single(output_padding, op, "output_padding"))
    d = (1, _single(dilation, op, "dilation"))
    out = _conv_transpose(op, x.unsqueeze(2), weight.unsqueeze(2), bias, s, p, o, d, groups)
    out = out.squeeze(2)
    return out.squeeze(0) if unbatched else out


def unfold(input: Tensor, kernel_size: IntOrPair, dilation: IntOrPair = 1,
           padding: IntOrPair = 0, stride: IntOrPair = 1) -> Tensor:  # fmt: skip
    """torch.nn.functional.unfold (im2col): (N, C, H, W) -> (N, C kH kW, L), each column one
    kernel window, L = OH OW windows."""
    x, unbatched = _batched(input, 4, "unfold")
    out = ops.Im2Col.apply(x, as_window(kernel_size, stride, padding, dilation))
    return out.squeeze(0) if unbatched else out


def fold(input: Tensor, output_size: IntOrPair, kernel_size: IntOrPair, dilation: IntOrPair = 1,
         padding: IntOrPair = 0, stride: IntOrPair = 1) -> Tensor:  # fmt: skip
    """torch.nn.functional.fold (col2im, the adjoint of unfold): (N, C kH kW, L) ->
    (N, C, H, W), overlapping window entries summed."""
    x, unbatched = _batched(input, 3, "fold")
    hw = _pair(output_size, "fold", "output_size")
    out = ops.Col2Im.apply(x, hw, as_window(kernel_size, stride, padding, dilation))
    return out.squeeze(0) if unbatched else out


# -- pooling ---------------------------------------------------------------------------------
def _pool_out(op: str, size: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """torch's pooling output size; in ceil mode the last window must start inside the
    input or its left padding."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_window(op: str, x: Tensor, kernel_size: Any, stride: Any, padding: Any,
                 dilation: Any, ceil_mode: bool) -> Window:  # fmt: skip
    """The window of a 2-D pooling: stride defaults to the kernel; in ceil mode the extra
    last window is padded on the bottom/right (with -inf or zeros by the caller)."""
    k = _pair(kernel_size, op, "kernel_size")
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _pair(stride, op, "stride")  # fmt: skip
    p, d = _pair(padding, op, "padding"), _pair(dilation, op, "dilation")
    if min(k) < 1 or min(s) < 1 or min(d) < 1:
        raise RuntimeError(
            f"{op}: kernel_size, stride and dilation must be positive, got kernel_size={k}, "
            f"stride={s}, dilation={d}"
        )
    for a in range(2):
        if p[a] < 0 or p[a] > (d[a] * (k[a] - 1) + 1) // 2:
            raise RuntimeError(
                f"{op}: pad should be at most half of effective kernel size, but got "
                f"pad={p[a]}, kernel_size={k[a]} and dilation={d[a]}"
            )
    h, w = x.shape[2], x.shape[3]
    oh = _pool_out(op, h, k[0], s[0], p[0], d[0], ceil_mode)
    ow = _pool_out(op, w, k[1], s[1], p[1], d[1], ceil_mode)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"{op}: given input size ({x.shape[1]}x{h}x{w}), calculated output size "
            f"({x.shape[1]}x{oh}x{ow}): output size is too small"
        )
    # padding on the far side so that exactly OH x OW windows fit
    bottom = (oh - 1) * s[0] + d[0] * (k[0] - 1) + 1 - h - p[0]
    right = (ow - 1) * s[1] + d[1] * (k[1] - 1) + 1 - w - p[1]
    return Window(k[0], k[1], s[0], s[1], p[0], max(bottom, 0), p[1], max(right, 0), d[0], d[1])


def max_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    dilation: IntOrPair = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """2-D max pooling, torch.nn.functional.max_pool2d: out = max over each window (padding
    counts as -inf). With return_indices, also the argmax as a flat index into each input
    plane (h W + w), as torch.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW),
    OH = (H + 2 p - d (k - 1) - 1) // s + 1 (rounded up in ceil mode)."""
    x, unbatched = _batched(input, 4, "max_pool2d")
    win = _pool_window("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode)
    res = ops.MaxPool2d.apply(x, win, return_indices=return_indices)
    if unbatched:
        res = tuple(r.squeeze(0) for r in res) if return_indices else res.squeeze(0)
    return res


def max_pool1d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """1-D max pooling, torch.nn.functional.max_pool1d: (N, C, L) or (C, L) -> (N, C, OL)."""
    op = "max_pool1d"
    x, unbatched = _batched(input, 3, op)
    k = _single(kernel_size, op, "kernel_size")
    s = k if stride is None else _single(stride, op, "stride")
    x4 = x.unsqueeze(2)
    win = _pool_window(op, x4, (1, k), (1, s), (0, _single(padding, op, "padding")),
                       (1, _single(dilation, op, "dilation")), ceil_mode)  # fmt: skip
    res: Any = ops.MaxPool2d.apply(x4, win, return_indices=return_indices)
    res = tuple(r.squeeze(2) for r in res) if return_indices else res.squeeze(2)
    if unbatched:
        res = tuple(r.squeeze(0) for r in res) if return_indices else res.squeeze(0)
    return res


def _tiles(win: Window, h: int, w: int) -> bool:
    """Whether `_avg_pool_tiles` applies and is the faster way: the windows tile an (h, w)
    input exactly (disjoint, unpadded, undilated, together covering every element) and hold
    at least 49 elements. (Measured on 64 x 16 x 28 x 28, forward and backward, its time
    against Im2Col's: 0.13x for global pooling, 0.28x for 14x14 windows, 0.64x for 7x7, but
    1.4x for 4x4 and 3.7x for 2x2, where numpy's sum over the short window axes is slow.)"""
    return (win.sh, win.sw, win.dh, win.dw) == (win.kh, win.kw, 1, 1) and not win.padded \
        and h % win.kh == 0 and w % win.kw == 0 and win.kh * win.kw >= 49  # fmt: skip


def _avg_pool_tiles(x: Tensor, win: Window, divisor_override: int | None) -> Tensor:
    """Average pooling over windows that tile the input (`_tiles`): each window is a
    (kh, kw) block of x.reshape(N, C, OH, kh, OW, kw), summed in place of the Im2Col copy
    of `_avg_pool` (which it equals; the tests compare the two)."""
    n, c, h, w = x.shape
    if divisor_override == 0:
        raise RuntimeError("avg_pool2d: divisor must be not zero")
    div = float(win.kh * win.kw if divisor_override is None else divisor_override)
    blocks = x.reshape(n, c, h // win.kh, win.kh, w // win.kw, win.kw)
    return blocks.sum((3, 5)) / div


def _avg_pool(op: str, x: Tensor, win: Window, p: tuple[int, int], count_include_pad: bool,
              divisor_override: int | None) -> Tensor:  # fmt: skip
    """Window sums by Im2Col on each channel alone, divided by torch's divisor: the window
    size clipped to the padded input (count_include_pad) or to the input itself."""
    n, c, h, w = x.shape
    oh, ow = win.out_hw(h, w)
    if _tiles(win, h, w):
        return _avg_pool_tiles(x, win, divisor_override)
    sums = ops.Im2Col.apply(x.reshape(n * c, 1, h, w), win).sum(1)  # (N C, OH OW)
    if divisor_override is not None:
        if divisor_override == 0:
            raise RuntimeError(f"{op}: divisor must be not zero")
        out = sums / float(divisor_override)
    else:

        def counts(size: int, o: int, k: int, s: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
            start = np.arange(o) * s - pad
            end = np.minimum(start + k, size + pad)
            padded = end - start
            return padded, np.minimum(end, size) - np.maximum(start, 0)

        ph_, vh = counts(h, oh, win.kh, win.sh, p[0])
        pw_, vw = counts(w, ow, win.kw, win.sw, p[1])
        div = np.outer(ph_, pw_) if count_include_pad else np.outer(vh, vw)
        out = sums / _new(div.reshape(-1).astype(x.dtype))
    return out.reshape(n, c, oh, ow)


def avg_pool2d(
    input: Tensor,
    kernel_size: IntOrPair,
    stride: IntOrPair | None = None,
    padding: IntOrPair = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """2-D average pooling, torch.nn.functional.avg_pool2d: out = (sum over each window) /
    divisor, the divisor being the window size clipped to the padded input
    (count_include_pad=True), to the input itself (False), or divisor_override.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW)."""
    op = "avg_pool2d"
    x, unbatched = _batched(input, 4, op)
    win = _pool_window(op, x, kernel_size, stride, padding, 1, ceil_mode)
    out = _avg_pool(op, x, win, (win.top, win.left), count_include_pad, divisor_override)
    return out.squeeze(0) if unbatched else out


def avg_pool1d(
    input: Tensor,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    """1-D average pooling, torch.nn.functional.avg_pool1d: (N, C, L) -> (N, C, OL)."""
    op = "avg_pool1d"
    x, unbatched = _batched(input, 3, op)
    k = _single(kernel_size, op, "kernel_size")
    s = k if stride is None else _single(stride, op, "stride")
    p = _single(padding, op, "padding")
    x4 = x.unsqueeze(2)
    win = _pool_window(op, x4, (1, k), (1, s), (0, p), 1, ceil_mode)
    out = _avg_pool(op, x4, win, (0, p), count_include_pad, None).squeeze(2)
    return out.squeeze(0) if unbatched else out


def _adaptive_matrix(size: int, out: int, dtype: Any) -> np.ndarray:
    """A (out, size) averaging matrix: row i averages input[floor(i size / out) :
    ceil((i + 1) size / out)], torch's adaptive windows."""
    a = np.zeros((out, size), dtype)
    for i in range(out):
        lo, hi = (i * size) // out, -((-(i + 1) * size) // out)
        a[i, lo:hi] = 1.0 / (hi - lo)
    return a


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool2d: output cell (i, j) averages the input rows
    [floor(i H / OH), ceil((i + 1) H / OH)) and likewise the columns. Separable, so it is
    two products with averaging matrices: out = A_H x A_W^T.

    Shapes: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW); output_size an int or a pair
    (None keeps that input size)."""
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(input, 4, op)
    n, c, h, w = x.shape
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size, output_size)
    oh = h if output_size[0] is None else int(output_size[0])
    ow = w if output_size[1] is None else int(output_size[1])
    if oh < 1 or ow < 1 or h < 1 or w < 1:
        raise RuntimeError(
            f"{op}: input of size {list(input.shape)} and output_size {(oh, ow)} must be non-empty"
        )
    if (oh, ow) == (h, w):
        out = x
    elif h % oh == 0 and w % ow == 0:  # equal windows: plain average pooling
        out = _avg_pool(op, x, Window(h // oh, w // ow, h // oh, w // ow), (0, 0), True, None)
    else:
        aw = _new(_adaptive_matrix(w, ow, x.dtype).T.copy())  # (W, OW)
        ah = _new(_adaptive_matrix(h, oh, x.dtype).T.copy())  # (H, OH)
        t = ops.MatMul.apply(x.reshape(n * c * h, w), aw)  # rows: (n, c, h)
        t = t.reshape(n * c, h, ow).transpose(1, 2).reshape(n * c * ow, h)
        out = ops.MatMul.apply(t, ah).reshape(n, c, ow, oh).transpose(2, 3)
    return out.squeeze(0) if unbatched else out


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """torch.nn.functional.adaptive_avg_pool1d: (N, C, L) or (C, L) -> (N, C, OL)."""
    x, unbatched = _batched(input, 3, "adaptive_avg_pool1d")
    o = _single(output_size, "adaptive_avg_pool1d", "output_size")
    out = adaptive_avg_pool2d(x.unsqueeze(2), (1, o)).squeeze(2)
    return out.squeeze(0) if unbatched else out


# -- the book's loop version, kept as the reference ------------------------------------------
def _np(a: Any) -> np.ndarray:
    return a._data if isinstance(a, Tensor) else np.asarray(a)


def conv2d_reference(input: Any, weight: Any, bias: Any = None, stride: IntOrPair = 1,
                     padding: IntOrPair = 0, dilation: IntOrPair = 1,
                     groups: int = 1) -> np.ndarray:  # fmt: skip
    """conv2d as the book's chapter 5 writes it: pad the input, then for every observation,
    output channel and output pixel, add up input * weight over the input channels and
    kernel positions, one number at a time. Slow and obviously right; the tests compare
    the fast conv2d against it. Arrays in, array out (no autograd).

    Shapes: input (N, C, H, W); weight (O, C / groups, kH, kW); bias (O,) -> (N, O, OH, OW).
    """
    x, w, b = _np(input), _np(weight), None if bias is None else _np(bias)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "", ""), _pair(padding, "", ""), \
        _pair(dilation, "", "")  # fmt: skip
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), x.dtype)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow), x.dtype)
    for obs in range(n):
        for c_out in range(o):
            g = c_out // og
            for y in range(oh):
                for z in range(ow):
                    total = 0.0 if b is None else float(b[c_out])
                    for c_in in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += (xp[obs, g * cg + c_in, y * sh + i * dh, z * sw + j * dw]
                                          * w[c_out, c_in, i, j])  # fmt: skip
                    out[obs, c_out, y, z] = total
    return out


def conv2d_reference_grads(input: Any, weight: Any, grad_output: Any, stride: IntOrPair = 1,
                           padding: IntOrPair = 0, dilation: IntOrPair = 1,
                           groups: int = 1) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """The book's loop backward of conv2d: each output gradient is sent back to every input
    element and weight that produced it (input_grad[...] += w * g, param_grad[...] += x * g).

    Returns (grad_input (N, C, H, W), grad_weight (O, C / groups, kH, kW)); the bias
    gradient is grad_output summed over (N, OH, OW)."""
    x, w, go = _np(input), _np(weight), _np(grad_output)
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "", ""), _pair(padding, "", ""), \
        _pair(dilation, "", "")  # fmt: skip
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), x.dtype)
    xp[:, :, ph : ph + h, pw : pw + wd] = x
    gxp = np.zeros_like(xp)
    gw = np.zeros_like(w)
    og = o // groups
    for obs in range(n):
        for c_out in range(o):
            g = c_out // og
            for y in range(go.shape[2]):
                for z in range(go.shape[3]):
                    gout = go[obs, c_out, y, z]
                    for c_in in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                r, q = y * sh + i * dh, z * sw + j * dw
                                gxp[obs, g * cg + c_in, r, q] += w[c_out, c_in, i, j] * gout
                                gw[c_out, c_in, i, j] += xp[obs, g * cg + c_in, r, q] * gout
    return gxp[:, :, ph : ph + h, pw : pw + wd], gw


__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "avg_pool1d", "avg_pool2d", "conv1d",
    "conv2d", "conv2d_composite", "conv2d_reference", "conv2d_reference_grads", "conv_transpose1d",
    "conv_transpose2d", "fold", "max_pool1d", "max_pool2d", "unfold",
]  # fmt: skip
