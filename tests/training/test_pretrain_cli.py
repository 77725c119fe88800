"""`bertkit pretrain` end to end for every architecture; outputs load in transformers with equal logits."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

from bertkit import from_pretrained
from bertkit.cli.main import main
from tests.pretrain_fixtures import write_corpus, write_tokenizer

HF_CLASSES = {"bert": "BertForPreTraining", "roberta": "RobertaForMaskedLM", "albert": "AlbertForPreTraining",
              "electra": "ElectraForPreTraining", "spanbert": "BertForMaskedLM"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("pre")
    return write_tokenizer(d / "tok"), write_corpus(d / "train.txt", 40), write_corpus(d / "dev.txt", 8, seed=9)


def _pretrain(files, out, *extra: str) -> dict:
    tok, train, dev = files
    rc = main(["pretrain", "--tokenizer", str(tok), "--corpus", str(train), "--eval-corpus", str(dev),
               "--steps", "4", "--batch-size", "4", "--lr", "2e-3", "--max-length", "48", "--eval-every", "2",
               "--log-every", "1", "--out", str(out), "--no-progress", *extra])
    assert rc == 0
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


def _hf_logits(path, cls_name, ids):
    import transformers
    hf = getattr(transformers, cls_name).from_pretrained(path).eval()
    with torch.no_grad():
        out = hf(input_ids=ids, attention_mask=torch.ones_like(ids))
    return out.prediction_logits if hasattr(out, "prediction_logits") and cls_name != "ElectraForPreTraining" \
        else out.logits


@pytest.mark.parametrize("arch", list(HF_CLASSES))
def test_pretrain_every_arch_writes_a_transformers_checkpoint(files, tmp_path, arch):
    log = _pretrain(files, tmp_path, "--arch", arch)
    names = {"bert": "nsp_loss", "albert": "sop_loss", "electra": "disc_loss", "spanbert": "sbo_loss",
             "roberta": "mlm_loss"}
    assert [r["step"] for r in log if "loss" in r] == list(range(1, 5))
    assert names[arch] in log[0] and any("eval_loss" in r for r in log)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["architectures"] == [HF_CLASSES[arch]]
    ids = torch.tensor([[2, 5, 6, 4, 8, 9, 3]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = from_pretrained(tmp_path)
    out = ours(ids, torch.ones_like(ids))
    mine = out.prediction_logits if out.prediction_logits is not None else out.logits
    torch.testing.assert_close(_hf_logits(tmp_path, HF_CLASSES[arch], ids), mine, atol=1e-4, rtol=1e-4)
    if arch == "electra":
        gen_cfg = json.loads((tmp_path / "generator" / "config.json").read_text())
        assert gen_cfg["architectures"] == ["ElectraForMaskedLM"]
        assert gen_cfg["hidden_size"] * 4 == cfg["hidden_size"]
        assert gen_cfg["embedding_size"] == cfg["embedding_size"]
        gen = from_pretrained(tmp_path / "generator")
        torch.testing.assert_close(gen.backbone.embeddings.word.weight, ours.backbone.embeddings.word.weight)
    if arch == "spanbert":
        from safetensors.torch import load_file
        head = load_file(str(tmp_path / "sbo_head.safetensors"))
        assert head["mlp.0.weight"].shape == (128, 3 * 128)


def test_init_continues_a_checkpoint_and_keeps_its_vocabulary(files, tmp_path):
    _pretrain(files, tmp_path / "first", "--arch", "roberta")
    before = from_pretrained(tmp_path / "first")
    log = _pretrain(files, tmp_path / "second", "--arch", "roberta", "--init", str(tmp_path / "first"))
    after = from_pretrained(tmp_path / "second")
    assert after.config.vocab_size == before.config.vocab_size
    first_log = [json.loads(x) for x in (tmp_path / "first" / "log.jsonl").read_text().splitlines()]
    assert log[0]["loss"] < first_log[0]["loss"]          # starts where the first run got to, not from scratch


def test_resume_flag_and_wwm_static_masking(files, tmp_path):
    log = _pretrain(files, tmp_path, "--arch", "roberta", "--masking", "wwm", "--static-masking", "2",
                    "--save-every", "2")
    assert (tmp_path / "checkpoints" / "step_000004" / "model" / "config.json").is_file()
    log2 = _pretrain(files, tmp_path, "--arch", "roberta", "--masking", "wwm", "--static-masking", "2",
                     "--save-every", "2", "--resume")
    assert [r["step"] for r in log2 if "loss" in r] == list(range(1, 5))  # already finished: nothing new


def test_user_errors_are_one_line(files, tmp_path, capsys):
    tok, train, _ = files
    rc = main(["pretrain", "--arch", "bert", "--tokenizer", str(tok), "--corpus", str(train), "--steps", "1",
               "--size", "huge", "--out", str(tmp_path)])
    assert rc == 2 and "--size must be one of tiny" in capsys.readouterr().err
    rc = main(["pretrain", "--arch", "spanbert", "--masking", "token", "--tokenizer", str(tok), "--corpus", str(train),
               "--steps", "1", "--out", str(tmp_path)])
    assert rc == 2 and "needs --masking span" in capsys.readouterr().err
