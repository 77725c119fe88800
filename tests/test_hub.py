"""Checkpoint folders: bad input gives clear errors; saving is atomic; pickles never run."""
from __future__ import annotations

import json
import pickle

import pytest
import torch

import bertkit
from bertkit.errors import CheckpointError
from tests.hf_tiny import inputs, make


def test_missing_folder_and_config(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint folder not found"):
        bertkit.from_pretrained(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="no config.json"):
        bertkit.from_pretrained(tmp_path)


def test_config_not_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        bertkit.from_pretrained(tmp_path)


def test_unknown_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"}))
    with pytest.raises(CheckpointError, match=r"unknown architecture .*LlamaForCausalLM.*supports: .*BertModel"):
        bertkit.from_pretrained(tmp_path)


def test_no_weights(tmp_path):
    make("BertModel", tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="no weights in"):
        bertkit.from_pretrained(tmp_path)


def test_truncated_safetensors(tmp_path):
    make("BertModel", tmp_path)
    f = tmp_path / "model.safetensors"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        bertkit.from_pretrained(tmp_path)


def test_wrong_shape_names_the_weight(tmp_path):
    make("BertModel", tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["intermediate_size"] = 40
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"weight encoder\.layer\.0\.intermediate\.dense\.weight .*shape \(37, 32\)"
                                              r".*\(40, 32\)"):
        bertkit.from_pretrained(tmp_path)


def test_weights_of_another_architecture(tmp_path):
    make("DistilBertForMaskedLM", tmp_path)
    cfg = {"architectures": ["BertModel"], "model_type": "bert", "vocab_size": 99, "hidden_size": 32,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37, "max_position_embeddings": 64}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="lacks .* encoder weights"):
        bertkit.from_pretrained(tmp_path)


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("echo pwned > /tmp/bertkit_pwned",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    import os

    make("BertModel", tmp_path)
    state = {k: v for k, v in __import__("safetensors.torch", fromlist=["load_file"])
             .load_file(str(tmp_path / "model.safetensors")).items()}
    (tmp_path / "model.safetensors").unlink()
    if os.path.exists("/tmp/bertkit_pwned"):
        os.remove("/tmp/bertkit_pwned")
    with open(tmp_path / "pytorch_model.bin", "wb") as f:
        pickle.dump({"payload": _Evil(), **state}, f)
    with pytest.raises(CheckpointError, match="refusing to load .*pickled objects"):
        bertkit.from_pretrained(tmp_path)
    assert not os.path.exists("/tmp/bertkit_pwned")


def test_plain_bin_checkpoint_loads(tmp_path):
    ref = make("BertForMaskedLM", tmp_path)
    (tmp_path / "model.safetensors").unlink()
    torch.save(ref.state_dict(), tmp_path / "pytorch_model.bin")
    ours = bertkit.from_pretrained(tmp_path)
    kw = inputs("BertForMaskedLM")
    with torch.no_grad():
        torch.testing.assert_close(ours(**kw).logits, ref(**kw).logits, atol=1e-5, rtol=1e-4)


def test_save_keeps_old_checkpoint_when_interrupted(tmp_path, monkeypatch):
    make("BertModel", tmp_path / "src")
    m = bertkit.from_pretrained(tmp_path / "src")
    out = bertkit.save_pretrained(m, tmp_path / "ckpt")
    before = (out / "model.safetensors").read_bytes()
    import bertkit.hub.checkpoint as ck

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ck, "hf_config", boom)  # dies after weights are written to the temp folder
    with torch.no_grad():
        m.backbone.embeddings.word.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        bertkit.save_pretrained(m, tmp_path / "ckpt")
    assert (out / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "src"]  # no temp folder left behind


def test_scratch_model_round_trip(tmp_path):
    cfg = bertkit.ModelConfig(vocab_size=50, hidden_size=16, num_layers=2, num_heads=2, intermediate_size=24,
                              max_positions=32)
    m = bertkit.build_model(cfg, "pretraining").eval()
    bertkit.save_pretrained(m, tmp_path)
    again = bertkit.from_pretrained(tmp_path)
    ids = torch.randint(0, 50, (2, 9))
    o1, o2 = m(ids), again(ids)
    torch.testing.assert_close(o1.prediction_logits, o2.prediction_logits)
    torch.testing.assert_close(o1.seq_relationship_logits, o2.seq_relationship_logits)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertForPreTraining"]


def test_saved_folder_loads_in_transformers_autotokenizer_as_a_unit(tmp_path, minilm_path):
    """A model from a folder brings its tokenizer along; a model built here takes the tokenizer it is given."""
    from transformers import AutoModel, AutoTokenizer

    from bertkit.models import Model, ModelConfig
    from tests.pretrain_fixtures import write_tokenizer

    text = "Saving a model keeps its tokenizer, doesn't it?"
    bertkit.save_pretrained(bertkit.from_pretrained(minilm_path), tmp_path / "own")
    assert AutoTokenizer.from_pretrained(tmp_path / "own")(text)["input_ids"] == \
        AutoTokenizer.from_pretrained(minilm_path)(text)["input_ids"]
    AutoModel.from_pretrained(tmp_path / "own")
    tok = bertkit.Tokenizer.from_pretrained(write_tokenizer(tmp_path / "vocab"))
    scratch = Model(ModelConfig(family="bert", vocab_size=tok.vocab_size, hidden_size=32, num_layers=1, num_heads=4,
                                intermediate_size=37, max_positions=32), "mlm")
    bertkit.save_pretrained(scratch, tmp_path / "given", tokenizer=tok)
    assert AutoTokenizer.from_pretrained(tmp_path / "given")("the big cats sat")["input_ids"] == \
        tok.encode("the big cats sat")
    bertkit.save_pretrained(scratch, tmp_path / "none")
    assert not (tmp_path / "none" / "vocab.txt").exists()  # nothing to write: no tokenizer given or known
