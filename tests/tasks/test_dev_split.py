"""dev_split: a fraction of the training file held out as dev (ktrain's val_pct) — seeded, classes in
proportion, whole articles for qa, and no dev label that training lacks."""
from __future__ import annotations

import json
from collections import Counter

import pytest

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.files import TaskData, read_task_file, split_dev
from bertkit.tasks.qa import QAExample


def test_classes_in_proportion_disjoint_seeded_and_in_file_order(tmp_path):
    rows = ["text,label"] + [f"row {i},{'a' if i % 4 else 'b'}" for i in range(80)]  # 60 a, 20 b
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    data, _ = read_task_file("classify", tmp_path / "t.csv")
    tr, dv = split_dev("classify", data, 0.25, seed=0)
    assert Counter(dv.gold) == {"a": 15, "b": 5} and Counter(tr.gold) == {"a": 45, "b": 15}
    assert not set(tr.inputs) & set(dv.inputs) and len(tr.inputs) + len(dv.inputs) == 80
    assert tr.lines == sorted(tr.lines) and dv.lines == sorted(dv.lines)
    assert [dv.source.rows[r]["text"] for r in dv.rows] == dv.inputs  # rows still point into the file's table
    assert split_dev("classify", data, 0.25, seed=0)[1].inputs == dv.inputs
    assert split_dev("classify", data, 0.25, seed=1)[1].inputs != dv.inputs


def test_ner_tag_only_in_the_held_out_part_goes_back_to_training():
    sents = [["w"] * 2 for _ in range(20)]
    gold = [["O", "O"] for _ in range(19)] + [["B-RARE", "O"]]
    data = TaskData(sents, None, gold, list(range(20)))
    for seed in range(10):
        tr, dv = split_dev("ner", data, 0.5, seed)
        assert ["B-RARE", "O"] in tr.gold and len(dv.inputs) >= 9


def test_qa_holds_out_whole_articles():
    ex = [QAExample(f"q{i}", f"question {i}", f"context of {i // 3}", [f"of {i // 3}"], 8, title=f"art{i // 6}")
          for i in range(60)]  # 10 articles of 6 questions (2 contexts each)
    tr, dv = split_dev("qa", TaskData(ex, None, [e.answers for e in ex], []), 0.2, seed=0)
    held = {e.title for e in dv.inputs}
    assert len(held) == 2 and not held & {e.title for e in tr.inputs} and len(dv.inputs) == 12


def test_bad_fractions_and_tiny_files_are_refused(tiny, tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nfine,a\nbad,b\n")
    with pytest.raises(InputError, match="not both"):
        bertkit.finetune("classify", train=tmp_path / "t.csv", dev=tmp_path / "t.csv", dev_split=0.1, model=tiny)
    with pytest.raises(InputError, match="between 0 and 1"):
        bertkit.finetune("classify", train=tmp_path / "t.csv", dev_split=10, model=tiny)
    with pytest.raises(InputError, match="leaves no dev rows; give a dev file instead"):
        bertkit.finetune("classify", train=tmp_path / "t.csv", dev_split=0.1, model=tiny)


def test_finetune_with_dev_split_scores_the_held_out_rows(tiny, tmp_path, capsys):
    rows = ["text,label"] + [f"item {i} is {'good' if i % 2 else 'bad'},{i % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    assert main(["finetune", "classify", "--train", str(tmp_path / "t.csv"), "--dev-split", "0.2", "--model",
                 str(tiny), "--epochs", "2", "--batch-size", "8", "--quiet", "--out", str(tmp_path / "o")]) == 0
    assert "best epoch" in capsys.readouterr().out
    clf = bertkit.Predictor.load(tmp_path / "o")
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert (m["train_examples"], m["dev_examples"], m["dev_split"]) == (32, 8, 0.2)
    assert len(m["history"]) == 2 and m["best"]["eval_accuracy"] == max(h["eval_accuracy"] for h in m["history"])
    data, _ = read_task_file("classify", tmp_path / "t.csv")
    _, dv = split_dev("classify", data, 0.2, seed=0)  # the same rows, scored by the kept model
    assert clf.score(clf.encode(dv.inputs, gold=dv.gold))["accuracy"] == pytest.approx(m["best"]["eval_accuracy"])

