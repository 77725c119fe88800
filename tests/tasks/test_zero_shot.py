"""Zero-shot classification: an NLI model the test trains (the bundled MiniLM fine-tuned on a small synthetic NLI
file) picks the right topic of new sentences, and gives transformers' zero-shot pipeline's labels and scores."""
from __future__ import annotations

import json
import random

import pytest

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.predictor import Predictor

TOPICS = {"sports": ["football", "goal", "match", "team"], "politics": ["election", "senate", "vote", "minister"],
          "cooking": ["recipe", "oven", "bake", "flavour"], "music": ["guitar", "concert", "song", "album"]}


def _nli_rows(n: int, seed: int) -> str:
    r = random.Random(seed)
    out = ["premise\thypothesis\tlabel"]
    for _ in range(n):
        t = r.choice(list(TOPICS))
        w = r.sample(TOPICS[t], 2)
        prem = r.choice(["the {} and the {} were in the news", "people talked about the {} and the {}",
                         "a story on {} and {}"]).format(*w)
        if r.random() < 0.5:
            h, y = t, "entailment"
        else:
            h, y = r.choice([x for x in TOPICS if x != t]), "contradiction"
        out.append(f"{prem}\tThis text is about {h}.\t{y}")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def nli(tmp_path_factory):
    d = tmp_path_factory.mktemp("nli")
    (d / "train.tsv").write_text(_nli_rows(300, 0))
    bertkit.finetune("pair", d / "train.tsv", epochs=2, lr=1e-4, batch_size=16, precision="fp32", progress=False,
                     patience=None, out=d / "model")
    return d / "model"


def test_the_trained_nli_model_classifies_new_sentences_zero_shot(nli):
    zs = bertkit.ZeroShotClassifier(nli)
    r = random.Random(5)
    texts, gold = [], []
    for _ in range(24):
        t = r.choice(list(TOPICS))
        texts.append("news about the {} and the {}".format(*r.sample(TOPICS[t], 2)))  # a template never trained on
        gold.append(t)
    got = zs(texts, list(TOPICS))
    assert sum(g["labels"][0] == t for g, t in zip(got, gold)) / len(gold) >= 0.8
    one = zs(texts[0], ",".join(TOPICS))  # one string in, one dict out; labels as a comma-separated string
    assert one["sequence"] == texts[0] and sorted(one["labels"]) == sorted(TOPICS)
    assert sum(one["scores"]) == pytest.approx(1.0) and one["scores"] == sorted(one["scores"], reverse=True)
    multi = zs(texts[0], list(TOPICS), multi_label=True)
    assert all(0 < s < 1 for s in multi["scores"]) and multi["labels"][0] == gold[0]


def test_same_labels_and_scores_as_transformers_pipeline(nli):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    ref = pipeline("zero-shot-classification", model=AutoModelForSequenceClassification.from_pretrained(nli),
                   tokenizer=AutoTokenizer.from_pretrained(nli), device="cpu")
    zs = bertkit.ZeroShotClassifier(nli)
    texts = ["the senate vote was close", "bake it in the oven", "a guitar and a song"]
    labels = ["politics", "cooking", "music", "sports"]
    for multi in (False, True):
        # transformers' default template is "This example is {}."; bertkit's (the issue's) "This text is about {}."
        want = ref(texts, candidate_labels=labels, multi_label=multi, hypothesis_template="This text is about {}.")
        got = zs(texts, labels, multi_label=multi)
        for g, w in zip(got, want):
            assert g["labels"] == w["labels"]
            assert g["scores"] == pytest.approx(w["scores"], abs=1e-4)
    long = "the senate vote " * 200 + "was close"  # over 512 tokens: the premise is cut, the hypothesis kept
    w = ref(long, candidate_labels=labels, hypothesis_template="This text is about {}.")
    g = zs(long, labels)
    assert g["labels"] == w["labels"] and g["scores"] == pytest.approx(w["scores"], abs=1e-4)
    tpl = "The topic is {}."
    w = ref(texts[0], candidate_labels=labels, hypothesis_template=tpl)
    g = zs(texts[0], labels, hypothesis_template=tpl)
    assert g["labels"] == w["labels"] and g["scores"] == pytest.approx(w["scores"], abs=1e-4)
    # a transformers-style folder without bertkit's task file loads the same way
    (nli / "bertkit_task.json").rename(nli / "task.bak")
    try:
        again = bertkit.ZeroShotClassifier(nli)(texts[0], labels)
    finally:
        (nli / "task.bak").rename(nli / "bertkit_task.json")
    same = zs(texts[0], labels)
    assert again["labels"] == same["labels"] and again["scores"] == pytest.approx(same["scores"], abs=1e-6)


def test_bad_input(nli, tiny):
    zs = bertkit.ZeroShotClassifier(nli)
    with pytest.raises(InputError, match="at least one candidate label"):
        zs("text", [])
    with pytest.raises(InputError, match="needs a \\{\\} where the label goes"):
        zs("text", ["a"], hypothesis_template="no slot")
    with pytest.raises(InputError, match="non-empty strings"):
        zs(["ok", " "], ["a"])
    with pytest.raises(InputError, match="no a label starting with 'entail'.*pass entailment="):
        bertkit.ZeroShotClassifier(Predictor("pair", bertkit.from_pretrained(nli, task="classification"),
                                             bertkit.Tokenizer.from_pretrained(nli), {"labels": ["x", "y"]}))
    clf = Predictor("classify", bertkit.from_pretrained(nli, task="classification"),
                    bertkit.Tokenizer.from_pretrained(nli), {"labels": ["contradiction", "entailment"]})
    with pytest.raises(InputError, match="needs an NLI pair classifier"):
        bertkit.ZeroShotClassifier(clf)
    assert bertkit.ZeroShotClassifier(nli, entailment="entailment", contradiction=0).entailment_id == 1


def test_cli(nli, capsys):
    assert main(["zero-shot", str(nli), "the senate vote was close", "--labels", "politics,cooking", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = bertkit.ZeroShotClassifier(nli)("the senate vote was close", ["politics", "cooking"])
    assert got[0]["labels"] == want["labels"] == ["politics", "cooking"]
    assert got[0]["scores"] == pytest.approx(want["scores"], abs=1e-6)
