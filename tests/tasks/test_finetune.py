"""Fine-tuning end to end on a tiny model (hidden 32, 2 layers) with the real MiniLM vocabulary: it learns,
saves, reloads to identical predictions, and the CLI writes the same rows back with prediction and score."""
from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError

POS, NEG = ["great", "wonderful", "loved", "superb"], ["awful", "terrible", "hated", "boring"]


def _reviews(path, n, seed, extra=""):
    r = random.Random(seed)
    rows = ["review,sentiment"]
    for _ in range(n):
        y = r.random() < 0.5
        rows.append(f'"the song was {r.choice(POS if y else NEG)}, {r.choice(["yes", "ok"])}",{"pos" if y else "neg"}')
    path.write_text("\n".join(rows) + "\n" + extra)
    return path


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    d = tmp_path_factory.mktemp("clf")
    train = _reviews(d / "train.csv", 64, 0, extra="\n,neg\n")  # a blank line and an empty text: skipped
    dev = _reviews(d / "dev.csv", 24, 1)
    with pytest.warns(UserWarning, match="skipped"):
        clf = bertkit.finetune("classify", train=train, dev=dev, model=tiny, text_col="review",
                               label_col="sentiment", epochs=8, lr=1e-2, batch_size=8, out=d / "out",
                               progress=False, patience=None, precision="fp32")
    return clf, d


def test_classifier_learns_and_reports(trained):
    clf, d = trained
    got = clf.predict(["the song was loved, ok", "the song was hated, yes"])
    assert [g["label"] for g in got] == ["pos", "neg"]
    assert all(abs(sum(g["probabilities"].values()) - 1) < 1e-5 and g["score"] > 0.5 for g in got)
    rep = json.loads((d / "out" / "metrics.json").read_text())
    assert rep["train_examples"] == 64 and rep["train_skipped"] == 2 and rep["labels"] == ["neg", "pos"]
    accs = [h["eval_accuracy"] for h in rep["history"]]
    assert len(accs) == 8 and rep["best"]["eval_accuracy"] == max(accs) == 1.0
    assert (d / "out" / "learning_curve.png").stat().st_size > 1000
    import matplotlib.image

    img = matplotlib.image.imread(d / "out" / "confusion.png")
    assert img.shape[0] > 250 and img.shape[1] > 250 and img[..., :3].std() > 0.05  # drawn, not blank
    conf = rep["dev_confusion"]  # rows gold neg/pos, columns predicted: all on the diagonal at accuracy 1.0
    assert sum(map(sum, conf)) == 24 and conf[0][1] == conf[1][0] == 0
    assert rep["dev_report"]["pos"]["support"] == conf[1][1] and rep["dev_report"]["macro avg"]["f1"] == 1.0
    assert not (d / "out" / "training" / "best").exists()  # the best epoch is the output folder itself


def test_predictor_round_trip(trained, tmp_path):
    clf, d = trained
    texts = ["the song was superb", "boring, ok", "a b c"]
    again = bertkit.Predictor.load(d / "out")
    a, b = clf.predict(texts), again.predict(texts)
    assert [x["label"] for x in a] == [x["label"] for x in b]
    np.testing.assert_allclose([x["score"] for x in a], [x["score"] for x in b], atol=1e-6)
    clf.save(tmp_path / "copy")
    assert bertkit.Predictor.load(tmp_path / "copy").settings == clf.settings
    with pytest.raises(bertkit.CheckpointError, match="no bertkit_task.json"):
        bertkit.Predictor.load(d)


def test_cli_predict_same_rows_plus_two_columns(trained, capsys):
    clf, d = trained
    src = d / "new.tsv"
    src.write_text("id\treview\n1\tloved it, great\n2\tbroken\trow\n3\thated it, boring\n")
    assert main(["predict", str(d / "out"), "-i", str(src), "-o", str(d / "new.out.tsv")]) == 0
    out = capsys.readouterr()
    assert "2 predictions, 1 bad row(s) skipped" in out.out
    assert f"bertkit: warning: {src}: skipped 1 bad row(s): line 3:" in out.err
    lines = (d / "new.out.tsv").read_text().splitlines()
    assert lines[0] == "id\treview\tprediction\tscore"
    assert [x.split("\t")[:3] for x in lines[1:]] == [["1", "loved it, great", "pos"], ["3", "hated it, boring", "neg"]]
    assert all(0.5 < float(x.split("\t")[3]) <= 1 for x in lines[1:])


def test_label_seen_only_at_prediction_time(trained, capsys, tmp_path, monkeypatch):
    clf, d = trained
    src = d / "lab.csv"
    src.write_text("review,sentiment\nloved it,pos\nmeh,neutral\n")
    monkeypatch.chdir(tmp_path)  # without -o the predictions go to the current directory, not beside the input
    assert main(["predict", str(d / "out"), "-i", str(src)]) == 0
    out = capsys.readouterr()
    assert "no metrics" in out.out and f"wrote {tmp_path / 'lab.pred.csv'}: 2 predictions" in out.out
    assert "bertkit: warning: no metrics: " in out.err and "'neutral' (line 3) do not occur in the training data" in out.err
    assert (tmp_path / "lab.pred.csv").read_text().splitlines()[0] == "review,sentiment,prediction,score"
    assert not (d / "lab.pred.csv").exists()


def test_dev_label_missing_from_train_and_bad_column(tiny, tmp_path, capsys):
    train = _reviews(tmp_path / "t.csv", 16, 0)
    dev = tmp_path / "d.csv"
    dev.write_text("review,sentiment\ngood,pos\nmeh,neutral\n")
    with pytest.raises(InputError, match=r"'neutral' \(line 3\) do not occur in .*t.csv; known labels: neg, pos"):
        bertkit.finetune("classify", train=train, dev=dev, model=tiny, epochs=1)
    rc = main(["finetune", "classify", "--train", str(train), "--text-col", "body", "--out", str(tmp_path / "o"),
               "--model", str(tiny)])
    assert rc == 2 and "no column 'body'; available columns: review, sentiment" in capsys.readouterr().err


def test_ner_and_qa_end_to_end(tiny, tmp_path, capsys):
    r = random.Random(0)
    lines = ["-DOCSTART- -X- O O", ""]
    for _ in range(48):  # IOB1 tags, as CoNLL-2003
        lines += [f"{r.choice(['John', 'Mary', 'Anna'])} X Y I-PER", "went X Y O", "to X Y O",
                  f"{r.choice(['Paris', 'Rome', 'Oslo'])} X Y I-LOC", ". X Y O", ""]
    (tmp_path / "ner.txt").write_text("\n".join(lines) + "\n")
    assert main(["finetune", "ner", "--train", str(tmp_path / "ner.txt"), "--dev", str(tmp_path / "ner.txt"),
                 "--model", str(tiny), "--epochs", "4", "--lr", "1e-2", "--batch-size", "8", "--quiet",
                 "--out", str(tmp_path / "ner")]) == 0
    assert '"f1": 1.0' in capsys.readouterr().out
    ner = bertkit.Predictor.load(tmp_path / "ner")
    got = ner.predict(["Mary went to Oslo ."])[0]
    assert got["tags"] == ["I-PER", "O", "O", "I-LOC", "O"]  # IOB1 in, IOB1 out
    assert ner.predict(["Mary went to Oslo ."], tag_scheme="iob2")[0]["tags"] == ["B-PER", "O", "O", "B-LOC", "O"]
    assert got["entities"] == [{"type": "PER", "start": 0, "end": 1, "text": "Mary"},
                               {"type": "LOC", "start": 3, "end": 4, "text": "Oslo"}]
    main(["predict", str(tmp_path / "ner"), "-i", str(tmp_path / "ner.txt"), "-o", str(tmp_path / "ner.out")])
    first = (tmp_path / "ner.out").read_text().splitlines()[0].split()
    assert first[1:] == ["X", "Y", "I-PER", "I-PER"]  # input columns + predicted tag, in the input's IOB1
    # the answer follows "The capital is", at a place that moves with the filler around it. (Two questions over one
    # context that differ by one word, as before, sat on a 50% plateau on some CPUs: chaotic, not a bug.)
    cities, fill = ["Paris", "Rome", "Oslo", "Lima"], ["It is old.", "Many live there.", "It rains.", "Food is good."]
    paras = []
    for i in range(32):
        ctx = " ".join(r.sample(fill, r.randint(0, 3)) + [f"The capital is {cities[i % 4]}."] + r.sample(fill, 2))
        paras.append({"context": ctx, "qas": [{"id": f"q{i}", "question": "What is the capital?", "answers": [
            {"text": cities[i % 4], "answer_start": ctx.index(f"is {cities[i % 4]}") + 3}]}]})
    (tmp_path / "qa.json").write_text(json.dumps({"data": [{"title": "A", "paragraphs": paras}]}))
    qa = bertkit.finetune("qa", train=tmp_path / "qa.json", dev=tmp_path / "qa.json", model=tiny, epochs=6,
                          lr=1e-2, batch_size=8, out=tmp_path / "qa", progress=False, patience=None)
    assert qa.report["best"]["eval_exact_match"] == 100.0
    dst, rep = bertkit.Predictor.load(tmp_path / "qa").predict_file(tmp_path / "qa.json", tmp_path / "pred.json")
    assert json.loads(dst.read_text())["q1"] == "Rome" and rep["metrics"]["f1"] == 100.0
