"""The Transformer (Marian layout) against transformers.MarianMTModel on tiny random models: the sinusoidal table,
logits both ways (transformers' folder -> bertkit, bertkit's folder -> transformers) with a shared vocabulary and
with separate ones, the cache, and generate()'s tokens."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import bertkit
from bertkit.errors import BertkitWarning
from bertkit.models.marian import transformer_config
from bertkit.models.seq2seq import TRANSFORMER_LAYOUT, Seq2SeqLM
from bertkit.nn.embeddings import sinusoidal_table

V, V_TGT = 99, 77


def _hf(shared: bool = True):
    import transformers as T

    cfg = T.MarianConfig(vocab_size=V, decoder_vocab_size=None if shared else V_TGT, d_model=32, encoder_layers=2,
                         decoder_layers=3, encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=37,
                         decoder_ffn_dim=23, max_position_embeddings=64, pad_token_id=1, eos_token_id=2,
                         decoder_start_token_id=1, forced_eos_token_id=None, activation_function="relu",
                         scale_embedding=True, share_encoder_decoder_embeddings=shared)
    torch.manual_seed(0)
    ref = T.MarianMTModel(cfg).eval()
    with torch.no_grad():
        ref.final_logits_bias.normal_()  # non-zero, so a missed bias shows
    return ref


def _inputs(tgt_vocab: int = V):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, V, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    return {"input_ids": ids.masked_fill(mask == 0, 1), "attention_mask": mask,
            "decoder_input_ids": torch.randint(3, tgt_vocab, (3, 7), generator=g)}


def test_sinusoidal_halves_is_marians_table():
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding

    for dim in (32, 33):
        ref = MarianSinusoidalPositionalEmbedding(50, dim).create_weight()
        torch.testing.assert_close(sinusoidal_table(50, dim, "halves"), ref, atol=1e-6, rtol=0)
    inter = sinusoidal_table(50, 32)
    halves = sinusoidal_table(50, 32, "halves")
    assert torch.equal(inter[:, 0::2], halves[:, :16]) and torch.equal(inter[:, 1::2], halves[:, 16:])
    assert halves[7, 0] == pytest.approx(torch.sin(torch.tensor(7.0)).item(), abs=1e-6)
    assert halves[7, 16] == pytest.approx(torch.cos(torch.tensor(7.0)).item(), abs=1e-6)


@pytest.mark.parametrize("shared", [True, False])
def test_transformers_folder_loads_with_the_same_logits_and_saves_back(tmp_path, shared):
    import transformers as T

    ref = _hf(shared)
    ref.save_pretrained(tmp_path / "hf")
    with warnings.catch_warnings():  # no "newly initialised" warning: the model computes its position tables
        warnings.simplefilter("error", BertkitWarning)
        ours = bertkit.from_pretrained(tmp_path / "hf")
    assert isinstance(ours, Seq2SeqLM) and ours.task == "lm"
    assert ours.target_vocab_size == (V if shared else V_TGT)
    assert (ours.input_embeddings() is ours.output_embeddings()) == shared
    kw = _inputs(V if shared else V_TGT)
    with torch.no_grad():
        r, o = ref(**kw), ours(**kw)
    assert o.logits.shape == (3, 7, V if shared else V_TGT)
    torch.testing.assert_close(o.logits, r.logits, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(o.encoder_last_hidden_state, r.encoder_last_hidden_state, atol=1e-4, rtol=1e-4)

    bertkit.save_pretrained(ours, tmp_path / "ours")
    cfg = json.loads((tmp_path / "ours" / "config.json").read_text())
    assert cfg["architectures"] == ["MarianMTModel"] and cfg["share_encoder_decoder_embeddings"] == shared
    back = T.MarianMTModel.from_pretrained(tmp_path / "ours").eval()
    with torch.no_grad():
        torch.testing.assert_close(back(**kw).logits, r.logits, atol=1e-4, rtol=1e-4)


def test_a_model_bertkit_builds_runs_the_same_in_transformers(tmp_path):
    import transformers as T

    cfg = transformer_config(V, decoder_vocab_size=V_TGT, d_model=32, layers=2, heads=4, ffn=64, max_positions=40,
                             pad_token_id=1, eos_token_id=2)
    torch.manual_seed(3)
    ours = Seq2SeqLM(cfg, "lm", TRANSFORMER_LAYOUT).eval()
    with torch.no_grad():
        ours.heads["lm"].bias.normal_()
    bertkit.save_pretrained(ours, tmp_path)
    ref = T.MarianMTModel.from_pretrained(tmp_path).eval()
    kw = _inputs(V_TGT)
    with torch.no_grad():
        torch.testing.assert_close(ours(**kw).logits, ref(**kw).logits, atol=1e-4, rtol=1e-4)
    again = bertkit.from_pretrained(tmp_path)
    with torch.no_grad():
        assert torch.equal(again(**kw).logits, ours(**kw).logits)


@pytest.mark.parametrize("num_beams,extra", [(1, {}), (4, {"length_penalty": 0.6}), (3, {"early_stopping": True})])
def test_generate_gives_transformers_tokens(tmp_path, num_beams, extra):
    ref = _hf(shared=False)
    ref.save_pretrained(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    kw = _inputs(V_TGT)
    # an eos the model reaches midway, so that rows end early
    free = ours.generate(kw["input_ids"], kw["attention_mask"], max_new_tokens=10, num_beams=num_beams,
                         eos_token_id=V_TGT - 1, **extra)
    eos = int(free[0, 4])
    settings = dict(max_new_tokens=10, num_beams=num_beams, eos_token_id=eos, pad_token_id=1, **extra)
    with torch.no_grad():
        expected = ref.generate(input_ids=kw["input_ids"], attention_mask=kw["attention_mask"], do_sample=False,
                                **settings)
    got = ours.generate(kw["input_ids"], kw["attention_mask"], **settings)
    assert torch.equal(got, expected), (got, expected)
    assert torch.equal(ours.generate(kw["input_ids"], kw["attention_mask"], use_cache=False, **settings), got)
