"""Masking statistics over >= 1M tokens, whole-word units and span lengths."""
from __future__ import annotations

import math

import pytest
import torch

from bertkit.errors import InputError
from bertkit.objectives.masking import (MaskingConfig, Vocab, continuation_table, mask_spans, mask_tokens,
                                        mask_whole_words, maskable, span_length_distribution, word_ids)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
V = 1000
TOKENS = SPECIAL + [("##" if i % 3 == 0 else "") + f"w{i}" for i in range(5, V)]
VOCAB = Vocab(mask_id=4, vocab_size=V, special_ids=(0, 1, 2, 3, 4), continuation=continuation_table(TOKENS, "wordpiece"))


def corpus(batch: int, length: int, seed: int = 0, pad: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, V, (batch, length), generator=g)
    ids[:, 0], ids[:, -1 - pad] = 2, 3
    if pad:
        ids[:, -pad:] = 0
    return ids


def split(ids, out, labels):
    """Fractions of the chosen tokens that became [MASK], another token, or stayed."""
    chosen = labels != -100
    n = chosen.sum().item()
    masked = (out[chosen] == 4).sum().item() / n
    changed = ((out[chosen] != 4) & (out[chosen] != ids[chosen])).sum().item() / n
    return n, masked, changed, 1 - masked - changed


def test_token_masking_statistics_over_a_million_tokens():
    ids = corpus(4000, 256, pad=6)   # 1,024,000 positions, 6 padding per row
    out, labels = mask_tokens(ids, VOCAB, torch.Generator().manual_seed(1))
    ok = maskable(ids, VOCAB)
    n, masked, changed, same = split(ids, out, labels)
    assert n / ok.sum().item() == pytest.approx(0.15, abs=0.0006)    # sd ~ 0.0001 with stochastic rounding
    assert masked == pytest.approx(0.8, abs=0.004)                  # sd of a proportion over 150k: 0.001
    p_same_random = 1 / (V - 5)                                      # a random token can redraw the original
    assert changed == pytest.approx(0.1 * (1 - p_same_random), abs=0.003)
    assert same == pytest.approx(0.1 + 0.1 * p_same_random, abs=0.003)
    assert not (labels[~ok] != -100).any()                          # specials and padding never chosen
    assert (out[~ok] == ids[~ok]).all()
    assert not torch.isin(out[(labels != -100) & (out != 4) & (out != ids)], torch.arange(5)).any()
    torch.testing.assert_close(labels[labels != -100], ids[labels != -100])


def test_rates_are_configurable_and_seeded():
    ids = corpus(500, 128)
    cfg = MaskingConfig(prob=0.3, mask_frac=0.5, random_frac=0.5)
    out, labels = mask_tokens(ids, VOCAB, torch.Generator().manual_seed(3), cfg)
    n, masked, changed, same = split(ids, out, labels)
    assert n / maskable(ids, VOCAB).sum().item() == pytest.approx(0.3, abs=0.004)
    assert masked == pytest.approx(0.5, abs=0.02) and same == pytest.approx(0.5 / (V - 5), abs=0.003)
    again = mask_tokens(ids, VOCAB, torch.Generator().manual_seed(3), cfg)
    assert torch.equal(out, again[0]) and torch.equal(labels, again[1])
    other = mask_tokens(ids, VOCAB, torch.Generator().manual_seed(4), cfg)
    assert not torch.equal(labels, other[1])
    with pytest.raises(InputError, match="mask_frac"):
        MaskingConfig(mask_frac=0.9, random_frac=0.2)


def test_book_example_pre_train_ing_is_masked_as_a_unit():
    toks = SPECIAL + ["we", "pre", "##train", "##ing", "bert"]
    vocab = Vocab(4, len(toks), (0, 1, 2, 3, 4), continuation_table(toks, "wordpiece"))
    ids = torch.tensor([[2, 5, 6, 7, 8, 9, 3]])                      # [CLS] we pre ##train ##ing bert [SEP]
    cfg = MaskingConfig(prob=0.6, mask_frac=1.0, random_frac=0.0)   # budget 3 of 5 tokens
    seen_unit = 0
    for seed in range(40):
        out, labels = mask_whole_words(ids, vocab, torch.Generator().manual_seed(seed), cfg)
        chosen = (labels[0] != -100).tolist()
        assert chosen[2] == chosen[3] == chosen[4]                 # pre ##train ##ing together
        assert sum(chosen) <= 3                                     # never over the budget
        if chosen[2]:
            seen_unit += 1
            assert out[0, 2:5].tolist() == [4, 4, 4]
    assert seen_unit > 5


@pytest.mark.parametrize("scheme,tokens,expected", [
    ("wordpiece", ["[CLS]", "un", "##believ", "##able", "cat", "[SEP]"], [0, 1, 1, 1, 2, 3]),
    ("bpe", ["<s>", "Hello", "Ġwor", "ld", "Ġ!", "</s>"], [0, 1, 2, 2, 3, 4]),
    ("sentencepiece", ["<s>", "▁new", "york", "▁city", "</s>"], [0, 1, 1, 2, 3]),
])
def test_word_boundaries_per_scheme(scheme, tokens, expected):
    table = continuation_table(tokens, scheme)
    specials = tuple(i for i, t in enumerate(tokens) if t[0] in "[<")
    vocab = Vocab(0, len(tokens), specials, table)
    assert word_ids(torch.arange(len(tokens))[None], vocab)[0].tolist() == expected


def test_whole_word_masking_statistics():
    ids = corpus(2000, 512)                                         # 1,024,000 tokens
    out, labels = mask_whole_words(ids, VOCAB, torch.Generator().manual_seed(5))
    ok = maskable(ids, VOCAB)
    chosen = labels != -100
    assert chosen.sum().item() / ok.sum().item() == pytest.approx(0.15, abs=0.001)
    assert (chosen.sum(1) <= torch.ceil(ok.sum(1) * 0.15)).all()    # never exceeds a sequence's budget
    wid = word_ids(ids, VOCAB)
    for b in range(50):                                             # every word all-or-nothing, one draw per word
        for w in wid[b].unique():
            sel = wid[b] == w
            assert chosen[b, sel].all() or not chosen[b, sel].any()
            if chosen[b, sel].all():
                assert (out[b, sel] == 4).all() or not (out[b, sel] == 4).any()
    n, masked, changed, same = split(ids, out, labels)
    assert masked == pytest.approx(0.8, abs=0.01)


def test_span_masking_statistics():
    # Long rows: only the last span of a row can be cut by the budget, so 4096-token rows keep that edge
    # effect (~1 span in 90) below the tolerance; 250 x 4096 = 1,024,000 tokens.
    ids = corpus(250, 4096, seed=2)
    out, labels, spans = mask_spans(ids, VOCAB, torch.Generator().manual_seed(6))
    d = span_length_distribution(0.2, 10)
    assert float((d * torch.arange(1, 11)).sum()) == pytest.approx(3.797, abs=1e-3)
    ok = maskable(ids, VOCAB)
    chosen = labels != -100
    assert chosen.sum().item() / ok.sum().item() == pytest.approx(0.15, abs=0.001)
    wid = word_ids(ids, VOCAB)
    lens, draws_mask = [], []
    cover = torch.zeros_like(chosen)
    for b, row in enumerate(spans):
        for s, e in row:
            assert not cover[b, s:e].any()                           # no overlap
            cover[b, s:e] = True
            lens.append(len(wid[b, s:e].unique()))
            assert s == 0 or wid[b, s - 1] != wid[b, s]              # whole words
            assert e == ids.shape[1] or wid[b, e] != wid[b, e - 1]
            m = out[b, s:e] == 4
            assert m.all() or not m.any()                            # 80/10/10 decided per span
            draws_mask.append(bool(m.all()))
    assert torch.equal(cover, chosen)
    mean = sum(lens) / len(lens)
    sd = math.sqrt(sum((x - mean) ** 2 for x in lens) / len(lens) / len(lens))
    assert mean == pytest.approx(3.797, abs=max(0.05, 4 * sd)), mean
    assert max(lens) == 10 and min(lens) == 1
    assert sum(draws_mask) / len(draws_mask) == pytest.approx(0.8, abs=0.02)


def test_whole_word_masking_needs_a_table():
    with pytest.raises(InputError, match="continuation table"):
        mask_whole_words(corpus(1, 8), Vocab(4, V, (0, 1, 2, 3, 4)), torch.Generator())
