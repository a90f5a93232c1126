"""Attention against torch: `F.scaled_dot_product_attention` (masks bool and float, causal,
scale, GQA, broadcast batch dims, L != S, fully masked rows, dropout) and
`nn.MultiheadAttention` over its options, values and gradients in float32 and float64; the
fused primitive against its composite reference; hypothesis over shapes; errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_oracle import needs_torch, torch

import autotensor as at
import nn
import nn.functional as F
from autotensor import ops

if torch is not None:  # torch-side definitions of the parity tests
    TF = torch.nn.functional

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}
DTYPES = [np.float32, np.float64]


def close(ours, theirs, dtype, what=""):
    a = ours.detach().numpy() if isinstance(ours, at.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, err_msg=what, **TOL[dtype])


def sdpa_both(rng, dtype, qs, ks, vs, mask=None, **kw):
    """Run both libraries' SDPA on the same inputs, then backward with the same upstream
    gradient; compare the output and the q, k, v gradients."""
    arrays = [rng.normal(size=s).astype(dtype) for s in (qs, ks, vs)]
    ours = [at.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    mo = mt = None
    if mask is not None:
        mo, mt = at.tensor(mask), torch.tensor(mask)
    yo = F.scaled_dot_product_attention(*ours, attn_mask=mo, **kw)
    yt = TF.scaled_dot_product_attention(*theirs, attn_mask=mt, **kw)
    close(yo, yt, dtype, "output")
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    yo.backward(at.tensor(g))
    yt.backward(torch.tensor(g))
    for name, o, t in zip("qkv", ours, theirs):
        close(o.grad, t.grad, dtype, f"grad of {name}")
    return yo


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "qs,ks,vs",
    [
        ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)),  # L != S, Ev != E
        ((4, 6), (6, 6), (6, 3)),  # no batch dims
        ((2, 4, 5, 8), (2, 1, 5, 8), (2, 1, 5, 8)),  # key/value heads broadcast
        ((3, 1, 4), (3, 1, 4), (3, 1, 2)),  # L = S = 1
    ],
)
def test_sdpa_parity_plain_and_causal(dtype, qs, ks, vs, rng):
    sdpa_both(rng, dtype, qs, ks, vs)
    sdpa_both(rng, dtype, qs, ks, vs, is_causal=True)
    sdpa_both(rng, dtype, qs, ks, vs, scale=0.3)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask_shape", [(5, 7), (2, 1, 5, 7), (1, 3, 1, 7), (1, 7)])
def test_sdpa_parity_masks_bool_and_float(dtype, mask_shape, rng):
    qs, ks, vs = (2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)
    b = rng.random(mask_shape) > 0.4
    b[..., 0] = True  # every query keeps a key
    sdpa_both(rng, dtype, qs, ks, vs, mask=b)
    sdpa_both(rng, dtype, qs, ks, vs, mask=rng.normal(size=mask_shape).astype(dtype))
    f = np.where(b, rng.normal(size=mask_shape), -np.inf).astype(dtype)
    sdpa_both(rng, dtype, qs, ks, vs, mask=f, scale=0.7)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_sdpa_fully_masked_rows_give_zero_like_torch(dtype, rng):
    m = np.ones((5, 7), dtype=bool)
    m[2] = False
    y = sdpa_both(rng, dtype, (2, 5, 8), (2, 7, 8), (2, 7, 4), mask=m)
    assert not np.isnan(y.detach().numpy()).any()
    assert (y.detach().numpy()[:, 2] == 0).all()
    f = np.where(m, 0.0, -np.inf).astype(dtype)
    sdpa_both(rng, dtype, (2, 5, 8), (2, 7, 8), (2, 7, 4), mask=f)


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hq,hk", [(4, 2), (6, 3), (4, 1), (4, 4)])
def test_sdpa_gqa_parity(dtype, hq, hk, rng):
    sdpa_both(rng, dtype, (2, hq, 5, 8), (2, hk, 6, 8), (2, hk, 6, 4), enable_gqa=True)
    sdpa_both(rng, dtype, (2, hq, 5, 8), (2, hk, 6, 8), (2, hk, 6, 4), enable_gqa=True,
              is_causal=True)  # fmt: skip


@needs_torch
def test_sdpa_learnt_float_mask_gets_torch_gradient(rng):
    q, k, v = (rng.normal(size=s) for s in ((2, 5, 4), (2, 6, 4), (2, 6, 3)))
    m = rng.normal(size=(5, 6))
    mo, mt = at.tensor(m, requires_grad=True), torch.tensor(m, requires_grad=True)
    yo = F.scaled_dot_product_attention(at.tensor(q), at.tensor(k), at.tensor(v), mo)
    yt = TF.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), mt)
    close(yo, yt, np.float64)
    yo.sum().backward()
    yt.sum().backward()
    close(mo.grad, mt.grad, np.float64, "mask grad")


# -- the primitive against the composite -----------------------------------------------------
def _reference(q, k, v, mask=None, scale=1.0, keep=None):
    return F._sdpa_reference(q, k, v, mask, scale, keep)


@pytest.mark.parametrize("with_keep", [False, True])
def test_fused_primitive_matches_composite_reference(with_keep, rng):
    q, k, v = (rng.normal(size=s) for s in ((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 3)))
    mask = np.where(rng.random((5, 6)) > 0.3, 0.0, -np.inf)
    mask[1] = -np.inf  # one dead row
    keep = ((rng.random((2, 3, 5, 6)) > 0.25) / 0.75) if with_keep else None
    ins = [at.tensor(a, requires_grad=True) for a in (q, k, v)]
    ref = [at.tensor(a, requires_grad=True) for a in (q, k, v)]
    y = ops.ScaledDotProductAttention.apply(*ins, mask=mask, scale=0.4, keep=keep)
    r = _reference(*ref, mask=mask, scale=0.4, keep=keep)
    np.testing.assert_allclose(y.detach().numpy(), r.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = at.tensor(rng.normal(size=r.shape))
    y.backward(g)
    r.backward(g)
    for a, b in zip(ins, ref):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_fused_fast_and_differentiable_backward_agree(rng):
    """The no-graph numpy backward and the Tensor-op backward (taken under create_graph)
    give the same first derivatives."""
    q, k, v = (rng.normal(size=s) for s in ((2, 5, 4), (6, 4), (2, 6, 3)))
    mask = np.where(np.tri(5, 6, dtype=bool), 0.0, -np.inf)
    keep = (rng.random((2, 5, 6)) > 0.5) * 2.0
    grads = []
    for create in (False, True):
        ins = [at.tensor(a, requires_grad=True) for a in (q, k, v)]
        y = ops.ScaledDotProductAttention.apply(*ins, mask=mask, scale=0.5, keep=keep)
        grads.append(at.grad((y * y).sum(), ins, create_graph=create))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sdpa_gradcheck_and_gradgradcheck_with_masks_and_gqa(rng):
    q = at.tensor(rng.normal(size=(1, 4, 3, 2)), requires_grad=True)
    k = at.tensor(rng.normal(size=(1, 2, 4, 2)), requires_grad=True)
    v = at.tensor(rng.normal(size=(1, 2, 4, 3)), requires_grad=True)
    m = at.tensor(rng.random((3, 4)) > 0.3)

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True, scale=0.8)

    assert at.gradcheck(fn, (q, k, v))
    assert at.gradgradcheck(fn, (q, k, v))

    def causal(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

    assert at.gradcheck(causal, (q, k, v))


def test_sdpa_dropout_uses_autotensor_rng_and_keeps_expectation(rng):
    q, k, v = (at.tensor(rng.normal(size=s)) for s in ((2, 8, 4), (2, 8, 4), (2, 8, 3)))
    at.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    at.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    plain = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), plain.numpy())
    mean = np.mean([F.scaled_dot_product_attention(q, k, v, 0.5).numpy() for _ in range(400)], 0)
    np.testing.assert_allclose(mean, plain.numpy(), atol=0.15)
    zero = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    assert (zero.numpy() == 0).all()

    # the gradient is that of the sampled pattern: gradcheck with the seed fixed per call
    qg = at.tensor(rng.normal(size=(1, 3, 2)), requires_grad=True)

    def fn(q):
        at.manual_seed(5)
        return F.scaled_dot_product_attention(q, q, q, dropout_p=0.3)

    assert at.gradcheck(fn, (qg,))


# -- hypothesis over shapes ------------------------------------------------------------------
@needs_torch
@settings(max_examples=25, deadline=None)
@given(
    batch=st.sampled_from([(), (2,), (1, 3), (2, 2)]),
    L=st.integers(1, 5),
    S=st.integers(1, 5),
    E=st.integers(1, 4),
    Ev=st.integers(1, 3),
    kind=st.sampled_from(["none", "bool", "float", "causal"]),
    gqa=st.sampled_from([1, 2]),
    seed=st.integers(0, 2**16),
)
def test_sdpa_hypothesis_shapes_masks_vs_torch(batch, L, S, E, Ev, kind, gqa, seed):
    rng = np.random.default_rng(seed)
    qb = batch
    kb = batch
    kw: dict = {}
    if gqa > 1 and batch:
        qb = batch[:-1] + (batch[-1] * gqa,)
        kw["enable_gqa"] = True
    mask = None
    if kind == "causal":
        kw["is_causal"] = True
    elif kind == "bool":
        mask = rng.random((L, S)) > 0.5
    elif kind == "float":
        mask = np.where(rng.random((L, S)) > 0.3, rng.normal(size=(L, S)), -np.inf)
    sdpa_both(rng, np.float64, qb + (L, E), kb + (S, E), kb + (S, Ev), mask=mask, **kw)


# -- errors ----------------------------------------------------------------------------------
def test_sdpa_errors_name_the_op_and_shapes():
    q, k, v = at.randn(2, 3, 4), at.randn(2, 5, 4), at.randn(2, 5, 6)
    with pytest.raises(
        RuntimeError, match=r"scaled_dot_product_attention.*\(2, 3, 4\).*\(2, 5, 3\)"
    ):
        F.scaled_dot_product_attention(q, at.randn(2, 5, 3), v)
    with pytest.raises(
        RuntimeError, match=r"scaled_dot_product_attention.*\(2, 5, 4\).*\(2, 4, 6\)"
    ):
        F.scaled_dot_product_attention(q, k, at.randn(2, 4, 6))
    with pytest.raises(RuntimeError, match="is_causal"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=at.ones(3, 5, dtype=at.bool),
                                       is_causal=True)  # fmt: skip
    with pytest.raises(RuntimeError, match="bool or float"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=at.ones(3, 5, dtype=at.int64))
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(4, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=at.ones(4, 5, dtype=at.bool))
    with pytest.raises(RuntimeError, match="divide the number of heads"):
        F.scaled_dot_product_attention(
            at.randn(1, 6, 3, 4), at.randn(1, 4, 5, 4), at.randn(1, 4, 5, 4), enable_gqa=True
        )
    with pytest.raises(RuntimeError, match="do not broadcast"):
        F.scaled_dot_product_attention(at.randn(1, 4, 3, 4), at.randn(1, 2, 5, 4),
                                       at.randn(1, 2, 5, 4))  # fmt: skip
    with pytest.raises(RuntimeError, match="same dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)


# -- MultiheadAttention ----------------------------------------------------------------------
def _sd(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def mha_both(rng, dtype, kw, q_shape, kv_shape=None, call=None, self_attn=True, loss_w=True):
    """torch's MHA and ours from the same state dict, same inputs; compare outputs, weights
    and every gradient."""
    call = dict(call or {})
    tm = torch.nn.MultiheadAttention(**kw).to({np.float32: torch.float32,
                                                np.float64: torch.float64}[dtype])  # fmt: skip
    am = nn.MultiheadAttention(**kw).to(dtype)
    am.load_state_dict(_sd(tm), strict=True)
    assert list(_sd(am)) == list(_sd(tm))
    xq = rng.normal(size=q_shape).astype(dtype)
    if self_attn:
        to_ = [torch.tensor(xq, requires_grad=True)] * 3
        ao_ = [at.tensor(xq, requires_grad=True)] * 3
    else:
        xk = rng.normal(size=kv_shape[0]).astype(dtype)
        xv = rng.normal(size=kv_shape[1]).astype(dtype)
        to_ = [torch.tensor(a, requires_grad=True) for a in (xq, xk, xv)]
        ao_ = [at.tensor(a, requires_grad=True) for a in (xq, xk, xv)]
    ta = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    aa = {k: at.tensor(v) if isinstance(v, np.ndarray) else v for k, v in call.items()}
    yt, wt = tm(*to_, **ta)
    yo, wo = am(*ao_, **aa)
    close(yo, yt, dtype, "attn_output")
    if wt is None:
        assert wo is None
    else:
        close(wo, wt, dtype, "attn_weights")
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    lt = (yt * torch.tensor(g)).sum()
    lo = (yo * at.tensor(g)).sum()
    if wt is not None and loss_w:
        gw = rng.normal(size=tuple(wt.shape)).astype(dtype)
        lt = lt + (wt * torch.tensor(gw)).sum()
        lo = lo + (wo * at.tensor(gw)).sum()
    lt.backward()
    lo.backward()
    for i, (o, t) in enumerate(zip(ao_, to_)):
        if i == 0 or not self_attn:
            close(o.grad, t.grad, dtype, f"grad of input {i}")
    tp = dict(tm.named_parameters())
    for name, p in am.named_parameters():
        close(p.grad, tp[name].grad, dtype, f"grad of {name}")
    return am, yo, wo


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_self_attention_parity(dtype, batch_first, need_weights, average, rng):
    shape = (3, 5, 8) if batch_first else (5, 3, 8)
    kpm = np.zeros((3, 5), dtype=bool)
    kpm[1, 3:] = True
    attn = rng.random((5, 5)) > 0.8
    np.fill_diagonal(attn, False)  # every query keeps itself
    mha_both(
        rng, dtype, dict(embed_dim=8, num_heads=2, batch_first=batch_first), shape,
        call=dict(key_padding_mask=kpm, attn_mask=attn, need_weights=need_weights,
                  average_attn_weights=average),
    )  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kw",
    [
        dict(embed_dim=8, num_heads=4, kdim=5, vdim=3),
        dict(embed_dim=8, num_heads=2, bias=False),
        dict(embed_dim=8, num_heads=2, add_bias_kv=True),
        dict(embed_dim=8, num_heads=2, add_zero_attn=True),
        dict(embed_dim=8, num_heads=2, add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=6),
    ],
)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_cross_attention_options_parity(dtype, kw, need_weights, rng):
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)
    kpm = np.zeros((2, 6), dtype=bool)
    kpm[0, 4:] = True
    mask = rng.normal(size=(4, 6)).astype(dtype)
    mha_both(
        rng, dtype, kw, (4, 2, 8), ((6, 2, kd), (6, 2, vd)), self_attn=False,
        call=dict(key_padding_mask=kpm, attn_mask=mask, need_weights=need_weights),
    )  # fmt: skip


@needs_torch
@pytest.mark.parametrize("dtype", DTYPES)
def test_mha_unbatched_3d_mask_float_padding_and_causal(dtype, rng):
    kw = dict(embed_dim=6, num_heads=3)
    mask3 = rng.normal(size=(3, 4, 4)).astype(dtype)
    mha_both(rng, dtype, kw, (4, 6), call=dict(attn_mask=mask3))
    kpm = np.where(np.arange(4) >= 3, -np.inf, 0.0).astype(dtype)
    mha_both(rng, dtype, kw, (4, 6), call=dict(key_padding_mask=kpm, need_weights=False))
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5).numpy().astype(dtype)
    mha_both(rng, dtype, kw, (5, 2, 6),
             call=dict(attn_mask=causal, is_causal=True, need_weights=False))  # fmt: skip
    m3 = np.repeat(rng.normal(size=(1, 5, 5)), 6, 0).astype(dtype)
    mha_both(rng, dtype, kw, (5, 2, 6), call=dict(attn_mask=m3, need_weights=False))


@needs_torch
def test_mha_fully_masked_rows_follow_torch_per_path(rng):
    """torch's explicit-softmax path (need_weights) gives NaN for a query whose keys are all
    padded; its SDPA path gives 0. Ours does the same in each case."""
    tm = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    am = nn.MultiheadAttention(4, 2, batch_first=True).double()
    am.load_state_dict(_sd(tm))
    x = rng.normal(size=(2, 3, 4))
    kpm = np.zeros((2, 3), dtype=bool)
    kpm[0] = True
    for nw in (True, False):
        yt, _ = tm(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(kpm), need_weights=nw)
        yo, _ = am(*[at.tensor(x)] * 3, key_padding_mask=at.tensor(kpm), need_weights=nw)
        yo, yt = yo.detach().numpy(), yt.detach().numpy()
        np.testing.assert_allclose(yo, yt, rtol=1e-10, equal_nan=True)
        assert np.isnan(yo[0]).all() == nw


@needs_torch
def test_mha_layout_init_and_repr_like_torch():
    at.manual_seed(0)
    m = nn.MultiheadAttention(16, 4)
    t = torch.nn.MultiheadAttention(16, 4)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in t.state_dict().items()
    ]
    assert (m.in_proj_bias.detach().numpy() == 0).all()
    assert (m.out_proj.bias.detach().numpy() == 0).all()
    bound = np.sqrt(6 / (16 + 48))  # xavier_uniform_ of (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    sep = nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    ts = torch.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True)
    assert {k: tuple(v.shape) for k, v in sep.state_dict().items()} == {
        k: tuple(v.shape) for k, v in ts.state_dict().items()
    }
    assert sep.in_proj_weight is None and sep.head_dim == 4
    assert repr(m.out_proj) == "Linear(in_features=16, out_features=16, bias=True)"


def test_mha_errors():
    with pytest.raises(AssertionError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="greater than 0"):
        nn.MultiheadAttention(0, 1)
    m = nn.MultiheadAttention(4, 2)
    x = at.randn(3, 2, 4)
    with pytest.raises(RuntimeError, match=r"2D attn_mask is \(3, 4\)"):
        m(x, x, x, attn_mask=at.zeros(3, 4))
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(AssertionError, match="3-D"):
        m(x, at.randn(3, 4), at.randn(3, 4))
    with pytest.raises(AssertionError, match="only bool and floating"):
        m(x, x, x, key_padding_mask=at.zeros(2, 3, dtype=at.int64))


def test_mha_dropout_in_training_only(rng):
    m = nn.MultiheadAttention(4, 2, dropout=0.5)
    x = at.tensor(rng.normal(size=(5, 2, 4)).astype(np.float32))
    m.eval()
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    m.train()
    c, _ = m(x, x, x, need_weights=False)
    assert not np.allclose(a.detach().numpy(), c.detach().numpy())


@needs_torch
def test_multi_head_attention_forward_functional_matches_module(rng):
    tm = torch.nn.MultiheadAttention(6, 2).double()
    x = rng.normal(size=(4, 2, 6))
    p = {k: at.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    yo, wo = F.multi_head_attention_forward(
        at.tensor(x), at.tensor(x), at.tensor(x), 6, 2, p["in_proj_weight"], p["in_proj_bias"],
        None, None, False, 0.0, p["out_proj.weight"], p["out_proj.bias"],
    )  # fmt: skip
    xt = torch.tensor(x)
    yt, wt = TF.multi_head_attention_forward(
        xt, xt, xt, 6, 2, tm.in_proj_weight, tm.in_proj_bias, None, None, False, 0.0,
        tm.out_proj.weight, tm.out_proj.bias,
    )  # fmt: skip
    close(yo, yt, np.float64)
    close(wo, wt, np.float64)
