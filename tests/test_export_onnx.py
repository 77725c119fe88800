"""ONNX export: onnxruntime gives the PyTorch model's outputs (<= 1e-4) on batches of other shapes than the traced
one, padding included, for the bundled encoder and a classifier; other heads are refused. In bf16 the weights are
stored in bf16 (half the file) and the graph gives the PyTorch model with the same bf16-rounded weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.export_onnx import export_onnx
from tests.conftest import save_tiny

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


def _bf16_rounded(folder, task="base"):
    model = bertkit.from_pretrained(folder, task=task).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    return model


def test_bf16_stores_half_the_bytes_and_matches_the_bf16_rounded_model(tiny, minilm_path, tmp_path, capsys):
    import onnx

    assert main(["export", str(tiny), "--onnx", str(tmp_path / "b.onnx"), "--precision", "bf16"]) == 0
    printed = capsys.readouterr().out
    assert "bf16 weights" in printed and "bf16-rounded weights max |diff|" in printed
    fp32 = export_onnx(tiny, tmp_path / "f.onnx")
    ratio = (tmp_path / "b.onnx").stat().st_size / fp32["bytes"]
    assert 0.45 < ratio < 0.55, ratio  # 0.51 measured: every matrix and vector in bf16, the graph itself on top
    inits = onnx.load(str(tmp_path / "b.onnx")).graph.initializer
    kinds = {onnx.TensorProto.DataType.Name(i.data_type) for i in inits if np.prod(i.dims) > 1}
    assert kinds == {"BFLOAT16"}, kinds

    tok = bertkit.Tokenizer.from_pretrained(minilm_path)
    texts = ["a short one", "a much longer sentence than the first, with a comma and more words in it", "x"]
    got, enc = _run(tmp_path / "b.onnx", tok, texts)
    ids, mask = torch.tensor(enc["input_ids"]), torch.tensor(enc["attention_mask"])
    with torch.no_grad():
        want = _bf16_rounded(tiny)(ids, mask).last_hidden_state.numpy()
        want32 = bertkit.from_pretrained(tiny, task="base").eval()(ids, mask).last_hidden_state.numpy()
    keep = np.asarray(enc["attention_mask"]).astype(bool)
    assert got.shape == want.shape and np.abs(got - want)[keep].max() <= 1e-4
    # the rounding of the weights is real, and small: hidden states (LayerNorm'd, ~1 in size) move by ~1e-2
    assert 1e-4 < np.abs(got - want32)[keep].max() < 0.1


def test_bf16_classifier_and_the_returned_diffs(minilm_path, tmp_path):
    folder = save_tiny(tmp_path / "clf", minilm_path, task="classification", num_labels=3)
    res = export_onnx(folder, tmp_path / "clf.onnx", precision="bf16")
    assert res["precision"] == "bf16" and res["output"] == "logits"
    assert res["max_abs_diff"] <= 1e-4 < res["max_abs_diff_fp32"] < 0.1
    tok = bertkit.Tokenizer.from_pretrained(minilm_path)
    got, enc = _run(tmp_path / "clf.onnx", tok, ["good", "bad and long, very long indeed"])
    with torch.no_grad():
        want = _bf16_rounded(folder, "classification")(torch.tensor(enc["input_ids"]),
                                                       torch.tensor(enc["attention_mask"])).logits.numpy()
    assert got.shape == (2, 3) and np.abs(got - want).max() <= 1e-4


def test_unknown_precision_is_one_clear_line(tiny, tmp_path, capsys):
    with pytest.raises(InputError, match=r"^unknown ONNX precision 'fp16': choose one of fp32, bf16$"):
        export_onnx(tiny, tmp_path / "x.onnx", precision="fp16")
    assert not (tmp_path / "x.onnx").exists()
    with pytest.raises(SystemExit) as e:
        main(["export", str(tiny), "--onnx", str(tmp_path / "x.onnx"), "--precision", "int8"])
    assert e.value.code == 2 and "invalid choice: 'int8'" in capsys.readouterr().err
