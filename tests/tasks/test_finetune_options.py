"""Fine-tuning options: frozen encoder, long-document windows, multi-label, regression output."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.batching import pad_batch
from bertkit.tasks.classification import softmax
from bertkit.tasks.long_docs import combine_windows
from tests.training.tiny_run import press_ctrl_c_once_training


def test_frozen_encoder_leaves_backbone_and_long_docs_combine(tiny, tmp_path):
    rows = ["text,label"] + [f"word{i % 7} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(32)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    before = bertkit.from_pretrained(tiny).backbone.state_dict()
    clf = bertkit.finetune("classify", train=tmp_path / "t.csv", model=tiny, epochs=1, batch_size=8,
                           freeze="encoder", long_docs="clinical", max_length=8, stride=2, progress=False)
    after = clf.model.backbone.state_dict()
    assert clf.report["params"]["trainable"] < clf.report["params"]["total"] / 10
    for k, v in before.items():
        if not k.startswith("pooler."):
            torch.testing.assert_close(after[k], v, rtol=0, atol=0)
    # a long text: per-window probabilities combined by ClinicalBERT's formula
    text = " ".join(["good"] * 10 + ["bad"] * 10)
    enc = clf.encode([text])
    assert len(enc.feats) > 2 and len(set(enc.owner)) == 1
    clf.settings["precision"] = "fp32"
    with torch.no_grad():
        logits = [clf.model(torch.tensor([f["input_ids"]])).logits[0].numpy() for f in enc.feats]
    want = combine_windows(softmax(np.stack(logits)), "clinical", 2.0)
    got = clf.predict([text])[0]["probabilities"]
    np.testing.assert_allclose([got["0"], got["1"]], want, atol=1e-5)


def test_multi_label_and_regression(tiny, tmp_path, capsys):
    rows = ["text,tags"] + [f"{'sport ' if i % 2 else ''}{'money ' if i % 3 == 0 else ''}news {i},"
                            f"\"{','.join(t for t, on in (('sport', i % 2), ('economy', i % 3 == 0)) if on) or 'none'}\""
                            for i in range(24)]
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    ml = bertkit.finetune("classify", train=tmp_path / "m.csv", dev=tmp_path / "m.csv", model=tiny, label_col="tags",
                          multi_label=True, epochs=1, batch_size=8, progress=False)
    assert ml.labels == ["economy", "none", "sport"]
    r = ml.predict(["sport news"])[0]
    assert r["labels"] == [k for k, p in r["probabilities"].items() if p >= 0.5]
    assert r["score"] == max(r["probabilities"].values())
    assert set(ml.report["best"]) == {"epoch", "eval_micro_f1", "eval_subset_accuracy"}
    (tmp_path / "s.csv").write_text("".join(f"a dog {i},a cat {i},{i % 5}.0\n" for i in range(24)))
    assert main(["finetune", "regress", "--train", str(tmp_path / "s.csv"), "--text-col", "0", "--text2-col", "1",
                 "--label-col", "2", "--model", str(tiny), "--epochs", "1", "--batch-size", "8", "--quiet",
                 "--precision", "fp32", "--out", str(tmp_path / "reg")]) == 0
    main(["predict", str(tmp_path / "reg"), "-i", str(tmp_path / "s.csv"), "-o", str(tmp_path / "o.csv")])
    out = [x.split(",") for x in (tmp_path / "o.csv").read_text().splitlines()]
    assert len(out) == 24 and all(len(x) == 5 and x[3] == x[4] for x in out)  # no header: 3 columns + 2
    want = bertkit.Predictor.load(tmp_path / "reg").predict(["a dog 3"], ["a cat 3"])[0]["score"]
    assert float(out[3][3]) == pytest.approx(want, rel=1e-4)


def test_time_budget_stops_and_scores_last_state(tiny, tmp_path):
    rows = ["text,label"] + [f"item {i} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(64)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    clf = bertkit.finetune("classify", train=tmp_path / "t.csv", dev=tmp_path / "t.csv", model=tiny, epochs=1000,
                           batch_size=8, time_budget=2.0, out=tmp_path / "o", progress=False, patience=None)
    rep = clf.report
    assert rep["stopped_by_time_budget"] and rep["steps"] < 8000
    last = rep["history"][-1]
    assert last["epoch"] == pytest.approx(rep["steps"] / 8, abs=1e-3)  # the extra evaluation of the last state
    assert rep["best"]["eval_accuracy"] == max(h["eval_accuracy"] for h in rep["history"])
    assert bertkit.Predictor.load(tmp_path / "o").score(clf.encode(["item 1 is good"], gold=["1"])) == \
        clf.score(clf.encode(["item 1 is good"], gold=["1"]))
    assert (tmp_path / "o" / "training" / "checkpoints").is_dir()  # for resume=True


@pytest.mark.parametrize("with_dev", [True, False])
def test_ctrl_c_stops_fine_tuning_and_keeps_a_scored_model(tiny, tmp_path, capsys, with_dev):
    rows = ["text,label"] + [f"item {i} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(64)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    presser = press_ctrl_c_once_training(1.0)
    clf = bertkit.finetune("classify", train=tmp_path / "t.csv", dev=tmp_path / "t.csv" if with_dev else None,
                           model=tiny, epochs=1000, batch_size=8, out=tmp_path / "o", progress=False, patience=None)
    presser.join()
    rep = clf.report
    err = capsys.readouterr().err
    assert rep["interrupted"] and not rep["stopped_by_time_budget"] and 0 < rep["steps"] < 8000, \
        ({k: rep[k] for k in ("interrupted", "stopped_by_time_budget", "steps", "train_seconds")}, err[-500:])
    assert "Ctrl-C again to abort" in err
    if with_dev:  # the last state was scored too, and the best of the scored states kept
        assert rep["history"][-1]["epoch"] == pytest.approx(rep["steps"] / 8, abs=1e-3)
        assert rep["best"]["eval_accuracy"] == max(h["eval_accuracy"] for h in rep["history"])
    loaded = bertkit.Predictor.load(tmp_path / "o")
    assert loaded.predict(["item 3 is good"]) == clf.predict(["item 3 is good"])
    assert (tmp_path / "o" / "training" / "checkpoints" / f"step_{rep['steps']:06d}").is_dir()  # for resume=True
    assert json.loads((tmp_path / "o" / "metrics.json").read_text())["interrupted"] is True


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_mean_pooled_classifier_reads_unpadded_tokens_and_round_trips(family, tmp_path):
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(family=family, vocab_size=50, hidden_size=16, num_layers=2, num_heads=2,
                              intermediate_size=24, max_positions=40, pad_token_id=1,
                              position_offset=family == "roberta", extra={"classifier_pooling": "mean"})
    net = bertkit.build_model(cfg, "classification").eval()
    ids = torch.tensor([[0, 5, 6, 7, 2, 1, 1], [0, 8, 9, 10, 11, 12, 2]])
    mask = (ids != 1).long()
    with torch.no_grad():
        out = net(ids, mask)
        x = out.last_hidden_state
        mean = torch.stack([x[0, :5].mean(0), x[1].mean(0)])
        torch.testing.assert_close(out.logits, net.heads["classification"].from_vector(mean))
        alone = net(ids[:1, :5], mask[:1, :5]).logits  # padding does not move the mean
        torch.testing.assert_close(out.logits[:1], alone, atol=1e-6, rtol=1e-5)
        net.config.extra["classifier_pooling"] = "cls"
        assert not torch.allclose(net(ids, mask).logits, out.logits)  # the switch is what changed the logits
        net.config.extra["classifier_pooling"] = "mean"
    bertkit.save_pretrained(net, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["classifier_pooling"] == "mean"
    back = bertkit.from_pretrained(tmp_path / "m")
    with torch.no_grad():
        torch.testing.assert_close(back(ids, mask).logits, out.logits)
    with pytest.raises(InputError, match="classifier_pooling must be one of cls, mean, got 'max'"):
        bertkit.build_model(cfg.replace(extra={"classifier_pooling": "max"}), "classification")


def test_finetune_mean_pooling_saves_and_predicts_the_same(tiny, tmp_path, capsys):
    rows = ["text,label"] + [f"word{i % 7} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(32)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert main(["finetune", "classify", "--train", str(tmp_path / "t.csv"), "--model", str(tiny), "--epochs", "1",
                 "--batch-size", "8", "--pooling", "mean", "--quiet", "--out", str(tmp_path / "clf")]) == 0
    assert json.loads((tmp_path / "clf" / "config.json").read_text())["classifier_pooling"] == "mean"
    clf = bertkit.Predictor.load(tmp_path / "clf")
    assert clf.model.config.classifier_pooling == "mean"
    clf.settings["precision"] = "fp32"
    texts = ["word3 is good", "word1 is bad and longer than the other one"]
    enc = pad_batch(clf.encode(texts).feats, 0)
    with torch.no_grad():
        logits = clf.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
    got = [[r["probabilities"][k] for k in ("0", "1")] for r in clf.predict(texts)]
    np.testing.assert_allclose(got, softmax(logits.numpy()), atol=1e-5)
    # fine-tuning it again with pooling="cls" switches back; the key leaves config.json
    again = bertkit.finetune("classify", train=tmp_path / "t.csv", model=tmp_path / "clf", epochs=1, batch_size=8,
                             pooling="cls", out=tmp_path / "clf2", progress=False)
    assert again.model.config.classifier_pooling == "cls"
    assert "classifier_pooling" not in json.loads((tmp_path / "clf2" / "config.json").read_text())
    with pytest.raises(InputError, match="pooling is for the classify, pair and regress tasks, not ner"):
        bertkit.finetune("ner", train=tmp_path / "t.csv", model=tiny, pooling="mean", progress=False)
    with pytest.raises(InputError, match="pooling must be cls or mean, got 'max'"):
        bertkit.finetune("classify", train=tmp_path / "t.csv", model=tiny, pooling="max", progress=False)


def test_layer_lr_decay_slows_the_lower_layers(tiny, tmp_path, capsys):
    rows = ["text,label"] + [f"word{i % 7} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(32)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    start = bertkit.from_pretrained(tiny).backbone.state_dict()
    moved = {}
    for d in (1.0, 0.05):
        clf = bertkit.finetune("classify", train=tmp_path / "t.csv", model=tiny, epochs=1, batch_size=8, lr=1e-3,
                               layer_lr_decay=d, progress=False)
        now = clf.model.backbone.state_dict()
        moved[d] = {k: (now[k] - start[k]).abs().mean().item() for k in ("embeddings.word.weight", "pooler.dense.weight")}
    # the pooler sits above the blocks: full rate either way; the embeddings learn at 0.05 ** (blocks + 1) of it
    assert moved[0.05]["pooler.dense.weight"] == pytest.approx(moved[1.0]["pooler.dense.weight"], rel=0.5)
    assert moved[0.05]["embeddings.word.weight"] < 0.01 * moved[1.0]["embeddings.word.weight"]
    with pytest.raises(SystemExit) as e:  # refused while the command line is parsed
        main(["finetune", "classify", "--train", str(tmp_path / "t.csv"), "--model", str(tiny),
              "--layer-lr-decay", "1.5", "--quiet", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err.splitlines()[-1].endswith("argument --layer-lr-decay: must be in (0, 1], got 1.5")


def test_tokenizing_a_large_training_file_shows_progress(tiny, tmp_path, capsys, monkeypatch):
    from bertkit.tasks import classification as C

    rows = ["text,label"] + [f"item {i} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(C, "PROGRESS_MIN_TEXTS", 30)
    bertkit.finetune("classify", train=tmp_path / "t.csv", model=tiny, epochs=1, batch_size=8, progress=True)
    assert "tokenize: 100%" in capsys.readouterr().err
    bertkit.finetune("classify", train=tmp_path / "t.csv", model=tiny, epochs=1, batch_size=8, progress=False)
    assert "tokenize" not in capsys.readouterr().err
