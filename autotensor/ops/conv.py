"""Convolution and pooling primitives: sliding windows over the last two dims of (N, C, H, W).

Three pairs, each pair the other's backward, so every gradient stays differentiable:

- `Im2Col` / `Col2Im` (torch's unfold / fold). Im2Col gathers every kernel window into a
  column; a convolution is then one matrix product with the flattened weight
  (`autotensor.convolution.conv2d`), a transposed convolution a matrix product followed by
  Col2Im. Neither rule touches the weight, so `MatMul` supplies the weight gradients.
- `WindowScatter` / `WindowGather`: move one chosen element per window (the argmax of max
  pooling) from the output grid to the input grid and back. `MaxPool2d`'s backward is
  WindowScatter.

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
        ctx.hw, ctx.win, ctx.ones = (h, w), win, ones
        k = c * win.kh * win.kw
        if not ones:
            return np.ascontiguousarray(view).reshape(n, k, oh * ow)
        cols = np.empty((n, k + 1, oh * ow), x.dtype)
        np.copyto(cols[:, :k].reshape(view.shape), view)
        cols[:, k] = 1
        return cols

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


# Below this output width, Col2Im adds along flattened image planes (see _col2im_flat).
_LONG_ROWS = 64


def _col2im_flat(cols6: np.ndarray, h: int, w: int, win: Window) -> np.ndarray:
    """Col2Im's sum with long inner loops, for narrow outputs.

    A slice-add over a (N, C, OH, OW) window view runs one inner loop per output row, OW
    elements long; for OW ~ 14 numpy spends most of its time between loops (measured: 9
    adds of a 64x16x14x14 batch take 1.3 ms). On the flattened padded plane, kernel
    position (i, j) touches base + t sw for t = oh Wq + ow, a single arithmetic progression
    once the plane's width Wp' satisfies sh Wp' = sw Wq. So the columns are first copied
    into a zero-padded (…, OH, Wq) buffer (the extra columns add zeros, wherever they land),
    after which each kernel position is one long add per image plane.

    Returns the padded (N, C, Hp', Wp') sum; its top-left (Hp, Wp) corner is Col2Im's."""
    n, c, kh, kw, oh, ow = cols6.shape
    hp, wp = h + win.top + win.bottom, w + win.left + win.right
    wp2 = -(-wp // win.sw) * win.sw  # plane width, a multiple of the column stride
    wq = win.sh * wp2 // win.sw  # wide output width: row stride sh wp2 = sw wq
    wide = np.zeros((n, c, kh, kw, oh, wq), cols6.dtype)
    wide[..., :ow] = cols6
    wide = wide.reshape(n, c, kh, kw, oh * wq)
    span = (oh * wq - 1) * win.sw + 1
    last = (kh - 1) * win.dh * wp2 + (kw - 1) * win.dw + span
    hp2 = max(hp, -(-last // wp2))
    out = np.zeros((n, c, hp2 * wp2), cols6.dtype)
    for i, j in win.positions():
        base = i * win.dh * wp2 + j * win.dw
        dst = out[:, :, base : base + span : win.sw]
        dst += wide[:, :, i, j]
    return out.reshape(n, c, hp2, wp2)


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
        ctx.win = win
        if ow >= _LONG_ROWS:
            out = np.zeros((n, c, h + win.top + win.bottom, w + win.left + win.right), cols.dtype)
            for i, j in win.positions():
                dst = win.view(out, i, j, oh, ow)
                dst += cols6[:, :, i, j]
            return win.crop(out, h, w)
        out = _col2im_flat(cols6, h, w, win)
        return out[:, :, win.top : win.top + h, win.left : win.left + w]

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
