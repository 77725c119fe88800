"""ONNX export: onnxruntime gives the PyTorch model's outputs (<= 1e-4) on batches of other shapes than the traced
one, padding included, for the bundled encoder and a classifier; other heads are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.export_onnx import export_onnx

ort = pytest.importorskip("onnxruntime")


def _run(path, tok, texts):
    enc = tok(texts, return_tensors="np")
    feeds = {k: enc[k].astype(np.int64) for k in ("input_ids", "attention_mask", "token_type_ids")}
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0], enc


def test_encoder_matches_pytorch(minilm_path, tmp_path, capsys):
    assert main(["export", str(minilm_path), "--onnx", str(tmp_path / "m.onnx")]) == 0
    assert "max |diff|" in capsys.readouterr().out
    tok = bertkit.Tokenizer.from_pretrained(minilm_path)
    texts = ["a short one", "a much longer sentence than the first, with a comma and more words in it", "x"]
    got, enc = _run(tmp_path / "m.onnx", tok, texts)
    model = bertkit.from_pretrained(minilm_path, task="base").eval()
    with torch.no_grad():
        want = model(torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])).last_hidden_state.numpy()
    keep = np.asarray(enc["attention_mask"]).astype(bool)
    assert got.shape == want.shape and np.abs(got - want)[keep].max() <= 1e-4


def test_classifier_logits_match_and_other_heads_are_refused(minilm_path, tmp_path):
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                              max_positions=128, num_labels=3)
    clf = bertkit.build_model(cfg, "classification")
    tiny = minilm_path  # its tokenizer
    bertkit.save_pretrained(clf, tmp_path / "clf", tokenizer=bertkit.Tokenizer.from_pretrained(tiny))
    res = export_onnx(tmp_path / "clf", tmp_path / "clf.onnx")
    assert res["output"] == "logits" and res["max_abs_diff"] <= 1e-4
    tok = bertkit.Tokenizer.from_pretrained(tiny)
    got, enc = _run(tmp_path / "clf.onnx", tok, ["good", "bad and long, very long indeed"])
    with torch.no_grad():
        want = clf.eval()(torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])).logits.numpy()
    assert got.shape == (2, 3) and np.abs(got - want).max() <= 1e-4
    qa = bertkit.build_model(cfg, "qa")
    bertkit.save_pretrained(qa, tmp_path / "qa", tokenizer=tok)
    with pytest.raises(InputError, match="encoders and sequence classifiers"):
        export_onnx(tmp_path / "qa", tmp_path / "qa.onnx")
