"""Building blocks: attention paths agree, masks work, positions are right."""
from __future__ import annotations

import math

import pytest
import torch

from bertkit import hardware
from bertkit.nn.attention import MultiHeadAttention, additive_mask
from bertkit.nn.block import Block
from bertkit.nn.embeddings import Embeddings, sinusoidal_table
from bertkit.nn.feedforward import FeedForward
from bertkit.nn.pooling import pool
from bertkit.nn.stack import Stack, make_block
from tests.cpu_features import requires_bf16_packing


def _attention_and_padded_batch():
    """A seeded 4-head attention over width 16 and a batch of 2 x 5 whose second row ends in 2 pads."""
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return attn, x, mask, additive_mask(mask, x.dtype)


def test_sdpa_and_explicit_paths_agree_and_probs_are_returned():
    attn, x, _mask, bias = _attention_and_padded_batch()
    fast, none = attn(x, bias)
    slow, probs = attn(x, bias, output_attentions=True)
    assert none is None and probs.shape == (2, 4, 5, 5)
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
    assert probs[1, :, :, 3:].abs().max() == 0.0


def test_causal_attention_ignores_the_future():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2, causal=True).eval()
    x = torch.randn(1, 6, 8)
    y1, p = attn(x, output_attentions=True)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(1, 2, 8)
    y2, _ = attn(x2)
    torch.testing.assert_close(y1[:, :4], y2[:, :4])
    assert torch.triu(p[0, 0], diagonal=1).abs().max() == 0.0


def test_cross_attention_reads_context():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2, kv_dim=12).eval()
    y, p = attn(torch.randn(2, 3, 8), context=torch.randn(2, 7, 12), output_attentions=True)
    assert y.shape == (2, 3, 8) and p.shape == (2, 2, 3, 7)


def test_sinusoidal_table_matches_formula():
    t = sinusoidal_table(50, 8)
    p, i = 7, 3
    assert math.isclose(t[p, 2 * i].item(), math.sin(p / 10000 ** (2 * i / 8)), rel_tol=1e-5)
    assert math.isclose(t[p, 2 * i + 1].item(), math.cos(p / 10000 ** (2 * i / 8)), rel_tol=1e-5)


def test_roberta_positions_skip_padding():
    e = Embeddings(10, 4, 20, type_vocab_size=1, pad_id=1, position_offset=True)
    ids = torch.tensor([[0, 5, 6, 2, 1, 1]])
    assert e.position_ids(ids).tolist() == [[2, 3, 4, 5, 1, 1]]
    assert e.max_tokens == 18


def test_pre_ln_block_is_residual_around_normalised_input():
    torch.manual_seed(0)
    blk = Block(MultiHeadAttention(8, 2), FeedForward(8, 16), 8, pre_ln=True).eval()
    x = torch.randn(1, 4, 8)
    a, _ = blk.attn(blk.norm1(x))
    h = x + a
    expect = h + blk.ff(blk.norm2(h))
    torch.testing.assert_close(blk(x)[0], expect)


def test_shared_stack_reuses_one_block():
    torch.manual_seed(0)
    b = make_block(8, 2, 16).eval()
    st = Stack([b], num_layers=3, schedule=lambda i: [0]).eval()
    x = torch.randn(1, 4, 8)
    y, hidden, _ = st(x, output_hidden_states=True)
    manual = b(b(b(x)[0])[0])[0]
    torch.testing.assert_close(y, manual)
    assert len(hidden) == 4 and sum(p.numel() for p in st.parameters()) == sum(p.numel() for p in b.parameters())


def test_pooling_ignores_padding():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    m = torch.tensor([[1, 1, 0]])
    assert pool(h, m, "mean").tolist() == [[2.0, 3.0]]
    assert pool(h, m, "max").tolist() == [[3.0, 4.0]]
    assert pool(h, m, "cls").tolist() == [[1.0, 2.0]]


def _random_block(act: str = "gelu", pre_ln: bool = False, causal: bool = False) -> Block:
    torch.manual_seed(0)
    blk = make_block(32, 4, 64, act=act, pre_ln=pre_ln, causal=causal).eval()
    with torch.no_grad():  # non-trivial LayerNorm parameters, so a dropped norm would show
        for p in blk.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return blk


def test_fused_block_equals_block_for_every_activation_length_and_mask():
    from bertkit.nn.fused import FusedBlock

    for act in ("gelu", "gelu_new", "relu"):
        blk = _random_block(act)
        fused = FusedBlock(blk)
        for t in (5, 16, 21):  # shorter than, equal to and past one attention multiple of 16
            x = torch.randn(3, t, 32)
            mask = torch.ones(3, t, dtype=torch.long)
            mask[1, t - 2:] = 0
            mask[2, 1:] = 0
            for bias in (None, additive_mask(mask, x.dtype)):
                with torch.inference_mode():
                    want, _ = blk(x, bias)
                    got, probs = fused(x, bias)
                    got_p, probs_p = fused(x, bias, output_attentions=True)
                    _, want_p = blk(x, bias, output_attentions=True)
                assert probs is None
                torch.testing.assert_close(got, want, atol=2e-5, rtol=1e-4)
                torch.testing.assert_close(got_p, want, atol=2e-5, rtol=1e-4)
                torch.testing.assert_close(probs_p, want_p, atol=1e-6, rtol=1e-5)


@requires_bf16_packing
def test_fused_block_in_bf16_stays_close_and_refuses_autograd():
    import pytest

    from bertkit.nn.fused import FusedBlock

    blk = _random_block()
    x = torch.randn(2, 9, 32)
    with torch.inference_mode():
        want, _ = blk(x)
        got, _ = FusedBlock(blk.to(torch.bfloat16))(x.bfloat16())
    cos = torch.nn.functional.cosine_similarity(got.float().flatten(1), want.flatten(1))
    assert cos.min() > 0.999
    with pytest.raises(RuntimeError, match="inference-only"):
        FusedBlock(blk.float())(x)


def test_fuse_for_inference_swaps_only_post_ln_self_attention_blocks():
    from bertkit.nn.fused import FusedBlock, fuse_for_inference

    stack = Stack([_random_block(), _random_block(pre_ln=True), _random_block(causal=True), _random_block("silu")])
    assert fuse_for_inference(stack) == 1
    assert [type(b).__name__ for b in stack.blocks] == ["FusedBlock", "Block", "Block", "Block"]
    shared = Stack([_random_block()], num_layers=3, schedule=lambda i: [0])  # ALBERT-style sharing
    x = torch.randn(2, 7, 32)
    with torch.inference_mode():
        want = shared(x)[0]
        fuse_for_inference(shared)
        assert isinstance(shared.blocks[0], FusedBlock)
        torch.testing.assert_close(shared(x)[0], want, atol=5e-5, rtol=1e-4)


def test_fused_twin_falls_back_with_a_warning_when_onednn_cannot_run(monkeypatch):
    import pytest

    from bertkit.nn.fused import fused_twin

    model = Stack([_random_block()])
    assert fused_twin(model, torch.float32) is not None

    def broken(*args, **kwargs):
        raise RuntimeError("no oneDNN kernel for this CPU")

    monkeypatch.setattr(torch.ops.mkldnn, "_linear_pointwise", broken)
    with pytest.warns(UserWarning, match="fused CPU kernels unavailable"):
        assert fused_twin(model, torch.float32) is None
    assert type(model.blocks[0]).__name__ == "Block"  # the original is never modified


def test_fused_twin_shares_the_tensors_it_does_not_change_and_gives_the_same_outputs():
    import bertkit
    from bertkit.nn.fused import fused_twin

    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                              max_positions=32, num_labels=3)
    model = bertkit.build_model(cfg, "classification").eval()
    ids = torch.randint(5, 300, (3, 11))
    with torch.inference_mode():
        want = model(ids).logits
        fp32, bf16 = fused_twin(model, torch.float32), fused_twin(model, torch.bfloat16)
        torch.testing.assert_close(fp32(ids).logits, want, atol=2e-5, rtol=1e-4)
        if hardware.cpu().bf16_packable:
            assert torch.nn.functional.cosine_similarity(bf16(ids).logits.float(), want).min() > 0.99
        else:  # AVX2 only: oneDNN cannot pack bf16, so there is no fused bf16 twin (callers run plain bf16)
            assert bf16 is None
    own = {p.data_ptr() for p in model.parameters()}
    shared = [n for n, p in fp32.named_parameters() if p.data_ptr() in own]
    # word/position/segment embeddings, their norm, the pooler, the head and the blocks' norms: not copied
    assert {"backbone.embeddings.word.weight", "backbone.pooler.dense.weight", "heads.classification.out.weight"} <= set(shared)
    assert {p.data_ptr() for p in fp32.parameters()} <= own  # block weights live only in the packed copies
    if bf16 is not None:
        assert not own & {p.data_ptr() for p in bf16.parameters()}  # another dtype: a real copy
    assert model.training is False and type(model.backbone.encoder.blocks[0]).__name__ == "Block"


def _train_step(mode, seed=0, batch=4, t=48, dropout=0.3):
    from bertkit.models import Model, ModelConfig

    torch.manual_seed(0)
    m = Model(ModelConfig(vocab_size=50, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                          max_positions=64, attention_dropout=dropout), "qa").train()
    for mod in m.modules():
        if isinstance(mod, MultiHeadAttention):
            mod.attention_memory = mode
    ids = torch.randint(5, 50, (batch, t), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 30:] = 0
    torch.manual_seed(seed)  # the dropout masks
    with torch.autocast("cpu", dtype=torch.bfloat16):
        o = m(ids, mask)
    out = torch.stack([o.start_logits, o.end_logits]).float()
    out.square().sum().backward()
    return out, {n: p.grad for n, p in m.named_parameters() if p.grad is not None}


def test_recomputed_attention_gives_the_same_dropout_masks_and_gradients():
    out_a, grads_a = _train_step("store")
    out_b, grads_b = _train_step("recompute")
    torch.testing.assert_close(out_b, out_a, atol=0, rtol=0)
    assert grads_a.keys() == grads_b.keys() and len(grads_a) > 10
    for n in grads_a:
        torch.testing.assert_close(grads_b[n], grads_a[n], atol=0, rtol=0)
    _, grads_c = _train_step("recompute", seed=1)  # and the masks are really random: another seed, other gradients
    assert not torch.equal(grads_c["backbone.encoder.blocks.0.attn.q.weight"],
                           grads_a["backbone.encoder.blocks.0.attn.q.weight"])


def _reference_attention(q, k, v, bias, p, seed):
    """fp64 autograd reference that draws its keep-mask as compact attention does (one slice)."""
    torch.manual_seed(seed)
    probs = ((q.double() @ k.double().transpose(-1, -2)) / math.sqrt(q.shape[-1]) + bias.double()).softmax(-1)
    keep = torch.rand(probs.shape) >= p
    return (probs * keep / (1 - p)) @ v.double()


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.bfloat16, 2e-2)])
def test_compact_attention_matches_a_reference_with_the_same_dropout_mask(dtype, tol):
    from bertkit.nn.attention import compact_attention

    torch.manual_seed(0)
    q, k, v = (torch.randn(3, 4, 20, 8, dtype=dtype, requires_grad=True) for _ in range(3))
    bias = torch.zeros(3, 1, 1, 20)
    bias[1, ..., 15:] = torch.finfo(torch.float32).min                   # padding in one row
    torch.manual_seed(5)
    out = compact_attention(q, k, v, bias, 0.3)
    g = torch.randn_like(out)
    out.backward(g)
    got = [x.grad.double() for x in (q, k, v)]
    for x in (q, k, v):
        x.grad = None
    ref = _reference_attention(q, k, v, bias, 0.3, seed=5)
    ref.backward(g.double())
    assert out.dtype == dtype
    torch.testing.assert_close(out.double(), ref, atol=tol, rtol=tol)
    for a, x in zip(got, (q, k, v)):
        assert (a - x.grad).abs().max() <= tol * x.grad.abs().max()       # relative to the gradient's scale
    assert (out[1:2].double() - ref[1:2]).abs().max() < tol                 # padded keys get no weight


def test_compact_attention_without_dropout_equals_sdpa_and_slices_the_batch(monkeypatch):
    from bertkit.nn import attention as A

    out_a, grads_a = _train_step("store", dropout=0.0)
    monkeypatch.setattr(A, "_CHUNK_ELEMENTS", 48 * 48 * 4)               # one row of the batch per slice
    out_b, grads_b = _train_step("compact", dropout=0.0)
    torch.testing.assert_close(out_b, out_a, atol=2e-2, rtol=2e-2)
    for n in grads_a:   # bf16 autocast on both sides; the key bias has a zero gradient (softmax is shift-invariant)
        scale = grads_a[n].abs().max()
        assert n.endswith("attn.k.bias") or (grads_b[n] - grads_a[n]).abs().max() <= 3e-2 * scale, n
    out_c, _ = _train_step("compact", dropout=0.3)
    out_d, _ = _train_step("compact", dropout=0.3, seed=1)
    assert not torch.equal(out_c, out_d)                                  # dropout is really applied
    # without attention dropout compact draws no random numbers, so the hidden dropout masks are the store path's:
    # the agreement above (hidden dropout 0.1 on both sides) depends on it


def _saved_bytes(mode):
    m = MultiHeadAttention(32, 4, dropout=0.1).train()
    m.attention_memory = mode
    x = torch.randn(2, 64, 32, requires_grad=True)
    total = []

    def pack(t):
        total.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.autocast("cpu", dtype=torch.bfloat16):
        m(x)[0].sum().backward()
    return sum(total) / (2 * 4 * 64 * 64)                                 # bytes per score element


def test_compact_attention_stores_a_fraction_of_the_math_path():
    store, compact, recompute = _saved_bytes("store"), _saved_bytes("compact"), _saved_bytes("recompute")
    # recompute keeps only the projections' inputs; above that, per score element: bf16 probabilities + bool mask
    assert compact - recompute == 3.0 and store - recompute > 10, (store, compact, recompute)


def test_attention_memory_mode_by_dropout_and_override():
    from bertkit.nn import attention as A

    m = MultiHeadAttention(32, 4, dropout=0.1)
    big = torch.zeros(1, 4, 2048, 8, requires_grad=True)
    small = torch.zeros(1, 4, 16, 8, requires_grad=True)
    assert m.memory_mode(big, big, 0.1) == A.DROPOUT_ATTENTION == "compact"
    assert m.memory_mode(small, small, 0.1) == "compact"                 # any size: compact is also the faster
    assert m.memory_mode(big, big, 0.0) == "store"                  # no dropout: the fused kernel, nothing stored
    with torch.no_grad():
        assert m.memory_mode(big, big, 0.1) == "store"              # inference
    m.attention_memory = "recompute"
    assert m.memory_mode(small, small, 0.1) == "recompute"
    m.attention_memory = "bogus"
    with pytest.raises(ValueError, match="expected one of"):
        m.memory_mode(small, small, 0.1)
    from bertkit.nn.attention import compact_attention

    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.0"):
        compact_attention(small, small, small, None, 1.0)


def test_feed_forward_output_is_dropped_once():
    """A block's feed-forward output gets one dropout of rate p (as BertOutput and GPT-2's MLP), not two (which
    would zero 1 - (1 - p)^2 of it: 0.75 at p = 0.5)."""
    from bertkit.nn.stack import make_block

    torch.manual_seed(0)
    block = make_block(16, 2, 64, dropout=0.5, pre_ln=True).train()  # pre-LN: the sublayer adds drop(ff(LN x))
    x = torch.randn(64, 32, 16)
    delta = block._sub(x, block.norm2, lambda h: (block.ff(h), None))[0] - x
    zeros = (delta == 0).float().mean().item()
    assert 0.47 < zeros < 0.53, zeros


def test_pre_softmax_scores_are_q_k_over_sqrt_d_plus_mask_on_every_path():
    """output_attentions="scores": q k^T / sqrt(d) + the mask bias, whose softmax is the probabilities; the output
    is the same as on the fused path, in MultiHeadAttention and in the inference FusedBlock."""
    from bertkit.nn.fused import FusedBlock

    attn, x, _mask, bias = _attention_and_padded_batch()
    fast, _ = attn(x, bias)
    out, scores = attn(x, bias, output_attentions="scores")
    _, probs = attn(x, bias, output_attentions=True)
    torch.testing.assert_close(out, fast, atol=1e-6, rtol=1e-5)
    q = attn.q(x).view(2, 5, 4, 4).transpose(1, 2)
    k = attn.k(x).view(2, 5, 4, 4).transpose(1, 2)
    want = torch.einsum("bhqd,bhkd->bhqk", q, k) / 2.0  # sqrt(head_dim 4)
    torch.testing.assert_close(scores[0], want[0])
    torch.testing.assert_close(scores[1, :, :, :3], want[1, :, :, :3])
    assert (scores[1, :, :, 3:] < -1e30).all()  # padded keys hold the bias
    torch.testing.assert_close(scores.softmax(-1), probs)
    blk = _random_block("gelu")
    x = torch.randn(2, 5, 32)
    with torch.inference_mode():
        y_ref, s_ref = blk(x, bias, output_attentions="scores")
        y_f, s_fused = FusedBlock(blk)(x, bias, output_attentions="scores")
    torch.testing.assert_close(s_fused, s_ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(y_f, y_ref, atol=2e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="output_attentions must be"):
        from bertkit.nn.attention import check_output_attentions
        check_output_attentions("probs")


def test_dropout_keeps_one_minus_p_scales_and_masks_the_gradient():
    from bertkit.nn.dropout import Dropout, dropout

    torch.manual_seed(0)
    x = torch.randn(400, 500, requires_grad=True)
    y = dropout(x, 0.3)
    kept = y != 0
    rate = kept.float().mean().item()
    assert abs(rate - 0.7) < 0.005                       # 200,000 draws: 4.7 standard deviations is 0.0048
    assert torch.allclose(y[kept], x[kept] / 0.7)        # kept elements scaled by 1 / (1 - p)
    g = torch.randn_like(x)
    y.backward(g)
    assert torch.allclose(x.grad, g * kept / 0.7)        # backward: the same mask, the same scale
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"dropout probability must be in \[0, 1\], got 1.5"):
        dropout(x, 1.5)
    m = Dropout(0.5)
    assert m.state_dict() == {} and isinstance(m, torch.nn.Dropout)
    m.eval()
    assert torch.equal(m(x), x)
    m.train()
    z = m(torch.ones(1000, 1000))
    assert set(torch.unique(z).tolist()) == {0.0, 2.0} and abs((z == 0).float().mean().item() - 0.5) < 0.005
    torch.manual_seed(5)
    a = m(torch.ones(64, 64))
    torch.manual_seed(5)
    assert torch.equal(a, m(torch.ones(64, 64)))          # seeded: the same mask again
