"""XNLI protocols on a tiny BERT (hidden 32, 2 layers, the real MiniLM vocabulary) and tiny synthetic NLI data: the
four protocols' models, scores and metrics.json, translated files that equal the original giving the zero-shot
scores, translate-train-all training on the union, a tiny chapter-1 translator in the loop, and bad input as one
line before any work."""
from __future__ import annotations

import json
import random

import pytest

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.xnli import HEADER, evaluate_xnli, read_xnli

NOUNS = ["cat", "dog", "bird", "horse", "car", "tree"]
COLOURS = ["red", "blue", "green", "black"]


def _nli(path, n, seed):
    """n synthetic pairs: the premise repeated = entailment, negated = contradiction, a guess about another noun =
    neutral (cues a tiny model learns in a few steps)."""
    r = random.Random(seed)
    rows = ["\t".join(HEADER)]
    for i in range(n):
        a, b = r.sample(NOUNS, 2)
        c = r.choice(COLOURS)
        p = f"the {a} is {c}"
        y = ["entailment", "neutral", "contradiction"][i % 3]
        h = {"entailment": f"the {a} is {c}", "neutral": f"maybe the {b} is {c}", "contradiction": f"the {a} is not {c}"}[y]
        rows.append(f'{p}\t{h}\t{y}')
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


FT = {"epochs": 8, "lr": 5e-3, "batch_size": 8, "precision": "fp32", "progress": False}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("xnli")
    return d, _nli(d / "train.en.tsv", 48, 0), _nli(d / "test.en.tsv", 24, 1)


@pytest.fixture(scope="module")
def zero_shot(tiny, files):
    d, train, test = files
    m = evaluate_xnli("zero-shot", train, {"en": test, "xx": test}, train_lang="en", model=tiny, out=d / "zs",
                      seed=0, **FT)
    return m, d


def test_zero_shot_scores_every_set_with_one_model(zero_shot):
    import bertkit

    m, d = zero_shot
    saved = json.loads((d / "zs" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(m))
    assert m["protocol"] == "zero-shot" and m["train_rows"] == 48 and list(m["models"]) == ["en"]
    assert m["models"]["en"]["train_rows"] == 48 and m["models"]["en"]["parameters"] > 0
    assert set(m["languages"]) == {"en", "xx"} and m["translations"] == {}
    # the reported accuracy is the saved model's on the file, recomputed here
    pred = bertkit.Predictor.load(d / "zs" / "model-en")
    test = read_xnli(d / "test.en.tsv")
    got = [r["label"] for r in pred.predict(test.premises, test.hypotheses)]
    acc = sum(g == y for g, y in zip(got, test.labels)) / len(test)
    for lang in ("en", "xx"):
        r = m["languages"][lang]
        assert r["n"] == 24 and r["model"] == "en" and r["inputs"] == "original"
        assert r["accuracy"] == pytest.approx(acc)
    assert acc > 0.5  # it learned the synthetic task (chance 1/3)


def test_translate_test_with_the_original_as_translation_equals_zero_shot(tiny, files, zero_shot, tmp_path):
    _d, train, test = files
    other = _nli(tmp_path / "test.xx.tsv", 24, 7)  # "xx" eval set whose "translation" is the en test set
    m = evaluate_xnli("translate-test", train, {"en": test, "xx": other}, translated={"xx": test}, train_lang="en",
                      model=tiny, out=tmp_path / "tt", seed=0, **FT)
    zs = zero_shot[0]["languages"]["en"]
    assert m["languages"]["xx"]["accuracy"] == pytest.approx(zs["accuracy"])
    assert m["languages"]["en"]["accuracy"] == pytest.approx(zs["accuracy"])
    assert m["languages"]["xx"]["inputs"] == "translated xx->en"
    assert m["translations"]["xx"] == {"source": "file", "file": str(test), "rows": 24}
    # the zero-shot run's model as the classifier: nothing is fine-tuned, the same scores
    m = evaluate_xnli("translate-test", train, {"xx": other}, translated={"xx": test}, train_lang="en",
                      classifier=zero_shot[1] / "zs" / "model-en", out=tmp_path / "tt2", **FT)
    assert m["models"] == {"en": {"path": str(zero_shot[1] / "zs" / "model-en"), "reused": True}}
    assert m["languages"]["xx"]["accuracy"] == pytest.approx(zs["accuracy"])
    assert not list((tmp_path / "tt2").glob("model-*"))


def test_translate_train_and_train_all(tiny, files, zero_shot, tmp_path):
    _d, train, test = files
    m = evaluate_xnli("translate-train", train, {"en": test, "xx": test}, translated={"xx": train},
                      train_lang="en", model=tiny, out=tmp_path / "ttr", seed=0, **FT)
    assert set(m["models"]) == {"en", "xx"} and m["models"]["xx"]["train_rows"] == 48
    assert m["languages"]["xx"]["model"] == "xx"
    # the xx model trained on the same rows with the same seed is the en model: the same score
    assert m["languages"]["xx"]["accuracy"] == pytest.approx(zero_shot[0]["languages"]["en"]["accuracy"])

    m = evaluate_xnli("translate-train-all", train, {"en": test, "xx": test, "yy": test},
                      translated={"xx": train, "yy": train}, train_lang="en", model=tiny, out=tmp_path / "all",
                      seed=0, **FT)
    assert list(m["models"]) == ["all"] and m["models"]["all"]["train_rows"] == 3 * 48
    union = read_xnli(tmp_path / "all" / "translations" / "train.all.tsv")
    assert len(union) == 144 and union.premises[48:96] == read_xnli(train).premises
    assert {r["model"] for r in m["languages"].values()} == {"all"}


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A chapter-1 Transformer trained 2 steps on 'xx' (words reversed) -> en: it translates, badly."""
    from bertkit.translation import TranslationSpec, train_translation

    d = tmp_path_factory.mktemp("tr")
    r = random.Random(0)
    en = [f"the {r.choice(NOUNS)} is {r.choice(COLOURS)}" for _ in range(40)]
    (d / "src").write_text("".join(" ".join(s.split()[::-1]) + "\n" for s in en), encoding="utf-8")
    (d / "tgt").write_text("".join(s + "\n" for s in en), encoding="utf-8")
    train_translation(TranslationSpec(src=d / "src", tgt=d / "tgt", out=d / "m", source_lang="xx", target_lang="en",
                                      vocab_size=300, d_model=16, layers=1, heads=2, ffn=32, steps=2, warmup=1,
                                      epochs=None, progress=False))
    return d / "m"


def test_translate_test_through_a_translator(tiny, files, translator, tmp_path, capsys):
    _d, train, test = files
    rc = main(["evaluate", "xnli", "--protocol", "translate-test", "--train", str(train), "--train-lang", "en",
               "--eval", f"xx={test}", "--translator", f"xx={translator}", "--model", str(tiny), "--out",
               str(tmp_path / "o"), "--epochs", "1", "--batch-size", "8", "--precision", "fp32"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "xx" in out.out and "translated xx->en" in out.out and "accuracy" in out.out
    assert "translate" in out.err  # the translation progress bar
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    t = m["translations"]["xx"]
    assert t["source"] == "translator" and t["translators"] == [str(translator)] and t["rows"] == 24
    got = read_xnli(t["file"])
    assert len(got) == 24 and got.labels == read_xnli(test).labels and all(got.premises)
    assert m["languages"]["xx"]["n"] == 24 and m["languages"]["xx"]["file"] == t["file"]


def _err(capsys, *argv):
    rc = main(["evaluate", "xnli", *map(str, argv)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("bertkit: error: "), err
    return err


def test_bad_input_is_one_line_before_any_work(tiny, files, translator, tmp_path, capsys):
    _d, train, test = files
    out = tmp_path / "never"
    base = ["--train", train, "--train-lang", "en", "--model", tiny, "--out", out]
    assert "unknown XNLI protocol 'few-shot'" in _err(capsys, "--protocol", "few-shot", *base, "--eval", f"en={test}")
    e = _err(capsys, "--protocol", "translate-test", *base, "--eval", f"en={test}", f"ko={test}")
    assert "translate-test needs a translation for ko" in e and "--translated ko=FILE" in e
    short = _nli(tmp_path / "short.tsv", 5, 3)
    e = _err(capsys, "--protocol", "translate-train", *base, "--eval", f"ko={test}", "--translated", f"ko={short}")
    assert "has 5 rows but" in e and "48" in e
    e = _err(capsys, "--protocol", "translate-test", *base, "--eval", f"ko={test}", "--translated", f"ko={train}")
    assert "has 48 rows but" in e
    shifted = tmp_path / "shifted.tsv"
    lines = test.read_text().splitlines()
    shifted.write_text("\n".join([lines[0]] + lines[2:] + [lines[1]]) + "\n")
    assert "not aligned" in _err(capsys, "--protocol", "translate-test", *base, "--eval", f"ko={test}",
                                 "--translated", f"ko={shifted}")
    bad = tmp_path / "bad.tsv"
    bad.write_text("sentence1\tsentence2\tgold_label\na\tb\tentailment\nc\td\tmaybe\n")
    assert "line 3: unknown label 'maybe'" in _err(capsys, "--protocol", "zero-shot", *base, "--eval", f"en={bad}")
    nocol = tmp_path / "nocol.tsv"
    nocol.write_text("sentence1\tgold_label\na\tentailment\n")
    assert "no sentence2 or hypothesis column" in _err(capsys, "--protocol", "zero-shot", *base, "--eval",
                                                       f"en={nocol}")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    assert "empty.tsv is empty" in _err(capsys, "--protocol", "zero-shot", *base, "--eval", f"en={empty}")
    assert "takes no translated files" in _err(capsys, "--protocol", "zero-shot", *base, "--eval", f"en={test}",
                                               f"ko={test}", "--translated", f"ko={test}")
    # the translator goes xx -> en; translate-train needs en -> xx
    e = _err(capsys, "--protocol", "translate-train", *base, "--eval", f"xx={test}", "--translator",
             f"xx={translator}")
    assert "translates xx->en" in e and "from en" in e
    assert "expected LANG=VALUE" in _err(capsys, "--protocol", "zero-shot", *base, "--eval", str(test))
    assert not out.exists()  # nothing was trained or written


def test_python_api_errors(files, tmp_path):
    _d, train, test = files
    with pytest.raises(InputError, match="not an eval language"):
        evaluate_xnli("translate-test", train, {"en": test}, translated={"ko": test}, train_lang="en")
    with pytest.raises(InputError, match="header but no rows"):
        (tmp_path / "h.tsv").write_text("\t".join(HEADER) + "\n")
        read_xnli(tmp_path / "h.tsv")


def test_an_xlm_reads_every_input_with_its_language_id(files, tmp_path, minilm_path):
    """With an XLM (language embeddings), the model trained on en rows carries lang en, each eval set is read with
    its own language, and translate-train-all trains on the union with each row's language."""
    import bertkit
    from tests.conftest import save_tiny

    lang2id = {"en": 0, "xx": 1}
    xlm = save_tiny(tmp_path / "xlm", minilm_path, family="xlm", intermediate_size=128, type_vocab_size=2,
                    pad_token_id=0, extra={"lang2id": lang2id, "id2lang": {"0": "en", "1": "xx"}})
    _d, train, test = files
    m = evaluate_xnli("zero-shot", train, {"en": test, "xx": test}, train_lang="en", model=xlm, out=tmp_path / "zs",
                      seed=0, **FT)
    assert m["language_ids"] is True
    pred = bertkit.Predictor.load(tmp_path / "zs" / "model-en")
    assert pred.settings["lang"] == "en"
    t = read_xnli(test)
    for lang in ("en", "xx"):  # the same rows, two languages: each score is the model's with that language id
        got = [r["label"] for r in pred.predict(t.premises, t.hypotheses, lang=lang)]
        assert m["languages"][lang]["accuracy"] == pytest.approx(sum(g == y for g, y in zip(got, t.labels)) / len(t))
    probs = [[r["probabilities"]["entailment"] for r in pred.predict(t.premises, t.hypotheses, lang=x)]
             for x in ("en", "xx")]
    assert probs[0] != pytest.approx(probs[1], abs=1e-6)  # the language id reached the model
    m = evaluate_xnli("translate-train-all", train, {"en": test, "xx": test}, translated={"xx": train},
                      train_lang="en", model=xlm, out=tmp_path / "all", seed=0, **FT)
    union = (tmp_path / "all" / "translations" / "train.all.tsv").read_text().splitlines()
    assert union[0].split("\t")[-1] == "lang" and [r.split("\t")[-1] for r in union[1:]] == ["en"] * 48 + ["xx"] * 48
    assert bertkit.Predictor.load(tmp_path / "all" / "model-all").settings["lang_col"] == "lang"
    with pytest.raises(InputError, match="has no ko"):
        evaluate_xnli("zero-shot", train, {"ko": test}, train_lang="en", model=xlm, out=tmp_path / "bad", **FT)
