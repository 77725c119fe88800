"""BART against transformers on tiny random checkpoints: decoder inputs built from labels or input_ids, scaled
embeddings, the key/value cache (self- and cross-attention), errors."""
from __future__ import annotations

import pytest
import torch

import bertkit
from bertkit.errors import InputError
from bertkit.models.seq2seq import shift_right
from tests.hf_tiny import V, inputs, make


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bart")
    ref = make("BartForConditionalGeneration", folder)
    return ref, bertkit.from_pretrained(folder)


def test_shift_right_puts_the_start_token_first_and_pads_ignored_labels():
    labels = torch.tensor([[5, 6, 7], [8, -100, -100]])
    assert shift_right(labels, 2, 1).tolist() == [[2, 5, 6], [2, 8, 1]]


def test_without_decoder_input_ids_the_decoder_reads_input_ids_shifted(pair):
    ref, ours = pair
    kw = inputs("BartForConditionalGeneration")
    with torch.no_grad():
        r = ref(input_ids=kw["input_ids"], attention_mask=kw["attention_mask"])
        o = ours(kw["input_ids"], kw["attention_mask"])
    assert o.logits.shape == (3, 11, V)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-5, rtol=1e-4)


def test_labels_are_shifted_into_decoder_inputs(pair):
    ref, ours = pair
    kw = inputs("BartForConditionalGeneration")
    labels = torch.randint(5, V, (3, 6), generator=torch.Generator().manual_seed(4))
    labels[2, 4:] = -100
    with torch.no_grad():
        r = ref(input_ids=kw["input_ids"], attention_mask=kw["attention_mask"], labels=labels)
        o = ours(kw["input_ids"], kw["attention_mask"], labels=labels)
    assert o.logits.shape == (3, 6, V)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-5, rtol=1e-4)


def test_scaled_embeddings_and_a_deeper_decoder_match(tmp_path):
    import transformers as T

    cfg = T.BartConfig(vocab_size=V, d_model=32, encoder_layers=1, decoder_layers=3, encoder_attention_heads=4,
                       decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=23, max_position_embeddings=64,
                       scale_embedding=True)
    torch.manual_seed(0)
    ref = T.BartForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        ref.final_logits_bias.normal_()  # non-zero, so a missed bias shows
    ref.save_pretrained(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    assert ours.config.scale_embedding and ours.config.decoder_layers == 3
    kw = inputs("BartForConditionalGeneration")
    with torch.no_grad():
        r, o = ref(**kw), ours(**kw)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-5, rtol=1e-4)
    bertkit.save_pretrained(ours, tmp_path / "out")
    back = T.BartForConditionalGeneration.from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        torch.testing.assert_close(back(**kw).logits, r.logits, atol=1e-6, rtol=1e-6)


def test_cached_decoding_equals_one_full_pass(pair):
    _, ours = pair
    kw = inputs("BartForConditionalGeneration")
    dec = kw["decoder_input_ids"]
    with torch.no_grad():
        enc = ours.encode(kw["input_ids"], kw["attention_mask"])[0]
        full = ours.decode(dec, enc, kw["attention_mask"])[0]  # (B, T, C)
        cache = ours.new_cache()
        steps = [ours.decode(dec[:, :1], enc, kw["attention_mask"], cache=cache)[0]]
        for t in range(1, dec.shape[1]):
            steps.append(ours.decode(dec[:, t:t + 1], enc, kw["attention_mask"], cache=cache)[0])
    assert len(cache) == dec.shape[1]
    own, cross = cache.layers[0]
    assert len(own) == dec.shape[1] and len(cross) == kw["input_ids"].shape[1]  # encoder keys stored once
    torch.testing.assert_close(torch.cat(steps, dim=1), full, atol=1e-5, rtol=1e-5)


def test_too_long_inputs_are_refused(pair):
    _, ours = pair
    with pytest.raises(InputError, match="source of 65 tokens"):
        ours(torch.full((1, 65), 7))
    with pytest.raises(InputError, match="decoder sequence of 65 tokens"):
        ours(torch.full((1, 5), 7), decoder_input_ids=torch.full((1, 65), 7))
