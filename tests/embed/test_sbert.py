"""SBERT training on the shared Trainer: siamese objective, all four losses, ST-readable folders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertkit
from bertkit.embed.losses import CosineRegressionLoss, SoftmaxLoss
from bertkit.embed.sbert import (Example, SbertCollator, SbertObjective, read_examples, train_sbert)
from bertkit.errors import InputError
from bertkit.nn.pooling import pool
from bertkit.training import TrainConfig

PAIRS = [("A man is eating food.", "A man eats something.", 4.6), ("A girl plays the violin.", "A man drives a car.", 0.2),
         ("The cat sits on the mat.", "A cat is sitting on a mat.", 4.8), ("Stocks fell sharply.", "It is raining.", 0.0),
         ("Two dogs run in a field.", "Dogs are running outside.", 4.0), ("He cooks pasta.", "The sky is blue.", 0.4),
         ("A boy kicks a ball.", "A child is playing football.", 3.8), ("She reads a book.", "Planes fly high.", 0.1)]


def _cfg(tmp_path, **kw):
    base = dict(out_dir=tmp_path / "run", lr=5e-4, batch_size=4, max_steps=6, progress=False, log_every=2, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def test_objective_is_siamese_and_matches_manual_loss(tiny_dir):
    enc = bertkit.load(tiny_dir)
    examples = [Example((a, b), s / 5) for a, b, s in PAIRS[:4]]
    batch = SbertCollator(enc.tokenizer, 32)(examples)
    assert set(batch) == {"input_ids", "attention_mask", "input_ids_b", "attention_mask_b", "labels"}
    got = SbertObjective(CosineRegressionLoss(), "max")(enc.model, batch)["loss"]
    with torch.no_grad():
        u = torch.as_tensor(enc.embed([e.texts[0] for e in examples], pooling="max"))
        v = torch.as_tensor(enc.embed([e.texts[1] for e in examples], pooling="max"))
    ref = ((torch.nn.functional.cosine_similarity(u, v) - batch["labels"]) ** 2).mean()
    assert got.item() == pytest.approx(ref.item(), rel=1e-4, abs=1e-6)
    # both sides flow into the same weights: one backward reaches the shared embedding matrix from both
    got.backward()
    assert enc.model.backbone.embeddings.word.weight.grad is not None


def test_regression_training_saves_sentence_transformers_folder(tiny_dir, tmp_path):
    sts = tmp_path / "train.csv"
    sts.write_text("".join(f'"{a}","{b}",{s}\n' for a, b, s in PAIRS), encoding="utf-8")
    run = train_sbert(tiny_dir, sts, "regression", _cfg(tmp_path, max_steps=8, eval_every=4), pooling="max",
                      dev_file=sts, max_length=32)
    out = run.out_dir
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling"]
    pcfg = json.loads((out / "1_Pooling" / "config.json").read_text())
    assert pcfg["pooling_mode_max_tokens"] and not pcfg["pooling_mode_mean_tokens"]
    # it learned the training pairs (dev = train here): Spearman rises
    assert run.dev_after["sts_spearman"] > run.dev_before["sts_spearman"]
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert any("sts_spearman" in r for r in log) and (out / "best" / "modules.json").is_file()
    # bertkit reads the pooling from the folder; sentence-transformers reads the same folder to equal vectors
    mine = bertkit.load(out)
    assert mine.pooling == "max"
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(out), device="cpu")
    texts = [p[0] for p in PAIRS] + ["an unseen sentence with more words in it"]
    np.testing.assert_allclose(st.encode(texts, convert_to_numpy=True), mine.embed(texts), atol=2e-5, rtol=1e-4)


def test_training_keeps_the_starting_folders_normalize_module(tiny_dir, tmp_path):
    """A model whose modules.json ends with Normalize (all-MiniLM-L6-v2's layout) stays a unit-vector model."""
    import shutil

    from bertkit.embed.st_folder import write_st_files

    start = tmp_path / "start"
    shutil.copytree(tiny_dir, start)
    write_st_files(start, "mean", 32, 128, normalize=True)
    sts = tmp_path / "train.csv"
    sts.write_text("".join(f'"{a}","{b}",{s}\n' for a, b, s in PAIRS), encoding="utf-8")
    run = train_sbert(start, sts, "regression", _cfg(tmp_path, max_steps=2), max_length=32)
    modules = json.loads((run.out_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    out = bertkit.load(run.out_dir)
    assert out.normalize is True
    np.testing.assert_allclose(np.linalg.norm(out.embed(["a sentence", "another one"]), axis=1), 1.0, atol=1e-5)


def test_a_run_that_lowers_dev_spearman_keeps_the_best_state(tiny_dir, tmp_path, capsys):
    """Trained towards the opposite of the dev scores, every step is worse on dev than the start: the folder
    written is the starting model (the best on dev), as `finetune` keeps its best epoch, and the CLI says so."""
    from bertkit.cli.main import main
    from bertkit.errors import BertkitWarning

    train, dev = tmp_path / "inverted.csv", tmp_path / "dev.csv"
    train.write_text("".join(f'"{a}","{b}",{5 - s}\n' for a, b, s in PAIRS), encoding="utf-8")
    dev.write_text("".join(f'"{a}","{b}",{s}\n' for a, b, s in PAIRS), encoding="utf-8")
    with pytest.warns(BertkitWarning, match="training lowered the dev Spearman"):
        run = train_sbert(tiny_dir, train, "regression", _cfg(tmp_path, max_steps=6, lr=2e-3), dev_file=dev,
                          max_length=32)
    assert run.best_step == 0 and run.dev_last["sts_spearman"] < run.dev_before["sts_spearman"]
    assert run.dev_after["sts_spearman"] == pytest.approx(run.dev_before["sts_spearman"], abs=1e-6)
    texts = [p[0] for p in PAIRS]
    np.testing.assert_allclose(bertkit.load(run.out_dir).embed(texts), bertkit.load(tiny_dir).embed(texts),
                               atol=1e-5)
    out = tmp_path / "cli"
    rc = main(["finetune", "sbert", "--train", str(train), "--objective", "regression", "--model", str(tiny_dir),
               "--out", str(out), "--max-steps", "6", "--batch-size", "4", "--lr", "2e-3", "--max-length", "32",
               "--dev", str(dev)])
    text = capsys.readouterr()
    assert rc == 0 and "kept the best on dev, the starting model, over the last step's" in text.out
    assert "bertkit: warning: training lowered the dev Spearman" in text.err and f"{out} keeps the starting" in text.err
    np.testing.assert_allclose(bertkit.load(out).embed(texts), bertkit.load(tiny_dir).embed(texts), atol=1e-5)


@pytest.mark.parametrize("objective, rows", [
    ("softmax", ["sentence1\tsentence2\tgold_label", "A man eats.\tSomeone eats.\tentailment",
                 "A man eats.\tNobody eats.\tcontradiction", "A dog runs.\tAn animal moves.\tentailment",
                 "A dog runs.\tThe dog is brown.\tneutral"]),
    ("triplet", ["A man eats.\tSomeone is eating.\tThe stock market fell.", "A dog runs.\tA dog is running.\tIt rains.",
                 "Kids play.\tChildren are playing.\tTaxes rose.", "She sings.\tA woman sings.\tA car broke."]),
    ("mnrl", ["A man eats.\tSomeone is eating.", "A dog runs.\tA dog is running.",
              "Kids play.\tChildren are playing.", "She sings.\tA woman sings."]),
])
def test_other_objectives_train_and_lower_their_loss(tiny_dir, tmp_path, objective, rows):
    f = tmp_path / f"{objective}.tsv"
    f.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ex = read_examples(f, objective)
    assert len(ex) == 4
    run = train_sbert(tiny_dir, f, objective, _cfg(tmp_path, max_steps=10, log_every=1, shuffle=False,
                                                   clip_norm=None), pooling="mean", max_length=16)
    log = [json.loads(x) for x in (run.out_dir / "log.jsonl").read_text().splitlines() if '"loss"' in x]
    assert log[-1]["loss"] < log[0]["loss"]
    assert bertkit.load(run.out_dir).pooling == "mean"


def test_softmax_head_is_trained_with_the_encoder(tiny_dir):
    enc = bertkit.load(tiny_dir)
    loss = SoftmaxLoss(enc.dim, 3)
    obj = SbertObjective(loss, "cls")
    batch = SbertCollator(enc.tokenizer, 16)([Example(("a b", "c"), 1), Example(("d", "e f"), 2)])
    out = obj(enc.model, batch)["loss"]
    u = pool(enc.model(batch["input_ids"], batch["attention_mask"]).last_hidden_state, batch["attention_mask"], "cls")
    v = pool(enc.model(batch["input_ids_b"], batch["attention_mask_b"]).last_hidden_state, batch["attention_mask_b"],
             "cls")
    assert out.item() == pytest.approx(loss(u, v, batch["labels"]).item(), rel=1e-5)
    out.backward()
    assert loss.classifier.weight.grad is not None and loss.classifier.weight.grad.abs().sum() > 0


def test_read_examples_errors(tmp_path):
    f = tmp_path / "bad.tsv"
    f.write_text("a\tb\tmaybe\n", encoding="utf-8")
    with pytest.raises(InputError, match="label 'maybe'"):
        read_examples(f, "softmax")
    f.write_text("only one column\n", encoding="utf-8")
    with pytest.raises(InputError, match="needs 3"):
        read_examples(f, "triplet")
    with pytest.raises(InputError, match="unknown objective"):
        read_examples(f, "contrastive")


def test_cli_finetune_sbert_and_evaluate_sts(tiny_dir, tmp_path, capsys):
    from bertkit.cli.main import main

    f = tmp_path / "mnrl.tsv"
    f.write_text("".join(f"{a}\t{b}\n" for a, b, _ in PAIRS), encoding="utf-8")
    sts = tmp_path / "dev.csv"
    sts.write_text("".join(f'"{a}","{b}",{s}\n' for a, b, s in PAIRS), encoding="utf-8")
    out = tmp_path / "cli_run"
    rc = main(["finetune-sbert", "--train", str(f), "--objective", "mnrl", "--model", str(tiny_dir), "--out", str(out),
               "--max-steps", "2", "--batch-size", "4", "--pooling", "cls", "--max-length", "16", "--dev", str(sts)])
    text = capsys.readouterr().out
    assert rc == 0 and "dev Spearman before" in text and "dev Spearman after" in text
    assert bertkit.load(out).pooling == "cls"
    assert main(["evaluate", "sts", "--model", str(out), "--data", str(sts), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    from bertkit.embed.evaluate import evaluate_sts, read_sts

    ref = evaluate_sts(bertkit.load(out), read_sts(sts))
    assert r["pairs"] == len(PAIRS) and r["spearman"] == pytest.approx(ref["spearman"], abs=1e-9)
    assert main(["finetune-sbert", "--train", str(tmp_path / "missing.tsv"), "--objective", "mnrl", "-o",
                 str(out)]) == 2
