"""`Module` and `Parameter`: the containers every layer is built on, with torch's semantics.

A Module keeps three insertion-ordered registries, filled by `__setattr__`:

    _parameters  name -> Parameter (or None)     what optimizers update
    _buffers     name -> Tensor (or None)        state that is saved but not trained
    _modules     name -> Module (or None)        submodules, recursed into

Registered entries live only in these dicts (as in torch), and `__getattr__` finds them when
normal attribute lookup fails, so code that edits `module._parameters` directly stays
consistent. Names are dotted paths (`"0.weight"`, `"encoder.layers.1.bias"`), which are the
keys of `state_dict()`.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

import autotensor as at
from autotensor import graph as _graph
from autotensor.tensor import Tensor

__all__ = ["Module", "Parameter", "RemovableHandle"]

_push_scope = _graph.push_scope
_pop_scope = _graph.pop_scope


# -- Parameter -------------------------------------------------------------------------------
class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: `requires_grad=True` by default.

    `Parameter(t)` shares memory (and the version counter) with `t`, as torch does; a numpy
    array or nested list is also accepted. Results of operations on a Parameter are plain
    Tensors.
    """

    def __new__(cls, data: Any = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = at.empty(0)
        elif not isinstance(data, Tensor):
            data = Tensor(data)
        param = data.detach().as_subclass(cls)  # a leaf on the same memory and version
        if requires_grad:
            param.requires_grad_(True)
        return param

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        pass  # made whole by __new__; Tensor.__init__ must not rebuild it from `data`

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


# at.save writes a Parameter, and at.load rebuilds one, as torch does (_rebuild_parameter)
at.serialization.register_tensor_subclass(Parameter, Parameter)


# -- hooks -----------------------------------------------------------------------------------
class RemovableHandle:
    """Returned by `register_*_hook`: `handle.remove()` (or leaving a `with` block) removes
    the hook."""

    _next_id = itertools.count()

    def __init__(self, *hook_dicts: dict) -> None:
        self.id = next(RemovableHandle._next_id)
        self._dicts = hook_dicts

    def remove(self) -> None:
        for d in self._dicts:
            d.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _prepend(d: dict, key: int, value: Any) -> None:
    d[key] = value
    if isinstance(d, OrderedDict):
        d.move_to_end(key, last=False)


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What `load_state_dict` returns: the keys it did not find and the keys it did not use."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _addindent(s: str, spaces: int) -> str:
    """Indent every line but the first (how nested module reprs are laid out)."""
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    return lines[0] + "\n" + "\n".join(" " * spaces + line for line in lines[1:])


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
    if "." in name:
        raise KeyError(f'{kind} name can\'t contain ".", got: {name}')
    if name == "":
        raise KeyError(f'{kind} name can\'t be empty string ""')


def _as_array(value: Any, key: str) -> np.ndarray:
    """A checkpoint value (Tensor, numpy array, number or nested list) as an ndarray."""
    if isinstance(value, Tensor):
        return value.numpy(force=True)
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor, for instance
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f'While copying the parameter named "{key}", expected a Tensor or numpy array from '
            f"checkpoint but received {type(value).__name__} (dtype {arr.dtype})"
        )
    return arr


# -- Module ----------------------------------------------------------------------------------
class Module:
    """Base class of all layers and models.

    Subclasses call `super().__init__()` first, assign Parameters, buffers and submodules as
    attributes, and define `forward(*inputs)`; calling the module runs the forward pre-hooks,
    `forward`, then the forward hooks, with the module open as a graph scope (so the
    visualiser can group the recorded nodes by module).
    """

    training: bool
    _version: int = 1
    dump_patches: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__() got unexpected arguments: Module.__init__ "
                f"takes none (args={args!r}, kwargs={list(kwargs)!r})"
            )
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}
        d["_forward_pre_hooks"] = OrderedDict()
        d["_forward_pre_hooks_with_kwargs"] = {}
        d["_forward_hooks"] = OrderedDict()
        d["_forward_hooks_with_kwargs"] = {}
        d["_forward_hooks_always_called"] = {}
        d["_state_dict_hooks"] = OrderedDict()
        d["_load_state_dict_post_hooks"] = OrderedDict()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    # -- calling -----------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tok = _push_scope(self)
        try:
            if self._forward_hooks or self._forward_pre_hooks:
                return self._call_with_hooks(args, kwargs)
            return self.forward(*args, **kwargs)
        finally:
            _pop_scope(tok)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hid, hook in list(self._forward_pre_hooks.items()):
            if hid in self._forward_pre_hooks_with_kwargs:
                res = hook(self, args, kwargs)
                if res is not None:
                    if not (isinstance(res, tuple) and len(res) == 2):
                        raise RuntimeError(
                            f"forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {res!r}."
                        )
                    args, kwargs = res
            else:
                res = hook(self, args)
                if res is not None:
                    args = res if isinstance(res, tuple) else (res,)
        called = set()
        try:
            out = self.forward(*args, **kwargs)
            for hid, hook in list(self._forward_hooks.items()):
                called.add(hid)
                if hid in self._forward_hooks_with_kwargs:
                    res = hook(self, args, kwargs, out)
                else:
                    res = hook(self, args, out)
                if res is not None:
                    out = res
            return out
        except Exception:
            for hid, hook in list(self._forward_hooks.items()):
                if hid in self._forward_hooks_always_called and hid not in called:
                    try:
                        if hid in self._forward_hooks_with_kwargs:
                            hook(self, args, kwargs, None)
                        else:
                            hook(self, args, None)
                    except Exception:  # the original error is the one to report
                        pass
            raise

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """`hook(module, args) -> None or new args` runs before `forward`
        (with `with_kwargs=True`: `hook(module, args, kwargs) -> None or (args, kwargs)`)."""
        handle = RemovableHandle(self._forward_pre_hooks, self._forward_pre_hooks_with_kwargs)
        if prepend:
            _prepend(self._forward_pre_hooks, handle.id, hook)
        else:
            self._forward_pre_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_pre_hooks_with_kwargs[handle.id] = True
        return handle

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """`hook(module, args, output) -> None or new output` runs after `forward`
        (with `with_kwargs=True`: `hook(module, args, kwargs, output)`)."""
        handle = RemovableHandle(
            self._forward_hooks, self._forward_hooks_with_kwargs, self._forward_hooks_always_called
        )
        if prepend:
            _prepend(self._forward_hooks, handle.id, hook)
        else:
            self._forward_hooks[handle.id] = hook
        if with_kwargs:
            self._forward_hooks_with_kwargs[handle.id] = True
        if always_call:
            self._forward_hooks_always_called[handle.id] = True
        return handle

    # -- registration ------------------------------------------------------------------------
    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a None placeholder) under `name`."""
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        _check_name("parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is None:
            self._parameters[name] = None
            return
        if not isinstance(param, Parameter):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                f"(nn.Parameter or None required)"
            )
        if param.grad_fn is not None:
            raise ValueError(
                f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must be "
                f"created explicitly. To express '{name}' as a function of another Tensor, "
                f"compute the value in the forward() method."
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is part of `state_dict()` (unless `persistent=False`) and
        follows `to(dtype)`, but is not a parameter (e.g. BatchNorm's running mean)."""
        if "_buffers" not in self.__dict__:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        _check_name("buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                f"(Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a submodule under `name` (also reachable as `self.<name>`)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name("module", name)
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            _remove_from(self, name, d, self._buffers, self._modules)
            self._non_persistent_buffers_set.discard(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    f"(nn.Parameter or None expected)"
                )
            self.register_parameter(name, value)
        else:
            modules = d.get("_modules")
            if isinstance(value, Module):
                if modules is None:
                    raise AttributeError("cannot assign module before Module.__init__() call")
                _remove_from(self, name, d, self._parameters, self._buffers)
                self._non_persistent_buffers_set.discard(name)
                modules[name] = value
            elif modules is not None and name in modules:
                if value is not None:
                    raise TypeError(
                        f"cannot assign '{type(value).__name__}' as child module '{name}' "
                        f"(nn.Module or None expected)"
                    )
                modules[name] = value
            else:
                buffers = d.get("_buffers")
                if buffers is not None and name in buffers:
                    if value is not None and not isinstance(value, Tensor):
                        raise TypeError(
                            f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                            f"(Tensor or None expected)"
                        )
                    buffers[name] = value
                else:
                    object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: registered entries live in the dicts.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            reg = d.get(key)
            if reg is not None and name in reg:
                return reg[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters:
            del self._parameters[name]
        elif name in self._buffers:
            del self._buffers[name]
            self._non_persistent_buffers_set.discard(name)
        elif name in self._modules:
            del self._modules[name]
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = set(dir(type(self))) | set(self.__dict__)
        keys |= set(self._parameters) | set(self._buffers) | set(self._modules)
        return sorted(k for k in keys if not k[:1].isdigit())

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    # -- lookup ------------------------------------------------------------------------------
    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path `target` ("" is the module itself)."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not isinstance(mod, Module) or item not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path `target` (e.g. "0.weight")."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if not hasattr(mod, name):
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        p = getattr(mod, name)
        if not isinstance(p, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return p

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path `target` (e.g. "bn.running_mean")."""
        path, _, name = target.rpartition(".")
        mod = self.get_submodule(path)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer of {mod._get_name()}")
        return mod._buffers[name]

    # -- iteration ---------------------------------------------------------------------------
    def named_modules(
        self, memo: set | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) for this module and every descendant, depth first; a module
        reachable by two paths is given once (at its first path) unless remove_duplicate is
        False."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if self in memo:
                return
            memo.add(self)
        yield prefix, self
        for name, mod in self._modules.items():
            if mod is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from mod.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        memo = set()
        for name, mod in self._modules.items():
            if mod is not None and mod not in memo:
                memo.add(mod)
                yield name, mod

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        memo: set = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else [(prefix, self)]
        )
        for mod_prefix, mod in mods:
            for k, v in mod.__dict__[registry].items():
                if v is None or v in memo:
                    continue
                if remove_duplicate:
                    memo.add(v)
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) in registration order; shared parameters once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- modes and gradients -----------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant (Dropout, BatchNorm read it)."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's `.grad` (set it to None, or zero it in place)."""
        for p in self.parameters():
            g = p.grad
            if g is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad = False
                with at.no_grad():
                    g.zero_()

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call fn on every submodule (children first) and then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- dtype -------------------------------------------------------------------------------
    def _apply(self, fn: Callable[[np.ndarray], np.ndarray], floating_only: bool = True) -> Module:
        """Convert every parameter and buffer array with fn, in place: each Parameter object
        stays the same (so optimizers built before still hold it); its grad is converted too."""
        for m in self.modules():
            for p in m._parameters.values():
                if p is None or (floating_only and p.dtype.kind != "f"):
                    continue
                p.data = fn(p.numpy(force=True))
                if p.grad is not None:
                    p.grad.data = fn(p.grad.numpy(force=True))
            for b in m._buffers.values():
                if b is None or (floating_only and b.dtype.kind != "f"):
                    continue
                b.data = fn(b.numpy(force=True))
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """`to(dtype)` / `to(device, dtype=None)` / `to(tensor)`, `non_blocking=` accepted:
        convert floating parameters and buffers; any device but the CPU raises."""
        dtype = kwargs.pop("dtype", None)
        device = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)  # a CPU-to-CPU move is already synchronous
        if kwargs.pop("memory_format", None) is not None:
            raise NotImplementedError("Module.to: memory_format is not supported")
        if kwargs:
            raise TypeError(f"to() got an unexpected keyword argument {next(iter(kwargs))!r}")
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, at.device)) or type(a) is int:
                device = a
            elif isinstance(a, bool):
                continue  # non_blocking
            elif a is not None:
                dtype = a
        if device is not None and at.device(device).type != "cpu":
            raise RuntimeError(
                f"Module.to: device {str(at.device(device))!r} is not available; autotensor "
                "runs on the CPU only (numpy), so the only device is 'cpu'"
            )
        if dtype is None:
            return self
        dt = at.dtypes.as_dtype(dtype)
        if dt.kind != "f":
            raise TypeError(
                f"nn.Module.to only accepts floating point dtypes, but got desired dtype={dt}"
            )
        return self._apply(lambda a: a if a.dtype == dt else a.astype(dt))

    def float(self) -> Module:
        return self.to(at.float32)

    def double(self) -> Module:
        return self.to(at.float64)

    def half(self) -> Module:
        return self.to(at.float16)

    def type(self, dst_type: Any) -> Module:
        return self._apply(lambda a: a.astype(at.dtypes.as_dtype(dst_type)), False)

    def cpu(self) -> Module:
        return self

    def cuda(self, device: Any = None) -> Module:
        raise RuntimeError(
            "Module.cuda: device 'cuda' is not available; autotensor runs on the CPU only "
            "(numpy), so the only device is 'cpu'"
        )

    # -- state dict --------------------------------------------------------------------------
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = b if keep_vars else b.detach()

    def state_dict(
        self, *args: Any, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> OrderedDict:
        """Ordered `{dotted name: tensor}` of every parameter and persistent buffer.

        Values are detached Tensors sharing memory with the module (as torch), so a later
        optimizer step shows through; copy them (`{k: v.clone()}`) to keep a snapshot.
        """
        if args:  # torch's deprecated positional form: (destination, prefix, keep_vars)
            destination = args[0]
            if len(args) > 1:
                prefix = args[1]
            if len(args) > 2:
                keep_vars = args[2]
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        for hook in self._state_dict_hooks.values():
            res = hook(self, destination, prefix, {})
            if res is not None:
                destination = res
        return destination

    def _load_from_state_dict(
        self,
        state_dict: Mapping[str, Any],
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        """Copy this module's own entries from `state_dict` (keys `prefix + name`), noting
        missing, unexpected and mis-shaped keys; children are handled by the caller."""
        assign = local_metadata.get("assign_to_params_buffers", False)
        persistent = {
            k: v for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set
        }
        local = {**self._parameters, **persistent}
        for name, param in local.items():
            key = prefix + name
            if key not in state_dict:
                if param is not None and strict:
                    missing_keys.append(key)
                continue
            if param is None:
                error_msgs.append(
                    f'"{key}" is registered as None in the model but the '
                    f"checkpoint has a value for it."
                )
                continue
            try:
                arr = _as_array(state_dict[key], key)
            except TypeError as e:
                error_msgs.append(str(e))
                continue
            if arr.shape != param.shape:
                error_msgs.append(
                    f"size mismatch for {key}: copying a param with shape {tuple(arr.shape)} "
                    f"from checkpoint, the shape in current model is {tuple(param.shape)}."
                )
                continue
            if assign:
                value = Tensor(arr.astype(param.dtype, copy=False))
                if isinstance(param, Parameter):
                    value = Parameter(value, requires_grad=param.requires_grad)
                setattr(self, name, value)
            else:
                with at.no_grad():
                    param.copy_(arr)
        if strict:
            for key in state_dict:
                if not key.startswith(prefix):
                    continue
                rest = key[len(prefix) :].split(".", 1)
                if len(rest) > 1:
                    if rest[0] not in self._modules:
                        unexpected_keys.append(key)
                elif rest[0] not in local:
                    unexpected_keys.append(key)

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy values (Tensors or numpy arrays) into the parameters and buffers in place.

        Returns (missing_keys, unexpected_keys). With strict=True any missing or unexpected
        key is an error; a shape mismatch always is; the error lists every offending key.
        Values are converted to each parameter's dtype.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        meta = {"assign_to_params_buffers": True} if assign else {}

        def load(module: Module, local_sd: Mapping[str, Any], prefix: str) -> None:
            module._load_from_state_dict(
                local_sd, prefix, dict(meta), True, missing, unexpected, errors
            )
            for name, child in module._modules.items():
                if child is not None:
                    cp = prefix + name + "."
                    load(child, {k: v for k, v in local_sd.items() if k.startswith(cp)}, cp)
            keys = _IncompatibleKeys(missing, unexpected)
            for hook in module._load_state_dict_post_hooks.values():
                hook(module, keys)

        saved = self._snapshot_for_load()  # a failed load leaves the weights as they were
        try:
            load(self, dict(state_dict), "")
            if strict:
                if unexpected:
                    errors.insert(
                        0,
                        "Unexpected key(s) in state_dict: "
                        + ", ".join(f'"{k}"' for k in unexpected)
                        + ". ",
                    )
                if missing:
                    errors.insert(
                        0,
                        "Missing key(s) in state_dict: "
                        + ", ".join(f'"{k}"' for k in missing)
                        + ". ",
                    )
            if errors:
                raise RuntimeError(
                    f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                    + "\n\t".join(errors)
                )
        except BaseException:
            self._restore_after_failed_load(saved)
            raise
        return _IncompatibleKeys(missing, unexpected)

    def _snapshot_for_load(self) -> tuple[list, list]:
        """What `load_state_dict` may change: every module's parameter and buffer slots (an
        `assign=True` load replaces them) and a copy of every tensor's values (a plain load
        writes into them)."""
        slots = [(m, dict(m._parameters), dict(m._buffers)) for m in self.modules()]
        seen: set[int] = set()
        values = []
        for _, params, buffers in slots:
            for t in (*params.values(), *buffers.values()):
                if t is not None and id(t) not in seen:
                    seen.add(id(t))
                    values.append((t, t.detach().clone()))
        return slots, values

    @staticmethod
    def _restore_after_failed_load(saved: tuple[list, list]) -> None:
        slots, values = saved
        for m, params, buffers in slots:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)
        with at.no_grad():
            for t, copy in values:
                t.copy_(copy)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """`hook(module, state_dict, prefix, local_metadata)` runs after `state_dict()`."""
        handle = RemovableHandle(self._state_dict_hooks)
        self._state_dict_hooks[handle.id] = hook
        return handle

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """`hook(module, incompatible_keys)` runs after `load_state_dict` (may edit the lists)."""
        handle = RemovableHandle(self._load_state_dict_post_hooks)
        self._load_state_dict_post_hooks[handle.id] = hook
        return handle

    # -- repr --------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _addindent(repr(m), 2) for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        s = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                s += extra_lines[0]
            else:
                s += "\n  " + "\n  ".join(lines) + "\n"
        return s + ")"


def _remove_from(module: Module, name: str, d: dict, *regs: dict) -> None:
    """Drop `name` from the instance dict and the given registries (re-registration)."""
    d.pop(name, None)
    for reg in regs:
        reg.pop(name, None)
