"""nn.Module, Parameter and the containers: registration order, iteration, state_dict in both
directions with torch, train/eval, hooks, zero_grad, dtype conversion and reprs."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
from autotensor.graph import topo_sort


def to_numpy_sd(sd):
    return {k: v.detach().numpy() for k, v in sd.items()}


class Net(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.fc1 = lib.Linear(4, 8)
        self.act = lib.ReLU()
        self.bn = lib.BatchNorm1d(8)
        self.fc2 = lib.Linear(8, 3, bias=False)
        self.register_buffer("scale", at.ones(3) if lib is nn else torch.ones(3))

    def forward(self, x):
        return self.fc2(self.bn(self.act(self.fc1(x)))) * self.scale


if torch is not None:  # torch-side definitions of the parity tests
    tnn = torch.nn

    class TNet(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(4, 8)
            self.act = tnn.ReLU()
            self.bn = tnn.BatchNorm1d(8)
            self.fc2 = tnn.Linear(8, 3, bias=False)
            self.register_buffer("scale", torch.ones(3))

        def forward(self, x):
            return self.fc2(self.bn(self.act(self.fc1(x)))) * self.scale


# -- Parameter -------------------------------------------------------------------------------
@needs_torch
def test_parameter_defaults_and_repr():
    p = nn.Parameter(at.tensor([1.0, 2.0]))
    assert p.requires_grad and p.is_leaf and isinstance(p, at.Tensor)
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    assert repr(p) == repr(torch.nn.Parameter(torch.tensor([1.0, 2.0])))
    q = nn.Parameter(at.tensor([1.0]), requires_grad=False)
    assert not q.requires_grad
    # shares memory with its source, as torch's Parameter does
    t = at.zeros(3)
    p2 = nn.Parameter(t)
    with at.no_grad():
        p2.add_(1.0)
    assert t.tolist() == [1.0, 1.0, 1.0]
    # operations on a Parameter give plain tensors
    assert type(p * 2) is at.Tensor
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(at.tensor([1, 2]))


# -- registration and iteration --------------------------------------------------------------
@needs_torch
def test_registration_order_matches_torch():
    ours, theirs = Net(nn), TNet()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(p.shape) for p in ours.parameters()] == [
        tuple(p.shape) for p in theirs.parameters()
    ]
    assert len(list(ours.modules())) == 5
    assert [n for n, _ in ours.named_parameters(prefix="m", recurse=True)][0] == "m.fc1.weight"
    assert [n for n, _ in ours.fc1.named_parameters(recurse=False)] == ["weight", "bias"]
    assert list(ours.named_parameters(recurse=False)) == []


@needs_torch
def test_shared_modules_and_parameters_listed_once():
    lin = nn.Linear(3, 3)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    tl = tnn.Linear(3, 3)
    tseq = tnn.Sequential(tl, tnn.ReLU(), tl)
    assert [n for n, _ in seq.named_modules()] == [n for n, _ in tseq.named_modules()]
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in tseq.named_parameters()]
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1", "2"]
    assert list(seq.state_dict()) == list(tseq.state_dict())
    assert len(list(seq.children())) == 2


def test_setattr_reassign_and_delattr():
    m = nn.Module()
    m.w = nn.Parameter(at.zeros(2))
    m.sub = nn.Linear(2, 2)
    m.register_buffer("b", at.zeros(1))
    m.register_buffer("tmp", at.zeros(1), persistent=False)
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"]
    assert list(m.state_dict()) == ["w", "b", "sub.weight", "sub.bias"]
    assert "tmp" not in m.state_dict() and "tmp" in dict(m.named_buffers())
    # a Parameter slot only takes a Parameter or None
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = at.zeros(2)
    m.w = None
    assert m.w is None and "w" not in m.state_dict()
    # a buffer may be replaced by a tensor
    m.b = at.ones(1)
    assert m.b.tolist() == [1.0]
    with pytest.raises(TypeError, match="buffer 'b'"):
        m.b = 3
    # as torch: a parameter slot refuses a module; after deleting it the name is free
    with pytest.raises(TypeError, match="parameter 'w'"):
        m.w = nn.Linear(1, 1)
    del m.w
    m.w = nn.Linear(1, 1)
    assert "w" in m._modules and "w" not in m._parameters
    del m.sub
    assert "sub" not in m._modules
    with pytest.raises(AttributeError, match="sub"):
        m.sub  # noqa: B018
    del m.b
    assert "b" not in m._buffers
    assert "w" in dir(m)


def test_assign_before_init_and_name_errors():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(at.zeros(1))
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", at.zeros(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_parameter("training", nn.Parameter(at.zeros(1)))
    with pytest.raises(TypeError, match="not a Module subclass"):
        m.add_module("x", 3)
    with pytest.raises(TypeError, match="nn.Parameter or None"):
        m.register_parameter("p", at.zeros(1))


def test_get_submodule_parameter_buffer():
    model = nn.Sequential(OrderedDict(enc=nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))))
    assert model.get_submodule("enc.0") is model.enc[0]
    assert model.get_parameter("enc.0.bias") is model.enc[0].bias
    assert model.get_buffer("enc.1.running_mean") is model.enc[1].running_mean
    with pytest.raises(AttributeError, match="has no attribute `nope`"):
        model.get_submodule("enc.nope")
    with pytest.raises(AttributeError, match="not an nn.Parameter"):
        model.get_parameter("enc.1.running_mean")


# -- state dict ------------------------------------------------------------------------------
@needs_torch
def test_torch_state_dict_loads_strict_and_back():
    torch.manual_seed(0)
    theirs = TNet()
    with torch.no_grad():
        theirs.bn.running_mean.uniform_(-1, 1)
        theirs.bn.running_var.uniform_(0.5, 2)
        theirs.bn.num_batches_tracked.fill_(7)
    ours = Net(nn)
    res = ours.load_state_dict(to_numpy_sd(theirs.state_dict()), strict=True)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert repr(res) == "<All keys matched successfully>"
    for (k, v), (k2, v2) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(v.numpy(), v2.numpy())
        assert v.dtype == v2.numpy().dtype, k
    # same weights -> same eval output
    ours.eval()
    theirs.eval()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        ours(at.tensor(x)).detach().numpy(),
        theirs(torch.tensor(x)).detach().numpy(),
        rtol=1e-5,
        atol=1e-6,
    )
    # and ours loads into torch
    ours2 = Net(nn)
    theirs2 = TNet()
    theirs2.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in ours2.state_dict().items()}, strict=True
    )
    for k, v in theirs2.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours2.state_dict()[k].numpy())


def test_load_state_dict_accepts_tensors_and_keeps_identity():
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    w = a.weight
    a.load_state_dict(b.state_dict())
    assert a.weight is w
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    # float64 arrays are converted to the parameter dtype
    a.load_state_dict({"weight": np.ones((2, 3)), "bias": np.zeros(2)})
    assert a.weight.dtype == np.float32 and a.weight.detach().numpy().sum() == 6


@needs_torch
def test_load_state_dict_errors_name_every_key():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    sd = to_numpy_sd({k: torch.from_numpy(v.numpy()) for k, v in m.state_dict().items()})
    del sd["1.bias"]
    sd["0.weight"] = np.zeros((3, 2), np.float32)
    sd["extra"] = np.zeros(1)
    sd["0.what"] = np.zeros(1)
    with pytest.raises(RuntimeError) as e:
        m.load_state_dict(sd)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Sequential" in msg
    assert '"1.bias"' in msg and "Missing key(s)" in msg
    assert '"extra"' in msg and '"0.what"' in msg and "Unexpected key(s)" in msg
    assert "size mismatch for 0.weight" in msg and "(3, 2)" in msg and "(2, 3)" in msg
    # torch produces the same three kinds of message for the same mistakes
    tm = tnn.Sequential(tnn.Linear(3, 2), tnn.Linear(2, 1))
    with pytest.raises(RuntimeError) as te:
        tm.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in sd.items()})
    for part in (
        'Missing key(s) in state_dict: "1.bias"',
        "size mismatch for 0.weight",
        'Unexpected key(s) in state_dict: "extra", "0.what"',
    ):
        assert part in str(te.value) and part in msg
    # non-strict: missing/unexpected are reported, not raised
    sd["0.weight"] = np.zeros((2, 3), np.float32)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["1.bias"]
    assert sorted(res.unexpected_keys) == ["0.what", "extra"]
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), 0)


def test_state_dict_values_are_detached_views():
    m = nn.Linear(2, 2)
    sd = m.state_dict()
    assert not sd["weight"].requires_grad
    with at.no_grad():
        m.weight.add_(1.0)
    np.testing.assert_array_equal(sd["weight"].numpy(), m.weight.detach().numpy())
    kv = m.state_dict(keep_vars=True)
    assert kv["weight"] is m.weight


# -- modes, grads, dtype ---------------------------------------------------------------------
def test_train_eval_recursive():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(), nn.BatchNorm1d(2)))
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.train()
    assert all(x.training for x in m.modules())
    m.train(False)
    assert not m[1][0].training
    with pytest.raises(ValueError, match="boolean"):
        m.train("yes")


def test_zero_grad_and_requires_grad():
    m = nn.Linear(3, 2)
    m(at.randn(4, 3)).sum().backward()
    assert m.weight.grad is not None
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is not None and float(m.weight.grad.abs().sum()) == 0.0
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert not m(at.randn(1, 3)).requires_grad


def test_to_double_keeps_parameter_identity():
    m = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    params = list(m.parameters())
    m(at.randn(4, 3)).sum().backward()
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert all(p.grad.dtype == np.float64 for p in m.parameters())
    assert m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64  # integer buffers are left alone
    y = m(at.randn(4, 3, dtype=at.float64))
    assert y.dtype == np.float64
    m.to(at.float32)
    assert m[0].weight.dtype == np.float32
    m.float()
    with pytest.raises(RuntimeError, match="CPU"):
        m.to("cuda")
    assert m.to("cpu") is m


@needs_torch
def test_apply_order_matches_torch():
    seen, tseen = [], []
    m = nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.ReLU(), nn.Tanh()))
    t = tnn.Sequential(tnn.Linear(1, 1), tnn.Sequential(tnn.ReLU(), tnn.Tanh()))
    assert m.apply(lambda x: seen.append(type(x).__name__)) is m
    t.apply(lambda x: tseen.append(type(x).__name__))
    assert seen == tseen


# -- calling and hooks -----------------------------------------------------------------------
def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1.0)
    y = m(at.ones(3, 2))
    np.testing.assert_allclose(
        y.detach().numpy(), np.broadcast_to(m.bias.detach().numpy() + 1, (3, 2))
    )
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    y2 = m(at.ones(3, 2))
    assert calls == [(3, 2)]
    np.testing.assert_allclose(
        y2.detach().numpy(), (at.ones(3, 2) @ m.weight.T + m.bias).detach().numpy()
    )
    order = []
    m.register_forward_hook(lambda *a: order.append("a"))
    m.register_forward_hook(lambda *a: order.append("b"), prepend=True)
    m.register_forward_pre_hook(lambda mod, args, kw: order.append("pre") or None, with_kwargs=True)
    m(at.ones(1, 2))
    assert order == ["pre", "b", "a"]
    with m.register_forward_hook(lambda *a: order.append("ctx")):
        m(at.ones(1, 2))
    m(at.ones(1, 2))
    assert order.count("ctx") == 1


def test_call_opens_graph_scope():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.ReLU())
    y = model(at.randn(3, 2))
    nodes = topo_sort([y.grad_fn])
    assert all(n._scope[0] is model for n in nodes)
    assert any(len(n._scope) == 2 and n._scope[1] is lin for n in nodes)
    assert at.graph._scopes.current == ()


def test_missing_forward_and_unknown_attribute():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(1)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        nn.Linear(1, 1).nope  # noqa: B018


# -- containers ------------------------------------------------------------------------------
def test_sequential_indexing_and_editing():
    a, b, c = nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1)
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    sl = s[1:]
    assert isinstance(sl, nn.Sequential) and list(sl) == [b, c]
    assert list(sl._modules) == ["1", "2"]  # as torch: slicing keeps the names
    s.append(nn.Tanh())
    assert len(s) == 4 and isinstance(s[3], nn.Tanh)
    del s[1]
    assert list(s._modules) == ["0", "1", "2"] and s[1] is c
    s.insert(1, b)
    assert s[1] is b and len(s) == 4
    with pytest.raises(IndexError, match="out of range"):
        s[10]
    s2 = nn.Sequential(OrderedDict(first=a, second=b))
    assert s2.first is a and [n for n, _ in s2.named_children()] == ["first", "second"]
    x = at.randn(5, 1)
    np.testing.assert_allclose(
        nn.Sequential(a, b, c)(x).detach().numpy(), c(b(a(x))).detach().numpy()
    )


def test_modulelist_and_moduledict():
    ml = nn.ModuleList([nn.Linear(1, 1) for _ in range(3)])
    assert len(ml) == 3 and len(list(ml.parameters())) == 6
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    assert isinstance(ml[-1], nn.Tanh) and isinstance(ml[1:3], nn.ModuleList)
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2", "3"]
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    md["c"] = nn.Tanh()
    assert list(md) == ["a", "b", "c"] and "a" in md and len(md) == 3
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]
    assert isinstance(md.pop("b"), nn.ReLU) and list(md.keys()) == ["a", "c"]


@needs_torch
def test_repr_matches_torch():
    def build(lib):
        return lib.Sequential(
            lib.Flatten(),
            lib.Linear(784, 256),
            lib.ReLU(),
            lib.Dropout(0.2),
            lib.Sequential(lib.Linear(256, 10, bias=False), lib.LogSoftmax(dim=1)),
            lib.BatchNorm1d(10),
            lib.LayerNorm(10),
            lib.LeakyReLU(0.2),
            lib.GELU(approximate="tanh"),
            lib.Embedding(10, 3, padding_idx=0),
            lib.ELU(),
            lib.Softmax(dim=-1),
            lib.Unflatten(1, (2, 5)),
            lib.Identity(),
            lib.Dropout2d(),
            lib.Sigmoid(),
            lib.Tanh(),
        )

    assert repr(build(nn)) == repr(build(tnn))
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU()])
    tml = tnn.ModuleList([tnn.Linear(2, 2), tnn.Linear(2, 2), tnn.ReLU()])
    assert repr(ml) == repr(tml)
    md = nn.ModuleDict({"x": nn.ReLU()})
    assert repr(md) == repr(tnn.ModuleDict({"x": tnn.ReLU()}))
    losses = [
        ("MSELoss", {}),
        ("CrossEntropyLoss", {"label_smoothing": 0.1}),
        ("BCELoss", {}),
        ("HuberLoss", {"delta": 2.0}),
    ]
    for name, kw in losses:
        assert repr(getattr(nn, name)(**kw)) == repr(getattr(tnn, name)(**kw))


def test_float32_model_keeps_float32_everywhere():
    """No node of a float32 model's graph (forward or backward) produces float64."""
    at.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 8),
        nn.BatchNorm1d(8),
        nn.GELU(),
        nn.LayerNorm(8),
        nn.Dropout(0.3),
        nn.LeakyReLU(),
        nn.Linear(8, 4),
    )
    x = at.randn(5, 6)
    y = at.tensor([0, 3, 1, 2, 0])
    losses = [
        nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), y),
        nn.MSELoss()(model(x), at.randn(5, 4)),
        nn.BCEWithLogitsLoss()(model(x), at.rand(5, 4)),
        nn.HuberLoss()(model(x), at.randn(5, 4)),
    ]
    for loss in losses:
        assert loss.dtype == np.float32
        for node in topo_sort([loss.grad_fn]):
            for _, dt in node._out_meta:
                assert dt.kind != "f" or dt == np.float32, (node.name(), dt)
        model.zero_grad()
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad.dtype == np.float32, name
