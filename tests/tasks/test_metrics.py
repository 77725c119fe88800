"""Metrics against their references: seqeval, the official SQuAD v1.1 script's normalisation, scipy."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tasks import metrics as M
from bertkit.tasks.conll import iob1_to_iob2

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG", "E-PER", "S-LOC"]
sentence = st.lists(st.sampled_from(TAGS), min_size=1, max_size=12)


@pytest.mark.filterwarnings("ignore::UserWarning")
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(sentence, st.randoms()), min_size=1, max_size=5))
def test_entity_scores_equal_seqeval(pairs):
    seqeval = pytest.importorskip("seqeval.metrics")
    gold = [s for s, _ in pairs]
    pred = [[r.choice(TAGS) if r.random() < 0.3 else t for t in s] for s, r in pairs]
    got = M.entity_scores(gold, pred)
    assert got["precision"] == pytest.approx(seqeval.precision_score(gold, pred), abs=1e-12)
    assert got["recall"] == pytest.approx(seqeval.recall_score(gold, pred), abs=1e-12)
    assert got["f1"] == pytest.approx(seqeval.f1_score(gold, pred), abs=1e-12)


def test_entities_of_iob1_after_conversion():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    iob2 = iob1_to_iob2(iob1)
    assert iob2 == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]
    assert iob1_to_iob2(iob2) == iob2
    assert M.get_entities([iob2]) == [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4), ("ORG", 5, 6)]


@pytest.mark.parametrize("pred,gold,em,f1", [
    ("The Denver Broncos!", "Denver Broncos", 1.0, 1.0),           # article and punctuation dropped
    ("an  apple", "Apple.", 1.0, 1.0),
    ("Denver", "Denver Broncos", 0.0, 2 * (1 * 0.5) / 1.5),        # P = 1, R = 1/2
    ("in 1990 and 1991", "1990", 0.0, 2 * (1 / 4) / (1 / 4 + 1)),  # 'in', 'and' kept: P = 1/4
    ("", "x", 0.0, 0.0),
    ("theatre", "the atre", 0.0, 0.0),                              # 'the' only as a whole word
])
def test_squad_official_normalisation(pred, gold, em, f1):
    assert M.squad_exact(pred, gold) == em
    assert M.squad_f1(pred, gold) == pytest.approx(f1)


def test_squad_scores_max_over_answers():
    got = M.squad_scores({"q1": "Broncos", "q2": "nothing"}, {"q1": ["Denver Broncos", "the Broncos"],
                                                             "q2": ["x"], "q3": ["y"]})
    assert got == {"exact_match": pytest.approx(100 / 3), "f1": pytest.approx(100 / 3)}
    assert M.normalize_answer("  The   Cat's\tHAT, a  ") == "cats hat"


def test_correlations_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 50).astype(float)  # ties
    y = x + rng.normal(0, 1, 50)
    assert M.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert M.pearson(x, y) == pytest.approx(stats.pearsonr(x, y).statistic, abs=1e-12)


def test_macro_and_multilabel_f1():
    assert M.macro_f1([0, 0, 1, 2], [0, 1, 1, 2], 3) == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    got = M.multilabel_f1(np.array([[1, 0], [1, 1]]), np.array([[1, 0], [0, 1]]))
    assert got == {"micro_f1": pytest.approx(0.8), "subset_accuracy": 0.5}
