"""ONNX export: every exported model is checked by onnx.checker, run by onnxruntime, and must
give autotensor's forward to 1e-5 at two batch sizes (the batch axis exported as dynamic)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import autotensor as at
import nn
import nn.functional as F

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx package ([onnx] extra)")
ort = pytest.importorskip("onnxruntime", reason="running exports needs onnxruntime")


def _run(proto: object, feeds: dict) -> list:
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _flat(out: object) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out]


def export_and_compare(model, inputs, others=(), atol=1e-5, dynamic=True):
    """Export with dynamic batch (axis 0 of every input and output), then compare
    onnxruntime with our forward on the example inputs and on each tuple in `others`."""
    model.eval()
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    with at.no_grad():
        n_out = len(_flat(model(*inputs)))
    in_names = [f"x{i}" for i in range(len(inputs))]
    out_names = [f"y{i}" for i in range(n_out)]
    dyn = {n: {0: "batch"} for n in in_names + out_names} if dynamic else None
    buf = io.BytesIO()
    proto = at.onnx.export(
        model, inputs, buf, input_names=in_names, output_names=out_names, dynamic_axes=dyn
    )
    loaded = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(loaded, full_check=True)
    assert [i.name for i in loaded.graph.input] == in_names
    for xs in (inputs, *others):
        with at.no_grad():
            want = [t.numpy() for t in _flat(model(*xs))]
        got = _run(proto, {n: t.numpy() for n, t in zip(in_names, xs)})
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=atol)
    return loaded


def _ops(proto) -> set:
    return {n.op_type for n in proto.graph.node}


@pytest.fixture(autouse=True)
def _seed():
    at.manual_seed(0)


def test_mlp_with_activations_and_log_softmax():
    model = nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 16),
        nn.Sigmoid(), nn.Linear(16, 16), nn.GELU(), nn.Linear(16, 5), nn.LogSoftmax(dim=1),
    )  # fmt: skip
    proto = export_and_compare(model, at.randn(3, 6), [(at.randn(7, 6),)])
    assert {"MatMul", "Relu", "Tanh", "Sigmoid", "Erf", "LogSoftmax"} <= _ops(proto)
    names = {i.name for i in proto.graph.initializer}
    assert "0.weight" in names and "8.bias" in names  # parameters keep their names


def test_cnn_with_batchnorm_pooling_dropout_flatten_softmax():
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False), nn.AvgPool2d(2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(6, 3), nn.Softmax(dim=1),
    )  # fmt: skip
    # running statistics that are not the initial ones
    model.train()
    with at.no_grad():
        for _ in range(3):
            model(at.randn(8, 1, 8, 8) * 2 + 1)
    proto = export_and_compare(model, at.randn(2, 1, 8, 8), [(at.randn(5, 1, 8, 8),)])
    assert {"Conv", "MaxPool", "Softmax"} <= _ops(proto)
    assert model.training is False  # export_and_compare put it in eval; export restores it


def test_export_restores_training_mode():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.5))
    model.train()
    at.onnx.export(model, (at.randn(2, 3),), None)
    assert model.training is True


def test_grouped_dilated_conv_and_adaptive_pool():
    model = nn.Sequential(
        nn.Conv2d(4, 8, 3, groups=2, dilation=2, padding=2), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )  # fmt: skip
    export_and_compare(model, at.randn(2, 4, 9, 9), [(at.randn(3, 4, 9, 9),)])


def test_conv_transpose2d():
    model = nn.Sequential(
        nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.Tanh(),
        nn.ConvTranspose2d(4, 2, 2, stride=1),
    )  # fmt: skip
    export_and_compare(model, at.randn(2, 3, 5, 5), [(at.randn(4, 3, 5, 5),)])


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU, nn.RNN])
@pytest.mark.parametrize(
    "options",
    [{}, {"num_layers": 2, "batch_first": True}, {"bidirectional": True}, {"bias": False}],
    ids=["plain", "2-layer-batch-first", "bidirectional", "no-bias"],
)
def test_recurrent_layers_map_to_onnx_recurrent_ops(cls, options):
    model = cls(3, 5, **options)
    batch_first = options.get("batch_first", False)
    shape = (2, 4, 3) if batch_first else (4, 2, 3)
    other = (3, 4, 3) if batch_first else (4, 3, 3)

    class Wrap(nn.Module):  # flatten the (out, h) / (out, (h, c)) result; batch axis first
        def __init__(self):
            super().__init__()
            self.rnn = model

        def forward(self, x):
            out = self.rnn(x if batch_first else x.transpose(0, 1))
            y, state = out
            y = y if batch_first else y.transpose(0, 1)
            states = state if isinstance(state, tuple) else (state,)
            return (y,) + tuple(s.transpose(0, 1) for s in states)

    proto = export_and_compare(
        Wrap(), at.randn(shape[1], shape[0], 3) if not batch_first else at.randn(*shape),
        [(at.randn(other[1], other[0], 3) if not batch_first else at.randn(*other),)],
    )  # fmt: skip
    assert {"LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN"}[cls.__name__] in _ops(proto)


def test_lstm_with_given_initial_state():
    lstm = nn.LSTM(3, 4)
    x, h0, c0 = at.randn(5, 2, 3), at.randn(1, 2, 4), at.randn(1, 2, 4)

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, h0, c0):
            y, (h, c) = self.lstm(x, (h0, c0))
            return y, h, c

    export_and_compare(Wrap(), (x, h0, c0), dynamic=False)


def test_embedding_layernorm_and_token_inputs():
    model = nn.Sequential(nn.Embedding(11, 6, padding_idx=0), nn.LayerNorm(6), nn.Linear(6, 4))
    proto = export_and_compare(model, at.randint(0, 11, (2, 5)), [(at.randint(0, 11, (4, 5)),)])
    assert "Gather" in _ops(proto)


class CausalSelfAttention(nn.Module):
    """A GPT block's attention, written with the explicit masked-softmax path."""

    def __init__(self, c: int = 8, heads: int = 2, block: int = 6) -> None:
        super().__init__()
        self.heads = heads
        self.ln = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)
        self.register_buffer("mask", at.tril(at.ones(block, block)).reshape(1, 1, block, block))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return x + self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


def test_attention_block():
    proto = export_and_compare(CausalSelfAttention(), at.randn(2, 6, 8), [(at.randn(3, 6, 8),)])
    assert {"Softmax", "Where", "MatMul", "Transpose"} <= _ops(proto)


@pytest.mark.skipif(not hasattr(nn, "TransformerEncoderLayer"), reason="no nn.Transformer yet")
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_layer(norm_first):
    layer = nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, norm_first=norm_first
    )
    export_and_compare(layer, at.randn(2, 5, 8), [(at.randn(3, 5, 8),)])


@pytest.mark.skipif(not hasattr(nn, "MultiheadAttention"), reason="no MultiheadAttention yet")
def test_multihead_attention_with_causal_mask():
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    mask = at.triu(at.ones(5, 5), diagonal=1).bool()

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, attn_mask=mask, need_weights=False)[0]

    export_and_compare(Wrap(), at.randn(2, 5, 8), [(at.randn(4, 5, 8),)])


def test_float64_model():
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh()).double()
    proto = export_and_compare(model, at.randn(2, 4, dtype=at.float64))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


def test_export_to_path_and_plain_function(tmp_path):
    w = at.randn(3, 2)

    def fn(x):
        return (x @ w).exp().sum(1, keepdim=True) / 3.0

    path = tmp_path / "fn.onnx"
    at.onnx.export(fn, (at.randn(4, 3),), str(path), input_names=["x"], output_names=["y"])
    proto = onnx.load(str(path))
    x = at.randn(4, 3)
    (got,) = _run(proto, {"x": x.numpy()})
    np.testing.assert_allclose(got, fn(x).numpy(), rtol=1e-5)


# -- what cannot be exported is refused, never written wrong ----------------------------------
def test_unsupported_primitive_is_named():
    class Odd(at.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    with pytest.raises(at.onnx.UnsupportedOperatorError, match="Odd"):
        at.onnx.export(lambda x: Odd.apply(x), (at.randn(2),), None)


def test_value_computed_outside_the_primitives_is_refused():
    def leaky(x):  # a mask taken from the raw array: the graph would freeze it
        return x * at.from_numpy(np.where(x.detach().numpy() > 0, 1.0, 0.1).astype(np.float32))

    with pytest.raises(at.onnx.ExportError, match="changes with the inputs"):
        at.onnx.export(leaky, (at.randn(5),), None)


def test_bad_arguments():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="opset_version 11"):
        at.onnx.export(model, (at.randn(1, 2),), None, opset_version=11)
    with pytest.raises(NotImplementedError, match="export_params"):
        at.onnx.export(model, (at.randn(1, 2),), None, export_params=False)
    with pytest.raises(NotImplementedError, match="operator_export_type"):
        at.onnx.export(model, (at.randn(1, 2),), None, operator_export_type="x")
    with pytest.raises(ValueError, match="dynamic_axes"):
        at.onnx.export(model, (at.randn(1, 2),), None, dynamic_axes={"nope": [0]})


# -- the book's chapter-5 CNN: trained here, same accuracy in onnxruntime ---------------------
def test_book_chapter5_cnn_trained_here_scores_the_same_in_onnxruntime():
    """Chapter 5's CNN (Conv2d(1, 32, 5, padding 2) - tanh - flatten - Linear, SGD momentum),
    on 8x8 digits so that it trains in a second; benchmarks/onnx_book_cnn.py runs the real
    one-epoch Fashion-MNIST experiment."""
    rng = np.random.default_rng(0)
    # a synthetic digits-like task: class = quadrant of the brightest blob
    n = 600
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    for i, c in enumerate(y):
        r, s = divmod(int(c), 2)
        x[i, 0, 4 * r : 4 * r + 4, 4 * s : 4 * s + 4] += 1.0
    model = nn.Sequential(nn.Conv2d(1, 8, 5, padding=2), nn.Tanh(), nn.Flatten(),
                          nn.Linear(8 * 8 * 8, 4))  # fmt: skip
    opt = nn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    xt, yt = at.from_numpy(x), at.from_numpy(y)
    for start in range(0, 480, 60):
        opt.zero_grad()
        F.cross_entropy(model(xt[start : start + 60]), yt[start : start + 60]).backward()
        opt.step()
    model.eval()
    test_x = xt[480:]
    with at.no_grad():
        ours = model(test_x).numpy()
    proto = at.onnx.export(model, (test_x[:2],), None, input_names=["x"], output_names=["y"],
                           dynamic_axes={"x": [0], "y": [0]})  # fmt: skip
    (theirs,) = _run(proto, {"x": test_x.numpy()})
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)
    acc_ours = (ours.argmax(1) == y[480:]).mean()
    acc_ort = (theirs.argmax(1) == y[480:]).mean()
    assert acc_ours == acc_ort and acc_ours > 0.5
