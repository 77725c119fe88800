"""`bertkit pretrain --arch bart`: noised input to the encoder, the original text as labels, the loss of
transformers' BartForConditionalGeneration, a from-scratch model that transformers reloads to identical logits,
resume, and bad input refused before any work."""
from __future__ import annotations

import json

import pytest
import torch

from bertkit.cli.main import main
from bertkit.data.collate import DenoisingCollator
from bertkit.errors import InputError
from bertkit.objectives import DenoisingObjective, NoiseConfig, NoiseVocab
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.train import train_bytebpe
from bertkit.training.pretrain import PretrainSpec, pretrain
from tests.pretrain_fixtures import assert_resume_matches, write_corpus

SMALL = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def bart_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bart")
    corpus = write_corpus(d / "train.txt", 40)
    dev = write_corpus(d / "dev.txt", 6, seed=5)
    tok = train_bytebpe(corpus.read_text().splitlines(), 300, layout="roberta")  # <s> <pad> </s> <unk> <mask>
    tok.save_pretrained(d / "tok")
    (d / "small.json").write_text(json.dumps(SMALL))
    return d / "tok", corpus, dev, d / "small.json"


def test_noise_vocab_reads_the_tokenizer(bart_files):
    tok = Tokenizer.from_pretrained(bart_files[0])
    v = NoiseVocab.from_tokenizer(tok)
    assert v.mask_id == tok.mask_token_id and set(v.special_ids) == {0, 1, 2}  # <s> <pad> </s>; <unk> is text
    assert tok.convert_tokens_to_ids("Ġ.") in v.sentence_end_ids and tok.mask_token_id not in v.sentence_end_ids
    ids = tok.encode("the red cats sat on the mat . the big dogs sat on the road .")
    assert sum(i in v.sentence_end_ids for i in ids) == 2  # permutation sees two sentences


def test_collator_noises_the_input_and_keeps_the_original_as_labels(bart_files):
    tok = Tokenizer.from_pretrained(bart_files[0])
    texts = ["the red cats sat on the mat . the big dogs sat on the road .", "the small birds sat on the tree ."]
    examples = [{"input_ids": tok.encode(t)} for t in texts]
    collate = DenoisingCollator(NoiseVocab.from_tokenizer(tok), tok.pad_token_id, NoiseConfig(("infill", "permute")), 64)
    batch = collate(examples, torch.Generator().manual_seed(0))
    n0, n1 = (len(e["input_ids"]) for e in examples)
    assert batch["labels"].shape == (2, n0)
    assert batch["labels"][0].tolist() == examples[0]["input_ids"]
    assert batch["labels"][1].tolist() == examples[1]["input_ids"] + [-100] * (n0 - n1)
    assert batch["num_items"] == n0 + n1
    src = batch["input_ids"]
    assert (src == tok.mask_token_id).any() and src[:, 0].eq(0).all()  # <s> stays first
    assert batch["attention_mask"].sum(1).tolist() == [int((r != tok.pad_token_id).sum()) for r in src]
    again = collate(examples, torch.Generator().manual_seed(0))
    assert torch.equal(again["input_ids"], src)  # the batch's generator fixes the noise


def test_denoising_loss_equals_transformers_bart_loss():
    from transformers import BartConfig, BartForConditionalGeneration

    from bertkit import from_pretrained

    torch.manual_seed(0)
    hf = BartForConditionalGeneration(BartConfig(vocab_size=60, d_model=32, encoder_layers=2, decoder_layers=2,
                                                 encoder_attention_heads=2, decoder_attention_heads=2,
                                                 encoder_ffn_dim=40, decoder_ffn_dim=40,
                                                 max_position_embeddings=32)).eval()
    src = torch.randint(5, 60, (2, 9))
    mask = torch.ones_like(src)
    mask[1, 6:] = 0
    labels = torch.randint(5, 60, (2, 12))
    labels[1, 8:] = -100
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        ours = from_pretrained(d).eval()
    with torch.no_grad():
        ref = hf(input_ids=src, attention_mask=mask, labels=labels).loss
        got = DenoisingObjective()(ours, {"input_ids": src, "attention_mask": mask, "labels": labels})
    torch.testing.assert_close(got["loss"], ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got["denoise_loss"], ref, rtol=1e-5, atol=1e-5)


def test_pretrain_bart_lowers_the_loss_and_loads_in_transformers_with_identical_logits(bart_files, tmp_path):
    from transformers import BartForConditionalGeneration

    from bertkit import from_pretrained

    tok_dir, corpus, dev, _ = bart_files
    out = tmp_path / "run"
    rc = main(["pretrain", "--arch", "bart", "--size", "tiny", "--tokenizer", str(tok_dir), "--corpus",
               str(corpus), "--eval-corpus", str(dev), "--steps", "30", "--batch-size", "8", "--lr", "3e-3",
               "--warmup", "3", "--max-length", "64", "--eval-every", "30", "--eval-at-start", "--log-every", "1",
               "--precision", "fp32", "--out", str(out), "--no-progress"])
    assert rc == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    train = [r["loss"] for r in log if "loss" in r]
    evals = [r["eval_loss"] for r in log if "eval_loss" in r]
    assert len(train) == 30 and "denoise_loss" in log[1]
    assert sum(train[-5:]) / 5 < 0.4 * sum(train[:5]) / 5, train  # the toy grammar is learnable
    assert evals[-1] < 0.4 * evals[0], evals
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "bart" and cfg["architectures"] == ["BartForConditionalGeneration"]
    assert cfg["max_position_embeddings"] == 64 and cfg["decoder_start_token_id"] == 2
    assert (cfg["d_model"], cfg["encoder_layers"], cfg["decoder_layers"], cfg["encoder_ffn_dim"]) == (128, 2, 2, 512)
    ours = from_pretrained(out).eval()
    hf = BartForConditionalGeneration.from_pretrained(out).eval()
    tok = Tokenizer.from_pretrained(out)
    src = torch.tensor([tok.encode("the big cats sat on the <mask> .")])
    dec = torch.tensor([[2, *tok.encode("the big cats sat on the mat .")[:-1]]])
    with torch.no_grad():
        torch.testing.assert_close(ours(src, decoder_input_ids=dec).logits,
                                   hf(input_ids=src, decoder_input_ids=dec).logits, rtol=1e-5, atol=1e-5)


def test_bart_resume_continues_from_the_checkpoint_with_every_noise(bart_files, tmp_path):
    tok_dir, corpus, _, small = bart_files
    base = {"arch": "bart", "size": str(small), "tokenizer": tok_dir, "corpus": [corpus], "batch_size": 4,
            "lr": 1e-3, "max_length": 32, "steps": 6, "save_every": 3, "precision": "fp32", "log_every": 1,
            "progress": False, "noise": "mask,delete,infill,permute,rotate", "noise_ratio": 0.2,
            "poisson_lambda": 2.0}
    assert_resume_matches(tmp_path, **base)


def test_bart_bad_input_is_one_clear_error_before_any_work(bart_files, tmp_path, capsys):
    tok_dir, corpus, _, _ = bart_files
    out = tmp_path / "x"
    defaults = {"arch": "bart", "tokenizer": tok_dir, "corpus": [corpus], "out": out, "steps": 1, "progress": False}
    spec = lambda **kw: PretrainSpec(**{**defaults, **kw})
    with pytest.raises(InputError, match="unknown noise 'shuffle'; expected some of permute, mask, delete, infill"):
        pretrain(spec(noise="infill,shuffle"))
    no_mask = tmp_path / "gpt2tok"
    train_bytebpe(corpus.read_text().splitlines(), 280, layout="gpt2").save_pretrained(no_mask)
    with pytest.raises(InputError, match="has no mask token; BART's noising"):
        pretrain(spec(tokenizer=no_mask))
    with pytest.raises(InputError, match="--arch bart trains with --objective denoise only"):
        pretrain(spec(objective="mlm"))
    with pytest.raises(InputError, match="needs an encoder-decoder: --arch bart; roberta is not one"):
        pretrain(spec(arch="roberta", objective="denoise"))
    with pytest.raises(InputError, match="--arch roberta does not noise its input"):
        pretrain(spec(arch="roberta", noise="infill"))
    with pytest.raises(InputError, match="are masked-LM settings; --arch bart noises"):
        pretrain(spec(masking="span"))
    with pytest.raises(InputError, match=r"text windows \(--packing full, doc, single\), got nsp"):
        pretrain(spec(packing="nsp"))
    assert not out.exists()  # refused before any work
    for extra, message in [(["--noise", "infill,shuffle"], "unknown noise 'shuffle'"),
                           ([], "has no mask token")]:
        tok = no_mask if not extra else tok_dir
        rc = main(["pretrain", "--arch", "bart", "--tokenizer", str(tok), "--corpus", str(corpus), "--steps", "1",
                   "--out", str(out), "--no-progress", *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()
