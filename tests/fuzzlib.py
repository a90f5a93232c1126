"""Differential fuzzing against torch: random programs run on torch and on autotensor.

A *program* is a list of statements, each one line of Python written against torch's API
(``v3 = v1.sum(dim=1)``), so the same text runs with ``torch`` bound to torch or to
autotensor, and a failure prints as a script that reproduces it. Inputs are numpy arrays
(``a0``, ``a1``, ...) turned into tensors by the first statements.

The generator is shape-aware: it runs each statement on torch as it writes the program and
only picks operands, dims and indices that fit the shapes torch reports (a small share of
statements is kept even though torch raises, to compare the errors). It draws its choices
from a ``random.Random``-like object, so the same code serves hypothesis
(``st.randoms()``, which shrinks) and a seeded campaign (``random.Random(seed)``).

`compare` runs a program on both libraries statement by statement and returns the first
`Mismatch`: values, shapes, dtypes and ``requires_grad`` of every live variable after every
statement, whether both raise (and the class), and then the gradients of a random-weighted
sum of the float outputs with respect to the leaves. `shrink` removes statements while the
mismatch stays the same.
"""

from __future__ import annotations

import math
import random
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# Deliberate differences from torch, by kind of mismatch (or failure key "op:kind"); kept
# short, each with its reason in docs/design.md ("Deliberate differences from torch").
DELIBERATE: dict[str, str] = {
    "elu_nan_grad": "torch's ELU gradient at a NaN input is 1 (its scalar loop, x <= 0 false) "
    "or NaN (its vectorized loop, which blends on x > 0) depending on where the element falls "
    "in memory; autotensor gives the formula's value, 1",
    "nonfloat_requires_grad": "torch marks an integer or bool tensor as requiring grad after "
    "fill_, index_put_ or a setitem with a 0-d value writes a value that requires grad into it; "
    "almost every later use of it then fails inside torch ('Autograd not support dtype', an "
    "internal assert in backward). autotensor keeps it a constant, as torch's copy_ does",
    "overlap_order": "an in-place op whose operand shares memory with the tensor it writes, "
    "in a layout torch's overlap check does not rule on (one of them not dense): torch's result "
    "depends on the order its loops read and write (row by row, element by element in a short "
    "row); autotensor reads the whole operand before it writes",
    "partial_write": "torch's indexed writes (setitem, index_put_, index_fill_, scatter_, "
    "...) check each index as they reach it, so an out-of-range index raises after the "
    "elements before it were written; autotensor checks every index first and writes nothing",
    "saved_version": "torch's backward saved a tensor that autotensor's rule does not keep (an "
    "operand before its dtype promotion, clamp's tensor bounds, masked_fill's mask), so only "
    "torch refuses the backward after an in-place change of it; autotensor's gradient is "
    "correct",
}


def is_deliberate(m: Mismatch) -> bool:
    return m.kind in DELIBERATE or m.key in DELIBERATE


# float tolerances: relative to the largest magnitude in the compared array (programs chain
# up to a dozen ops, each within the contract's ~1e-5 / ~1e-10 of torch)
TOL = {"float32": (1e-4, 1e-5), "float64": (1e-9, 1e-12), "float16": (1e-2, 1e-3)}

_EXC_ORDER = (NotImplementedError, IndexError, TypeError, ValueError, ZeroDivisionError,
              RuntimeError)  # fmt: skip


def exc_class(err: BaseException) -> str:
    """The torch-level class of an exception (torch's own subclasses map to their base)."""
    for cls in _EXC_ORDER:
        if isinstance(err, cls):
            return cls.__name__
    return "crash:" + type(err).__name__


@dataclass
class Stmt:
    op: str  # the op's name, for failure keys
    code: str  # one line of Python using `torch` (and `F`)
    out: str | None = None  # the variable it assigns (None for in-place statements)


@dataclass
class Program:
    inputs: dict[str, np.ndarray]
    stmts: list[Stmt]
    seed: int = 0  # for the gradient weights

    def source(self) -> str:
        lines = ["import numpy as np", "import torch  # or: import autotensor as torch",
                 "import torch.nn.functional as F"]  # fmt: skip
        for name, a in self.inputs.items():
            shape = f".reshape({a.shape})" if a.size == 0 and a.ndim != 1 else ""
            lines.append(f"{name} = np.array({a.tolist()!r}, dtype=np.{a.dtype}){shape}")
        lines += [s.code for s in self.stmts]
        return "\n".join(lines)

    def n_statements(self) -> int:
        return sum(1 for s in self.stmts if not s.op.startswith("input"))


@dataclass
class Mismatch:
    op: str
    kind: str  # value, shape, dtype, requires_grad, raise, exception_class, grad, crash
    detail: str
    program: Program | None = field(default=None, repr=False)

    @property
    def key(self) -> str:
        return f"{self.op}:{self.kind}"


# -- running ---------------------------------------------------------------------------------
def functional(lib: Any) -> Any:
    """lib.nn.functional (autotensor's lives in the nn package, reachable as at.nn too)."""
    try:
        return lib.nn.functional
    except AttributeError:
        import nn.functional

        return nn.functional


def _namespace(lib: Any, prog: Program) -> dict:
    ns: dict[str, Any] = {"torch": lib, "F": functional(lib), "np": np, "math": math}
    ns.update(prog.inputs)
    return ns


def _is_tensor(lib: Any, v: Any) -> bool:
    return isinstance(v, lib.Tensor)


def _dtype_name(d: Any) -> str:
    s = str(d).removeprefix("torch.")
    return {"bool_": "bool"}.get(s, s)


def _array(v: Any) -> np.ndarray:
    return np.array(v.detach().numpy(), copy=True)


def _close(a: np.ndarray, b: np.ndarray, dtype: str) -> str | None:
    """None when equal within tolerance, else a short description of the worst element."""
    with np.errstate(all="ignore"):
        return _close_impl(a, b, dtype)


def _close_impl(a: np.ndarray, b: np.ndarray, dtype: str) -> str | None:
    if a.shape != b.shape:
        return f"shapes {a.shape} vs {b.shape}"
    if a.size == 0:
        return None
    if a.dtype.kind not in "fc":
        if np.array_equal(a, b):
            return None
        i = np.unravel_index(np.argmax(a != b), a.shape)
        return f"at {tuple(int(j) for j in i)}: torch {a[i]!r} vs {b[i]!r}"
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    nan_a, nan_b = np.isnan(a64), np.isnan(b64)
    if (nan_a != nan_b).any():
        i = np.unravel_index(np.argmax(nan_a != nan_b), a.shape)
        return f"NaN at {tuple(int(j) for j in i)}: torch {a[i]!r} vs {b[i]!r}"
    inf_a, inf_b = np.isinf(a64), np.isinf(b64)
    if (inf_a != inf_b).any() or (a64[inf_a] != b64[inf_a]).any():
        i = np.unravel_index(np.argmax((inf_a != inf_b) | (inf_a & (a64 != b64))), a.shape)
        return f"inf at {tuple(int(j) for j in i)}: torch {a[i]!r} vs {b[i]!r}"
    fin = ~(nan_a | inf_a)
    if not fin.any():
        return None
    rtol, atol = TOL.get(dtype, TOL["float32"])
    scale = max(float(np.abs(a64[fin]).max()), 1.0)
    err = np.where(fin, np.abs(a64 - b64), 0.0)
    if err.max() <= atol * scale + rtol * np.abs(a64).max(initial=0, where=fin):
        return None
    bound = atol * scale + rtol * np.abs(a64)
    i = np.unravel_index(np.argmax(np.where(fin, err - bound, -np.inf)), a.shape)
    if err[i] <= bound[i]:
        return None
    return f"at {tuple(int(j) for j in i)}: torch {a[i]!r} vs {b[i]!r}"


def _compare_value(name: str, tv: Any, av: Any, torch: Any, at: Any,
                   tol: str = "float64") -> tuple[str, str] | None:  # fmt: skip
    """(kind, detail) when torch's value tv and autotensor's av differ; `tol` names the
    least precise float dtype the program computed in (a float32 result cast to float64
    still carries float32 rounding)."""
    t_is, a_is = _is_tensor(torch, tv), _is_tensor(at, av)
    if t_is != a_is:
        return "type", f"{name}: torch {type(tv).__name__} vs {type(av).__name__}"
    if isinstance(tv, (tuple, list)):
        if not isinstance(av, (tuple, list)) or len(tv) != len(av):
            return "type", f"{name}: torch {type(tv).__name__} of {len(tv)}"
        for k, (x, y) in enumerate(zip(tv, av)):
            r = _compare_value(f"{name}[{k}]", x, y, torch, at, tol)
            if r:
                return r
        return None
    if not t_is:
        if isinstance(tv, (bool, int, float)) and isinstance(av, (bool, int, float)):
            if not (tv == av or (isinstance(tv, float) and math.isnan(tv) and math.isnan(av))):
                return "value", f"{name}: torch {tv!r} vs {av!r}"
        return None
    if tuple(tv.shape) != tuple(av.shape):
        return "shape", f"{name}: torch {tuple(tv.shape)} vs {tuple(av.shape)}"
    td, ad = _dtype_name(tv.dtype), _dtype_name(av.dtype)
    if td != ad:
        return "dtype", f"{name}: torch {td} vs {ad}"
    if bool(tv.requires_grad) != bool(av.requires_grad):
        kind = "requires_grad"
        if tv.requires_grad and not td.startswith(("float", "complex")):
            kind = "nonfloat_requires_grad"  # DELIBERATE: torch marks an int/bool tensor
        return kind, f"{name}: torch {tv.requires_grad} vs {av.requires_grad} ({td})"
    d = _close(_array(tv), _array(av), _coarser(td, tol))
    if d:
        return "value", f"{name} {td}{tuple(tv.shape)} {d}"
    if tv.is_contiguous() != av.is_contiguous():  # decides whether .view() works
        return "layout", f"{name}: torch is_contiguous {tv.is_contiguous()} vs {av.is_contiguous()}"
    return None


def _coarser(a: str, b: str) -> str:
    """The less precise of two dtype names, for tolerances (non-floats count as exact)."""
    order = ["float16", "float32", "float64"]
    fa = a if a in order else "float64"
    fb = b if b in order else "float64"
    return order[min(order.index(fa), order.index(fb))]


def _program_tol(ns: dict, lib: Any, tol: str) -> str:
    for v in ns.values():
        if _is_tensor(lib, v):
            tol = _coarser(tol, _dtype_name(v.dtype))
    return tol


def _exec(code: str, ns: dict) -> BaseException | None:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            exec(code, ns)  # the program text is generated here
    except Exception as err:  # every exception is data for the comparison
        return err
    return None


def _weights(prog: Program, name: str, shape: tuple, dtype: str) -> np.ndarray:
    rng = np.random.default_rng([prog.seed, sum(map(ord, name))])
    return rng.uniform(-1.0, 1.0, shape).round(3).astype(dtype)


def _loss_code(prog: Program, ns: dict, lib: Any, names: list[str]) -> tuple[str, dict]:
    """`loss = sum_v (v * w_v).sum()` over the float tensors that require grad."""
    terms, extra = [], {}
    for n in names:
        v = ns.get(n)
        if _is_tensor(lib, v) and v.requires_grad and _dtype_name(v.dtype).startswith("float"):
            w = f"w_{n}"
            extra[w] = _weights(prog, n, tuple(v.shape), _dtype_name(v.dtype))
            terms.append(f"(({n}) * torch.tensor({w})).sum()")
    return " + ".join(terms), extra


def _var_names(prog: Program, upto: int) -> list[str]:
    seen: list[str] = []
    for s in prog.stmts[:upto]:
        if s.out and s.out not in seen:
            seen.append(s.out)
    return seen


def _leaves(prog: Program) -> list[str]:
    return [s.out for s in prog.stmts if s.op == "input" and "requires_grad=True" in s.code]


_INPLACE = re.compile(r"^(\w+)(?:\.\w+_\(| [-+*/]=)")


def _inplace_overlap(code: str, ns: dict, lib: Any) -> bool:
    """The statement is an in-place op on a tensor (`v.op_(...)`, `v += ...`) with another
    tensor of the program as operand that shares some, not all, of its memory."""
    m = _INPLACE.match(code)
    target = ns.get(m.group(1)) if m else None
    if not _is_tensor(lib, target):
        return False
    d = np.asarray(target.detach().numpy())
    for name in set(re.findall(r"\b[a-z]\w*\b", code[m.end() :])):
        v = ns.get(name)
        if _is_tensor(lib, v) and v is not target:
            o = np.asarray(v.detach().numpy())
            same = o.shape == d.shape and o.strides == d.strides and o.ctypes.data == d.ctypes.data
            if not same and np.shares_memory(o, d):
                return True
    return False


_WRITE = re.compile(r"^(\w+)(?:\.\w+_\(| [-+*/]=|\[)")  # v.op_(...), v += ..., v[...] = ...


def _in_failed_write(v: Any, failed: list, ns: dict, lib: Any) -> bool:
    """v shares memory with the target of an in-place write that raised on both sides."""
    if not _is_tensor(lib, v):
        return False
    d = np.asarray(v.detach().numpy())
    return any(_is_tensor(lib, ns.get(w)) and np.shares_memory(
        d, np.asarray(ns[w].detach().numpy())) for w in failed)  # fmt: skip


def compare(prog: Program, torch: Any, at: Any, grads: bool = True) -> Mismatch | None:
    """Run prog on both libraries; the first difference, or None."""
    nt, na = _namespace(torch, prog), _namespace(at, prog)
    done = 0
    failed_writes: list[str] = []  # targets of in-place writes that raised on both sides
    tol = "float64"
    for i, s in enumerate(prog.stmts):
        overlapping = _inplace_overlap(s.code, na, at)
        et, ea = _exec(s.code, nt), _exec(s.code, na)
        tol = _program_tol(nt, torch, tol)
        for name, arr in prog.inputs.items():  # an input used inline (torch.tensor(a3))
            if arr.dtype.kind == "f" and re.search(rf"\b{name}\b", s.code):
                tol = _coarser(tol, str(arr.dtype))
        done = i + 1
        if et is not None or ea is not None:
            if et is None or ea is None:
                kind = "crash" if ea is not None and exc_class(ea).startswith("crash") else "raise"
                if ea is not None and "broadcast (expanded) view" in str(ea):
                    kind = "expanded_inplace"  # autotensor refuses writes torch allows
                if et is not None and "refer to a single memory location" in str(et):
                    kind = "overlap"  # torch refuses a write from memory it overlaps
                which = "torch" if et is not None else "autotensor"
                err = et if et is not None else ea
                return Mismatch(s.op, kind, f"only {which} raises {exc_class(err)}: {err}"[:400])
            if exc_class(et) != exc_class(ea):
                kind = "crash" if exc_class(ea).startswith("crash") else "exception_class"
                return Mismatch(s.op, kind, f"torch {exc_class(et)} ({et}) vs {exc_class(ea)} "
                                f"({ea})"[:400])  # fmt: skip
            w = _WRITE.match(s.code)
            if w and "out of bounds" in str(et):
                failed_writes.append(w.group(1))
            if s.out:  # both raised: the variable is not assigned on either side
                nt.pop(s.out, None)
                na.pop(s.out, None)
            continue
        for n in _var_names(prog, done):
            if n in nt or n in na:
                r = _compare_value(n, nt.get(n), na.get(n), torch, at, tol)
                if r:
                    kind = "overlap_order" if overlapping and r[0] == "value" else r[0]
                    if kind == "value" and _in_failed_write(na.get(n), failed_writes, na, at):
                        kind = "partial_write"
                    return Mismatch(s.op, kind, r[1])
    if not grads:
        return None
    return _compare_grads(prog, nt, na, torch, at, done, tol)


def _compare_grads(prog: Program, nt: dict, na: dict, torch: Any, at: Any,
                   upto: int, tol: str) -> Mismatch | None:  # fmt: skip
    names = _var_names(prog, upto)
    code_t, wt = _loss_code(prog, nt, torch, names)
    code_a, wa = _loss_code(prog, na, at, names)
    if code_t != code_a:
        return Mismatch("backward", "requires_grad", f"loss terms {code_t!r} vs {code_a!r}")
    if not code_t:
        return None
    nt.update(wt)
    na.update(wa)
    code = f"__loss = {code_t}\n__loss.backward()"
    et, ea = _exec(code, nt), _exec(code, na)
    if et is not None and ea is None and "modified by an inplace operation" in str(et):
        return Mismatch("backward", "saved_version", f"only torch raises: {et}"[:400])
    if (et is None) != (ea is None):
        which = "torch" if et is not None else "autotensor"
        err = et if et is not None else ea
        return Mismatch("backward", "raise", f"only {which} raises {exc_class(err)}: {err}"[:400])
    if et is not None:
        if exc_class(et) != exc_class(ea):
            return Mismatch("backward", "exception_class", f"torch {exc_class(et)} vs "
                            f"{exc_class(ea)}: {ea}"[:400])  # fmt: skip
        return None
    for n in _leaves(prog):
        gt, ga = nt[n].grad, na[n].grad
        if (gt is None) != (ga is None):
            return Mismatch("backward", "grad", f"{n}.grad: torch {gt is None and 'None'} vs "
                            f"{ga is None and 'None'}")  # fmt: skip
        if gt is None:
            continue
        if tuple(gt.shape) != tuple(ga.shape) or _dtype_name(gt.dtype) != _dtype_name(ga.dtype):
            return Mismatch("backward", "grad", f"{n}.grad: torch {gt.dtype}{tuple(gt.shape)} "
                            f"vs {ga.dtype}{tuple(ga.shape)}")  # fmt: skip
        d = _close(_array(gt), _array(ga), _coarser(_dtype_name(gt.dtype), tol))
        if d:
            return Mismatch("backward", "grad", f"{n}.grad {d}")
    return None


def _prefix(prog: Program, n: int) -> Program:
    return Program(prog.inputs, prog.stmts[:n], prog.seed)


def _refine(m: Mismatch | None) -> Mismatch | None:
    """Name the kinds of DELIBERATE that only the op and the detail tell apart."""
    if m is not None and m.key == "F.elu:grad" and "NaN at" in m.detail:
        m.kind = "elu_nan_grad"
    return m


def classify(prog: Program, torch: Any, at: Any) -> Mismatch | None:
    """compare, with a gradient mismatch charged to the statement that first shows it (the
    shortest prefix of the program whose gradients already differ)."""
    return _refine(_classify(prog, torch, at))


def _classify(prog: Program, torch: Any, at: Any) -> Mismatch | None:
    m = compare(prog, torch, at)
    if m is None or m.op != "backward":
        if m is not None:
            m.program = prog
        return m
    for n in range(1, len(prog.stmts) + 1):
        mp = compare(_prefix(prog, n), torch, at)
        if mp is not None:
            s = prog.stmts[n - 1]
            mp.op = s.op if mp.op == "backward" else mp.op
            mp.program = _prefix(prog, n)
            return mp
    m.program = prog
    return m


def shrink(prog: Program, key: str, torch: Any, at: Any) -> Program:
    """Remove statements (last first) and unused inputs while the failure key stays."""

    def same(p: Program) -> bool:
        m = classify(p, torch, at)
        return m is not None and m.key == key

    stmts = list(prog.stmts)
    changed = True
    while changed:
        changed = False
        for i in range(len(stmts) - 1, -1, -1):
            trial = Program(prog.inputs, stmts[:i] + stmts[i + 1 :], prog.seed)
            if any(f"a{k}" in " ".join(s.code for s in trial.stmts) for k in ()):
                continue
            if same(trial):
                stmts = trial.stmts
                changed = True
    used = " ".join(s.code for s in stmts)
    inputs = {k: v for k, v in prog.inputs.items() if k in used}
    out = Program(inputs, stmts, prog.seed)
    return out if same(out) else Program(prog.inputs, stmts, prog.seed)


# -- generating ------------------------------------------------------------------------------
@dataclass
class _Var:
    name: str
    shape: tuple
    dtype: str
    requires_grad: bool


class Generator:
    """Writes one program, running each statement on torch to learn the shapes."""

    MAX_NUMEL = 120

    def __init__(self, rnd: Any, torch: Any, n_statements: int | None = None) -> None:
        self.r = rnd
        self.torch = torch
        self.n = n_statements if n_statements is not None else rnd.randint(3, 12)
        self.inputs: dict[str, np.ndarray] = {}
        self.stmts: list[Stmt] = []
        self.ns: dict[str, Any] = {"torch": torch, "F": functional(torch), "np": np,
                                   "math": math}  # fmt: skip
        self.vars: list[_Var] = []
        self.count = 0

    # -- small choices
    def choice(self, seq: Any) -> Any:
        return seq[self.r.randint(0, len(seq) - 1)]

    def chance(self, p: float) -> bool:
        return self.r.random() < p

    def shape(self, ndim: int | None = None) -> tuple:
        nd = ndim if ndim is not None else self.choice([0, 1, 1, 2, 2, 2, 3, 3, 4])
        return tuple(self.choice([0, 1, 1, 2, 3, 3, 4]) if self.chance(0.97) else 0
                     for _ in range(nd)) if nd else ()  # fmt: skip

    def broadcastable(self, shape: tuple) -> tuple:
        """A shape that broadcasts with `shape` (some dims 1, some dropped in front)."""
        if self.chance(0.15):
            return ()
        drop = self.r.randint(0, len(shape))
        out = [1 if self.chance(0.3) else s for s in shape[drop:]]
        if self.chance(0.1) and len(out) < 4:
            out = [self.choice([1, 2])] + out if not shape else [1] + out
        return tuple(out)

    def values(self, shape: tuple, dtype: str) -> np.ndarray:
        rng = np.random.default_rng(self.r.randint(0, 2**31))
        style = self.r.randint(0, 3)
        if dtype == "bool":
            return rng.random(shape) < 0.5
        if dtype == "int64":
            return rng.integers(-4, 5, shape).astype(np.int64)
        if style == 0:  # quarter steps in [-2, 2]: zeros and ties are common
            a = rng.integers(-8, 9, shape) / 4.0
        elif style == 1:
            a = rng.uniform(-2.0, 2.0, shape)
        elif style == 2:
            a = rng.uniform(0.1, 3.0, shape)
        else:  # special values sprinkled in
            a = rng.uniform(-2.0, 2.0, shape)
            specials = np.array([0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf])
            pick = rng.random(shape) < 0.3
            a = np.where(pick, specials[rng.integers(0, len(specials), shape)], a)
        return np.asarray(a, dtype=dtype)

    def name(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def try_add(self, op: str, code: str, out: str | None, keep_error: float = 0.0) -> bool:
        """Run code on torch; keep it if it works (or, with probability keep_error, if it
        raises, to compare the errors), and learn the new variable's shape."""
        err = _exec(code, self.ns)
        if err is not None:
            if out:
                self.ns.pop(out, None)
            if not self.chance(keep_error):
                return False
            self.stmts.append(Stmt(op, code, out))
            return True
        v = self.ns.get(out) if out else None
        if out and isinstance(v, self.torch.Tensor):
            if v.numel() > self.MAX_NUMEL or v.ndim > 5:
                self.ns.pop(out, None)
                return False
        self.stmts.append(Stmt(op, code, out))
        self._refresh()
        return True

    def _refresh(self) -> None:
        """Re-read every variable's metadata (in-place ops can change requires_grad)."""
        self.vars = []
        for n, v in self.ns.items():
            if n.startswith("v") and isinstance(v, self.torch.Tensor):
                self.vars.append(
                    _Var(n, tuple(v.shape), _dtype_name(v.dtype), bool(v.requires_grad))
                )

    # -- inputs
    def add_input(self) -> None:
        k = len(self.inputs)
        dtype = self.choice(["float32", "float32", "float64", "float64", "int64", "bool"])
        shape = self.shape()
        rg = dtype.startswith("float") and self.chance(0.75)
        noncontig = len(shape) >= 2 and self.chance(0.25)
        arr = self.values(shape[::-1] if noncontig else shape, dtype)
        a = f"a{k}"
        self.inputs[a] = arr
        self.ns[a] = arr
        out = self.name()
        if noncontig:  # a non-contiguous leaf: the transpose of a contiguous array, detached
            perm = ", ".join(str(i) for i in reversed(range(len(shape))))
            code = f"{out} = torch.tensor({a}).permute({perm}).detach()"
            if rg:
                code += ".requires_grad_()"
            code += "  # requires_grad=True" if rg else ""
        else:
            code = f"{out} = torch.tensor({a}" + (", requires_grad=True)" if rg else ")")
        self.try_add("input", code, out)

    # -- operands
    def var(self, pred: Any = None) -> _Var | None:
        cands = [v for v in self.vars if pred is None or pred(v)]
        return self.choice(cands) if cands else None

    def scalar(self, dtype: str | None = None) -> str:
        kind = dtype or self.choice(["float", "float", "int", "int", "bool"])
        if kind.startswith("float"):
            return self.choice(["0.5", "2.0", "-1.5", "0.0", "3.0", "1e-3"])
        if kind.startswith("int"):
            return self.choice(["2", "-1", "0", "3", "1"])
        return self.choice(["True", "False"])

    def dim(self, v: _Var, allow_bad: float = 0.03) -> int:
        nd = len(v.shape)
        if self.chance(allow_bad):
            return self.choice([nd, -nd - 1, nd + 3])
        lo = -max(nd, 1)
        return self.r.randint(lo, max(nd, 1) - 1)

    def dims(self, v: _Var) -> str:
        nd = len(v.shape)
        if nd == 0 or self.chance(0.3):
            return str(self.dim(v))
        k = self.r.randint(1, nd)
        ds = self.r.sample(range(nd), k)
        if self.chance(0.05):
            ds = ds + [ds[0]]  # a repeated dim
        ds = [d - nd if self.chance(0.3) else d for d in ds]
        return "(" + ", ".join(map(str, ds)) + ("," if len(ds) == 1 else "") + ")"

    def other(self, v: _Var) -> str:
        """The second operand of a binary op with v: a scalar, a 0-d tensor or a variable."""
        c = self.r.randint(0, 9)
        if c <= 2:
            return self.scalar()
        if c == 3:
            return f"torch.tensor({self.scalar()})"
        shapes = [w for w in self.vars if w.name != v.name]
        if c <= 5 and shapes:
            ok = [w for w in shapes if _broadcasts(w.shape, v.shape)]
            if ok:
                return self.choice(ok).name
        if c == 9:
            return v.name
        shape = self.broadcastable(v.shape)
        dtype = self.choice(["float32", "float64", "int64", "bool", v.dtype, v.dtype])
        arr = self.values(shape, dtype)
        a = f"a{len(self.inputs)}"
        self.inputs[a] = arr
        self.ns[a] = arr
        return f"torch.tensor({a})"

    def index(self, v: _Var) -> str:
        """A random index for v: ints, slices (with steps), None, Ellipsis, int arrays, masks."""
        nd = len(v.shape)
        parts: list[str] = []
        d = 0
        used_ellipsis = False
        while d < nd and (not parts or self.chance(0.75)):
            n = v.shape[d]
            c = self.r.randint(0, 11)
            if c <= 1 and n:
                parts.append(str(self.r.randint(-n, n - 1)))
            elif c <= 4:
                lo = self.choice(["", "1", "-1", "0", "-2"])
                hi = self.choice(["", "2", "-1", "3", "10"])
                step = self.choice(["", "", ":2", ":3"])
                parts.append(f"{lo}:{hi}{step}")
            elif c == 5:
                parts.append("None")
                continue
            elif c == 6 and not used_ellipsis:
                parts.append("...")
                used_ellipsis = True
                d = nd - self.r.randint(0, nd - d)
                continue
            elif c <= 9:
                k = self.choice([0, 1, 2, 3])
                idx = [self.r.randint(-n, n - 1) for _ in range(k)] if n else []
                parts.append(f"torch.tensor({idx!r}, dtype=torch.int64)" if self.chance(0.7)
                             else repr(idx))  # fmt: skip
            else:
                m = [self.chance(0.5) for _ in range(n)]
                parts.append(f"torch.tensor({m!r}, dtype=torch.bool)" if m else
                             "torch.zeros(0, dtype=torch.bool)")  # fmt: skip
            d += 1
        if not parts:
            return "..."
        if len(parts) == 1 and self.chance(0.3) and nd and len(v.shape) >= 1:
            # a whole-shape mask from a comparison
            return f"{v.name} > 0"
        return ", ".join(parts)

    # -- statements
    def statement(self) -> None:
        kinds = [self.unary] * 6 + [self.binary] * 6 + [self.reduction] * 5 + \
            [self.movement] * 5 + [self.indexing] * 4 + [self.inplace] * 4 + \
            [self.setitem] * 3 + [self.misc] * 3  # fmt: skip
        for _ in range(20):
            if self.choice(kinds)():
                return

    def unary(self) -> bool:
        v = self.var()
        if v is None:
            return False
        op = self.choice(["neg", "abs", "exp", "log", "log1p", "sqrt", "rsqrt", "sin", "cos",
                          "tanh", "sigmoid", "relu", "square", "sign", "floor", "ceil",
                          "trunc", "round", "reciprocal", "clamp", "clamp_t", "float",
                          "double", "long", "bool", "softmax", "log_softmax", "F.relu",
                          "F.gelu", "F.softplus", "F.elu", "F.leaky_relu", "isnan",
                          "logical_not", "atan", "expm1", "log2", "sinh", "asinh"])  # fmt: skip
        out = self.name()
        x = v.name
        if op == "clamp":
            lo, hi = self.choice([("-0.5", "0.5"), ("None", "1.0"), ("0.0", "None"),
                                  ("0", "2"), ("1.0", "-1.0")])  # fmt: skip
            code = f"{out} = {x}.clamp({lo}, {hi})"
        elif op == "clamp_t":
            w = self.var(lambda w: _broadcasts(w.shape, v.shape))
            if w is None:
                return False
            code = f"{out} = torch.clamp({x}, min={w.name})"
        elif op in ("softmax", "log_softmax"):
            code = f"{out} = {x}.{op}(dim={self.dim(v)})"
        elif op.startswith("F."):  # nn.functional: float inputs (its dtype rules are nn's)
            if not v.dtype.startswith("float"):
                return False
            code = f"{out} = {op}({x})"
        else:
            code = f"{out} = {x}.{op}()"
        return self.try_add(op, code, out, keep_error=0.1)

    def binary(self) -> bool:
        v = self.var()
        if v is None:
            return False
        op = self.choice(["+", "-", "*", "/", "**", "maximum", "minimum", "where", "@", "//",
                          "%", "<", "==", ">=", "&", "|", "r+", "r-", "r*", "r/",
                          "r**", "add_alpha", "div_floor", "div_trunc", ])  # fmt: skip
        out = self.name()
        x = v.name
        if op == "@":
            w = self.var(lambda w: len(w.shape) >= 1 and len(v.shape) >= 1
                         and w.shape[0 if len(w.shape) == 1 else -2] == v.shape[-1])  # fmt: skip
            y = w.name if w is not None and self.chance(0.9) else self.other(v)
            code = f"{out} = {x} @ {y}"
        elif op in ("maximum", "minimum", "fmod", "hypot", "copysign"):
            y = self.other(v)
            if not y.startswith(("v", "torch.")):
                y = f"torch.tensor({y})"
            code = f"{out} = torch.{op}({x}, {y})"
        elif op == "where":
            c = self.var(lambda w: w.dtype == "bool" and _broadcasts(w.shape, v.shape))
            cond = c.name if c is not None else f"{x} > 0"
            code = f"{out} = torch.where({cond}, {x}, {self.other(v)})"
        elif op.startswith("r"):
            # (a bool base for ** trips an internal assert in torch 2.13: not compared)
            c = self.scalar(self.choice(["float", "int"]) if op == "r**" else None)
            code = f"{out} = {c} {op[1:]} {x}"
        elif op == "add_alpha":
            code = f"{out} = torch.add({x}, {self.other(v)}, alpha={self.scalar()})"
        elif op in ("div_floor", "div_trunc"):
            code = f"{out} = torch.div({x}, {self.other(v)}, rounding_mode='{op[4:]}')"
        elif op == "lerp":
            w = self.var(lambda w: w.shape == v.shape and w.dtype == v.dtype)
            if w is None:
                return False
            code = f"{out} = torch.lerp({x}, {w.name}, 0.3)"
        else:
            code = f"{out} = {x} {op} {self.other(v)}"
        return self.try_add(op, code, out, keep_error=0.15)

    def reduction(self) -> bool:
        v = self.var()
        if v is None:
            return False
        op = self.choice(["sum", "mean", "prod", "var", "std", "max", "min", "amax", "amin",
                          "argmax", "argmin", "logsumexp", "norm", "cumsum", "any", "all",
                          "max_dim", "min_dim", "sum_dtype", ])  # fmt: skip
        out = self.name()
        x = v.name
        kd = self.choice(["", ", keepdim=True", ", keepdim=False"])
        if op in ("sum", "mean", "amax", "amin", "logsumexp", "nansum"):
            dim = "" if self.chance(0.3) and op != "logsumexp" else f"dim={self.dims(v)}"
            args = dim + (kd if dim else "")
            code = f"{out} = {x}.{op}({args})"
        elif op in ("var", "std"):
            dim = "" if self.chance(0.3) else f"dim={self.dims(v)}"
            # (a correction beyond the count, no degrees of freedom left, is not compared:
            # torch's gradient there is inf/NaN by a rule of its own per code path)
            corr = self.choice(["", ", correction=0", ", unbiased=False"])
            code = f"{out} = {x}.{op}({dim}{corr if dim else ''}{kd if dim else ''})"
        elif op in ("max", "min", "median"):
            code = f"{out} = {x}.{op}()"
        elif op in ("max_dim", "min_dim"):
            code = f"{out} = {x}.{op[:3]}(dim={self.dim(v)}{kd})[{self.choice([0, 1])}]"
        elif op in ("prod", "argmax", "argmin", "cumsum", "cumprod"):
            dim = self.dim(v)
            if op in ("cumsum", "cumprod"):
                code = f"{out} = {x}.{op}(dim={dim})"
            elif self.chance(0.3):
                code = f"{out} = {x}.{op}()"
            else:
                code = f"{out} = {x}.{op}(dim={dim}{kd})"
        elif op == "norm":
            p = self.choice(["", "p=1", "p=3", "p=float('inf')", "p=0", "p=2", "p=0.5"])
            dim = self.choice(["", f"dim={self.dims(v)}"])
            args = ", ".join(a for a in (p, dim) if a)
            code = f"{out} = {x}.norm({args})"
        elif op in ("any", "all"):
            code = f"{out} = {x}.{op}(" + ("" if self.chance(0.4) else f"dim={self.dim(v)}") + ")"
        elif op == "sum_dtype":
            code = f"{out} = {x}.sum(dtype=torch.{self.choice(['float64', 'int64', 'float32'])})"
        elif op == "aminmax":
            code = f"{out} = torch.aminmax({x})[0]"
        else:
            code = f"{out} = torch.count_nonzero({x})"
        return self.try_add(op, code, out, keep_error=0.15)

    def movement(self) -> bool:
        v = self.var()
        if v is None:
            return False
        nd = len(v.shape)
        op = self.choice(["reshape", "view", "flatten", "squeeze", "unsqueeze", "transpose",
                          "permute", "t", "T", "mT", "expand", "repeat", "flip", "contiguous",
                          "cat", "stack", "split", "chunk", "narrow", "select", "roll", "tril",
                          "triu", "clone", "detach", "unbind", "movedim", "squeeze_dim",
                          "view_as", "expand_as", "unflatten"])  # fmt: skip
        out = self.name()
        x = v.name
        numel = int(np.prod(v.shape)) if v.shape else 1
        if op in ("reshape", "view"):
            shapes = [(-1,), (numel,), (1, -1), (-1, 1)]
            if numel % 2 == 0 and numel:
                shapes.append((2, -1))
            code = f"{out} = {x}.{op}({self.choice(shapes)})"
        elif op == "flatten":
            code = f"{out} = {x}.flatten()" if self.chance(0.5) else \
                f"{out} = {x}.flatten({self.dim(v)})"  # fmt: skip
        elif op == "squeeze":
            code = f"{out} = {x}.squeeze()"
        elif op == "squeeze_dim":
            code = f"{out} = {x}.squeeze({self.dim(v)})"
        elif op == "unsqueeze":
            code = f"{out} = {x}.unsqueeze({self.r.randint(-nd - 1, nd)})"
        elif op == "transpose":
            code = f"{out} = {x}.transpose({self.dim(v)}, {self.dim(v)})"
        elif op == "permute":
            p = list(range(nd))
            self.r.shuffle(p)
            code = f"{out} = {x}.permute({', '.join(map(str, p))})" if p else \
                f"{out} = {x}.permute(())"  # fmt: skip
        elif op in ("t", "T", "mT"):
            code = f"{out} = {x}.t()" if op == "t" else f"{out} = {x}.{op}"
        elif op in ("expand", "expand_as"):
            target = tuple(self.choice([2, 3]) if s == 1 else s for s in v.shape)
            if self.chance(0.4):
                target = (self.choice([1, 2]),) + target
            w = self.var(lambda w: w.shape == target)
            if op == "expand_as" and w is not None:
                code = f"{out} = {x}.expand_as({w.name})"
            else:
                sizes = ", ".join(map(str, target)) + ("," if len(target) == 1 else "")
                code = f"{out} = {x}.expand({sizes})" if target else f"{out} = {x}.expand(())"
        elif op == "repeat":
            reps = [self.choice([1, 1, 2]) for _ in range(nd + self.choice([0, 0, 1]))]
            code = f"{out} = {x}.repeat({tuple(reps) if reps else ()})"
        elif op == "flip":
            code = f"{out} = {x}.flip({self.dims(v)})"
        elif op in ("cat", "stack"):
            d = self.dim(v) if op == "cat" else self.r.randint(-nd - 1, nd)
            w = self.var(lambda w: len(w.shape) == nd and (op == "stack" and w.shape == v.shape
                         or op == "cat"))  # fmt: skip
            ys = x if w is None else w.name
            code = f"{out} = torch.{op}([{x}, {ys}], dim={d})"
        elif op in ("split", "chunk"):
            code = f"{out} = {x}.{op}({self.choice([1, 2, 3])}, dim={self.dim(v)})[{self.choice([0, -1])}]"  # noqa: E501
        elif op == "unbind":
            code = f"{out} = {x}.unbind({self.dim(v)})[0]"
        elif op == "narrow":
            if not nd:
                return False
            d = self.r.randint(0, nd - 1)
            n = v.shape[d]
            s = self.r.randint(0, n)
            code = f"{out} = {x}.narrow({d}, {s}, {self.r.randint(0, n - s)})"
        elif op == "select":
            if not nd:
                return False
            d = self.r.randint(0, nd - 1)
            n = v.shape[d]
            code = f"{out} = {x}.select({d}, {self.r.randint(-n, n - 1) if n else 0})"
        elif op == "roll":
            code = f"{out} = {x}.roll({self.choice([1, -1, 2])}" + (
                f", {self.dim(v)})" if self.chance(0.6) else ")"
            )
        elif op in ("tril", "triu"):
            code = f"{out} = {x}.{op}({self.choice([0, 1, -1])})"
        elif op == "movedim":
            code = f"{out} = {x}.movedim({self.dim(v)}, {self.dim(v)})"
        elif op == "view_as":
            w = self.var(lambda w: int(np.prod(w.shape)) == numel)
            if w is None:
                return False
            code = f"{out} = {x}.view_as({w.name})"
        elif op == "unflatten":
            if not nd or v.shape[0] % 2:
                return False
            code = f"{out} = {x}.unflatten(0, (2, -1))"
        else:
            code = f"{out} = {x}.{op}()"
        return self.try_add(op, code, out, keep_error=0.1)

    def indexing(self) -> bool:
        v = self.var(lambda w: len(w.shape) >= 1)
        if v is None:
            return False
        out = self.name()
        c = self.r.randint(0, 5)
        x = v.name
        if c == 0:
            d = self.r.randint(0, len(v.shape) - 1)
            n = v.shape[d]
            idx = [self.r.randint(0, n - 1) for _ in range(self.r.randint(0, 3))] if n else []
            code = f"{out} = {x}.index_select({d}, torch.tensor({idx!r}, dtype=torch.int64))"
            op = "index_select"
        elif c == 1:
            d = self.r.randint(0, len(v.shape) - 1)
            n = v.shape[d]
            ishape = tuple(self.r.randint(0, s) for s in v.shape)
            rng = np.random.default_rng(self.r.randint(0, 2**31))
            idx = (
                rng.integers(0, max(n, 1), ishape).tolist() if n else np.zeros(ishape, int).tolist()
            )
            code = f"{out} = {x}.gather({d}, torch.tensor({idx!r}, dtype=torch.int64).reshape({ishape}))"  # noqa: E501
            op = "gather"
        elif c == 2:
            m = self.var(lambda w: w.dtype == "bool" and _broadcasts(w.shape, v.shape))
            mask = m.name if m is not None else f"{x} > 0"
            code = f"{out} = {x}.masked_fill({mask}, {self.scalar()})"
            op = "masked_fill"
        else:
            code = f"{out} = {x}[{self.index(v)}]"
            op = "getitem"
        return self.try_add(op, code, out, keep_error=0.1)

    def inplace(self) -> bool:
        v = self.var()
        if v is None:
            return False
        x = v.name
        op = self.choice(["add_", "sub_", "mul_", "div_", "clamp_", "zero_", "fill_", "copy_",
                          "pow_", "+=", "-=", "*=", "/=", "view_mul_"])  # fmt: skip
        if op in ("add_", "sub_", "mul_", "div_", "pow_"):
            code = f"{x}.{op}({self.other(v)})"
        elif op in ("+=", "-=", "*=", "/="):
            code = f"{x} {op} {self.other(v)}"
        elif op == "clamp_":
            code = f"{x}.clamp_({self.choice(['-0.5, 0.5', 'min=0', 'max=1.0', '0, 1'])})"
        elif op == "fill_":
            code = f"{x}.fill_({self.scalar()})"
        elif op == "copy_":
            w = self.var(lambda w: _broadcasts(w.shape, v.shape) and
                         np.broadcast_shapes(w.shape, v.shape) == v.shape)  # fmt: skip
            if w is None:
                return False
            code = f"{x}.copy_({w.name})"
        elif op == "masked_fill_":
            code = f"{x}.masked_fill_({x} > 0, {self.scalar()})"
        elif op == "view_mul_":  # in place through a view of x
            if not v.shape:
                return False
            code = f"{x}[{self.index(v)}].mul_({self.scalar()})"
        else:
            code = f"{x}.{op}()"
        return self.try_add(op.strip("=") + ("=" if "=" in op else ""), code, None, keep_error=0.2)

    def setitem(self) -> bool:
        v = self.var(lambda w: len(w.shape) >= 1)
        if v is None:
            return False
        idx = self.index(v)
        c = self.r.randint(0, 3)
        if c == 0:
            val = self.scalar()
        else:
            w = self.var()
            val = w.name if w is not None and self.chance(0.6) else f"torch.tensor({self.scalar()})"
            if c == 3 and w is not None:
                val = f"{w.name}.sum()"
        return self.try_add("setitem", f"{v.name}[{idx}] = {val}", None, keep_error=0.15)

    def misc(self) -> bool:
        v = self.var()
        if v is None:
            return False
        x = v.name
        out = self.name()
        op = self.choice(
            [
                "cross_entropy",
                "mse_loss",
                "linear",
                "item",
                "outer",
                "allclose",
                "zeros_like",
                "ones_like",
                "full_like",
                "new_zeros",
                "dot",
            ]
        )
        if op != "item" and op != "allclose" and not v.dtype.startswith("float"):
            return False  # nn.functional's losses and linear: float inputs
        if op == "cross_entropy":
            if len(v.shape) != 2:
                return False
            n, c = v.shape
            tgt = [self.r.randint(0, max(c - 1, 0)) for _ in range(n)]
            code = f"{out} = F.cross_entropy({x}, torch.tensor({tgt!r}, dtype=torch.int64))"
        elif op == "mse_loss":
            w = self.var(lambda w: w.shape == v.shape and w.dtype == v.dtype)
            code = f"{out} = F.mse_loss({x}, {w.name if w else x})"
        elif op == "linear":
            if not v.shape:
                return False
            w = self.var(lambda w: len(w.shape) == 2 and w.shape[1] == v.shape[-1]
                         and w.dtype == v.dtype)  # fmt: skip
            if w is None:
                return False
            code = f"{out} = F.linear({x}, {w.name})"
        elif op == "item":
            if int(np.prod(v.shape)) != 1:
                return False
            code = f"{out} = torch.tensor({x}.item())"
        elif op in ("outer", "dot"):
            w = self.var(lambda w: len(w.shape) == 1)
            if w is None:
                return False
            code = f"{out} = torch.{op}({x}, {w.name})"
        elif op == "allclose":
            code = f"{out} = torch.tensor({x}.allclose({x} * 1.0))"
        elif op in ("zeros_like", "ones_like"):
            code = f"{out} = torch.{op}({x})"
        elif op == "full_like":
            code = f"{out} = torch.full_like({x}, {self.scalar()})"
        elif op == "new_zeros":
            code = f"{out} = {x}.new_zeros((2,))"
        elif op == "addcmul":
            code = f"{out} = torch.addcmul({x}, {x}, {x}, value=0.5)"
        elif op == "std_mean":
            code = f"{out} = torch.std_mean({x})[0]"
        elif op == "nan_to_num":
            code = f"{out} = torch.nan_to_num({x})"
        else:
            code = f"{out} = {x}.sum_to_size(1)" if op == "sum_to_size" else \
                f"{out} = torch.diag_embed({x})"  # fmt: skip
        return self.try_add(op, code, out, keep_error=0.1)

    def program(self, seed: int = 0) -> Program:
        for _ in range(self.r.randint(1, 3)):
            self.add_input()
        made = 0
        while made < self.n:
            before = len(self.stmts)
            if self.chance(0.1):
                self.add_input()
            else:
                self.statement()
            made += len(self.stmts) > before
            if len(self.stmts) == before and not self.vars:
                self.add_input()
        return Program(dict(self.inputs), list(self.stmts), seed)


def _broadcasts(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def random_program(seed: int, torch: Any) -> Program:
    """The program of a seed (the campaign's driver)."""
    rnd = random.Random(seed)
    return Generator(rnd, torch).program(seed)


def programs_strategy(torch: Any) -> Any:
    """A hypothesis strategy of programs (shrinks through hypothesis' own random choices)."""
    from hypothesis import strategies as st

    @st.composite
    def _programs(draw: Any) -> Program:
        rnd = draw(st.randoms(use_true_random=False))
        seed = draw(st.integers(0, 2**16))
        return Generator(rnd, torch).program(seed)

    return _programs()
