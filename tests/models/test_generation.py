"""generate() against transformers' generate on tiny random GPT-2 and BART: greedy and beam search give the same
tokens (left-padded GPT-2 batches, rows ending at eos, BART's forced eos), sampling is reproducible from a
torch.Generator, the cache changes nothing, and bad settings are refused by name."""
from __future__ import annotations

import itertools
from contextlib import contextmanager

import pytest
import torch

import bertkit
from bertkit.errors import InputError
from tests.hf_tiny import V, make


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    ref = make("GPT2LMHeadModel", folder)
    return ref, bertkit.from_pretrained(folder)


@pytest.fixture(scope="module")
def bart(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bart")
    ref = make("BartForConditionalGeneration", folder)
    return ref, bertkit.from_pretrained(folder)


def _prompts():
    """Three prompts of 7, 4 and 2 tokens, left-padded with the pad id 1."""
    g = torch.Generator().manual_seed(5)
    ids = torch.randint(5, V, (3, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, :3] = 0
    mask[2, :5] = 0
    return ids.masked_fill(mask == 0, 1), mask


@contextmanager
def _config(model, **fields):
    """Change config fields for a while (None for eos_token_id in generate means the config's, as in transformers;
    turning eos off is a config change, as it is there)."""
    cfg = getattr(model, "generation_config", None) or model.config
    old = {k: getattr(cfg, k) for k in fields}
    for k, v in fields.items():
        setattr(cfg, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(cfg, k, v)


def _eos_seen_midway(ours, ids, mask, row: int, **kw) -> int:
    """The first token the search produces in `row` with no eos at all: as the eos, rows end early."""
    with _config(ours, eos_token_id=None, forced_eos_token_id=None):
        out = ours.generate(ids, mask, max_new_tokens=12, **kw)
    return int(out[row, ids.shape[1] if mask is not None else 1])


def _hf(ref, ids, mask, **kw):
    with torch.no_grad():
        return ref.generate(input_ids=ids, attention_mask=mask, do_sample=False, **kw)


@pytest.mark.parametrize("num_beams,extra", [(1, {}), (3, {}), (3, {"early_stopping": True}),
                                             (2, {"length_penalty": 2.0, "early_stopping": "never"}),
                                             (3, {"length_penalty": -1.0})])
def test_gpt2_left_padded_batch_matches_transformers(gpt2, num_beams, extra):
    ref, ours = gpt2
    ids, mask = _prompts()
    eos = _eos_seen_midway(ours, ids, mask, row=2, num_beams=num_beams, **extra)
    kw = dict(max_new_tokens=12, num_beams=num_beams, eos_token_id=eos, pad_token_id=1, **extra)
    expected = _hf(ref, ids, mask, **kw)
    got = ours.generate(ids, mask, **kw)
    assert got.shape == expected.shape and torch.equal(got, expected), (got, expected)
    if num_beams == 1 or extra.get("length_penalty", 1.0) < 0:  # longer beams of repeated tokens win otherwise
        assert (got[:, ids.shape[1]:] == eos).any()  # rows ended early: the eos case was exercised
    assert torch.equal(ours.generate(ids, mask, use_cache=False, **kw), got)


def test_gpt2_without_eos_runs_to_max_new_tokens(gpt2):
    ref, ours = gpt2
    ids, mask = _prompts()
    got = ours.generate(ids, mask, max_new_tokens=9)  # config eos 0: never produced by this model
    assert got.shape == (3, 16)
    assert torch.equal(got, _hf(ref, ids, mask, max_new_tokens=9))
    assert torch.equal(ours.generate(ids[:1], max_new_tokens=0), ids[:1])


@pytest.mark.parametrize("num_beams", [1, 4])
def test_bart_matches_transformers_with_forced_eos(bart, num_beams):
    ref, ours = bart
    ids, mask = _prompts()
    mask = mask.flip(1)  # encoder padding on the right, as tokenizers pad BART sources
    ids = ids.flip(1)
    kw = {"max_new_tokens": 10, "num_beams": num_beams}
    expected = _hf(ref, ids, mask, **kw)
    got = ours.generate(ids, mask, **kw)
    assert torch.equal(got, expected), (got, expected)
    assert got[0, 0] == ours.config.decoder_start_token_id == 2
    assert (got == ours.config.forced_eos_token_id).any(1).all()  # every row ends with the forced eos
    assert torch.equal(ours.generate(ids, mask, use_cache=False, **kw), got)


@pytest.mark.parametrize("num_beams,length_penalty", [(1, 1.0), (3, 1.0), (3, -1.0)])
def test_bart_rows_ending_early_match_transformers(bart, num_beams, length_penalty):
    ref, ours = bart
    ids, _ = _prompts()
    eos = _eos_seen_midway(ours, ids, None, row=1, num_beams=num_beams, length_penalty=length_penalty)
    kw = {"max_new_tokens": 12, "num_beams": num_beams, "eos_token_id": eos, "length_penalty": length_penalty}
    with _config(ref, forced_eos_token_id=None):
        expected = _hf(ref, ids, None, **kw)
    with _config(ours, forced_eos_token_id=None):
        got = ours.generate(ids, **kw)
    assert torch.equal(got, expected), (got, expected)
    if num_beams == 1 or length_penalty < 0:
        assert (got[:, 1:] == eos).any()


def test_sampling_is_reproducible_and_follows_transformers(gpt2):
    ref, ours = gpt2
    ids, mask = _prompts()
    kw = {"max_new_tokens": 8, "do_sample": True, "temperature": 0.7, "top_k": 20, "top_p": 0.9}
    a = ours.generate(ids, mask, generator=torch.Generator().manual_seed(11), **kw)
    b = ours.generate(ids, mask, generator=torch.Generator().manual_seed(11), **kw)
    c = ours.generate(ids, mask, generator=torch.Generator().manual_seed(12), **kw)
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(11)  # transformers draws from the global generator: the same stream as ours seeded alike
    with torch.no_grad():
        expected = ref.generate(input_ids=ids, attention_mask=mask, **kw)
    assert torch.equal(a, expected)
    greedy = ours.generate(ids, mask, max_new_tokens=8)
    assert torch.equal(ours.generate(ids, mask, max_new_tokens=8, do_sample=True, top_k=1), greedy)


def test_top_p_keeps_the_smallest_set_above_p():
    from bertkit.models.generation import GenerationSettings, process_scores

    probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    s = GenerationSettings(do_sample=True, top_k=None, top_p=0.75)
    kept = process_scores(probs.log(), s, last=False).isfinite()
    assert kept.tolist() == [[True, True, False, False]]
    s = GenerationSettings(do_sample=True, top_k=3, top_p=1.0)
    assert process_scores(probs.log(), s, last=False).isfinite().tolist() == [[True, True, True, False]]


@pytest.mark.parametrize("kw,match", [
    ({"num_beams": 0}, "num_beams must be an integer >= 1, got 0"),
    ({"max_new_tokens": -1}, "max_new_tokens must be an integer >= 0, got -1"),
    ({"do_sample": True, "num_beams": 2}, "sampling with beams"),
    ({"do_sample": True, "temperature": 0.0}, "temperature must be > 0"),
    ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
    ({"top_k": -2}, "top_k must be >= 0"),
    ({"early_stopping": "sometimes"}, "early_stopping must be"),
    ({"eos_token_id": 99}, "eos_token_id 99 is outside the vocabulary"),
    ({"max_new_tokens": 60}, "need 67 positions; the model has 64"),
])
def test_bad_settings_are_refused(gpt2, kw, match):
    _, ours = gpt2
    ids, mask = _prompts()
    with pytest.raises(InputError, match=match):
        ours.generate(ids, mask, **kw)


def test_bad_prompts_are_refused(gpt2, bart):
    _, ours = gpt2
    with pytest.raises(InputError, match="longer than|positions"):
        ours.generate(torch.full((1, 65), 7), max_new_tokens=1)
    with pytest.raises(InputError, match="non-empty"):
        ours.generate(torch.tensor([3, 4]))
    with pytest.raises(InputError, match="outside the vocabulary"):
        ours.generate(torch.tensor([[3, 99]]))
    with pytest.raises(InputError, match="attention_mask has shape"):
        ours.generate(torch.tensor([[3, 4]]), torch.ones(1, 3))
    _, seq2seq = bart
    with pytest.raises(InputError, match="source of 65 tokens"):
        seq2seq.generate(torch.full((1, 65), 7))
    with pytest.raises(InputError, match="64"):
        seq2seq.generate(torch.full((1, 5), 7), max_new_tokens=64)


@pytest.mark.parametrize("num_beams,extra", [
    (1, {"repetition_penalty": 1.8}), (1, {"no_repeat_ngram_size": 2}), (1, {"repetition_penalty": 0.7}),
    (3, {"repetition_penalty": 1.5}), (3, {"no_repeat_ngram_size": 1}),
    (2, {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3, "length_penalty": 0.6}),
])
def test_repetition_penalty_and_ngram_ban_match_transformers_on_gpt2(gpt2, num_beams, extra):
    """Left-padded prompts: the penalty skips each row's padding, as transformers' does."""
    ref, ours = gpt2
    ids, mask = _prompts()
    kw = dict(max_new_tokens=14, num_beams=num_beams, pad_token_id=1, **extra)
    plain = ours.generate(ids, mask, max_new_tokens=14, num_beams=num_beams, pad_token_id=1)
    expected = _hf(ref, ids, mask, **kw)
    got = ours.generate(ids, mask, **kw)
    assert torch.equal(got, expected), (got, expected)
    assert not torch.equal(got, plain)  # the settings changed the output: the case was exercised
    assert torch.equal(ours.generate(ids, mask, use_cache=False, **kw), got)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_repetition_penalty_and_ngram_ban_match_transformers_on_bart(bart, num_beams):
    ref, ours = bart
    ids, mask = _prompts()
    ids, mask = ids.flip(1), mask.flip(1)
    for extra in ({"repetition_penalty": 2.0}, {"no_repeat_ngram_size": 2}):
        kw = dict(max_new_tokens=12, num_beams=num_beams, **extra)
        expected = _hf(ref, ids, mask, **kw)
        got = ours.generate(ids, mask, **kw)
        assert torch.equal(got, expected), (extra, got, expected)


@pytest.mark.parametrize("num_beams", [1, 4])
def test_min_new_tokens_matches_transformers_on_bart(bart, num_beams):
    """eos is barred for the first min_new_tokens steps. With eos set to the token greedy decoding picks first, the
    plain run ends at once and the barred one runs on; both equal transformers' generate token for token."""
    ref, ours = bart
    ids, mask = _prompts()
    ids, mask = ids.flip(1), mask.flip(1)
    first = int(ours.generate(ids, mask, max_new_tokens=1)[0, 1])
    for minimum in (0, 6):
        kw = dict(max_new_tokens=10, num_beams=num_beams, eos_token_id=first, min_new_tokens=minimum)
        got = ours.generate(ids, mask, **kw)
        assert torch.equal(got, _hf(ref, ids, mask, **kw)), (minimum, got)
        if minimum:
            assert (got[:, 1:1 + minimum] != first).all()
    with pytest.raises(InputError, match="min_new_tokens must be an integer >= 0"):
        ours.generate(ids, mask, min_new_tokens=-1)


def test_no_repeat_ngram_size_leaves_no_ngram_twice(gpt2):
    _, ours = gpt2
    ids, mask = _prompts()
    out = ours.generate(ids, mask, max_new_tokens=30, no_repeat_ngram_size=2, pad_token_id=1)
    for r in range(out.shape[0]):
        row = out[r, int((mask[r] == 0).sum()):].tolist()  # transformers counts the padding too; it has no pairs
        pairs = list(itertools.pairwise(row))
        assert len(pairs) == len(set(pairs))
    assert (ours.generate(ids, mask, max_new_tokens=30, pad_token_id=1)[:, 7:] != out[:, 7:]).any()


def test_penalty_helpers_on_hand_made_scores():
    from bertkit.models.generation import ban_repeated_ngrams, penalize_repeats

    scores = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seqs = torch.tensor([[9, 0, 1, 0]])  # 9 is outside these scores' vocabulary: skipped
    assert penalize_repeats(scores, seqs, 2.0).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    assert penalize_repeats(scores, seqs, 2.0, padding=torch.tensor([2])).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    assert penalize_repeats(scores, seqs, 2.0, padding=torch.tensor([3])).tolist() == [[1.0, -1.0, 0.5, 3.0]]
    seqs = torch.tensor([[3, 1, 2, 3, 1]])  # after "... 1" the bigram (1, 2) would repeat: 2 is banned
    assert ban_repeated_ngrams(scores, seqs, 2).isinf().tolist() == [[False, False, True, False]]
    assert ban_repeated_ngrams(scores, seqs, 3).isinf().tolist() == [[False, False, True, False]]  # (3, 1, 2)
    assert ban_repeated_ngrams(scores, seqs, 4).isinf().tolist() == [[False, False, False, False]]  # (2, 3, 1, ?)
    assert ban_repeated_ngrams(scores, seqs, 1).isinf().tolist() == [[False, True, True, True]]


@pytest.mark.parametrize("kw,match", [
    ({"repetition_penalty": 0.0}, "repetition_penalty must be a number > 0"),
    ({"no_repeat_ngram_size": -1}, "no_repeat_ngram_size must be an integer >= 0"),
    ({"no_repeat_ngram_size": 1.5}, "no_repeat_ngram_size must be an integer >= 0"),
    ({"num_beams": 2, "on_tokens": print}, "streaming tokens needs num_beams=1"),
])
def test_bad_repetition_settings_are_refused(gpt2, kw, match):
    _, ours = gpt2
    ids, mask = _prompts()
    with pytest.raises(InputError, match=match):
        ours.generate(ids, mask, **kw)


def test_on_tokens_streams_each_steps_tokens(gpt2):
    _, ours = gpt2
    ids, mask = _prompts()
    seen = []
    out = ours.generate(ids, mask, max_new_tokens=6, on_tokens=lambda t: seen.append(t.tolist()))
    assert torch.tensor(seen).T.tolist() == out[:, 7:].tolist()
