"""Transformer layers and models against torch: torch state dicts load with strict=True and
give torch's outputs, input gradients and parameter gradients (dropout off), in float32
and float64, over norm_first, activation, batch_first, masks and key padding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
import nn.functional as F

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
if torch is not None:  # torch-side definitions of the parity tests
    TDT = {np.float32: torch.float32, np.float64: torch.float64}
DTYPES = [np.float32, np.float64]


def close(ours, theirs, dtype, what=""):
    a = ours.detach().numpy()
    b = theirs.detach().numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, (what, a.shape, b.shape, a.dtype)
    # gradients are compared on the scale of the whole tensor: entries far below it are
    # sums of rounding errors in float32 in both libraries
    scale = max(1.0, float(np.abs(b).max()))
    np.testing.assert_allclose(a, b, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * scale, err_msg=what)  # fmt: skip


def both(tm, am, dtype, inputs, rng, **call):
    """Load torch's weights into ours (strict), run both on the same inputs and masks, and
    compare outputs and all gradients (a random projection of the output as the loss)."""
    tm = tm.to(TDT[dtype])
    am = am.to(dtype)
    am.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()}, strict=True)
    assert list(am.state_dict()) == list(tm.state_dict())
    ti = [torch.tensor(x.astype(dtype), requires_grad=True) for x in inputs]
    ai = [at.tensor(x.astype(dtype), requires_grad=True) for x in inputs]
    tc = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    ac = {k: at.tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    yt, yo = tm(*ti, **tc), am(*ai, **ac)
    close(yo, yt, dtype, "output")
    w = rng.normal(size=tuple(yt.shape)).astype(dtype)
    (yt * torch.tensor(w)).sum().backward()
    (yo * at.tensor(w)).sum().backward()
    for i, (o, t) in enumerate(zip(ai, ti)):
        close(o.grad, t.grad, dtype, f"grad of input {i}")
    tp = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        close(p.grad, tp[name].grad, dtype, f"grad of {name}")


LAYER_OPTS = [
    dict(),
    dict(norm_first=True),
    dict(activation="gelu", batch_first=True),
    dict(bias=False, layer_norm_eps=1e-3),
]


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", LAYER_OPTS)
def test_encoder_layer_parity(dtype, kw, rng):
    bf = kw.get("batch_first", False)
    x = rng.normal(size=(3, 5, 8) if bf else (5, 3, 8))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[2, 4] = True
    both(torch.nn.TransformerEncoderLayer(8, 2, 16, 0.0, **kw),
         nn.TransformerEncoderLayer(8, 2, 16, 0.0, **kw), dtype, [x], rng,
         src_key_padding_mask=kpm)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", LAYER_OPTS)
def test_decoder_layer_parity(dtype, kw, rng):
    bf = kw.get("batch_first", False)
    tgt = rng.normal(size=(2, 4, 8) if bf else (4, 2, 8))
    mem = rng.normal(size=(2, 6, 8) if bf else (6, 2, 8))
    mask = torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    mkpm = np.zeros((2, 6), dtype=bool)
    mkpm[0, 5] = True
    both(torch.nn.TransformerDecoderLayer(8, 2, 16, 0.0, **kw),
         nn.TransformerDecoderLayer(8, 2, 16, 0.0, **kw), dtype, [tgt, mem], rng,
         tgt_mask=mask, memory_key_padding_mask=mkpm)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [dict(), dict(norm_first=True, activation="gelu", batch_first=True)])
def test_transformer_parity_with_masks(dtype, kw, rng):
    bf = kw.get("batch_first", False)
    src = rng.normal(size=(3, 5, 8) if bf else (5, 3, 8))
    tgt = rng.normal(size=(3, 4, 8) if bf else (4, 3, 8))
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[1, 3:] = True
    args = dict(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                dim_feedforward=16, dropout=0.0, **kw)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm, am = torch.nn.Transformer(**args), nn.Transformer(**args)
    both(tm, am, dtype, [src, tgt], rng,
         tgt_mask=nn.Transformer.generate_square_subsequent_mask(4).numpy(),
         src_key_padding_mask=kpm, memory_key_padding_mask=kpm)  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_encoder_stack_causal_mask_unbatched_and_callable_activation(dtype, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.TransformerEncoder(
            torch.nn.TransformerEncoderLayer(8, 4, 16, 0.0, activation=torch.nn.functional.silu),
            3, norm=torch.nn.LayerNorm(8))  # fmt: skip
        am = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 4, 16, 0.0, activation=F.silu), 3, norm=nn.LayerNorm(8)
        )
    mask = torch.nn.Transformer.generate_square_subsequent_mask(6).numpy()
    both(tm, am, dtype, [rng.normal(size=(6, 2, 8))], rng, mask=mask)
    both(tm, am, dtype, [rng.normal(size=(6, 8))], rng, mask=mask, is_causal=True)
    dec_t = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, 16, 0.0), 2)
    dec_a = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, 0.0), 2)
    both(dec_t, dec_a, dtype, [rng.normal(size=(4, 8)), rng.normal(size=(5, 8))], rng)


@needs_torch
def test_square_subsequent_mask_and_causal_detection():
    m = nn.Transformer.generate_square_subsequent_mask(4)
    t = torch.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(m.numpy(), t.numpy())
    assert m.dtype == np.float32
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=at.float64).dtype == np.float64
    from nn.transformer import _detect_is_causal_mask

    assert _detect_is_causal_mask(m, None, 4) is True
    assert _detect_is_causal_mask(at.zeros(4, 4), None, 4) is False
    assert _detect_is_causal_mask(None, True) is True


@needs_torch
def test_layers_are_deep_copies_with_torch_names_and_init():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2)
        tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16), 2)
    assert list(enc.state_dict()) == list(tenc.state_dict())
    assert "layers.1.self_attn.in_proj_weight" in enc.state_dict()
    assert enc.layers[0].linear1.weight is not enc.layers[1].linear1.weight
    np.testing.assert_array_equal(enc.layers[0].linear1.weight.detach().numpy(),
                                  enc.layers[1].linear1.weight.detach().numpy())  # fmt: skip
    tr = nn.Transformer(16, 2, 1, 1, 32)
    w = tr.encoder.layers[0].linear1.weight.detach().numpy()
    bound = np.sqrt(6 / (16 + 32))  # xavier_uniform_ over every matrix, as torch
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert isinstance(tr.encoder.norm, nn.LayerNorm) and isinstance(tr.decoder.norm, nn.LayerNorm)


def test_nested_tensor_warning_and_errors():
    with pytest.warns(UserWarning, match="enable_nested_tensor is True"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 1)
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    tr = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0)
    with pytest.raises(RuntimeError, match="batch number of src and tgt must be equal"):
        tr(at.randn(5, 3, 8), at.randn(4, 2, 8))
    with pytest.raises(RuntimeError, match="feature number of src and tgt must be equal"):
        tr(at.randn(5, 3, 8), at.randn(4, 3, 6))


def test_dropout_active_in_train_and_off_in_eval(rng):
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = at.tensor(rng.normal(size=(5, 2, 8)).astype(np.float32))
    layer.eval()
    a, b = layer(x), layer(x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    layer.train()
    assert not np.allclose(layer(x).detach().numpy(), a.detach().numpy())
