"""Fine-tuning options: frozen encoder, long-document windows, multi-label, regression output."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.tasks.classification import softmax
from bertkit.tasks.long_docs import combine_windows


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
    assert not (tmp_path / "o" / "training" / "checkpoints").exists()
