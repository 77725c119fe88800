"""convert_family: an ELECTRA encoder without factorized embeddings is a BERT encoder, both ways, checked
against transformers' own BertModel / ElectraModel on the same weights."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from bertkit import from_pretrained, save_pretrained
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.models import Model, ModelConfig
from bertkit.models.convert import convert_family
from tests import hf_tiny


def _tiny(family="bert", task="mlm", **kw) -> Model:
    torch.manual_seed(0)
    base = {"family": family, "vocab_size": hf_tiny.V, "hidden_size": 32, "num_layers": 2, "num_heads": 4,
            "intermediate_size": 37, "max_positions": 64}
    cfg = ModelConfig(**{**base, **kw})
    m = Model(cfg, task).eval()
    with torch.no_grad():  # LayerNorms and biases away from their init, so a missed copy shows
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


def _quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


def test_bert_mlm_becomes_an_electra_generator_and_discriminator_with_the_same_encoder(tmp_path):
    import transformers

    bert = _tiny()
    kw = hf_tiny.inputs("Bert")
    args = (kw["input_ids"], kw["attention_mask"], kw["token_type_ids"])
    gen = convert_family(bert, "electra", task="mlm", warn=False)
    assert gen.family.name == "electra" and gen.config.embedding_size == 32 and gen.backbone.proj is None
    with torch.no_grad():
        torch.testing.assert_close(gen(*args).logits, bert(*args).logits, atol=0, rtol=0)
    with pytest.warns(UserWarning, match="newly initialised converting bert \\(mlm\\) to electra \\(rtd\\): rtd"):
        disc = convert_family(bert, "electra", task="rtd")
    # transformers reads both: ElectraModel on the saved generator == BertModel on the BERT checkpoint
    save_pretrained(gen, tmp_path / "gen")
    save_pretrained(bert, tmp_path / "bert")
    save_pretrained(disc, tmp_path / "disc")
    hf_e = transformers.ElectraForMaskedLM.from_pretrained(tmp_path / "gen").eval()
    hf_b = transformers.BertForMaskedLM.from_pretrained(tmp_path / "bert").eval()
    hf_d = _quiet(transformers.ElectraModel.from_pretrained, tmp_path / "disc").eval()
    with torch.no_grad():
        b, e, d = hf_b(**kw, output_hidden_states=True), hf_e(**kw, output_hidden_states=True), hf_d(**kw)
    torch.testing.assert_close(e.logits, b.logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(d.last_hidden_state, b.hidden_states[-1], atol=1e-5, rtol=1e-5)


def test_an_electra_discriminator_becomes_a_bert_with_a_new_pooler(tmp_path):
    import transformers

    disc = _tiny("electra", "rtd", embedding_size=32)
    kw = hf_tiny.inputs("Electra")
    with pytest.warns(UserWarning, match="pooler"):
        bert = convert_family(disc, "bert")                     # rtd has no BERT equivalent: base
    assert bert.task == "base" and bert.family.name == "bert"
    save_pretrained(disc, tmp_path / "disc")
    save_pretrained(bert, tmp_path / "bert")
    saved = json.loads((tmp_path / "bert" / "config.json").read_text())
    assert saved["architectures"] == ["BertModel"] and "embedding_size" not in saved
    # through the checkpoint loader too (ELECTRA's config.json keys must not leak into BERT's)
    reloaded = _quiet(convert_family, from_pretrained(tmp_path / "disc"), "bert")
    save_pretrained(reloaded, tmp_path / "bert2")
    assert "embedding_size" not in json.loads((tmp_path / "bert2" / "config.json").read_text())
    hf_d = _quiet(transformers.ElectraModel.from_pretrained, tmp_path / "disc").eval()
    hf_b = transformers.BertModel.from_pretrained(tmp_path / "bert").eval()
    with torch.no_grad():
        torch.testing.assert_close(hf_b(**kw).last_hidden_state, hf_d(**kw).last_hidden_state, atol=1e-5, rtol=1e-5)
    back = convert_family(bert, "electra", task="rtd", warn=False)  # encoder survives the round trip
    for k, v in disc.backbone.state_dict().items():
        torch.testing.assert_close(back.backbone.state_dict()[k], v, atol=0, rtol=0)


def test_classifier_heads_copy_only_when_their_shape_matches():
    bert_clf = _tiny("bert", "classification")
    with pytest.warns(UserWarning, match="classification"):
        e = convert_family(bert_clf, "electra")                  # BERT reads the pooler, ELECTRA dense+gelu+out
    assert e.task == "classification"
    same = convert_family(_tiny("bert", "token_classification"), "electra", warn=False)
    with torch.no_grad():
        ids = torch.tensor([[2, 7, 9, 3]])
        torch.testing.assert_close(same(ids).logits, _tiny("bert", "token_classification")(ids).logits,
                                   atol=0, rtol=0)


def test_conversion_errors_are_one_line():
    with pytest.raises(InputError, match="embeddings are factorized \\(embedding size 16, hidden size 32\\)"):
        convert_family(_tiny("electra", "rtd", embedding_size=16), "bert")
    with pytest.raises(InputError, match="cannot convert roberta to bert: only bert and electra"):
        convert_family(_tiny("roberta", "mlm"), "bert")
    with pytest.raises(InputError, match="'rtd' .* needs family electra"):
        convert_family(_tiny(), "bert", task="rtd")
    with pytest.raises(InputError, match="ELECTRA pretraining is two models"):
        convert_family(_tiny(), "electra", task="pretraining")
    with pytest.raises(Exception, match="unknown model family"):
        convert_family(_tiny(), "gpt9")


def test_same_family_changes_only_the_heads():
    rob = _tiny("roberta", "mlm", position_offset=True, pad_token_id=1, type_vocab_size=1, max_positions=66)
    with pytest.warns(UserWarning, match="classification"):
        clf = convert_family(rob, "roberta", task="classification")
    assert clf.config is rob.config and clf.task == "classification"
    for k, v in rob.backbone.state_dict().items():
        torch.testing.assert_close(clf.backbone.state_dict()[k], v, atol=0, rtol=0)
    albert = _tiny("albert", "mlm", embedding_size=16)             # factorized is fine within its own family
    assert convert_family(albert, "albert", task="base", warn=False).backbone.proj is not None


def test_cli_convert_family_and_task(tmp_path, capsys):
    disc = _tiny("electra", "rtd", embedding_size=32)
    save_pretrained(disc, tmp_path / "disc")
    (tmp_path / "disc" / "vocab.txt").write_text("[PAD]\n")
    assert main(["convert", str(tmp_path / "disc"), str(tmp_path / "bert"), "--family", "bert",
                 "--task", "classification"]) == 0
    out = capsys.readouterr()
    assert "BertForSequenceClassification" in out.out
    assert "bertkit: warning: " in out.err and "newly initialised converting electra (rtd) to bert" in out.err
    assert (tmp_path / "bert" / "vocab.txt").is_file()
    bert = _quiet(from_pretrained, tmp_path / "bert")
    assert bert.family.name == "bert" and bert.task == "classification"
    torch.testing.assert_close(bert.backbone.encoder.state_dict(), disc.backbone.encoder.state_dict())
    before = (tmp_path / "bert" / "model.safetensors").read_bytes()
    assert main(["convert", str(tmp_path / "disc"), str(tmp_path / "bert")]) == 2    # an existing checkpoint is kept
    err = capsys.readouterr().err
    assert "already holds a checkpoint" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "bert" / "model.safetensors").read_bytes() == before
    assert main(["convert", str(tmp_path / "disc"), str(tmp_path / "bert"), "--force"]) == 0
    assert "ElectraForPreTraining" in capsys.readouterr().out
    assert _quiet(from_pretrained, tmp_path / "bert").family.name == "electra"
    (tmp_path / "afile").write_text("x")
    assert main(["convert", str(tmp_path / "disc"), str(tmp_path / "afile")]) == 2
    assert "is a file" in capsys.readouterr().err
    factorized = _tiny("electra", "rtd", embedding_size=16)
    save_pretrained(factorized, tmp_path / "fact")
    assert main(["convert", str(tmp_path / "fact"), str(tmp_path / "out2"), "--family", "bert"]) == 2
    err = capsys.readouterr().err
    assert "factorized" in err and len(err.strip().splitlines()) == 1
