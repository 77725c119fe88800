"""The averaged-perceptron POS tagger: learns a tiny corpus, round-trips, reads CoNLL, CLI."""
from __future__ import annotations

import json

import pytest

from bertkit.errors import InputError
from bertkit.tasks.pos_tagger import PosTagger, read_pos, train_pos_tagger

CORPUS = [
    (["the", "dog", "runs"], ["DT", "NN", "VBZ"]),
    (["a", "cat", "sleeps"], ["DT", "NN", "VBZ"]),
    (["the", "big", "dog", "sleeps", "quietly"], ["DT", "JJ", "NN", "VBZ", "RB"]),
    (["dogs", "run"], ["NNS", "VBP"]),
    (["a", "small", "cat", "runs", "fast"], ["DT", "JJ", "NN", "VBZ", "RB"]),
    (["cats", "sleep"], ["NNS", "VBP"]),
]


def _conll(path, sents):
    lines = ["-DOCSTART- -X- O O", ""]
    for words, tags in sents:
        lines += [f"{w} {t} I-NP O" for w, t in zip(words, tags)] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_learns_tiny_corpus_and_round_trips(tmp_path):
    tagger = train_pos_tagger(_conll(tmp_path / "train.txt", CORPUS), iterations=5, seed=0, progress=False)
    assert tagger.accuracy(CORPUS) == 1.0
    assert [tagger.tag(w) for w, _ in CORPUS] == [t for _, t in CORPUS]
    loaded = PosTagger.load(tagger.save(tmp_path / "t.json"))
    assert [loaded.tag(w) for w, _ in CORPUS] == [t for _, t in CORPUS]
    assert loaded.tags == sorted({t for _, ts in CORPUS for t in ts})


def test_read_pos_takes_second_column(tmp_path):
    sents = read_pos(_conll(tmp_path / "a.txt", CORPUS[:2]))
    assert sents == [(CORPUS[0][0], CORPUS[0][1]), (CORPUS[1][0], CORPUS[1][1])]


def test_errors(tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("EU\nrejects\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"one.txt: expected a POS tag in the second column"):
        read_pos(one)
    with pytest.raises(InputError, match="iterations must be >= 1, got 0"):
        train_pos_tagger(CORPUS, iterations=0, progress=False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"x": 1}))
    with pytest.raises(InputError, match=r"bad.json is not a POS tagger written by bertkit train-pos-tagger"):
        PosTagger.load(bad)
    with pytest.raises(InputError, match=r"POS tagger .*missing.json does not exist"):
        PosTagger.load(tmp_path / "missing.json")


def test_cli_prints_dev_accuracy(tmp_path, capsys):
    from bertkit.cli.main import main

    train = _conll(tmp_path / "train.txt", CORPUS)
    assert main(["train-pos-tagger", "--train", str(train), "--dev", str(train), "--out", str(tmp_path / "t.json"),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "dev accuracy: 1.0000 (20 words of" in out
    assert PosTagger.load(tmp_path / "t.json").tag(["the", "cat", "runs"]) == ["DT", "NN", "VBZ"]
