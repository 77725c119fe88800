"""GPT-2 against transformers on a tiny random checkpoint: padding, the key/value cache, the Conv1D layout, errors."""
from __future__ import annotations

import pytest
import torch

import bertkit
from bertkit.errors import CheckpointError, InputError
from bertkit.models.gpt2 import state_from_hf, state_to_hf
from tests.hf_tiny import V, make


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    ref = make("GPT2LMHeadModel", folder)
    return ref, bertkit.from_pretrained(folder), folder


def _batch(left: bool):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(5, V, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    pad = [0, 3, 5]  # padding tokens per row
    for row, n in enumerate(pad):
        if n:
            mask[row, :n] = 0 if left else 1
            if not left:
                mask[row, -n:] = 0
    return ids, mask


@pytest.mark.parametrize("left", [True, False])
def test_padded_batch_matches_transformers_on_real_tokens(pair, left):
    ref, ours, _ = pair
    ids, mask = _batch(left)
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        o = ours(ids, mask, output_hidden_states=True)
    keep = mask.bool()
    torch.testing.assert_close(o.logits[keep], r.logits[keep], atol=1e-5, rtol=1e-4)
    for x, y in zip(o.hidden_states, r.hidden_states, strict=True):
        torch.testing.assert_close(x[keep], y[keep], atol=1e-5, rtol=1e-4)
    # and a row does not depend on the others' padding: row 0 alone gives the same numbers
    with torch.no_grad():
        alone = ours(ids[:1]).logits
    torch.testing.assert_close(o.logits[0], alone[0], atol=1e-5, rtol=1e-4)


def test_cached_steps_equal_one_full_pass(pair):
    _, ours, _ = pair
    ids, mask = _batch(left=True)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = ours(ids, mask, positions).logits  # (B, T, V)
        cache = ours.new_cache()
        steps = [ours(ids[:, :4], mask[:, :4], positions[:, :4], cache=cache).logits]
        for t in range(4, ids.shape[1]):
            steps.append(ours(ids[:, t:t + 1], mask[:, :t + 1], positions[:, t:t + 1], cache=cache).logits)
    assert len(cache) == ids.shape[1]
    keep = mask.bool()
    torch.testing.assert_close(torch.cat(steps, dim=1)[keep], full[keep], atol=1e-5, rtol=1e-5)


def test_conv1d_layout_round_trips_exactly(pair):
    _, _, folder = pair
    from safetensors.torch import load_file

    hf = load_file(str(folder / "model.safetensors"))
    ours = state_from_hf(hf)
    assert ours["transformer.h.0.attn.c_attn.q.weight"].shape == (32, 32)
    # Conv1D y = x W + b with W (in, out); nn.Linear y = x W^T + b: the query is the first third of c_attn's columns
    torch.testing.assert_close(ours["transformer.h.0.attn.c_attn.q.weight"],
                               hf["transformer.h.0.attn.c_attn.weight"][:, :32].t())
    back = state_to_hf(ours)
    assert back.keys() == hf.keys()
    for k in hf:
        assert torch.equal(back[k], hf[k]), k


def test_base_checkpoint_loads_without_prefix(tmp_path):
    ref = make("GPT2Model", tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    assert ours.task == "base" and "lm" not in ours.heads
    ids, mask = _batch(left=False)
    with torch.no_grad():
        r, o = ref(input_ids=ids, attention_mask=mask), ours(ids, mask)
    torch.testing.assert_close(o.last_hidden_state[mask.bool()], r.last_hidden_state[mask.bool()],
                               atol=1e-5, rtol=1e-4)
    with pytest.raises(InputError, match="language-model head"):
        ours.generate(ids)


def test_too_long_input_is_refused(pair):
    _, ours, _ = pair
    with pytest.raises(InputError, match="65 tokens is longer than the model's 64 positions"):
        ours(torch.full((1, 65), 7))
    cache = ours.new_cache()
    with torch.no_grad():
        ours(torch.full((1, 64), 7), cache=cache)
    with pytest.raises(InputError, match="65 tokens"):
        ours(torch.full((1, 1), 7), cache=cache)  # the cache counts


def test_unsupported_config_is_refused(tmp_path):
    import transformers as T

    cfg = T.GPT2Config(vocab_size=V, n_embd=32, n_layer=1, n_head=4, n_positions=64, scale_attn_by_inverse_layer_idx=True)
    T.GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="scale_attn_by_inverse_layer_idx=True"):
        bertkit.from_pretrained(tmp_path)


def test_attention_without_a_cache_is_plain_sdpa():
    """Without a cache (every encoder) attention runs the ops it ran before the cache existed, bit for bit."""
    from bertkit.nn.attention import MultiHeadAttention

    torch.manual_seed(0)
    attn = MultiHeadAttention(32, 4).eval()
    x = torch.randn(2, 5, 32)
    with torch.no_grad():
        a, _ = attn(x)
        q, k, v = (attn._heads(p(x)) for p in (attn.q, attn.k, attn.v))
        b = attn.o(torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 5, 32))
    assert torch.equal(a, b)


def test_an_encoder_task_on_a_gpt2_checkpoint_says_it_needs_an_encoder(pair):
    _, _, folder = pair
    with pytest.raises(CheckpointError, match="is a gpt2 checkpoint, which bertkit builds for base, lm only, not "
                                              "'classification'; fine-tuning and encoder tasks need an encoder"):
        bertkit.from_pretrained(folder, task="classification", num_labels=2)
