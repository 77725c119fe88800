"""XLM against transformers on tiny random checkpoints: languages, padding (every position, padded ones included),
sinusoidal positions, the causal and ReLU variants, the saved folder back in transformers, and the errors."""
from __future__ import annotations

import json

import pytest
import torch

import bertkit
from bertkit.errors import BertkitWarning, CheckpointError, InputError
from bertkit.models.config import ModelConfig
from bertkit.models.model import Model
from tests.hf_tiny import V

N_LANGS = 3
LANGS = {"lang2id": {"en": 0, "fr": 1, "de": 2}, "id2lang": {0: "en", 1: "fr", 2: "de"}}


def _config(**kw):
    import transformers as T

    d = dict(vocab_size=V, emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=64, n_langs=N_LANGS, **LANGS)
    d.update(kw)
    return T.XLMConfig(**d)


def _make(folder, head=True, **kw):
    import transformers as T

    torch.manual_seed(0)
    ref = (T.XLMWithLMHeadModel if head else T.XLMModel)(_config(**kw)).eval()
    ref.save_pretrained(folder)
    return ref


def _batch(left: bool = False, pad_tokens: bool = True):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    if left:
        mask[1, :3] = 0
        mask[2, :6] = 0
    else:
        mask[1, 8:] = 0
        mask[2, 5:] = 0
    if pad_tokens:
        ids[mask == 0] = 2  # XLM's <pad>
    langs = torch.randint(0, N_LANGS, ids.shape, generator=g)
    return ids, mask, langs


def _same(r, o, atol=1e-5):
    """Every field and every position: XLM's padded positions are zeros in both, so nothing is left out."""
    for f in ("logits", "last_hidden_state"):
        if getattr(r, f, None) is not None:
            torch.testing.assert_close(getattr(o, f), getattr(r, f), atol=atol, rtol=1e-4, msg=f)
    assert len(o.hidden_states) == len(r.hidden_states) == 3
    for x, y in zip(o.hidden_states, r.hidden_states, strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


@pytest.mark.parametrize("head", [True, False], ids=["XLMWithLMHeadModel", "XLMModel"])
@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_hf_checkpoint_matches_transformers_with_langs_and_padding(tmp_path, head, left):
    ref = _make(tmp_path, head)
    ours = bertkit.from_pretrained(tmp_path)
    assert ours.task == ("mlm" if head else "base") and ours.n_langs == N_LANGS
    ids, mask, langs = _batch(left)
    with torch.no_grad():
        for kw in ({"attention_mask": mask, "langs": langs}, {"langs": langs}, {"attention_mask": mask}):
            _same(ref(input_ids=ids, **kw, output_hidden_states=True), ours(ids, **kw, output_hidden_states=True))
        o = ours(ids, mask, langs=langs, output_hidden_states=True)
    assert o.hidden_states[-1][mask == 0].abs().max() == 0  # padded positions are zeros, as in transformers
    if head:
        other = (langs + 1) % N_LANGS
        assert not torch.allclose(ours(ids, mask, langs=other).logits, o.logits)  # the languages count


def test_without_attention_mask_a_row_is_its_first_non_pad_count_positions(tmp_path):
    """transformers' XLM reads lengths = (ids != pad).sum() when no mask is given: a pad in the middle of a row
    shortens it from the end. Same here."""
    ref = _make(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    ids, _, langs = _batch(pad_tokens=False)
    ids[0, 3] = 2
    with torch.no_grad():
        r, o = ref(input_ids=ids, langs=langs, output_hidden_states=True), ours(ids, langs=langs, output_hidden_states=True)
    _same(r, o)
    assert o.last_hidden_state[0, -1].abs().max() == 0 and o.last_hidden_state[0, 3].abs().max() > 0


def test_token_type_ids_are_token_table_rows_as_in_transformers(tmp_path):
    ref = _make(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    ids, mask, langs = _batch()
    tt = torch.zeros_like(ids)
    tt[:, 6:] = 1
    with torch.no_grad():
        r = ref(input_ids=ids, attention_mask=mask, langs=langs, token_type_ids=tt, output_hidden_states=True)
        o = ours(ids, mask, tt, langs=langs, output_hidden_states=True)
    _same(r, o)
    assert not torch.allclose(o.logits, ours(ids, mask, langs=langs).logits)


@pytest.mark.parametrize("variant", [dict(sinusoidal_embeddings=True), dict(causal=True, gelu_activation=False),
                                     dict(causal=True, sinusoidal_embeddings=True), dict(use_lang_emb=False),
                                     dict(n_langs=1, lang2id={"en": 0}, id2lang={0: "en"})],
                         ids=["sinusoidal", "causal-relu", "causal-sinusoidal", "no-lang-emb", "one-language"])
def test_variants_match_transformers(tmp_path, variant):
    ref = _make(tmp_path, **variant)
    ours = bertkit.from_pretrained(tmp_path)
    assert ours.config.sinusoidal == variant.get("sinusoidal_embeddings", False)
    assert ours.config.causal == variant.get("causal", False)
    assert ours.config.hidden_act == ("relu" if variant.get("gelu_activation") is False else "gelu")
    has_table = variant.get("use_lang_emb", True) and variant.get("n_langs", N_LANGS) > 1
    assert (ours.backbone.embeddings.segment is not None) == has_table
    for left in (False, True):  # causal attention ignores the padding mask in transformers: left padding shows it
        ids, mask, langs = _batch(left)
        langs = langs.clamp(max=variant.get("n_langs", N_LANGS) - 1)
        with torch.no_grad():
            _same(ref(input_ids=ids, attention_mask=mask, langs=langs, output_hidden_states=True),
                  ours(ids, mask, langs=langs, output_hidden_states=True))


def test_sinusoidal_table_is_transformers_and_fixed(tmp_path):
    from transformers.models.xlm.modeling_xlm import create_sinusoidal_embeddings

    _make(tmp_path, sinusoidal_embeddings=True)
    ours = bertkit.from_pretrained(tmp_path)
    pos = ours.backbone.embeddings.position.weight
    assert not pos.requires_grad
    theirs = create_sinusoidal_embeddings(64, 32, torch.empty(64, 32))
    torch.testing.assert_close(pos, theirs, atol=1e-6, rtol=0)
    fresh = Model(ours.config, "mlm")  # a model built from the config computes the same table
    torch.testing.assert_close(fresh.backbone.embeddings.position.weight, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("head", [True, False], ids=["XLMWithLMHeadModel", "XLMModel"])
def test_saved_folder_reloads_in_transformers_identically(tmp_path, head):
    import transformers as T

    _make(tmp_path / "src", head, sinusoidal_embeddings=True, summary_type="last", start_n_top=3)
    ours = bertkit.from_pretrained(tmp_path / "src")
    with torch.no_grad():  # trained-looking weights: the round trip must carry every one of them
        for p in ours.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    bertkit.save_pretrained(ours, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["architectures"] == ["XLMWithLMHeadModel" if head else "XLMModel"]
    assert saved["lang2id"] == LANGS["lang2id"] and saved["id2lang"] == {"0": "en", "1": "fr", "2": "de"}
    assert saved["start_n_top"] == 3 and saved["n_langs"] == N_LANGS and saved["use_lang_emb"] is True
    assert saved["summary_type"] == "first"  # the summary bertkit's classification head is, whatever the task
    assert saved["emb_dim"] == 32 and saved["sinusoidal_embeddings"] is True and saved["asm"] is False
    back = getattr(T, saved["architectures"][0]).from_pretrained(tmp_path / "out").eval()
    assert back.config.lang2id == LANGS["lang2id"] and back.config.n_langs == N_LANGS
    ids, mask, langs = _batch(left=True)
    with torch.no_grad():
        _same(back(input_ids=ids, attention_mask=mask, langs=langs, output_hidden_states=True),
              ours(ids, mask, langs=langs, output_hidden_states=True))
    again = bertkit.from_pretrained(tmp_path / "out")  # and back into bertkit
    for (n, a), b in zip(ours.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), n


def test_scratch_model_saves_as_an_xlm_transformers_loads(tmp_path):
    import transformers as T

    cfg = ModelConfig(family="xlm", vocab_size=V, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=128,
                      max_positions=64, type_vocab_size=N_LANGS, pad_token_id=2, hidden_act="relu", causal=True)
    torch.manual_seed(0)
    ours = Model(cfg, "mlm").eval()
    bertkit.save_pretrained(ours, tmp_path)
    back = T.XLMWithLMHeadModel.from_pretrained(tmp_path).eval()
    assert back.config.causal and not back.config.gelu_activation and back.config.n_langs == N_LANGS
    ids, mask, langs = _batch()
    with torch.no_grad():
        _same(back(input_ids=ids, attention_mask=mask, langs=langs, output_hidden_states=True),
              ours(ids, mask, langs=langs, output_hidden_states=True))
    with pytest.raises(CheckpointError, match="4 x emb_dim"):
        bertkit.save_pretrained(Model(cfg.replace(intermediate_size=100), "base"), tmp_path / "bad")


def test_masked_positions_and_a_training_step(tmp_path):
    _make(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    ids, mask, langs = _batch()
    where = torch.zeros_like(ids, dtype=torch.bool)
    where[0, 2] = where[1, 4] = True
    with torch.no_grad():
        full = ours(ids, mask, langs=langs).logits
        part = ours(ids, mask, langs=langs, masked_positions=where).logits
    torch.testing.assert_close(part, full[where])
    ours.train()
    loss = torch.nn.functional.cross_entropy(ours(ids, mask, langs=langs, masked_positions=where).logits,
                                             ids[where])
    loss.backward()
    assert ours.heads.mlm.bias.grad is not None and ours.heads.mlm.bias.grad.abs().sum() > 0  # a trained bias
    assert ours.backbone.embeddings.segment.weight.grad.abs().sum() > 0


def test_bad_language_id_is_one_line_naming_it(tmp_path):
    _make(tmp_path)
    ours = bertkit.from_pretrained(tmp_path)
    ids, mask, langs = _batch()
    langs[1, 4] = 7
    with pytest.raises(InputError) as e:
        ours(ids, mask, langs=langs)
    msg = str(e.value)
    assert "\n" not in msg and "7" in msg and "n_langs=3" in msg
    with pytest.raises(InputError, match="-1"):
        ours(ids, mask, langs=torch.full_like(ids, -1))
    with pytest.raises(InputError, match="one language id per token"):
        ours(ids, mask, langs=langs[:, :4])


def test_langs_on_a_family_without_languages_is_refused():
    bert = Model(ModelConfig(vocab_size=V, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=37,
                             max_positions=64), "base")
    ids = torch.randint(5, V, (2, 6))
    with pytest.raises(InputError, match="no language embeddings"):
        bert(ids, langs=torch.zeros_like(ids))
    bert(ids, token_type_ids=torch.ones_like(ids))  # segments still go where they always went


@pytest.mark.parametrize("key,value,match", [("asm", True, "adaptive softmax"),
                                             ("tie_word_embeddings", False, "tied"),
                                             ("is_encoder", False, "encoders only")])
def test_unsupported_configs_are_one_clear_error(tmp_path, key, value, match):
    _make(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg[key] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=match):
        bertkit.from_pretrained(tmp_path)


def test_info_names_the_architecture(tmp_path, capsys):
    from bertkit.cli.main import main

    _make(tmp_path)
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "XLMWithLMHeadModel (family xlm, task mlm)" in out and "feed-forward 128" in out


def _make_task(folder, arch, num_labels=3, **kw):
    import transformers as T

    torch.manual_seed(0)
    ref = getattr(T, arch)(_config(num_labels=num_labels, **kw)).eval()
    with torch.no_grad():  # non-zero biases everywhere, so a head mapped to the wrong tensor shows
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    ref.save_pretrained(folder)
    return ref


@pytest.mark.parametrize("arch,task", [("XLMForSequenceClassification", "classification"),
                                       ("XLMForTokenClassification", "token_classification"),
                                       ("XLMForQuestionAnsweringSimple", "qa")])
@pytest.mark.parametrize("left", [False, True], ids=["right-padded", "left-padded"])
def test_task_heads_match_transformers_and_round_trip(tmp_path, arch, task, left):
    import transformers as T

    ref = _make_task(tmp_path / "src", arch, num_labels=2 if task == "qa" else 3)  # qa_outputs is num_labels wide
    ours = bertkit.from_pretrained(tmp_path / "src")
    assert ours.task == task
    ids, mask, langs = _batch(left)
    fields = ("start_logits", "end_logits") if task == "qa" else ("logits",)
    with torch.no_grad():
        r, o = ref(input_ids=ids, attention_mask=mask, langs=langs), ours(ids, mask, langs=langs)
        for f in fields:
            torch.testing.assert_close(getattr(o, f), getattr(r, f), atol=1e-5, rtol=1e-4, msg=f)
    bertkit.save_pretrained(ours, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["architectures"] == [arch]
    back = getattr(T, arch).from_pretrained(tmp_path / "out").eval()
    with torch.no_grad():
        b = back(input_ids=ids, attention_mask=mask, langs=langs)
        for f in fields:
            torch.testing.assert_close(getattr(b, f), getattr(r, f), atol=1e-5, rtol=1e-4, msg=f)


def test_classification_from_an_lm_checkpoint_is_the_sequence_summary_transformers_builds(tmp_path):
    """Fine-tuning starts from an XLMWithLMHeadModel folder: the new head saves as a sequence summary that
    XLMForSequenceClassification loads and runs identically, dropout included in the config."""
    import transformers as T

    _make(tmp_path / "lm", summary_first_dropout=0.3)
    with pytest.warns(BertkitWarning, match="newly initialised"):
        ours = bertkit.from_pretrained(tmp_path / "lm", task="classification", num_labels=3)
    assert ours.config.head_dropout == 0.3
    ours.eval()
    with torch.no_grad():
        ours.heads.classification.out.bias.copy_(torch.tensor([0.1, -0.2, 0.3]))
    bertkit.save_pretrained(ours, tmp_path / "cls")
    back = T.XLMForSequenceClassification.from_pretrained(tmp_path / "cls").eval()
    assert back.config.summary_first_dropout == 0.3 and back.config.num_labels == 3
    ids, mask, langs = _batch()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids, mask, langs=langs).logits,
                                   back(input_ids=ids, attention_mask=mask, langs=langs).logits, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("key,value", [("summary_type", "mean"), ("summary_activation", "tanh"),
                                       ("summary_use_proj", False), ("summary_last_dropout", 0.1)])
def test_classification_summary_bertkit_does_not_build_is_refused(tmp_path, key, value):
    _make_task(tmp_path, "XLMForSequenceClassification")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg[key] = value
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=key):
        bertkit.from_pretrained(tmp_path)
