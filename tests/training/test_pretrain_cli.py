"""`bertkit pretrain` end to end for every architecture; outputs load in transformers with equal logits."""
from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch

from bertkit import from_pretrained
from bertkit.cli.main import main
from bertkit.errors import InputError
from tests.pretrain_fixtures import write_corpus, write_tokenizer
from tests.training.tiny_run import press_ctrl_c_once_training

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
    _pretrain(files, tmp_path, "--arch", "roberta", "--masking", "wwm", "--static-masking", "2",
                    "--save-every", "2")
    assert (tmp_path / "checkpoints" / "step_000004" / "model" / "config.json").is_file()
    log2 = _pretrain(files, tmp_path, "--arch", "roberta", "--masking", "wwm", "--static-masking", "2",
                     "--save-every", "2", "--resume")
    assert [r["step"] for r in log2 if "loss" in r] == list(range(1, 5))  # already finished: nothing new


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(files, tmp_path, capsys):
    tok, train, _ = files
    presser = press_ctrl_c_once_training(0.5)
    rc = main(["pretrain", "--arch", "bert", "--objective", "mlm", "--tokenizer", str(tok), "--corpus", str(train),
               "--steps", "100000", "--batch-size", "4", "--max-length", "48", "--log-every", "1", "--out", str(tmp_path),
               "--no-progress"])
    presser.join()
    out = capsys.readouterr()
    assert rc == 0 and json.loads(out.out)["interrupted"] is True
    step = json.loads(out.out)["step"]
    assert 0 < step < 100000 and [p.name for p in (tmp_path / "checkpoints").iterdir()] == [f"step_{step:06d}"]
    assert f"interrupted at step {step}: the checkpoint is under {tmp_path}/checkpoints; run the same command " \
           "with --resume" in out.err


def test_user_errors_are_one_line(files, tmp_path, capsys):
    tok, train, _ = files
    rc = main(["pretrain", "--arch", "bert", "--tokenizer", str(tok), "--corpus", str(train), "--steps", "1",
               "--size", "huge", "--out", str(tmp_path)])
    assert rc == 2 and "--size must be one of tiny" in capsys.readouterr().err
    rc = main(["pretrain", "--arch", "spanbert", "--masking", "token", "--tokenizer", str(tok), "--corpus", str(train),
               "--steps", "1", "--out", str(tmp_path)])
    assert rc == 2 and "needs --masking span" in capsys.readouterr().err


def test_electra_init_from_a_bert_masked_lm(files, tmp_path):
    """--arch electra --init BERT-MLM: the discriminator starts as the BERT encoder, the generator as the whole
    masked LM, one embedding table between them; the run saves both and continues from where BERT was."""
    from bertkit.training.pretrain import electra_from_checkpoint

    bert_log = _pretrain(files, tmp_path / "bmlm", "--arch", "bert", "--objective", "mlm", "--packing", "full")
    src = from_pretrained(tmp_path / "bmlm")
    disc, gen = electra_from_checkpoint(tmp_path / "bmlm", src.config.vocab_size)
    assert (disc.family.name, disc.task, gen.task) == ("electra", "rtd", "mlm")
    assert gen.config.hidden_size == src.config.hidden_size                     # the same-size masked LM
    assert gen.backbone.embeddings is disc.backbone.embeddings
    ids = torch.tensor([[2, 5, 6, 4, 8, 9, 3]])
    src.eval(), gen.eval(), disc.eval()
    with torch.no_grad():
        torch.testing.assert_close(gen(ids).logits, src(ids).logits, atol=0, rtol=0)
        torch.testing.assert_close(disc(ids, output_hidden_states=True).hidden_states[-1],
                                   src(ids, output_hidden_states=True).hidden_states[-1], atol=0, rtol=0)
    log = _pretrain(files, tmp_path / "el", "--arch", "electra", "--init", str(tmp_path / "bmlm"))
    first_gen = log[0]["gen_loss"]
    assert first_gen < bert_log[0]["loss"]          # the generator starts where the BERT masked LM got to
    assert json.loads((tmp_path / "el" / "generator" / "config.json").read_text())["hidden_size"] == 128
    # an ELECTRA pretraining folder continues both of its models
    disc2, gen2 = electra_from_checkpoint(tmp_path / "el", src.config.vocab_size)
    saved_gen = from_pretrained(tmp_path / "el" / "generator")
    torch.testing.assert_close(gen2.state_dict(), saved_gen.state_dict(), atol=0, rtol=0)
    assert gen2.backbone.embeddings is disc2.backbone.embeddings
    log2 = _pretrain(files, tmp_path / "el2", "--arch", "electra", "--init", str(tmp_path / "el"))
    assert log2[0]["gen_loss"] < first_gen


def test_electra_init_errors(files, tmp_path, capsys):
    from bertkit.training.pretrain import electra_from_checkpoint

    tok, train, _ = files
    _pretrain(files, tmp_path / "rob", "--arch", "roberta")
    rc = main(["pretrain", "--arch", "electra", "--init", str(tmp_path / "rob"), "--tokenizer", str(tok),
               "--corpus", str(train), "--steps", "1", "--out", str(tmp_path / "x"), "--no-progress"])
    assert rc == 2 and "takes an ELECTRA or BERT checkpoint, got a roberta model" in capsys.readouterr().err
    before = (tmp_path / "rob" / "model.safetensors").read_bytes()
    rc = main(["pretrain", "--arch", "roberta", "--init", str(tmp_path / "rob"), "--tokenizer", str(tok),
               "--corpus", str(train), "--steps", "1", "--out", str(tmp_path / "rob" / "."), "--no-progress"])
    assert rc == 2 and "is the --init checkpoint" in capsys.readouterr().err
    assert (tmp_path / "rob" / "model.safetensors").read_bytes() == before
    _pretrain(files, tmp_path / "el", "--arch", "electra")
    with pytest.raises(Exception, match="tokens but the tokenizer 50"):
        electra_from_checkpoint(tmp_path / "el", 50)
    # a discriminator alone gets a new quarter-width generator
    shutil.rmtree(tmp_path / "el" / "generator")
    disc, gen = electra_from_checkpoint(tmp_path / "el", from_pretrained(tmp_path / "el").config.vocab_size)
    assert gen.config.hidden_size * 4 == disc.config.hidden_size and gen.backbone.embeddings is disc.backbone.embeddings


def test_electra_generator_fraction(files, tmp_path, capsys):
    """--generator-fraction sets a new generator's size, from scratch and for a discriminator continued alone."""
    from bertkit.training.pretrain import electra_from_checkpoint

    _pretrain(files, tmp_path / "el", "--arch", "electra", "--generator-fraction", "0.5")
    disc_cfg = json.loads((tmp_path / "el" / "config.json").read_text())
    gen_cfg = json.loads((tmp_path / "el" / "generator" / "config.json").read_text())
    assert (gen_cfg["hidden_size"] * 2, gen_cfg["num_attention_heads"] * 2, gen_cfg["intermediate_size"] * 2) == \
        (disc_cfg["hidden_size"], disc_cfg["num_attention_heads"], disc_cfg["intermediate_size"])
    shutil.rmtree(tmp_path / "el" / "generator")
    vocab = disc_cfg["vocab_size"]
    disc, gen = electra_from_checkpoint(tmp_path / "el", vocab, generator_fraction=1.0)
    assert gen.config.hidden_size == disc.config.hidden_size and gen.backbone.embeddings is disc.backbone.embeddings
    with pytest.raises(InputError, match=r"must be in \(0, 1\], got 1.5"):
        electra_from_checkpoint(tmp_path / "el", vocab, generator_fraction=1.5)
    from bertkit.models import Model, ModelConfig
    from bertkit.objectives.electra import electra_generator

    big = Model(ModelConfig(family="electra", vocab_size=50, hidden_size=256, num_heads=4, intermediate_size=1024,
                            max_positions=16, embedding_size=256), "rtd")
    with pytest.raises(InputError, match="has width 153 and 2 heads, which do not divide it"):
        electra_generator(big, 0.6)


def test_one_sentence_per_line_corpus(files, tmp_path, capsys):
    """A file of sentences without blank lines is one document: --objective mlm needs no pairs (the masked LM
    alone, packed like RoBERTa), and the NSP recipe says how to fix the corpus or which objective to take."""
    tok, train, _ = files
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(s for s in train.read_text().splitlines() if s.strip()) + "\n")
    base = ["pretrain", "--arch", "bert", "--tokenizer", str(tok), "--corpus", str(lines), "--steps", "2",
            "--batch-size", "4", "--max-length", "48", "--log-every", "1", "--no-progress"]
    assert main([*base, "--objective", "mlm", "--out", str(tmp_path / "mlm")]) == 0
    assert json.loads((tmp_path / "mlm" / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "nsp")]) == 2
    err = capsys.readouterr().err
    assert "next-sentence pairs need at least two documents in the corpus, found 1" in err
    assert "put a blank line between documents" in err and "--objective mlm" in err
    assert len(err.strip().splitlines()) == 1
