"""Fine-tuning an XLM with language ids: every token of a row carries its language's vector in training and in
prediction (lang / lang_col), the setting is saved, and a language the model lacks is a one-line error."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertkit
from bertkit.errors import InputError
from bertkit.tasks.batching import pad_batch
from tests.conftest import save_tiny

LANG2ID = {"en": 0, "de": 1, "ko": 2}


@pytest.fixture(scope="module")
def xlm(tmp_path_factory, minilm_path):
    """A tiny random XLM (3 languages) with the MiniLM WordPiece tokenizer."""
    return save_tiny(tmp_path_factory.mktemp("xlm"), minilm_path, task="base", family="xlm", intermediate_size=128,
                     type_vocab_size=3, pad_token_id=0,
                     extra={"lang2id": LANG2ID, "id2lang": {str(v): k for k, v in LANG2ID.items()}})


def _pairs(path, n=40, lang_col=False):
    words = ["a dog runs", "the cat sleeps", "a bird sings", "the film ends"]
    rows = ["sentence1\tsentence2\tgold_label" + ("\tlang" if lang_col else "")]
    for i in range(n):
        a = words[i % 4]
        b, y = (a, "entailment") if i % 2 == 0 else (words[(i + 1) % 4], "contradiction")
        rows.append(f"{a}\t{b}\t{y}" + (f"\t{'de' if i % 3 else 'ko'}" if lang_col else ""))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _manual_logits(pred, a, b, lang_id):
    enc = pred.tokenizer(a, b, padding=True, truncation=True, max_length=128)
    ids = torch.tensor(enc["input_ids"])
    mask, types = torch.tensor(enc["attention_mask"]), torch.tensor(enc["token_type_ids"])
    with torch.no_grad():
        kw = {} if lang_id is None else {"langs": torch.full_like(ids, lang_id)}
        return pred.model.eval()(ids, mask, types, **kw).logits.numpy()


def test_pad_batch_spreads_the_language_over_the_row():
    b = pad_batch([{"input_ids": [5, 6, 7], "langs": 2}, {"input_ids": [5], "langs": 1}], 0)
    assert b["langs"].tolist() == [[2, 2, 2], [1, 1, 1]]


def test_lang_is_trained_saved_and_read_by_predictions(xlm, tmp_path):
    train = _pairs(tmp_path / "train.tsv")
    pred = bertkit.finetune("pair", train=train, model=xlm, epochs=1, batch_size=8, out=tmp_path / "out",
                            lang="de", progress=False, patience=None, precision="fp32")
    assert pred.settings["lang"] == "de"
    a, b = ["a dog runs", "the cat sleeps"], ["a dog runs", "a bird sings"]
    probs = np.array([[r["probabilities"][k] for k in pred.labels] for r in pred.predict(a, b)])
    ref = _manual_logits(pred, a, b, LANG2ID["de"])
    ref = np.exp(ref - ref.max(1, keepdims=True))
    np.testing.assert_allclose(probs, ref / ref.sum(1, keepdims=True), atol=1e-5)
    # another language is another input: the vectors differ, so do the probabilities
    ko = pred.predict(a, b, lang="ko")
    assert not np.allclose([r["probabilities"][pred.labels[0]] for r in ko], probs[:, 0])
    per_row = pred.predict(a, b, lang=["ko", "de"])
    assert per_row[0] == ko[0] and per_row[1]["probabilities"] == pytest.approx(
        dict(zip(pred.labels, probs[1])), abs=1e-6)
    back = bertkit.Predictor.load(tmp_path / "out")  # the saved setting comes back with the folder
    assert json.loads((tmp_path / "out" / "bertkit_task.json").read_text())["settings"]["lang"] == "de"
    np.testing.assert_allclose([r["probabilities"][pred.labels[0]] for r in back.predict(a, b)], probs[:, 0],
                               atol=1e-6)


def test_training_features_carry_each_rows_language_from_lang_col(xlm, tmp_path):
    from bertkit.tasks.finetune import _train_features, build_model, read_data

    train = _pairs(tmp_path / "mixed.tsv", n=12, lang_col=True)
    data = build_model(read_data("pair", train, model=xlm, lang_col="lang"), progress=False)
    want = [LANG2ID["de" if i % 3 else "ko"] for i in range(12)]
    assert [f["langs"] for f in _train_features(data.pred, data.tr)] == want
    # predict_file reads the same column, row by row
    out, rep = data.pred.predict_file(train, tmp_path / "mixed.pred.tsv")
    enc = data.pred.encode(data.tr.inputs, data.tr.pairs, lang=[{v: k for k, v in LANG2ID.items()}[i] for i in want])
    assert [f["langs"] for f in enc.feats] == want and rep["rows"] == 12


def test_language_errors_are_one_line_before_training(xlm, tiny, tmp_path):
    train = _pairs(tmp_path / "train.tsv", n=8)
    with pytest.raises(InputError, match="'fr' is not one of the model's languages") as e:
        bertkit.finetune("pair", train=train, model=xlm, lang="fr", epochs=1, progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="lang= is for XLM models"):
        bertkit.finetune("pair", train=train, model=tiny, lang="de", epochs=1, progress=False)
    with pytest.raises(InputError, match="no language column 'lang'"):
        bertkit.finetune("pair", train=train, model=xlm, lang_col="lang", epochs=1, progress=False)
    mixed = _pairs(tmp_path / "mixed.tsv", n=8, lang_col=True)
    mixed.write_text(mixed.read_text().replace("\tko\n", "\t\n", 1))  # one row without its language
    with pytest.raises(InputError, match=r"line \d+: empty language column 'lang'"):
        bertkit.finetune("pair", train=mixed, model=xlm, lang_col="lang", epochs=1, progress=False)
    with pytest.raises(InputError, match="not both"):
        bertkit.finetune("pair", train=train, model=xlm, lang="de", lang_col="lang", epochs=1, progress=False)
    pred = bertkit.finetune("pair", train=train, model=xlm, epochs=1, batch_size=8, progress=False, patience=None,
                            precision="fp32")
    with pytest.raises(InputError, match="2 inputs but 1 languages"):
        pred.predict(["a", "b"], ["c", "d"], lang=["de"])


def test_cli_finetune_and_predict_with_lang(xlm, tmp_path, capsys):
    from bertkit.cli.main import main

    train = _pairs(tmp_path / "train.tsv", n=16)
    assert main(["finetune", "pair", "--train", str(train), "--model", str(xlm), "--lang", "de", "--epochs", "1",
                 "--precision", "fp32", "--quiet", "--out", str(tmp_path / "m")]) == 0
    pred = bertkit.Predictor.load(tmp_path / "m")
    assert pred.settings["lang"] == "de"
    data = [line.split("\t") for line in train.read_text().splitlines()[1:]]
    for lang in ("de", "ko"):
        out = tmp_path / f"pred.{lang}.tsv"
        assert main(["predict", str(tmp_path / "m"), "-i", str(train), "-o", str(out), "--lang", lang]) == 0
        rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
        want = pred.predict([a for a, _, _ in data], [b for _, b, _ in data], lang=lang)
        assert [float(r[-1]) for r in rows] == pytest.approx([w["score"] for w in want], abs=1e-4)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "m"), "-i", str(train), "-o", str(tmp_path / "x.tsv"), "--lang", "fr"]) != 0
    assert "language 'fr' is not one of the model's languages (de, en, ko)" in capsys.readouterr().err
    assert not (tmp_path / "x.tsv").exists()


def test_lr_find_takes_the_language_too(xlm, tmp_path):
    train = _pairs(tmp_path / "train.tsv", n=16)
    with pytest.raises(InputError, match="'fr' is not one of the model's languages"):
        bertkit.lr_find("pair", train, model=xlm, lang="fr", steps=3, progress=False)
    found = bertkit.lr_find("pair", train, model=xlm, lang="ko", steps=3, batch_size=8, progress=False,
                            precision="fp32")
    assert len(found.lrs) == 3
