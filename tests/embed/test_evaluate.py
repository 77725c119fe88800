"""STS correlation and retrieval metrics against hand computations."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from bertkit.embed.evaluate import (evaluate_retrieval, evaluate_sts, pearson, rankdata, read_sts, retrieval_metrics,
                                    spearman)
from bertkit.errors import InputError


def _naive_ranks(x):
    """Rank by definition: 1 + #smaller + (#equal - 1) / 2."""
    return np.array([1 + sum(y < v for y in x) + (sum(y == v for y in x) - 1) / 2 for v in x])


def test_pearson_matches_definition():
    x, y = [1.0, 2.0, 3.0, 4.0, 10.0], [2.0, 1.0, 4.0, 3.0, 7.0]
    mx, my = sum(x) / 5, sum(y) / 5
    cov = sum((a - mx) * (b - my) for a, b in zip(x, y))
    ref = cov / (sum((a - mx) ** 2 for a in x) ** 0.5 * sum((b - my) ** 2 for b in y) ** 0.5)
    assert pearson(x, y) == pytest.approx(ref, abs=1e-12)


def test_spearman_without_ties_is_the_textbook_formula():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    d = rankdata(x) - rankdata(y)
    n = len(x)
    assert spearman(x, y) == pytest.approx(1 - 6 * (d ** 2).sum() / (n * (n * n - 1)), abs=1e-12)


def test_ranks_average_ties_and_spearman_with_ties():
    x = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    np.testing.assert_array_equal(rankdata(x), _naive_ranks(x))
    y = [0.5, 0.5, 2.0, 1.0, 2.0, 4.0, 0.0, 4.0, 2.0, 1.0, 3.0]
    assert spearman(x, y) == pytest.approx(pearson(_naive_ranks(x), _naive_ranks(y)), abs=1e-12)
    assert spearman([1, 2, 3], [10, 20, 1000]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_read_sts_formats(tmp_path):
    csvf = tmp_path / "a.csv"
    # a quoted field with a comma must stay one field
    csvf.write_bytes(b'"A man, with a hat",Another one,4.5\r\nx,y,0.0\r\n')
    d = read_sts(csvf)
    assert d.sentences1 == ["A man, with a hat", "x"] and d.sentences2 == ["Another one", "y"] and d.scores == [4.5, 0.0]
    kor = tmp_path / "k.tsv"
    kor.write_text('genre\tfilename\tyear\tid\tscore\tsentence1\tsentence2\n'
                   'main\tMSRvid\t2012\t0001\t3.800\t"따옴표" 문장\t두 번째\n', encoding="utf-8")
    d = read_sts(kor)
    assert d.sentences1 == ['"따옴표" 문장'] and d.sentences2 == ["두 번째"] and d.scores == [3.8]
    orig = tmp_path / "sts-dev.csv"
    orig.write_text("main-captions\tMSRvid\t2012test\t0000\t5.000\tA man.\tA man \"too\".\n")
    d = read_sts(orig)
    assert (d.sentences1, d.sentences2, d.scores) == (["A man."], ['A man "too".'], [5.0])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,notanumber\n")
    with pytest.raises(InputError, match="row 1"):
        read_sts(bad)


def test_retrieval_metrics_by_hand():
    ranked = np.array([[3, 1, 2], [0, 2, 1], [2, 0, 1]])
    relevant = [{1}, {1, 2}, {5}]
    m = retrieval_metrics(ranked, relevant, ks=(1, 2))
    assert m["recall@1"] == pytest.approx((0 + 0 + 0) / 3)
    assert m["recall@2"] == pytest.approx((1 + 0.5 + 0) / 3)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 1 / 2 + 0) / 3)


class _Lookup:
    """An encoder whose vectors are given by hand, to check the evaluators' arithmetic end to end."""

    pooling = "mean"

    def __init__(self, table):
        self.table = table

    def embed(self, texts, **kw):
        return np.array([self.table[t] for t in texts], dtype=np.float32)


def test_evaluate_sts_and_retrieval_with_known_vectors():
    table = {"a": [1, 0], "b": [1, 1], "c": [0, 1], "d": [-1, 0]}
    from bertkit.embed.evaluate import StsData

    data = StsData(["a", "a", "a"], ["b", "c", "d"], [4.0, 2.0, 0.0])
    r = evaluate_sts(_Lookup(table), data)
    cos = [2 ** -0.5, 0.0, -1.0]
    assert r["spearman"] == pytest.approx(1.0) and r["pearson"] == pytest.approx(pearson(cos, [4, 2, 0]))
    m = evaluate_retrieval(_Lookup(table), ["a", "c"], ["d", "c", "b"], [{1}, {1}], ks=(1, 2), mrr_at=3)
    assert m["recall@1"] == pytest.approx(0.5) and m["recall@2"] == pytest.approx(1.0)
    assert m["mrr@3"] == pytest.approx((1 / 2 + 1) / 2)


def test_sts_pearson_spearman_permutation_invariant():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=20), rng.normal(size=20)
    p = rng.permutation(20)
    assert spearman(x, y) == pytest.approx(spearman(x[p], y[p]))
    for a, b in itertools.combinations([x, y, x * 3 + 1], 2):
        assert -1 <= spearman(a, b) <= 1
