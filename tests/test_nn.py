"""Building blocks: attention paths agree, masks work, positions are right."""
from __future__ import annotations

import math

import torch

from bertkit.nn.attention import MultiHeadAttention, additive_mask
from bertkit.nn.block import Block
from bertkit.nn.embeddings import Embeddings, sinusoidal_table
from bertkit.nn.feedforward import FeedForward
from bertkit.nn.pooling import pool
from bertkit.nn.stack import Stack, make_block


def test_sdpa_and_explicit_paths_agree_and_probs_are_returned():
    torch.manual_seed(0)
    attn = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 5, 16)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    bias = additive_mask(mask, x.dtype)
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
