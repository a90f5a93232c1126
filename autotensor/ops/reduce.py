"""Reductions and the normalisations along a dim (softmax, log-softmax).

`dim` follows torch: None reduces everything, an int or a tuple of ints names dims, negative
dims count from the end.
"""

from __future__ import annotations

import numpy as np

from autotensor import _views, dtypes
from autotensor.function import Function
from autotensor.tensor import Tensor, _new
from autotensor.testing.sample import Sample


def norm_dims(dim, ndim: int, op: str) -> tuple[int, ...]:
    """torch dims -> a sorted tuple of non-negative axes; raises naming the op."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if len(dims) == 0:
        return tuple(range(ndim))
    out = []
    n = max(ndim, 1)
    for d in dims:
        d = int(d)
        if not -n <= d < n:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got "
                f"{d}) (in {op}, input of {ndim} dims)"
            )
        a = d % n if ndim else 0
        if a in out:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims (in {op})")
        out.append(a)
    return tuple(sorted(out)) if ndim else ()


def kept_shape(shape: tuple, dims: tuple) -> tuple:
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g: Tensor, shape: tuple, dims: tuple | None, keepdim: bool) -> Tensor:
    """Broadcast a reduced gradient back over the reduced dims (None: all of them, so `g` is
    0-d or all 1s): the backward of a reduction."""
    if not keepdim and dims is not None and g.ndim and dims != tuple(range(len(dims))):
        g = g.reshape(kept_shape(shape, dims))  # reduced leading dims broadcast as they are
    return g.expand(shape)  # g itself when the shapes agree


def _reduce_samples(rng):
    x = rng.normal(size=(3, 4, 2))
    yield Sample(x)
    yield Sample(x, dim=1)
    yield Sample(x, dim=-1, keepdim=True)
    yield Sample(x, dim=(0, 2))
    yield Sample(rng.normal(size=()), note="0-d")
    yield Sample(rng.normal(size=(4, 3)).T, dim=0, note="transposed")


class Sum(Function):
    """out = sum of x over `dim`;  dx = g broadcast back.  Shapes: x (*) -> reduced."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        # dims None: all of them (numpy's axis=None), the commonest call, left unnormalised
        dims = None if dim is None else norm_dims(dim, x.ndim, "sum")
        ctx.shape, ctx.dims, ctx.keepdim = x.shape, dims, keepdim
        out = np.add.reduce(x, axis=dims, keepdims=keepdim)  # np.sum minus its Python wrapper
        if dims is None:  # one number (or keepdim's all-ones shape): contiguous already
            return out
        return _views.contiguous_layout(out)  # reductions, scans, softmax: torch's are contiguous

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim)

    @staticmethod
    def sample_inputs(rng):
        yield from _reduce_samples(rng)
        yield Sample(rng.normal(size=(0, 3)), dim=0, note="empty")
        yield Sample(rng.normal(size=(3, 1, 2)), dim=1, note="size-1")


class Var(Function):
    """out = sum((x - mean)^2) / (n - correction) over `dims` (n: the count reduced; inf or
    NaN with no degrees of freedom left, as torch);  dx = 2 / (n - correction) g (x - mean),
    torch's rule, also where an infinite g meets x == mean (NaN) and for n <= correction
    (inf; over all elements, g * (NaN where x == mean, else inf))."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dims=(), correction=1, keepdim=False, all_dims=False):
        n = int(np.prod([x.shape[d] for d in dims])) if x.ndim else 1
        with np.errstate(invalid="ignore", divide="ignore"):
            d = x - np.mean(x, axis=dims, keepdims=True) if n else x * np.nan
            s = np.add.reduce(d * d, axis=dims, keepdims=keepdim)
            out = np.asarray(s / max(n - correction, 0), dtype=x.dtype)
        ctx.save_for_backward(x)
        ctx.dims, ctx.dof, ctx.keepdim, ctx.all_dims = dims, n - correction, keepdim, all_dims
        return _views.contiguous_layout(out)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dims, dof = ctx.dims, ctx.dof
        if not ctx.keepdim and x.ndim:
            g = g.reshape(kept_shape(x.shape, dims))
        if ctx.all_dims and dof <= 0:
            xd = x._data
            with np.errstate(invalid="ignore"):
                odd = np.where(xd == xd.mean(), np.nan, np.inf).astype(xd.dtype)
            return g * _new(odd)
        scale = 2.0 / dof if dof else float("inf")
        return g * (x - x.mean(dims, keepdim=True)) * scale

    @staticmethod
    def sample_inputs(rng):
        x = rng.normal(size=(3, 4, 2))
        yield Sample(x, dims=(0, 1, 2), all_dims=True)
        yield Sample(x, dims=(1,))
        yield Sample(x, dims=(2,), keepdim=True, correction=0)
        yield Sample(x, dims=(0, 2))
        yield Sample(rng.normal(size=()), dims=(), correction=0, all_dims=True, note="0-d")
        yield Sample(rng.normal(size=(4, 3)).T, dims=(0,), note="transposed")
        yield Sample(rng.normal(size=(3, 1, 2)), dims=(0,), note="size-1")
        yield Sample(rng.normal(size=(0, 3)), dims=(1,), note="empty")


class Norm(Function):
    """out = (sum |x|^p)^(1/p) over `dims` (p = 0: the count of non-zeros, p = inf: max |x|,
    -inf: min |x|);  dx by torch's rule (linalg.vector_norm's backward) with the result
    saved, as torch's: sgn(x) g for p = 1; g x / out for p = 2; for p = +-inf g shared
    among the elements at the extremum or NaN; sgn(x) |x|^(p-1) g out^(1-p) for p < 1 (0
    where x = 0); x |x|^(p-2) g / out^(p-1) otherwise (0 where out = 0); no gradient for
    p = 0."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, p=2.0, dims=(), keepdim=False):
        a = np.abs(x)
        red = dict(axis=dims, keepdims=keepdim)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if p == 0:
                out = np.count_nonzero(x, **red).astype(x.dtype)
            elif p == 1:
                out = np.add.reduce(a, **red)
            elif p == 2:
                out = np.sqrt(np.add.reduce(a * a, **red))
            elif np.isinf(p):
                if any(x.shape[d] == 0 for d in dims):
                    raise RuntimeError(
                        f"linalg.vector_norm cannot compute the {p} norm on an empty tensor "
                        f"because the operation does not have an identity"
                    )
                out = np.max(a, **red) if p > 0 else np.min(a, **red)
            else:
                out = np.add.reduce(a**p, **red) ** (1.0 / p)
        out = _views.contiguous_layout(np.asarray(out, dtype=x.dtype))
        ctx.p, ctx.dims, ctx.keepdim = p, dims, keepdim
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        from autotensor.ops.elementwise import Sign, Where

        p, dims = ctx.p, ctx.dims
        x, norm = ctx.saved_tensors  # (the version check, for p = 0 too, as torch)
        if p == 0:
            return None
        if not ctx.keepdim and x.ndim:
            shape = kept_shape(x.shape, dims)
            g, norm = g.reshape(shape), norm.reshape(shape)
        if p == 1:
            return Sign.apply(x) * g
        zero = np.broadcast_to(norm._data == 0, x.shape)
        if p == 2:
            return g * Where.apply(zero, 0.0, x / norm)
        xd = x._data
        if np.isinf(p):
            a = np.abs(xd)
            mask = (a == norm._data) | np.isnan(a)
            count = _new(np.add.reduce(mask, axis=dims, keepdims=True).astype(xd.dtype))
            return Sign.apply(x) * ((g / count) * _new(mask.astype(xd.dtype)))
        a = x.abs()
        if p < 1:
            with np.errstate(divide="ignore"):
                scaled = Sign.apply(x) * Where.apply(xd == 0, 0.0, a ** (p - 1))
            return scaled * g * norm ** (1 - p)
        scaled = Sign.apply(x) * a ** (p - 1) if p < 2 else x * a ** (p - 2)
        return scaled * Where.apply(zero, 0.0, g / norm ** (p - 1))

    @staticmethod
    def sample_inputs(rng):
        x = rng.uniform(0.5, 2.0, (3, 4)) * rng.choice([-1.0, 1.0], (3, 4))
        yield Sample(x, p=2.0, dims=(0, 1))
        yield Sample(x, p=1.0, dims=(1,), gradgrad=False)
        yield Sample(x, p=3.0, dims=(0,), keepdim=True)
        yield Sample(x, p=1.5, dims=(1,))
        yield Sample(x, p=0.5, dims=(0, 1))
        yield Sample(x, p=float("inf"), dims=(1,), gradgrad=False)
        yield Sample(np.asarray(1.5), p=2.0, note="0-d")
        yield Sample(x.T, p=2.0, dims=(0,), note="transposed")
        yield Sample(x[:1], p=3.0, dims=(0,), note="size-1")
        yield Sample(np.zeros((0, 3)), p=2.0, dims=(0,), note="empty")


class _Extremum(Function):
    """amax/amin over `dim`; the gradient is split evenly between tied extrema (as torch)."""

    takes_arrays = True
    reducer = staticmethod(np.amax)

    @classmethod
    def _fwd(cls, ctx, x, dim, keepdim, nan_shares=False):
        name = cls.__name__.lower()
        if x.size == 0 and dim is not None:  # torch checks for an empty reduced dim first
            for d in (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim):
                (a,) = norm_dims(int(d), x.ndim, name) or (0,)
                if x.ndim and x.shape[a] == 0:
                    raise IndexError(
                        f"{name}(): Expected reduction dim {d} to have non-zero size (input "
                        f"shape {x.shape})"
                    )
        dims = norm_dims(dim, x.ndim, name)
        if x.size == 0 and (dim is None or dim == ()):  # an empty tensor, without a dim
            raise RuntimeError(
                f"{name[1:] if nan_shares else name}(): Expected reduction dim to be specified "
                f"for input.numel() == 0. Specify the reduction dim with the 'dim' argument."
            )
        for d in dims:
            if x.shape[d] == 0:  # as torch: only reducing over an empty dim is an error
                raise IndexError(
                    f"{name}(): Expected reduction dim {d} to have non-zero size (input shape "
                    f"{x.shape})"
                )
        out = cls.reducer(x, axis=dims, keepdims=True)
        mask = x == out
        if nan_shares and out.dtype.kind == "f" and np.isnan(out).any():
            # torch's max()/min() over everything give a NaN result's gradient to the NaNs;
            # its amax/amin leave it NaN (0/0 below), which nan_shares=False keeps.
            mask |= np.isnan(x) & np.isnan(out)
        with np.errstate(invalid="ignore"):  # 0/0 for a NaN amax: its gradient stays NaN
            ctx.weight = mask / mask.sum(axis=dims, keepdims=True)
        ctx.shape, ctx.dims, ctx.keepdim, ctx.select = x.shape, dims, keepdim, nan_shares
        out = out if keepdim else out.reshape([s for i, s in enumerate(x.shape) if i not in dims])
        out = _views.contiguous_layout(out)
        ctx.save_for_backward(x, out)  # as torch's rule: an in-place change of either is caught
        return out

    @staticmethod
    def backward(ctx, g):
        _ = ctx.saved_tensors  # the version check of the saved result
        w = ctx.weight.astype(g.dtype)
        ge = _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim)
        if ctx.select:
            # max()/min(): torch's rule selects, so an element that is not the extremum gets
            # exactly 0 even where g is inf or NaN (a product would give 0 * inf = NaN)
            return _select(w != 0, ge * w, 0.0)
        return ge * w  # amax/amin: torch's rule multiplies by the mask (NaN reaches all)

    @staticmethod
    def sample_inputs(rng):
        yield from _reduce_samples(rng)
        yield Sample(rng.normal(size=(3, 1, 2)), dim=1, note="size-1")
        yield Sample(rng.normal(size=(0, 3)), dim=1, note="empty (reduced dim non-empty)")
        # The first derivative jumps at a tie, so only the first order is checked there.
        yield Sample(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.5]]), dim=1, note="ties",
                     gradgrad=False)  # fmt: skip


class Amax(_Extremum):
    """out = max of x over `dim` (ties share the gradient)."""

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False, nan_shares=False):
        return Amax._fwd(ctx, x, dim, keepdim, nan_shares)


class Amin(_Extremum):
    """out = min of x over `dim` (ties share the gradient)."""

    reducer = staticmethod(np.amin)

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False, nan_shares=False):
        return Amin._fwd(ctx, x, dim, keepdim, nan_shares)


def _select(cond: np.ndarray, x: Tensor, y: float) -> Tensor:
    """x where cond, else y (the Where primitive, imported late: elementwise imports Function
    from the same place this module does, so either order works)."""
    from autotensor.ops.elementwise import Where

    return x if cond.all() else Where.apply(cond, x, y)


class MaxDim(Function):
    """(values, indices) = max of x along one dim; the gradient goes to the chosen index."""

    takes_arrays = True
    arg = staticmethod(np.argmax)

    @classmethod
    def _fwd(cls, ctx, x, dim, keepdim):
        name = "max" if cls.arg is np.argmax else "min"
        (d,) = norm_dims(dim, x.ndim, name) or (0,)
        if x.ndim and x.shape[d] == 0:
            raise IndexError(
                f"{name}(): Expected reduction dim {d} to have non-zero size (input shape "
                f"{x.shape})"
            )
        xv = x if x.ndim else x.reshape(1)
        idx = cls.arg(xv, axis=d, keepdims=True)
        vals = np.take_along_axis(xv, idx, axis=d)
        ctx.dim, ctx.keepdim, ctx.shape, ctx.idx = d, keepdim, x.shape, idx
        if not keepdim or not x.ndim:
            vals, idx = vals.squeeze(d), idx.squeeze(d)
            if not x.ndim:
                vals, idx = vals.reshape(()), idx.reshape(())
        return vals, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, gv, gi):
        if not ctx.shape:
            return gv
        g = gv if ctx.keepdim else gv.unsqueeze(ctx.dim)
        zeros = _new(np.zeros(ctx.shape, dtype=g._data.dtype))
        return ScatterAddProxy.scatter(zeros, ctx.dim, ctx.idx, g)

    @staticmethod
    def sample_inputs(rng):
        x = rng.normal(size=(3, 4, 2))
        yield Sample(x, dim=1)
        yield Sample(x, dim=-1, keepdim=True)
        yield Sample(rng.normal(size=()), dim=0, note="0-d")
        yield Sample(rng.normal(size=(4, 3)).T, dim=0, note="transposed")
        yield Sample(rng.normal(size=(3, 1)), dim=1, note="size-1")
        yield Sample(rng.normal(size=(0, 3)), dim=1, note="empty (reduced dim non-empty)")

    @staticmethod
    def forward(ctx, x, dim, keepdim=False):
        return MaxDim._fwd(ctx, x, dim, keepdim)


class MinDim(MaxDim):
    """(values, indices) = min of x along one dim."""

    arg = staticmethod(np.argmin)

    @staticmethod
    def forward(ctx, x, dim, keepdim=False):
        return MinDim._fwd(ctx, x, dim, keepdim)


class ScatterAddProxy:
    """Late import of ScatterAdd (movement.py imports this module)."""

    @staticmethod
    def scatter(base, dim, idx, src):
        from autotensor.ops.movement import ScatterAdd

        return ScatterAdd.apply(base, dim, idx, src)


class Prod(Function):
    """out = product of x over `dim` (None: all);  dx_i = g * prod_{j != i} x_j."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        dims = norm_dims(dim, x.ndim, "prod") if dim is not None else tuple(range(x.ndim))
        dims = dims if x.ndim else ()  # a 0-d tensor: the product of its one element
        out = _views.contiguous_layout(np.prod(x, axis=dims, keepdims=keepdim))
        ctx.save_for_backward(x, out)
        ctx.dims, ctx.keepdim, ctx.flat = dims, keepdim, dim is None
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        if x.ndim == 0:  # torch: the gradient itself (not g * out / x, NaN at x = inf)
            return g
        ge = _expand_back(g, x.shape, ctx.dims, ctx.keepdim)
        if not (x._data == 0).any():
            return ge * _expand_back(out, x.shape, ctx.dims, ctx.keepdim) / x
        # With zeros present, out / x is undefined: use the product of the others, from
        # exclusive cumulative products on both sides (not differentiable again).
        xd = x._data
        if not ctx.dims:
            return ge
        if ctx.flat or len(ctx.dims) == xd.ndim:
            if (xd == 0).sum() > 1:  # torch: two zeros make every partial product 0
                return _new(np.zeros(xd.shape, dtype=g.dtype))
            flat = xd.reshape(-1)
            others = _exclusive_prod(flat, 0).reshape(xd.shape)
        else:
            (d,) = ctx.dims
            others = _exclusive_prod(xd, d)
        return ge * others.astype(g.dtype)

    @staticmethod
    def sample_inputs(rng):
        x = rng.uniform(0.5, 1.5, (3, 4))
        yield Sample(x)
        yield Sample(x, dim=1)
        yield Sample(x, dim=0, keepdim=True)
        yield Sample(rng.uniform(0.5, 1.5, ()), note="0-d")
        yield Sample(rng.uniform(0.5, 1.5, (4, 3)).T, dim=0, note="transposed")
        yield Sample(rng.uniform(0.5, 1.5, (3, 1)), dim=1, note="size-1")
        yield Sample(rng.uniform(0.5, 1.5, (0, 3)), dim=1, note="empty")
        yield Sample(rng.uniform(0.5, 1.5, (0, 3)), dim=0, note="empty product is 1")


def _exclusive_prod(x: np.ndarray, axis: int) -> np.ndarray:
    ones_shape = list(x.shape)
    ones_shape[axis] = 1
    one = np.ones(ones_shape, x.dtype)
    left = np.cumprod(np.concatenate([one, x], axis=axis), axis=axis)
    right = np.flip(np.cumprod(np.flip(np.concatenate([x, one], axis=axis), axis), axis), axis)
    n = x.shape[axis]
    take = [slice(None)] * x.ndim
    take[axis] = slice(0, n)
    left = left[tuple(take)]
    take[axis] = slice(1, n + 1)
    return left * right[tuple(take)]


class Cumsum(Function):
    """out_i = sum_{j <= i} x_j along `dim`;  dx = reversed cumsum of g."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim):
        (d,) = norm_dims(dim, x.ndim, "cumsum") or (0,)
        ctx.dim = d
        if not x.ndim:
            return x.copy()  # (torch copies a 0-d tensor, -0 included)
        if x.dtype.kind == "f" and x.dtype.itemsize < 8:
            # accumulated in float64 and rounded once, as torch accumulates (a float32 running
            # sum drifts by ~1e-4 relative over 1e5 elements)
            out = np.cumsum(x, axis=d, dtype=np.float64).astype(x.dtype)
        else:
            out = np.cumsum(x, axis=d)
        if out.dtype.kind == "f":
            out += 0.0  # torch's running sum starts at +0, so it is never -0
        return _views.contiguous_layout(out)

    @staticmethod
    def backward(ctx, g):
        if g.ndim == 0:
            return g
        return g.flip(ctx.dim).cumsum(ctx.dim).flip(ctx.dim)

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 4)), dim=1)
        yield Sample(rng.normal(size=(3, 4)), dim=-2)
        yield Sample(rng.normal(size=()), dim=0, note="0-d")
        yield Sample(rng.normal(size=(4, 3)).T, dim=1, note="transposed")
        yield Sample(rng.normal(size=(3, 1)), dim=1, note="size-1")
        yield Sample(rng.normal(size=(0, 3)), dim=0, note="empty")


class Softmax(Function):
    """out = exp(x - max) / sum(exp(x - max)) along `dim`;  dx = out * (g - sum(g * out)).

    A primitive (not a composite) for speed and stability: one pass, no overflow."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim):
        (d,) = norm_dims(dim, x.ndim, "softmax") or (0,)
        if x.dtype.kind not in "fc":
            if x.size == 0:  # torch's kernel is skipped when there is nothing to do
                return x.copy()
            dtypes.check_supported("softmax", x.dtype)
        if x.ndim == 0:
            out = np.exp(x - x)  # 1, or NaN for a NaN or infinite x (as torch)
        else:
            e = np.exp(x - x.max(axis=d, keepdims=True, initial=-np.inf))  # initial: empty dims
            out = _views.contiguous_layout(e / e.sum(axis=d, keepdims=True))
        ctx.dim = d
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return out * (g - (g * out).sum(ctx.dim, keepdim=True))  # 0-d too, NaN included

    @staticmethod
    def sample_inputs(rng):
        yield Sample(rng.normal(size=(3, 5)), dim=1)
        yield Sample(rng.normal(size=(2, 3, 4)), dim=0)
        yield Sample(rng.normal(size=(4, 3)).T, dim=-1, note="transposed")
        yield Sample(rng.normal(size=()), dim=0, note="0-d")
        yield Sample(rng.normal(size=(3, 1)), dim=1, note="size-1 dim reduced")
        yield Sample(rng.normal(size=(0, 3)), dim=1, note="empty")


class LogSoftmax(Function):
    """out = x - logsumexp(x) along `dim`;  dx = g - exp(out) * sum(g).

    A primitive for numerical stability: extreme logits give finite values and gradients."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim):
        (d,) = norm_dims(dim, x.ndim, "log_softmax") or (0,)
        if x.dtype.kind not in "fc":
            if x.size == 0:  # torch's kernel is skipped when there is nothing to do
                return x.copy()
            dtypes.check_supported("log_softmax", x.dtype)
        if x.ndim == 0:
            out = x - x  # 0, or NaN for a NaN or infinite x (as torch)
        else:
            s = x - x.max(axis=d, keepdims=True, initial=-np.inf)  # initial: empty dims
            out = _views.contiguous_layout(s - np.log(np.exp(s).sum(axis=d, keepdims=True)))
        ctx.dim = d
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - out.exp() * g.sum(ctx.dim, keepdim=True)  # 0-d too, NaN included

    sample_inputs = Softmax.sample_inputs


class Logsumexp(Function):
    """out = log(sum(exp(x))) over `dim` (shifted by the max, so nothing overflows);
    dx = g exp(x - out).  Shapes: x (*) -> reduced."""

    takes_arrays = True

    @staticmethod
    def forward(ctx, x, dim=None, keepdim=False):
        dims = norm_dims(dim, x.ndim, "logsumexp")
        m = np.amax(x, axis=dims, keepdims=True, initial=-np.inf) if x.size else None
        if m is None:
            m = np.zeros([1 if i in dims else s for i, s in enumerate(x.shape)], x.dtype)
        m = np.where(np.isfinite(m), m, 0).astype(x.dtype)
        with np.errstate(divide="ignore"):  # log(0) = -inf: an empty or all -inf reduction
            outk = (np.log(np.exp(x - m).sum(axis=dims, keepdims=True)) + m).astype(x.dtype)
        ctx.dims, ctx.keepdim, ctx.shape = dims, keepdim, x.shape
        out = outk if keepdim else outk.reshape([s for i, s in enumerate(x.shape) if i not in dims])
        out = _views.contiguous_layout(out)
        ctx.save_for_backward(x, out)  # the output itself: differentiable again (double backward)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        outk = _expand_back(out, ctx.shape, ctx.dims, ctx.keepdim)
        return _expand_back(g, ctx.shape, ctx.dims, ctx.keepdim) * (x - outk).exp()

    @staticmethod
    def sample_inputs(rng):
        yield from _reduce_samples(rng)
        yield Sample(rng.normal(size=(3, 1, 2)), dim=1, note="size-1")
        yield Sample(rng.normal(size=(0, 3)), dim=1, note="empty")
