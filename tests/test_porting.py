"""`import autotensor as torch` is enough: the alias packages, the device API (CPU only,
refused elsewhere), the torch namespace pieces scripts touch, and the RNG API."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import autotensor as at


def test_alias_modules_are_the_real_ones() -> None:
    import autotensor.nn as tnn
    import autotensor.nn.functional as F
    import autotensor.nn.init as init
    import autotensor.optim as optim
    from autotensor.nn.parameter import Parameter
    from autotensor.optim.lr_scheduler import StepLR
    from autotensor.utils.data import DataLoader, Dataset

    import nn

    assert tnn is nn and F is nn.functional and init is nn.init and optim is nn.optim
    assert at.nn.Linear is nn.Linear and Parameter is nn.Parameter
    assert StepLR is nn.optim.lr_scheduler.StepLR
    assert DataLoader is nn.data.DataLoader and Dataset is nn.data.Dataset
    assert at.utils.data is nn.data and at.nn.utils.clip_grad_norm_ is nn.utils.clip_grad_norm_
    # one copy of each source file: no module object loaded twice under two names
    mods = {id(m): m for m in list(sys.modules.values())}.values()  # aliases share objects
    files = [getattr(m, "__file__", None) for m in mods]
    ours = [str(Path(nn.__file__).parent / n) for n in ("functional.py", "linear.py")]
    real = [f for f in files if f in ours]
    assert len(real) == len(set(real)) == 2
    with pytest.raises(ImportError):
        import autotensor.nn.no_such_module  # noqa: F401


def test_device_objects_as_torch() -> None:
    torch = pytest.importorskip("torch")
    for args in [("cpu",), ("cpu", 0), ("cuda:1",), ("mps",)]:
        ours, theirs = at.device(*args), torch.device(*args)
        assert (str(ours), repr(ours), ours.type, ours.index) == (
            str(theirs), repr(theirs), theirs.type, theirs.index)  # fmt: skip
    assert at.device("cpu") == at.device(at.device("cpu")) != at.device("cpu", 0)
    assert at.device("cpu") != "cpu"  # as torch: a device never equals a string
    with pytest.raises(RuntimeError, match="device type"):
        at.device("gpu")
    with pytest.raises(RuntimeError, match="CPU only"):
        at.device(3)  # an ordinal names an accelerator, as in torch
    assert at.zeros(2).device == at.device("cpu") and at.zeros(2).device.type == "cpu"


CREATORS = [
    lambda d: at.tensor([1.0], device=d), lambda d: at.as_tensor([1.0], device=d),
    lambda d: at.zeros(2, device=d), lambda d: at.ones(2, device=d),
    lambda d: at.empty(2, device=d), lambda d: at.full((2,), 1.0, device=d),
    lambda d: at.rand(2, device=d), lambda d: at.randn(2, device=d),
    lambda d: at.randint(0, 3, (2,), device=d), lambda d: at.randperm(3, device=d),
    lambda d: at.arange(3, device=d), lambda d: at.linspace(0, 1, 3, device=d),
    lambda d: at.eye(2, device=d), lambda d: at.normal(0.0, 1.0, (2,), device=d),
    lambda d: at.zeros_like(at.ones(2), device=d), lambda d: at.ones_like(at.ones(2), device=d),
    lambda d: at.empty_like(at.ones(2), device=d), lambda d: at.rand_like(at.ones(2), device=d),
    lambda d: at.randn_like(at.ones(2), device=d),
    lambda d: at.full_like(at.ones(2), 3.0, device=d),
]  # fmt: skip


@pytest.mark.parametrize("make", CREATORS)
def test_creation_device_keyword(make) -> None:
    for d in ("cpu", "cpu:0", at.device("cpu"), None):
        assert make(d).device == at.device("cpu")
    for d in ("cuda", "cuda:0", "mps", at.device("cuda", 1), 0):
        with pytest.raises(RuntimeError, match="only the CPU|CPU only"):
            make(d)


def test_pin_memory_refused_not_ignored() -> None:
    with pytest.raises(RuntimeError, match="pin_memory"):
        at.zeros(2, pin_memory=True)


def test_tensor_to_forms() -> None:
    x = at.ones(2, requires_grad=True)
    assert x.to("cpu") is x and x.to(at.device("cpu")) is x and x.cpu() is x
    assert x.to(at.float64).dtype == at.float64
    assert x.to("cpu", at.float64).dtype == at.float64
    assert x.to(device="cpu", dtype=at.float64, non_blocking=True).dtype == at.float64
    assert x.to(at.zeros(1, dtype=at.float64)).dtype == at.float64
    y = x.to("cpu", copy=True)
    assert y is not x and y.grad_fn is not None  # a copy stays on the graph
    y.sum().backward()
    assert np.allclose(x.grad.numpy(), 1.0)
    for bad in ("cuda", "cuda:0", "mps", at.device("cuda")):
        with pytest.raises(RuntimeError, match="CPU only"):
            x.to(bad)
    with pytest.raises(RuntimeError, match="CPU only"):
        x.cuda()
    with pytest.raises(NotImplementedError, match="memory_format"):
        x.to(memory_format="channels_last")


def test_module_to_and_cuda() -> None:
    m = at.nn.Linear(2, 3)
    assert m.to(at.device("cpu")) is m and m.cpu() is m
    m.to("cpu", at.float64)
    assert m.weight.dtype == at.float64
    for bad in ("cuda", at.device("mps")):
        with pytest.raises(RuntimeError, match="CPU only"):
            m.to(bad)
    with pytest.raises(RuntimeError, match="CPU only"):
        m.cuda()


def test_accelerator_cuda_backends_answers() -> None:
    assert at.cuda.is_available() is False and at.cuda.device_count() == 0
    assert at.accelerator.is_available() is False and at.accelerator.current_accelerator() is None
    assert at.backends.mps.is_available() is False and at.backends.cudnn.is_available() is False
    at.backends.cudnn.benchmark = True
    at.backends.cudnn.deterministic = True
    at.backends.cuda.matmul.allow_tf32 = True
    import autotensor.backends.cudnn as cudnn

    assert cudnn.benchmark is True
    at.cuda.manual_seed_all(1)  # accepted, as torch accepts it without a GPU
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        at.cuda.current_device()
    with pytest.raises(RuntimeError, match="no accelerator"):
        at.accelerator.synchronize()


def test_inference_mode() -> None:
    x = at.ones(2, requires_grad=True)
    with at.inference_mode():
        assert at.is_inference_mode_enabled() and not at.is_grad_enabled()
        assert (x * 2).grad_fn is None
    assert not at.is_inference_mode_enabled() and at.is_grad_enabled()
    with at.inference_mode(False):
        assert (x * 2).grad_fn is not None

    @at.inference_mode()
    def f(t):
        return t * 2

    @at.inference_mode
    def g(t):
        return t * 2

    assert f(x).grad_fn is None and g(x).grad_fn is None and at.is_grad_enabled()


def test_grad_scaler_disabled_is_a_pass_through() -> None:
    p = at.nn.Parameter(at.ones(2))
    opt = at.optim.SGD([p], lr=0.5)
    for scaler in (at.amp.GradScaler(enabled=False), at.cuda.amp.GradScaler(enabled=False)):
        loss = (p * p).sum()
        assert scaler.scale(loss) is loss
        opt.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        before = p.detach().numpy().copy()
        scaler.step(opt)
        scaler.update()
        assert np.allclose(p.detach().numpy(), before - 0.5 * 2 * before)
        assert scaler.get_scale() == 1.0 and scaler.state_dict() == {}
    for make in (at.cuda.amp.GradScaler, lambda: at.amp.GradScaler("cuda")):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            scaler = make()  # enabled on CUDA: torch without CUDA disables it, and so here
        assert not scaler.is_enabled() and scaler.get_scale() == 1.0
    with pytest.raises(RuntimeError, match="CPU only"):
        at.amp.GradScaler("mps")


def test_grad_scaler_cpu_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    w0 = np.array([1.0, -2.0, 3.0], np.float32)
    results = []
    for lib in (torch, at):
        p = lib.nn.Parameter(lib.tensor(w0.copy()))
        opt = lib.optim.SGD([p], lr=0.1)
        scaler = lib.amp.GradScaler("cpu", init_scale=4.0, growth_interval=2)
        scales = []
        for step in range(5):
            opt.zero_grad()
            loss = (p * p).sum() * (float("inf") if step == 2 else 1.0)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
        results.append((p.detach().numpy().copy(), scales))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    assert results[0][1] == results[1][1]


def test_autocast() -> None:
    x = at.ones(2)
    ctxs = [at.autocast("cpu", enabled=False), at.amp.autocast("cuda", enabled=False)]
    ctxs += [at.cpu.amp.autocast(enabled=False), at.cuda.amp.autocast(enabled=False)]
    for ctx in ctxs:
        with ctx:
            assert (x * 2).dtype == at.float32
    with pytest.raises(NotImplementedError, match="bfloat16"):
        at.autocast("cpu")
    with pytest.raises(NotImplementedError, match="float16"):
        at.autocast("cpu", dtype=at.float16)
    for ctx in (lambda: at.autocast("cuda", dtype=at.float16), at.cuda.amp.autocast):
        with pytest.warns(UserWarning, match="CUDA is not available"):
            with ctx():  # torch without CUDA disables it, and so here
                assert (x * 2).dtype == at.float32 and not at.is_autocast_enabled()
    with pytest.raises(RuntimeError, match="CPU only"):
        at.autocast("mps", dtype=at.float16)


def test_settings() -> None:
    at.set_float32_matmul_precision("high")
    assert at.get_float32_matmul_precision() == "high"
    at.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError):
        at.set_float32_matmul_precision("low")
    m = at.nn.Linear(2, 2)
    assert at.compile(m) is m and at.compile(mode="max-autotune")(len) is len
    at.use_deterministic_algorithms(True)
    assert at.are_deterministic_algorithms_enabled()
    at.use_deterministic_algorithms(False)
    n = at.get_num_threads()
    at.set_num_threads(1)
    assert at.get_num_threads() == 1
    at.set_num_threads(n)
    assert isinstance(at.__version__, str)


def test_rng_api() -> None:
    at.manual_seed(5)
    assert at.initial_seed() == 5
    a = at.rand(4)
    at.manual_seed(5)
    assert at.equal(a, at.rand(4))
    state = at.get_rng_state()
    assert state.dtype == at.uint8 and state.ndim == 1
    b = at.randn(5)
    at.rand(7)
    at.set_rng_state(state)
    assert at.equal(b, at.randn(5))  # the stream resumes exactly
    g = at.Generator().manual_seed(3)
    assert g.initial_seed() == 3
    gs = g.get_state()
    c = at.rand(3, generator=g)
    g.set_state(gs)
    assert at.equal(c, at.rand(3, generator=g))
    assert at.Generator().initial_seed() == 67280421310721  # torch's default seed
    s = at.seed()
    assert at.initial_seed() == s
    with at.random.fork_rng():
        inside = at.rand(2)
    assert at.equal(inside, at.rand(2))
    with pytest.raises(RuntimeError, match="get_state"):
        at.set_rng_state(at.zeros(3, dtype=at.uint8))
