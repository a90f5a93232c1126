"""Convolution and pooling primitives: sliding windows over the last two dims of (N, C, H, W).

- `Im2Col` / `Col2Im` (torch's unfold / fold), each the other's backward. Im2Col gathers
  every kernel window into a column; a convolution is then one matrix product per image with
  the flattened weight, a transposed convolution a matrix product followed by Col2Im.
- `Conv2d`: im2col and that product in one primitive, so that it can work a few images at
  a time and its backward can choose the cheaper way to each gradient (see its docstring);
  the backward is written with Conv2d, MatMul, Im2Col and Col2Im, so it is differentiable
  again.
- `MaxPool2d`, whose backward is `WindowScatter`; `WindowScatter` / `WindowGather` move one
  chosen element per window (the argmax) from the output grid to the input grid and back,
  each the other's backward.

Window geometry (all ints): kernel (kh, kw), stride (sh, sw), padding (top, bottom, left,
right) -- asymmetric so that 'same' padding with an even kernel and ceil_mode pooling fit the
same code -- and dilation (dh, dw). For an input of height H the output height is
OH = (H + top + bottom - dh (kh - 1) - 1) // sh + 1, and window position (i, j) of output
(oh, ow) reads padded row oh sh + i dh, padded column ow sw + j dw.

Note [Window loops]: the fast paths never loop over pixels. Im2Col is one strided view of
the padded input copied once (for stride-1 'same' windows, of the flattened planes, so that
the copy runs over whole planes: see _Columns); Col2Im, WindowScatter and WindowGather loop
over the kh kw kernel positions only, each a slice-assignment or slice-add over the whole
batch (no `np.add.at`). Conv2d loops over chunks of images (see _CHUNK_BYTES), never over
pixels.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from autotensor.function import Function
from autotensor.grad_mode import _state
from autotensor.ops.linalg import MatMul
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample


class Window(NamedTuple):
    """The geometry of a 2-D sliding window (see the module docstring)."""

    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0
    dh: int = 1
    dw: int = 1

    def out_hw(self, h: int, w: int) -> tuple[int, int]:
        """Output grid (OH, OW) for an (h, w) input."""
        oh = (h + self.top + self.bottom - self.dh * (self.kh - 1) - 1) // self.sh + 1
        ow = (w + self.left + self.right - self.dw * (self.kw - 1) - 1) // self.sw + 1
        return oh, ow

    @property
    def padded(self) -> bool:
        return bool(self.top or self.bottom or self.left or self.right)

    @property
    def overlapping(self) -> bool:
        """True when two windows can share an input element."""
        return self.sh < self.dh * (self.kh - 1) + 1 or self.sw < self.dw * (self.kw - 1) + 1

    def positions(self) -> list[tuple[int, int]]:
        return [(i, j) for i in range(self.kh) for j in range(self.kw)]

    def view(self, xp: np.ndarray, i: int, j: int, oh: int, ow: int) -> np.ndarray:
        """The (N, C, OH, OW) view of padded xp read by kernel position (i, j)."""
        r, c = i * self.dh, j * self.dw
        rows = slice(r, r + self.sh * (oh - 1) + 1, self.sh)
        cols = slice(c, c + self.sw * (ow - 1) + 1, self.sw)
        return xp[:, :, rows, cols]

    def pad(self, x: np.ndarray, value: float = 0.0) -> np.ndarray:
        """x with the window's padding added (x itself when there is none)."""
        if not self.padded:
            return x
        n, c, h, w = x.shape
        hp, wp = h + self.top + self.bottom, w + self.left + self.right
        xp = np.full((n, c, hp, wp), value, dtype=x.dtype)
        xp[:, :, self.top : self.top + h, self.left : self.left + w] = x
        return xp

    def crop(self, xp: np.ndarray, h: int, w: int) -> np.ndarray:
        """The inverse of pad: the (h, w) interior of a padded array (a view)."""
        if not self.padded:
            return xp
        return xp[:, :, self.top : self.top + h, self.left : self.left + w]


def as_window(kernel_size, stride=1, padding=0, dilation=1) -> Window:
    """Window from torch-style arguments: ints or pairs; padding an int, a pair (both sides)
    or a 4-tuple (top, bottom, left, right)."""

    def pair(v) -> tuple[int, int]:
        return (int(v), int(v)) if isinstance(v, (int, np.integer)) else (int(v[0]), int(v[1]))

    kh, kw = pair(kernel_size)
    sh, sw = pair(stride)
    dh, dw = pair(dilation)
    if isinstance(padding, (int, np.integer)):
        pads = (int(padding),) * 4
    elif len(padding) == 2:
        pads = (int(padding[0]), int(padding[0]), int(padding[1]), int(padding[1]))
    else:
        top, bottom, left, right = (int(p) for p in padding)  # the 4-tuple form
        pads = (top, bottom, left, right)
    return Window(kh, kw, sh, sw, *pads, dh, dw)


def _check_window(op: str, shape: tuple, win: Window) -> tuple[int, int]:
    """Validate a (N, C, H, W) input against a window; returns (OH, OW)."""
    if len(shape) != 4:
        raise RuntimeError(f"{op}: expected a 4-D (N, C, H, W) input, got shape {tuple(shape)}")
    if min(win.kh, win.kw) < 1 or min(win.sh, win.sw) < 1 or min(win.dh, win.dw) < 1:
        raise RuntimeError(f"{op}: kernel size, stride and dilation must be positive, got {win}")
    if min(win.top, win.bottom, win.left, win.right) < 0:
        raise RuntimeError(f"{op}: padding must be non-negative, got {win}")
    h, w = shape[2], shape[3]
    oh, ow = win.out_hw(h, w)
    if oh < 1 or ow < 1:
        raise RuntimeError(
            f"{op}: input of shape {tuple(shape)} padded to "
            f"({h + win.top + win.bottom} x {w + win.left + win.right}) is smaller than the "
            f"kernel ({win.dh * (win.kh - 1) + 1} x {win.dw * (win.kw - 1) + 1} with "
            f"dilation): the output would have size ({oh} x {ow})"
        )
    return oh, ow


def im2col(x: np.ndarray, win: Window, ones: bool = False, rows: int | None = None) -> np.ndarray:
    """The array work of Im2Col: (N, C, H, W) -> (N, R, OH OW), contiguous, whose first
    C kh kw rows are the windows, then (with `ones`) a row of ones, then zero rows up to
    `rows` = R when it is given (the default is C kh kw [+ 1])."""
    _check_window("im2col", x.shape, win)
    return _Columns(x.shape, x.dtype, win, ones, rows, x.shape[0]).of(x)


# Images per chunk of columns: a convolution gathers and multiplies a few images at a time,
# so that their columns stay in the core's cache between the gather and the product
# (measured: the 16 -> 32-channel 3x3 layer on 64 images of 14x14, forward and backward,
# 4.6-5.1 ms with the whole batch's columns in memory, 3.1 ms a 0.5 MB chunk at a time,
# 3.3 ms at 1-2 MB).
_CHUNK_BYTES = 1 << 19


# Alignment, in bytes, of the buffers that the matrix products write: a cache line, and the
# width of an AVX-512 store. numpy aligns its allocations to 16 bytes only; an output that
# starts mid-line makes every vector store of the product straddle two cache lines.
# Measured on the 3 -> 64-channel 3x3 layer on 32 images of 32x32 (workload (b) in
# docs/cnn.md), forward and backward: 2.9 ms with numpy's placement of the output, 2.6 ms
# with it aligned, as fast as writing into a preallocated buffer.
_ALIGN = 64


def _empty(shape: tuple, dtype) -> np.ndarray:
    """np.empty(shape, dtype), contiguous, its first element on a _ALIGN-byte boundary (a
    view into a slightly larger byte buffer, which it keeps alive)."""
    dtype = np.dtype(dtype)
    size = dtype.itemsize
    for d in shape:
        size *= int(d)
    buf = np.empty(size + _ALIGN, np.uint8)
    start = -buf.__array_interface__["data"][0] % _ALIGN
    return buf[start : start + size].view(dtype).reshape(shape)


def _chunk_size(n: int, rows: int, length: int, itemsize: int) -> int:
    return max(1, min(n, _CHUNK_BYTES // max(rows * length * itemsize, 1)))


class _Columns:
    """im2col for up to `chunk` images at a time into one buffer that is reused from chunk to
    chunk: cols (chunk, R, OH OW), whose first C kh kw rows are the windows, then (with
    `ones`) a row of ones, then zero rows up to `rows` = R. The ones and zeros, the padding
    and the strided views are set up once; `of(x)` then only copies.

    Two ways to gather the windows, both one strided view copied at once:
    - in general, a view of the zero-padded images, its innermost loop along one output
      row (OW elements);
    - for stride 1 when each output row is as wide as an input row (the common 'same'
      padding), output pixel l = oh W + ow of kernel position (i, j) reads the image plane,
      flattened, at l + (i dh - top) W + (j dw - left): each (n, c, i, j) row of the
      columns is ONE run of the flattened plane, shifted. The plane is flattened with zeros
      before and after it (the rows above and below the image), the copy's innermost loop
      runs over whole planes (OH OW elements: measured 2-3x faster on 32x32 and 14x14
      images), and the pixels whose shifted column left the row (they read the
      neighbouring row's first or last pixels) are zeroed after the copy."""

    def __init__(self, shape: tuple, dtype: np.dtype, win: Window, ones: bool,
                 rows: int | None, chunk: int) -> None:  # fmt: skip
        _, c, h, w = shape
        oh, ow = win.out_hw(h, w)
        kh, kw = win.kh, win.kw
        k = c * kh * kw
        total = k + ones if rows is None else rows
        m = max(chunk, 1)
        self.cols = cols = _empty((m, total, oh * ow), dtype)
        if ones:
            cols[:, k] = 1
        if total > k + ones:
            cols[:, k + ones :] = 0
        windows = cols[:, :k].reshape(m, c, kh, kw, oh, ow, copy=False)
        self.zero: list[np.ndarray] = []  # entries to zero after each copy
        self.src: np.ndarray | None = None  # the padded (or flattened) images
        if win.sh == win.sw == 1 and ow == w:
            before = win.top * w + win.left  # the most negative shift
            last = (oh - 1 + win.dh * (kh - 1) - win.top) * w + ow - 1 + win.dw * (kw - 1)
            after = max(last - win.left + 1 - h * w, 0)
            self.src = np.zeros((m, c, before + h * w + after), dtype)
            self.inner = self.src[:, :, before : before + h * w].reshape(m, c, h, w, copy=False)
            s0, s1, s2 = self.src.strides
            # (np.ndarray over the buffer: as_strided costs 5x more Python time)
            self.view = np.ndarray((m, c, kh, kw, oh * ow), dtype, self.src, 0,
                                   (s0, s1, s2 * win.dh * w, s2 * win.dw, s2))  # fmt: skip
            self.dst = windows.reshape(m, c, kh, kw, oh * ow, copy=False)
            for j in range(kw):
                shift = j * win.dw - win.left
                if shift < 0:
                    self.zero.append(windows[:, :, :, j, :, : min(-shift, ow)])
                elif shift > 0:
                    self.zero.append(windows[:, :, :, j, :, max(ow - shift, 0) :])
        else:
            self.dst, self.win, self.out_hw = windows, win, (oh, ow)
            if win.padded:
                self.src = np.zeros((m, c, h + win.top + win.bottom, w + win.left + win.right),
                                    dtype)  # fmt: skip
                self.inner = win.crop(self.src, h, w)
                self.view = self._windows(self.src)

    def _windows(self, xp: np.ndarray) -> np.ndarray:
        """The (m, C, kh, kw, OH, OW) strided view of padded images xp."""
        win, (oh, ow) = self.win, self.out_hw
        s0, s1, s2, s3 = xp.strides
        shape = (xp.shape[0], xp.shape[1], win.kh, win.kw, oh, ow)
        strides = (s0, s1, s2 * win.dh, s3 * win.dw, s2 * win.sh, s3 * win.sw)
        if xp is self.src:  # our own contiguous buffer
            return np.ndarray(shape, xp.dtype, xp, 0, strides)
        return as_strided(xp, shape, strides, writeable=False)

    def of(self, x: np.ndarray) -> np.ndarray:
        """The columns (m, R, OH OW) of m <= chunk images x (m, C, H, W): a view of the buffer,
        overwritten by the next call."""
        m = x.shape[0]
        if self.src is None:  # no padding: the windows are a view of x itself
            np.copyto(self.dst[:m], self._windows(x))
        else:
            np.copyto(self.inner[:m], x)
            np.copyto(self.dst[:m], self.view[:m])
        for z in self.zero:
            z[:m] = 0
        return self.cols[:m]


class Im2Col(Function):
    """cols[n, (c, i, j), (oh, ow)] = xpad[n, c, oh sh + i dh, ow sw + j dw]  (torch's unfold);
    dx = Col2Im(g).

    Shapes: x (N, C, H, W) -> cols (N, C kh kw, OH OW), or (N, C kh kw + 1, OH OW) with
    `ones=True`: a last row of ones, so that a bias folds into the matrix product that
    follows (W b) @ (cols; 1) and its gradient comes out of the weight-gradient product
    (measured: this saves the separate bias add and bias reduction, ~20% of a conv layer).
    One strided view of the padded input, copied once into a contiguous array, so the
    matrix product reads contiguous memory."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, x, win, ones=False):
        ctx.hw, ctx.win, ctx.ones = x.shape[2:], win, ones
        return im2col(x, win, ones)

    @staticmethod
    def backward(ctx, g):
        if ctx.ones:
            g = g[:, :-1]
        return Col2Im.apply(g, ctx.hw, ctx.win)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(2, 2, 4, 4)), as_window(2))
        yield Sample(n(size=(1, 2, 5, 4)), as_window(3, stride=2, padding=1), note="size-1")
        yield Sample(n(size=(2, 1, 5, 5)), as_window((2, 3), stride=(2, 1), dilation=(1, 2)))
        yield Sample(n(size=(1, 1, 4, 3)), as_window(2, padding=(0, 1, 1, 0)), note="asym pad")
        yield Sample(n(size=(2, 2, 3, 3)), as_window(2), ones=True, note="ones row")
        yield Sample(n(size=(2, 2, 4, 5)), as_window(3, padding=2, dilation=2), ones=True,
                     note="stride 1, output as wide as input: flattened planes")  # fmt: skip
        yield Sample(n(size=(4, 4, 2, 2)).T, as_window(2, padding=1), note="transposed")
        yield Sample(n(size=(0, 2, 3, 3)), as_window(2), note="empty")


class Col2Im(Function):
    """out[n, c, h, w] = sum of cols over every (window, position) that reads (h, w)
    (torch's fold: the adjoint of Im2Col);  dcols = Im2Col(g).

    Shapes: cols (N, C kh kw, OH OW) -> out (N, C, H, W) with (H, W) = `hw`. The sum loops
    over the kh kw kernel positions, each one slice-add over the whole batch."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, cols, hw, win):
        h, w = int(hw[0]), int(hw[1])
        kk = win.kh * win.kw
        if cols.ndim != 3 or cols.shape[1] % kk:
            raise RuntimeError(
                f"col2im: expected cols of shape (N, C * {win.kh} * {win.kw}, L), got {cols.shape}"
            )
        n, ckk, length = cols.shape
        c = ckk // kk
        oh, ow = _check_window("col2im", (n, c, h, w), win)
        if oh * ow != length:
            raise RuntimeError(
                f"col2im: cols of shape {cols.shape} have {length} windows, but an output of "
                f"size ({h}, {w}) with {win} has {oh} x {ow} = {oh * ow}"
            )
        cols6 = cols.reshape(n, c, win.kh, win.kw, oh, ow)
        out = np.zeros((n, c, h + win.top + win.bottom, w + win.left + win.right), cols.dtype)
        for i, j in win.positions():
            dst = win.view(out, i, j, oh, ow)
            dst += cols6[:, :, i, j]
        ctx.win = win
        return win.crop(out, h, w)

    @staticmethod
    def backward(ctx, g):
        return Im2Col.apply(g, ctx.win)

    @staticmethod
    def sample_inputs(rng):
        def case(n, c, hw, win, transposed=False, note=""):
            oh, ow = win.out_hw(*hw)
            shape = (n, c * win.kh * win.kw, oh * ow)
            cols = rng.normal(size=shape[::-1]).T if transposed else rng.normal(size=shape)
            return Sample(cols, hw, win, note=note)

        yield case(2, 2, (4, 4), as_window(2))
        yield case(1, 2, (5, 4), as_window(3, stride=2, padding=1), note="size-1")
        yield case(2, 1, (5, 6), as_window((2, 3), stride=(2, 1), dilation=(1, 2)))
        yield case(1, 1, (3, 4), as_window(2, padding=(0, 1, 1, 0)), note="asym pad")
        yield case(1, 1, (4, 4), as_window(2), transposed=True, note="transposed")
        yield case(0, 1, (3, 3), as_window(2), note="empty")


class Conv2d(Function):
    """out[n, o, y, x] = b[o] + sum_{c in group(o), i, j} w[o, c, i, j] xpad[n, c, y sh + i dh,
    x sw + j dw]: the im2col columns of each image times the flattened weight, one matrix
    product per image written straight into the output, the bias folded in as a row of
    ones (see Im2Col).

    dx = the transposed convolution of g (`conv_input_grad`), dw = sum_n g_n cols_n^T and
    db = sum of g (`conv_weight_grad`), both written with primitives (this one included),
    so second derivatives work. A plain backward (no create_graph) computes dw and db
    from the same formulas on the arrays (`_weight_grad_arrays`), without the graph
    bookkeeping of the half-dozen small ops around the product.

    Shapes: x (N, C, H, W), w (O, C / groups, kh, kw), b (O,) or None -> (N, O, OH, OW).

    Why a primitive and not Im2Col -> MatMul (the composite it replaces, which
    `autotensor.convolution.conv2d_composite` keeps, and the tests compare against):
    - it works a chunk of images at a time (see _CHUNK_BYTES): their columns are gathered
      into one small buffer and multiplied while still in the cache, and they are not kept
      for backward but gathered again there. The whole batch's columns, C kh kw times the
      input, never exist at once;
    - its backward may choose how to compute dx. Through MatMul and Col2Im, dx costs a
      product with inner dimension O and a kh kw-fold scatter-add over the image; for
      stride 1 the same dx is a convolution of g with the flipped weight, a product with
      inner dimension O kh kw and no scatter. Measured on the book's chapter 7 CNN
      (16 -> 8 channels, 5x5, batch 60), that takes a training step from 133 ms to 54 ms;
    - it may choose the orientation of the weight-gradient product (see _wide_rows)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, x, w, b, win, groups=1):
        n = x.shape[0]
        o, cg, kh, kw = w.shape
        oh, ow = _check_window("conv2d", x.shape, win)
        k = cg * kh * kw
        fold = b is not None and groups == 1
        # The columns carry the zero rows that the weight gradient's product wants (see
        # _wide_rows); this product reads only the first k [+ 1].
        rows = _wide_rows(o, k + fold) if groups == 1 else None
        out = _empty((n, o, oh * ow), np.result_type(x.dtype, w.dtype))  # aligned: _ALIGN
        if groups == 1:
            w2 = w.reshape(o, k)
            if fold:
                w2 = np.concatenate([w2, b.reshape(o, 1)], axis=1)
            for s, cols in _chunks(x, win, fold, rows):  # (m, k [+ 1], L)
                np.matmul(w2, cols[:, : k + fold], out=out[s : s + cols.shape[0]])
        else:
            wg = w.reshape(groups, o // groups, k)
            out4 = out.reshape(n, groups, o // groups, oh * ow)
            for s, cols in _chunks(x, win, False, None):
                m = cols.shape[0]
                np.matmul(wg, cols.reshape(m, groups, k, oh * ow), out=out4[s : s + m])
            if b is not None:
                out += b.reshape(o, 1)
        # The columns are not kept: backward gathers them again, a chunk at a time (the
        # copy is cheap next to keeping C kh kw times the input in memory until then).
        ctx.save_for_backward(x, w)
        ctx.win, ctx.groups, ctx.fold, ctx.bias, ctx.rows = win, groups, fold, b is not None, rows
        return out.reshape(n, o, oh, ow)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = conv_input_grad(g, w, x.shape, ctx.win, ctx.groups) if need_x else None
        gw = gb = None
        if need_w or need_b:
            if _state.enabled:  # create_graph: the columns must carry x's graph
                cols = Im2Col.apply(x, ctx.win, ones=ctx.fold)
            elif ctx.groups == 1:
                gw, gb = _weight_grad_arrays(x._data, g._data, w.shape, ctx.win, ctx.fold,
                                             ctx.rows, (need_w, need_b))  # fmt: skip
                return gx, gw, gb
            else:
                cols = _new(im2col(x._data, ctx.win))
            gw, gb = conv_weight_grad(cols, g, w.shape, ctx.groups, ctx.fold, ctx.bias)
        return gx, gw if need_w else None, gb if need_b else None

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        w = as_window
        yield Sample(n(size=(2, 2, 4, 4)), n(size=(3, 2, 2, 2)), n(size=3), win=w(2))
        yield Sample(n(size=(1, 2, 5, 4)), n(size=(5, 2, 3, 3)), None, win=w(3, 2, 1),
                     note="stride 2, no bias, size-1")  # fmt: skip
        yield Sample(n(size=(1, 4, 5, 5)), n(size=(4, 2, 2, 2)), n(size=4),
                     win=w(2, 1, 1, 2), groups=2, note="groups, dilation")  # fmt: skip
        yield Sample(n(size=(2, 1, 4, 3)), n(size=(2, 1, 2, 2)), n(size=2),
                     win=w(2, padding=(0, 1, 0, 1)), note="'same' with an even kernel")  # fmt: skip
        yield Sample(n(size=(1, 2, 4, 4)), n(size=(6, 2, 3, 3)), n(size=6), win=w(3, 1, 1),
                     note="O > 2 C: dx through Col2Im")  # fmt: skip
        yield Sample(n(size=(1, 5, 2, 3)), n(size=(64, 5, 2, 2)), n(size=64), win=w(2),
                     note="O = 64, 21 rows: dw as g cols^T over 32 rows")  # fmt: skip
        yield Sample(n(size=(4, 4, 2, 2)).T, n(size=(2, 2, 2, 3)).T, n(size=3), win=w(2),
                     note="transposed")  # fmt: skip
        yield Sample(n(size=(0, 2, 3, 3)), n(size=(2, 2, 2, 2)), n(size=2), win=w(2),
                     note="empty")  # fmt: skip


def _wide_rows(o: int, kb: int) -> int | None:
    """The row count of the im2col columns (k [+ 1] = kb of them used) for the weight
    gradient dw = sum_n g_n cols_n^T, (O, L) @ (L, kb) per image: None keeps kb rows and
    the product runs as cols_n g_n^T, (kb, O); an int pads the columns with zero rows to
    that count and the product runs as g_n cols_n^T, (O, rows).

    The second is faster when there are few rows and many output channels, and then only
    with the rows padded to a multiple of 16 (OpenBLAS's AVX-512 kernel computes 16 rows
    at a time). Measured for batches of 32-64 images of 7x7 to 32x32 pixels: with
    O = 64 and 28 rows (a 3-channel 3x3 convolution with bias) 1.28 ms against 1.66 ms;
    with 145 rows, or 10 rows and O <= 64, cols g^T is faster by 10-45%. The rule below
    reproduces the faster choice in every case measured. With OpenBLAS's AVX2 ('Haswell')
    kernels the first is faster in every one of these cases (the same O = 64, 28-row layer
    forward and backward: 5.1 ms against 5.6 ms), so the rule applies to AVX-512 kernels
    only (`_avx512_kernels`)."""
    rows = -(-kb // 16) * 16
    return rows if rows <= 32 and o * rows >= 2048 and _avx512_kernels() else None


_KERNELS: list[bool] = []  # the answer of _avx512_kernels, once known


def _avx512_kernels() -> bool:
    """Whether numpy's BLAS is OpenBLAS running its AVX-512 kernels (the kernel family
    threadpoolctl reports, when it is installed; without it, False)."""
    if not _KERNELS:
        try:
            from threadpoolctl import threadpool_info

            archs = [str(i.get("architecture", "")).lower() for i in threadpool_info()
                     if i.get("internal_api") == "openblas"]  # fmt: skip
        except Exception:  # not installed, or it cannot inspect this process
            archs = []
        _KERNELS.append(any(a in ("skylakex", "cooperlake", "sapphirerapids") for a in archs))
    return _KERNELS[0]


# The chunk buffers of the last few geometries, per thread (a training loop gathers the
# same layers' columns every step). Setting one up allocates and fills its buffers, ~30 us
# for the 3 -> 64-channel layer on 32x32 images, ~1% of that layer's step, twice a step.
_KEPT = threading.local()
_KEPT_MAX = 8  # geometries; a buffer is at most ~_CHUNK_BYTES plus its padded images


def _kept_columns(shape: tuple, dtype: np.dtype, win: Window, ones: bool, rows: int | None,
                  chunk: int) -> _Columns:  # fmt: skip
    """`_Columns(shape, dtype, win, ones, rows, chunk)`, the same object again for the same
    geometry in this thread. Its padding, ones and zero rows are never written by `of`, so
    they hold from call to call; only callers that use each chunk before gathering the next
    (`_chunks`) may share it, never a result that outlives the call (`im2col`)."""
    kept = getattr(_KEPT, "columns", None)
    if kept is None:
        kept = _KEPT.columns = {}
    key = (tuple(shape[1:]), np.dtype(dtype), win, ones, rows, chunk)
    gather = kept.get(key)
    if gather is None:
        if len(kept) >= _KEPT_MAX:
            del kept[next(iter(kept))]  # the oldest
        gather = kept[key] = _Columns(shape, dtype, win, ones, rows, chunk)
    return gather


def _chunks(x: np.ndarray, win: Window, ones: bool, rows: int | None):
    """(start, columns of x[start : start + m]) for successive chunks of images, the
    columns (m, R, OH OW) as `im2col` makes them, in one buffer reused from chunk to
    chunk (see _CHUNK_BYTES)."""
    n, c = x.shape[0], x.shape[1]
    oh, ow = win.out_hw(x.shape[2], x.shape[3])
    total = c * win.kh * win.kw + ones if rows is None else rows
    m = _chunk_size(n, total, oh * ow, x.dtype.itemsize)
    gather = _kept_columns(x.shape, x.dtype, win, ones, rows, m)
    for s in range(0, n, m):
        yield s, gather.of(x[s : s + m])


def _weight_grad_arrays(x: np.ndarray, g: np.ndarray, wshape: tuple, win: Window, fold: bool,
                        rows: int | None, need: tuple) -> tuple:  # fmt: skip
    """`conv_weight_grad` for groups = 1 on arrays (no graph), the columns of x gathered
    again a chunk at a time: dw[o, k] = sum_{n, l} g[n, o, l] cols[n, k, l] and, with `fold`,
    db from the row of ones. `rows` is the orientation of the products (see _wide_rows).
    x (N, C, H, W), g (N, O, OH, OW); need = (dw needed, db needed). Returns (dw, db),
    each a Tensor or None where not needed.

    The per-image products are kept and summed at the end while they take little memory
    (under 4 MB: one sum instead of one per chunk, ~4% of the weight gradient of (b) in
    docs/cnn.md); beyond that, each chunk's are summed into the total before the next
    chunk, so they never take N times the weight's memory."""
    n, o = g.shape[0], g.shape[1]
    k = wshape[1] * wshape[2] * wshape[3]
    g3 = g.reshape(n, o, g.shape[2] * g.shape[3])
    wide = rows is not None  # g_n cols_n^T, (O, R); else cols_n g_n^T, (k [+ 1], O)
    shape = (o, rows) if wide else (k + fold, o)
    dtype = np.result_type(x, g)
    keep = n * shape[0] * shape[1] * dtype.itemsize <= 1 << 22
    partials = _empty((n, *shape), dtype) if keep else None
    total = part = None
    for s, cols in _chunks(x, win, fold, rows):
        e = s + cols.shape[0]
        a, b = (g3[s:e], cols.transpose(0, 2, 1)) if wide else (cols, g3[s:e].transpose(0, 2, 1))
        if partials is not None:  # keep
            np.matmul(a, b, out=partials[s:e])
            continue
        prod = np.matmul(a, b)
        if total is None:
            total = prod.sum(0)
        else:
            part = np.sum(prod, 0, out=part)
            total += part
    if partials is not None:  # keep
        total = partials.sum(0)
    elif total is None:  # no images
        total = np.zeros(shape, dtype)
    gw = total[:, :k] if wide else total[:k].T
    gb = None
    if need[1]:  # from the row of ones, or (no bias folded in) summed
        gb = _new((total[:, k] if wide else total[k]).copy() if fold else g3.sum((0, 2)))
    return _new(gw.reshape(wshape)) if need[0] else None, gb


def conv_weight_grad(cols: Tensor, g: Tensor, wshape: tuple, groups: int, fold: bool,
                     bias: bool) -> tuple[Tensor, Tensor | None]:  # fmt: skip
    """(dw, db) of a convolution from its im2col columns (N, K [+ 1], L) and output gradient
    g (N, O, OH, OW): dw[o, k] = sum_{n, l} g[n, o, l] cols[n, k, l]; with `fold` the last
    row of cols is ones and gives db. The product runs as cols_n g_n^T -> (K, O), measured
    ~15% faster here than g_n cols_n^T for the thin K of early layers."""
    n, o = g.shape[0], g.shape[1]
    length = g.shape[2] * g.shape[3]
    k = wshape[1] * wshape[2] * wshape[3]
    g3 = g.reshape(n, o, length)
    gb = None
    if groups == 1:
        gwt = MatMul.apply(cols, g3.transpose(1, 2)).sum(0)  # (K [+ 1], O)
        gw = gwt[:k].transpose(0, 1).reshape(wshape)
        if fold:
            gb = gwt[k]
    else:
        og = o // groups
        c4 = cols.reshape(n, groups, k, length)
        gwt = MatMul.apply(c4, g3.reshape(n, groups, og, length).transpose(2, 3)).sum(0)
        gw = gwt.transpose(1, 2).reshape(wshape)  # (G, Og, K) -> (O, C / G, kh, kw)
    if bias and gb is None:
        gb = g3.sum((0, 2))
    return gw, gb


def conv_input_grad(g: Tensor, w: Tensor, xshape: tuple, win: Window, groups: int) -> Tensor:
    """dx of a convolution: the transposed convolution of g (N, O, OH, OW) with w.

    For stride 1 (and padding within the kernel's reach) it is itself a convolution, of g
    padded by d (k - 1) - p with the weight flipped in space and with its channel axes
    swapped: one product with inner dimension O kh kw. Otherwise it is the adjoint of
    im2col: cols = w^T g (inner dimension O), then Col2Im. The first moves O kh kw rows of
    columns (a fast copy for stride 1, see _Columns), the second C kh kw rows and then
    scatter-adds them back (kh kw slice-adds, one output row at a time). Measured (batches
    of 32-64 images of 7x7 to 32x32, 3x3 and 5x5 kernels): the first is 1.2-4x faster up
    to O = 2 C (the 16 -> 32-channel 3x3 layer on 14x14: 1.2 ms against 1.9 ms), the
    second from O = 4 C on (2-6x when O = 8-20 C); the switch is at O = 2 C."""
    n, c, h, wd = xshape
    o, cg, kh, kw = w.shape
    eh, ew = win.dh * (kh - 1), win.dw * (kw - 1)
    if (win.sh == win.sw == 1 and max(win.top, win.bottom) <= eh
            and max(win.left, win.right) <= ew and o <= 2 * c):  # fmt: skip
        og = o // groups
        wt = w.flip((2, 3)).reshape(groups, og, cg, kh, kw).transpose(1, 2)
        wt = wt.reshape(c, og, kh, kw)  # [g cg + c', o', i, j] = w[g og + o', c', -i, -j]
        full = Window(kh, kw, 1, 1, eh - win.top, eh - win.bottom, ew - win.left,
                      ew - win.right, win.dh, win.dw)  # fmt: skip
        return Conv2d.apply(g, wt, None, win=full, groups=groups)
    length = g.shape[2] * g.shape[3]
    g3 = g.reshape(n, o, length)
    k = cg * kh * kw
    if groups == 1:
        cols = MatMul.apply(w.reshape(o, k).transpose(0, 1), g3)  # (K, O) @ (N, O, L)
    else:
        wg = w.reshape(groups, o // groups, k).transpose(1, 2)  # (G, K, O / G)
        cols = MatMul.apply(wg, g3.reshape(n, groups, o // groups, length))
        cols = cols.reshape(n, groups * k, length)
    return Col2Im.apply(cols, (h, wd), win)


class MaxPool2d(Function):
    """out[n, c, oh, ow] = max over the window of xpad (padding is -inf), and optionally the
    argmax as a flat index h W + w into each (H, W) input plane (torch's `indices`). Ties go
    to the first maximum in window order and NaN propagates, as in torch.
    dx = WindowScatter(g, argmax).

    Shapes: x (N, C, H, W) -> out (N, C, OH, OW) [, indices (N, C, OH, OW) int64]."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, x, win, return_indices=False):
        oh, ow = _check_window("max_pool2d", x.shape, win)
        h, w = x.shape[2], x.shape[3]
        xp = win.pad(x, -np.inf)
        kk = win.kh * win.kw
        dtype = np.uint8 if kk < 256 else np.int32
        best, pos = _window_max(xp, win, oh, ow, dtype, nan=False)
        # NaN must win as in torch; `v > best` alone never picks it. np.maximum carries a
        # window's NaN into its maximum, so one sum over the output (not the input, 4x the
        # size for 2x2 pooling) finds out whether the NaN-aware scan must run instead.
        if x.dtype.kind == "f" and best.size and np.isnan(np.sum(best, dtype=best.dtype)):
            best, pos = _window_max(xp, win, oh, ow, dtype, nan=True)
        if win.padded and x.dtype.kind == "f" and np.isneginf(best).any():
            _first_inside(pos, win, h, w)
        ctx.pos, ctx.win, ctx.hw = pos, win, (h, w)
        if not return_indices:
            return best
        idx = flat_indices(pos, win, h, w)
        ctx.mark_non_differentiable(idx)
        return best, idx

    @staticmethod
    def backward(ctx, g, gi=None):
        return WindowScatter.apply(g, ctx.pos, ctx.hw, ctx.win)

    @staticmethod
    def sample_inputs(rng):
        def distinct(*shape):  # no ties: the max is differentiable at the sample point
            size = int(np.prod(shape))
            return (rng.permutation(size) * 0.1 + rng.uniform(0, 0.01, size)).reshape(shape)

        yield Sample(distinct(2, 2, 4, 4), as_window(2, stride=2))
        yield Sample(distinct(1, 2, 5, 5), as_window(3, stride=2, padding=1), note="size-1")
        yield Sample(distinct(2, 1, 5, 6), as_window((2, 3), stride=(1, 2), dilation=(2, 1)))
        yield Sample(distinct(1, 1, 4, 4), as_window(2, padding=(0, 1, 0, 1)), note="ceil pad")
        yield Sample(distinct(4, 4, 2, 2).T, as_window(2, stride=1), return_indices=True,
                     note="transposed")  # fmt: skip
        yield Sample(distinct(0, 2, 4, 4), as_window(2, stride=2), note="empty")


def _window_max(xp: np.ndarray, win: Window, oh: int, ow: int, dtype: type,
                nan: bool) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(maximum, position of the first maximum in window order) of every window of padded
    xp, both (N, C, OH, OW); with `nan`, a NaN counts as larger than everything (the last
    NaN of a window is its position, as in torch)."""
    pos: np.ndarray = np.zeros((xp.shape[0], xp.shape[1], oh, ow), dtype)
    best = win.view(xp, 0, 0, oh, ow).copy()
    better = np.empty(best.shape, np.bool_)
    step = np.empty(best.shape, dtype)
    for p, (i, j) in enumerate(win.positions()):
        if p == 0:
            continue
        v = win.view(xp, i, j, oh, ow)
        np.greater(v, best, out=better)
        if nan:
            better |= np.isnan(v)
        # Positions come in increasing order, so the last strict improvement is the
        # largest p that improved: a running maximum. (Masked writes -- np.where,
        # copyto(where=) -- cost ten times more than this arithmetic.)
        np.multiply(better, dtype(p), out=step)
        np.maximum(pos, step, out=pos)
        np.maximum(best, v, out=best)
    return best, pos


def _first_inside(pos: np.ndarray, win: Window, h: int, w: int) -> None:
    """A window whose real elements are all -inf ties with its padding: torch then picks the
    first element inside the input (in window order), not a padding position. Fix pos so."""
    oh, ow = pos.shape[2], pos.shape[3]
    ii = np.repeat(np.arange(win.kh), win.kw) * win.dh
    jj = np.tile(np.arange(win.kw), win.kh) * win.dw
    rows = (np.arange(oh) * win.sh - win.top)[:, None] + ii[pos]
    cols = (np.arange(ow) * win.sw - win.left) + jj[pos]
    outside = (rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)
    r0 = -(np.minimum(np.arange(oh) * win.sh - win.top, 0) // win.dh)  # first row inside
    c0 = -(np.minimum(np.arange(ow) * win.sw - win.left, 0) // win.dw)
    first = (r0[:, None] * win.kw + c0).astype(pos.dtype)
    np.copyto(pos, np.broadcast_to(first, pos.shape), where=outside)


def flat_indices(pos: np.ndarray, win: Window, h: int, w: int) -> np.ndarray:
    """Window positions (N, C, OH, OW) -> flat indices ih W + iw into the unpadded input."""
    oh, ow = pos.shape[2], pos.shape[3]
    ii = np.repeat(np.arange(win.kh), win.kw) * win.dh
    jj = np.tile(np.arange(win.kw), win.kh) * win.dw
    rows = (np.arange(oh) * win.sh - win.top)[:, None] + ii[pos]
    cols = (np.arange(ow) * win.sw - win.left) + jj[pos]
    return (rows * w + cols).astype(np.int64)


class WindowScatter(Function):
    """out[n, c, h, w] = sum of g[n, c, oh, ow] over the windows whose chosen position
    `pos[n, c, oh, ow]` (an index into the kh kw window, row-major) lands on (h, w);
    dg = WindowGather(gout, pos). The backward of max pooling.

    Shapes: g (N, C, OH, OW), pos (N, C, OH, OW) int -> out (N, C, H, W), (H, W) = `hw`."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, g, pos, hw, win):
        h, w = int(hw[0]), int(hw[1])
        n, c, oh, ow = g.shape
        # g * (pos == p) is exact unless g holds inf or NaN (inf * 0 is NaN): then masked
        # copies, which are exact but ~10x slower. Disjoint windows are written once;
        # overlapping ones must add. Windows that tile the input write every element once,
        # so their output needs no zeros first (max pooling 2x2 of 64x16x28x28: 15% less).
        exact = not np.isfinite(np.sum(g, dtype=g.dtype))
        add = win.overlapping
        tiles = (not win.padded and (win.sh, win.sw, win.dh, win.dw) == (win.kh, win.kw, 1, 1)
                 and (oh * win.kh, ow * win.kw) == (h, w))  # fmt: skip
        shape = (n, c, h + win.top + win.bottom, w + win.left + win.right)
        out = np.empty(shape, g.dtype) if tiles and not exact else np.zeros(shape, g.dtype)
        for p, (i, j) in enumerate(win.positions()):
            dst = win.view(out, i, j, oh, ow)
            if exact:
                np.add(dst, g, out=dst, where=pos == p)
            elif add:
                dst += g * (pos == p)
            else:
                np.multiply(g, pos == p, out=dst)
        ctx.pos, ctx.win = pos, win
        return win.crop(out, h, w)

    @staticmethod
    def backward(ctx, gg):
        return WindowGather.apply(gg, ctx.pos, ctx.win)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(2, 2, 2, 2)), rng.integers(0, 4, (2, 2, 2, 2)), (4, 4),
                     as_window(2, stride=2))  # fmt: skip
        yield Sample(n(size=(1, 2, 3, 3)), rng.integers(0, 9, (1, 2, 3, 3)), (5, 5),
                     as_window(3, stride=2, padding=1), note="overlapping, size-1")  # fmt: skip
        yield Sample(n(size=(3, 3, 1, 2)).T, rng.integers(0, 4, (2, 1, 3, 3)), (4, 4),
                     as_window(2, stride=1), note="transposed")  # fmt: skip
        yield Sample(n(size=(0, 1, 2, 2)), np.zeros((0, 1, 2, 2), np.uint8), (4, 4),
                     as_window(2, stride=2), note="empty")  # fmt: skip


class WindowGather(Function):
    """out[n, c, oh, ow] = xpad[n, c, oh sh + i dh, ow sw + j dw] with (i, j) the window
    position `pos[n, c, oh, ow]` (padding reads 0);  dx = WindowScatter(g, pos).

    Shapes: x (N, C, H, W), pos (N, C, OH, OW) int -> out (N, C, OH, OW)."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, x, pos, win):
        n, c, h, w = x.shape
        oh, ow = pos.shape[2], pos.shape[3]
        xp = win.pad(x)
        out = np.zeros((n, c, oh, ow), x.dtype)
        exact = not np.isfinite(np.sum(x, dtype=x.dtype))  # see WindowScatter
        for p, (i, j) in enumerate(win.positions()):
            v = win.view(xp, i, j, oh, ow)
            if exact:
                np.copyto(out, v, where=pos == p)
            else:
                out += v * (pos == p)
        ctx.pos, ctx.win, ctx.hw = pos, win, (h, w)
        return out

    @staticmethod
    def backward(ctx, g):
        return WindowScatter.apply(g, ctx.pos, ctx.hw, ctx.win)

    @staticmethod
    def sample_inputs(rng):
        n = rng.normal
        yield Sample(n(size=(2, 2, 4, 4)), rng.integers(0, 4, (2, 2, 2, 2)),
                     as_window(2, stride=2))  # fmt: skip
        yield Sample(n(size=(1, 2, 5, 5)), rng.integers(0, 9, (1, 2, 3, 3)),
                     as_window(3, stride=2, padding=1), note="overlapping, size-1")  # fmt: skip
        yield Sample(n(size=(4, 4, 1, 2)).T, rng.integers(0, 4, (2, 1, 3, 3)),
                     as_window(2, stride=1), note="transposed")  # fmt: skip
        yield Sample(n(size=(0, 1, 4, 4)), np.zeros((0, 1, 2, 2), np.uint8),
                     as_window(2, stride=2), note="empty")  # fmt: skip
