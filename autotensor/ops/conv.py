"""Convolution and pooling primitives: sliding windows over the last two dims of (N, C, H, W).

- `Im2Col` / `Col2Im` (torch's unfold / fold), each the other's backward. Im2Col gathers
  every kernel window into a column; a convolution is then one matrix product per image with
  the flattened weight, a transposed convolution a matrix product followed by Col2Im.
- `Conv2d`: im2col and that product in one primitive, so that its backward can choose the
  cheaper way to the input gradient (see its docstring); the backward is written with
  Conv2d, MatMul, Im2Col and Col2Im, so it is differentiable again.
- `MaxPool2d`, whose backward is `WindowScatter`; `WindowScatter` / `WindowGather` move one
  chosen element per window (the argmax) from the output grid to the input grid and back,
  each the other's backward.

Window geometry (all ints): kernel (kh, kw), stride (sh, sw), padding (top, bottom, left,
right) -- asymmetric so that 'same' padding with an even kernel and ceil_mode pooling fit the
same code -- and dilation (dh, dw). For an input of height H the output height is
OH = (H + top + bottom - dh (kh - 1) - 1) // sh + 1, and window position (i, j) of output
(oh, ow) reads padded row oh sh + i dh, padded column ow sw + j dw.

Note [Window loops]: the fast paths never loop over pixels. Im2Col is one strided view of
the padded input copied once; Col2Im, WindowScatter and WindowGather loop over the kh kw
kernel positions only, each a slice-assignment or slice-add over the whole batch (no
`np.add.at`).
"""

from __future__ import annotations

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
        pads = tuple(int(p) for p in padding)
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


def im2col(x: np.ndarray, win: Window, ones: bool = False) -> np.ndarray:
    """The array work of Im2Col: (N, C, H, W) -> (N, C kh kw [+ 1], OH OW), contiguous."""
    oh, ow = _check_window("im2col", x.shape, win)
    n, c, h, w = x.shape
    xp = win.pad(x)
    s0, s1, s2, s3 = xp.strides
    view = as_strided(
        xp,
        (n, c, win.kh, win.kw, oh, ow),
        (s0, s1, s2 * win.dh, s3 * win.dw, s2 * win.sh, s3 * win.sw),
        writeable=False,
    )
    k = c * win.kh * win.kw
    if not ones:
        return np.ascontiguousarray(view).reshape(n, k, oh * ow)
    cols = np.empty((n, k + 1, oh * ow), x.dtype)
    np.copyto(cols[:, :k].reshape(view.shape), view)
    cols[:, k] = 1
    return cols


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
    product per image, the bias folded in as a row of ones (see Im2Col).

    dx = the transposed convolution of g (`conv_input_grad`), dw = sum_n g_n cols_n^T and
    db = sum of g (`conv_weight_grad`), both written with primitives (this one included),
    so second derivatives work.

    Shapes: x (N, C, H, W), w (O, C / groups, kh, kw), b (O,) or None -> (N, O, OH, OW).

    Why a primitive and not Im2Col -> MatMul (the composite it replaces, which
    `autotensor.convolution.conv2d_composite` keeps, and the tests compare against): its
    backward may choose how to compute dx. Through MatMul and Col2Im, dx costs a product
    with inner dimension O and a kh kw-fold scatter-add over the image; for stride 1 the
    same dx is a convolution of g with the flipped weight, a product with inner dimension
    O kh kw and no scatter. Measured on the book's chapter 7 CNN (16 -> 8 channels, 5x5,
    batch 60), that takes a training step from 133 ms to 54 ms."""

    takes_arrays = True
    shape_exemptions = {"0-d": "windows slide over (N, C, H, W) images"}

    @staticmethod
    def forward(ctx, x, w, b, win, groups=1):
        n = x.shape[0]
        o, cg, kh, kw = w.shape
        oh, ow = _check_window("conv2d", x.shape, win)
        k = cg * kh * kw
        fold = b is not None and groups == 1
        cols = im2col(x, win, ones=fold)  # (N, K [+ 1], L)
        if groups == 1:
            w2 = w.reshape(o, k)
            if fold:
                w2 = np.concatenate([w2, b.reshape(o, 1)], axis=1)
            out = np.matmul(w2, cols)  # (O, K) @ (N, K, L): one product per image
        else:
            wg = w.reshape(groups, o // groups, k)
            out = np.matmul(wg, cols.reshape(n, groups, k, oh * ow)).reshape(n, o, oh * ow)
            if b is not None:
                out += b.reshape(o, 1)
        ctx.save_for_backward(x, w, cols)  # saved, so freed once backward has run
        ctx.win, ctx.groups, ctx.fold, ctx.bias = win, groups, fold, b is not None
        return out.reshape(n, o, oh, ow)

    @staticmethod
    def backward(ctx, g):
        x, w, cols = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        gx = conv_input_grad(g, w, x.shape, ctx.win, ctx.groups) if need_x else None
        gw = gb = None
        if need_w or need_b:
            if _state.enabled:  # create_graph: the columns must carry x's graph
                cols = Im2Col.apply(x, ctx.win, ones=ctx.fold)
            else:
                cols = _new(cols)
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
                     note="O > 1.5 C: dx through Col2Im")  # fmt: skip
        yield Sample(n(size=(4, 4, 2, 2)).T, n(size=(2, 2, 2, 3)).T, n(size=3), win=w(2),
                     note="transposed")  # fmt: skip
        yield Sample(n(size=(0, 2, 3, 3)), n(size=(2, 2, 2, 2)), n(size=2), win=w(2),
                     note="empty")  # fmt: skip


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
    columns, the second C kh kw rows and then scatter-adds them back. Measured (batches of
    16-64 images, 3x3 and 5x5 kernels): the first is faster up to O = C (up to 3x when
    O < C), the second from O = 2 C on (by 10-30%); the switch is at O = 1.5 C."""
    n, c, h, wd = xshape
    o, cg, kh, kw = w.shape
    eh, ew = win.dh * (kh - 1), win.dw * (kw - 1)
    if (win.sh == win.sw == 1 and max(win.top, win.bottom) <= eh
            and max(win.left, win.right) <= ew and 2 * o <= 3 * c):  # fmt: skip
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
        n, c, h, w = x.shape
        xp = win.pad(x, -np.inf)
        kk = win.kh * win.kw
        pos = np.zeros((n, c, oh, ow), np.uint8 if kk < 256 else np.int32)
        # NaN must win as in torch; `v > best` alone never picks it. One sum finds out
        # whether any is present, so the common case pays no extra pass per position.
        nan = x.dtype.kind == "f" and x.size and np.isnan(np.sum(x, dtype=x.dtype))
        best = win.view(xp, 0, 0, oh, ow).copy()
        better = np.empty(best.shape, np.bool_)
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
            np.maximum(pos, better * pos.dtype.type(p), out=pos)
            np.maximum(best, v, out=best)
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
        out = np.zeros((n, c, h + win.top + win.bottom, w + win.left + win.right), g.dtype)
        # g * (pos == p) is exact unless g holds inf or NaN (inf * 0 is NaN): then masked
        # copies, which are exact but ~10x slower. Disjoint windows are written once;
        # overlapping ones must add.
        exact = not np.isfinite(np.sum(g, dtype=g.dtype))
        add = win.overlapping
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
