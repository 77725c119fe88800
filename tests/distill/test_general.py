"""`bertkit distill` / distill_general: DistilBERT's general distillation of a tiny 4-layer teacher on a toy
corpus, through the command line, and the errors it raises before any work."""
from __future__ import annotations

import json

import pytest
import torch

from bertkit.errors import InputError
from tests.conftest import save_tiny
from tests.pretrain_fixtures import write_corpus


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, minilm_path):
    """A 4-layer tiny BERT masked LM with the MiniLM vocabulary, initialised sharper than BERT's 0.02 (whose
    near-uniform predictions give soft targets with nothing to learn)."""
    import bertkit
    from bertkit.models.model import init_weights

    folder = save_tiny(tmp_path_factory.mktemp("teacher"), minilm_path, task="mlm", num_layers=4)
    model = bertkit.from_pretrained(folder, task="mlm")
    torch.manual_seed(0)
    init_weights(model, std=0.2)
    bertkit.save_pretrained(model, folder)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus") / "c.txt", 12)


@pytest.fixture(scope="module")
def run(tmp_path_factory, teacher, corpus):
    from bertkit.cli.main import main

    out = tmp_path_factory.mktemp("run") / "student"
    rc = main(["distill", "--method", "distilbert", "--teacher", str(teacher), "--corpus", str(corpus), "-o", str(out),
               "--steps", "20", "--batch-size", "8", "--max-length", "32", "--lr", "3e-3", "--precision", "fp32",
               "--quiet"])
    assert rc == 0
    return out


def test_student_starts_from_teacher_blocks_0_and_2(teacher):
    import bertkit
    from bertkit.distill import distilbert_student

    t = bertkit.from_pretrained(teacher, task="mlm")
    s = distilbert_student(t)
    assert s.config.num_layers == 2
    ts, ss = t.state_dict(), s.state_dict()
    for i, j in ((0, 0), (1, 2)):
        keys = [k for k in ss if k.startswith(f"backbone.encoder.blocks.{i}.")]
        assert keys
        for k in keys:
            assert torch.equal(ss[k], ts[k.replace(f"blocks.{i}.", f"blocks.{j}.", 1)])


def test_cli_writes_a_two_layer_student_whose_loss_fell(run):
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2
    assert (run / "model.safetensors").is_file() and (run / "vocab.txt").is_file()
    report = json.loads((run / "metrics.json").read_text())
    assert report["steps"] == 20 and report["layers"] == [0, 2]
    assert report["student_layers"] == 2 and report["teacher_layers"] == 4
    assert report["student_parameters"] < report["teacher_parameters"]
    assert report["loss_last"] < report["loss_first"]
    assert report["seconds"] > 0
    assert any((run / "training" / "checkpoints").iterdir())  # resumable


def test_student_folder_loads_in_transformers_with_bertkits_logits(run):
    transformers = pytest.importorskip("transformers")
    import bertkit

    tok = bertkit.Tokenizer.from_pretrained(run)
    enc = tok(["the big cats sat on the mat .", "the dog sat ."], padding=True, return_tensors="pt")
    ours = bertkit.from_pretrained(run, task="mlm")
    hf = transformers.BertForMaskedLM.from_pretrained(run).eval()
    with torch.no_grad():
        want = hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        got = ours(enc["input_ids"], enc["attention_mask"]).logits
    keep = enc["attention_mask"].bool()
    torch.testing.assert_close(got[keep], want[keep], atol=1e-4, rtol=1e-4)


def test_errors_come_before_any_work(tmp_path, teacher, corpus, minilm_path):
    from bertkit.distill import distill_general

    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(InputError, match="corpus is empty"):
        distill_general(teacher, [empty], tmp_path / "a", steps=1)
    with pytest.raises(InputError, match="teacher folder not found"):
        distill_general(tmp_path / "nope", [corpus], tmp_path / "b", steps=1)
    base = save_tiny(tmp_path / "base", minilm_path, num_layers=4)
    with pytest.raises(InputError, match="needs its MLM head"):
        distill_general(base, [corpus], tmp_path / "c", steps=1)
    with pytest.raises(InputError, match="out of range"):
        distill_general(teacher, [corpus], tmp_path / "d", layers=[0, 4], steps=1)
    assert not (tmp_path / "d").exists()  # the corpus was not read (no token cache)
    for out in "abc":
        assert not (tmp_path / out).exists()


def test_cli_refuses_bad_numbers_while_parsing(capsys):
    from bertkit.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["distill", "--corpus", "c.txt", "-o", "x", "--temperature", "0"])
    assert "--temperature" in capsys.readouterr().err
