"""BART's noising functions, each checked by its rules, and determinism under a seed."""
from __future__ import annotations

import itertools

import pytest
import torch

from bertkit.errors import InputError
from bertkit.objectives.bart_noise import (
    NoiseConfig,
    NoiseVocab,
    apply_infill,
    document_rotation,
    infill_spans,
    noise,
    sentence_permutation,
    sentences,
    text_infilling,
    token_deletion,
    token_masking,
)

BOS, PAD, EOS, MASK, STOP = 0, 1, 2, 3, 4
VOCAB = NoiseVocab(MASK, (BOS, PAD, EOS), (STOP,))


def doc(n: int = 40, seed: int = 0) -> torch.Tensor:
    """<s> n word ids (5..99) with a full stop every 5-9 tokens and at the end </s>."""
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(5, 100, (n,), generator=g)
    i = 0
    while True:
        i += int(torch.randint(5, 10, (1,), generator=g))
        if i >= n:
            break
        body[i] = STOP
    body[-1] = STOP
    return torch.cat([torch.tensor([BOS]), body, torch.tensor([EOS])])


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def is_subsequence(short: list[int], long: list[int]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def test_token_masking_replaces_the_chosen_tokens_only():
    ids = doc(100)
    fractions = []
    for seed in range(200):
        out = token_masking(ids, VOCAB, gen(seed), ratio=0.2)
        assert out.shape == ids.shape and out[0] == BOS and out[-1] == EOS
        changed = out != ids
        assert (out[changed] == MASK).all()  # what changed became <mask>, the rest is the original
        assert int(changed.sum()) in (20, 21)  # 0.2 * 100 maskable tokens (stochastic rounding)
        fractions.append(changed.float().sum().item() / 100)
    assert abs(sum(fractions) / len(fractions) - 0.2) < 0.005


def test_token_masking_never_masks_special_tokens_or_masks():
    ids = torch.tensor([BOS, 7, MASK, 8, EOS, PAD, PAD])
    for seed in range(50):
        out = token_masking(ids, VOCAB, gen(seed), ratio=0.9)
        assert out[[0, 2, 4, 5, 6]].tolist() == [BOS, MASK, EOS, PAD, PAD]


def test_token_deletion_keeps_order_and_shrinks_by_the_deleted_count():
    ids = doc(100)
    removed = []
    for seed in range(200):
        out = token_deletion(ids, VOCAB, gen(seed), ratio=0.15)
        k = len(ids) - len(out)
        assert k in (15, 16)
        assert is_subsequence(out.tolist(), ids.tolist())
        assert out[0] == BOS and out[-1] == EOS and int((out == BOS).sum() + (out == EOS).sum()) == 2
        removed.append(k)
    assert abs(sum(removed) / len(removed) - 15.0) < 0.15  # 0.15 of 100: the expectation is exact


def _restore(noised: torch.Tensor, spans, original: torch.Tensor) -> list[int]:
    """Put each span's original tokens back in place of its <mask> (nothing for a zero-length span)."""
    out, it = [], iter(spans)
    for t in noised.tolist():
        if t == MASK:
            s, length = next(it)
            out.extend(original[s:s + length].tolist())
        else:
            out.append(t)
    return out


def test_text_infilling_one_mask_per_span_and_the_rest_in_order():
    ids = doc(120)
    for seed in range(100):
        spans = infill_spans(ids, VOCAB, gen(seed))
        out = apply_infill(ids, spans, MASK)
        assert int((out == MASK).sum()) == len(spans)
        assert _restore(out, spans, ids) == ids.tolist()  # unmasked tokens in order, every span where it was
        covered = [i for s, n in spans for i in range(s, s + n)]
        assert len(covered) == len(set(covered)) and 0 not in covered and len(ids) - 1 not in covered
        assert sum(n for _, n in spans) in (36, 37)  # 0.3 of the 120 maskable tokens
        assert len(out) == len(ids) - sum(n - 1 for _, n in spans)
        torch.testing.assert_close(text_infilling(ids, VOCAB, gen(seed)), out)


def test_text_infilling_masks_the_rate_and_draws_poisson_lengths():
    masked = maskable = 0
    lengths = []
    for seed in range(300):
        ids = doc(60, seed)
        spans = infill_spans(ids, VOCAB, gen(seed), ratio=0.3, poisson_lambda=3.0)
        masked += sum(n for _, n in spans)
        maskable += 60
        lengths += [n for _, n in spans]
    assert abs(masked / maskable - 0.3) < 0.01
    # Poisson(3) has mean 3; the last span of each sequence is cut to the budget, which pulls the mean down a little
    assert 2.5 < sum(lengths) / len(lengths) < 3.1
    zero = lengths.count(0) / len(lengths)
    assert 0.02 < zero < 0.09  # P(0) = e^-3 = 0.05


def test_zero_length_spans_insert_a_mask():
    ids = doc(30)
    found = 0
    for seed in range(200):
        spans = infill_spans(ids, VOCAB, gen(seed), ratio=0.3, poisson_lambda=0.7)  # P(0) = 0.5
        zeros = [s for s, n in spans if n == 0]
        if not zeros:
            continue
        found += 1
        out = apply_infill(ids, spans, MASK)
        assert int((out == MASK).sum()) == len(spans)
        assert len(out) == len(ids) + len(zeros) - sum(n - 1 for _, n in spans if n)
        assert all(1 <= s <= len(ids) - 1 for s in zeros)  # after <s>, at the latest before </s>
        assert out[0] == BOS and out[-1] == EOS
    assert found > 50
    # one insertion alone: the mask goes in front of token s, nothing is removed
    assert apply_infill(torch.tensor([BOS, 7, 8, EOS]), [(2, 0)], MASK).tolist() == [BOS, 7, MASK, 8, EOS]
    assert apply_infill(torch.tensor([BOS, 7, 8, EOS]), [(3, 0), (1, 2)], MASK).tolist() == [BOS, MASK, MASK, EOS]


def test_infilling_stays_within_max_length():
    ids = doc(8)
    for seed in range(200):
        out = text_infilling(ids, VOCAB, gen(seed), ratio=0.3, poisson_lambda=0.3, max_length=len(ids))
        assert len(out) <= len(ids)


def test_sentence_permutation_shuffles_whole_sentences():
    ids = doc(40)
    original = [tuple(s.tolist()) for s in sentences(ids, VOCAB)]
    assert len(original) >= 3 and all(s[-1] == STOP for s in original)
    orders = set()
    for seed in range(100):
        out = sentence_permutation(ids, VOCAB, gen(seed))
        assert out.shape == ids.shape and out[0] == BOS and out[-1] == EOS
        mine = [tuple(s.tolist()) for s in sentences(out, VOCAB)]
        assert sorted(mine) == sorted(original)
        orders.add(tuple(original.index(s) for s in mine))
    assert len(orders) > 10
    three = torch.tensor([BOS, 5, STOP, 6, 7, STOP, 8, EOS])  # the last sentence has no full stop
    seen = {tuple(sentence_permutation(three, VOCAB, gen(s)).tolist()) for s in range(100)}
    parts = [[5, STOP], [6, 7, STOP], [8]]
    assert seen == {(BOS, *itertools.chain(*p), EOS) for p in itertools.permutations(parts)}


def test_document_rotation_is_a_rotation_of_the_body():
    ids = doc(20)
    body = ids[1:-1].tolist()
    starts = set()
    for seed in range(300):
        out = document_rotation(ids, VOCAB, gen(seed))
        assert out[0] == BOS and out[-1] == EOS
        rotated = out[1:-1].tolist()
        k = next(k for k in range(len(body)) if body[k:] + body[:k] == rotated)
        starts.add(k)
    assert starts == set(range(len(body)))  # every token can become the start


def test_noise_is_deterministic_under_a_seed():
    ids = doc(80)
    cfg = NoiseConfig(noises=("permute", "mask", "delete", "infill", "rotate"))
    a = noise(ids, VOCAB, gen(3), cfg)
    assert torch.equal(a, noise(ids, VOCAB, gen(3), cfg))
    assert not torch.equal(a, noise(ids, VOCAB, gen(4), cfg))
    assert not torch.equal(a, ids)


def test_noise_config_checks_names_and_rates():
    assert NoiseConfig("infill, permute").noises == ("infill", "permute")
    with pytest.raises(InputError, match="unknown noise 'shuffle'; expected some of permute, mask, delete"):
        NoiseConfig("infill,shuffle")
    with pytest.raises(InputError, match="no noise chosen"):
        NoiseConfig(",")
    with pytest.raises(InputError, match="infill_ratio must be in"):
        NoiseConfig(infill_ratio=1.0)
