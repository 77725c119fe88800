"""bertkit.metrics.rouge equals rouge_score on generated pairs; ROUGE-W/S/SU against hand-computed examples."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rouge_score import rouge_scorer

from bertkit.errors import InputError
from bertkit.metrics import Score, ngrams, overlap_f, rouge, score, tokenize
from bertkit.metrics.lcs import lcs_indices, lcs_length, weighted_lcs

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]

# words that repeat, stem to the same form, or hold punctuation/digits/capitals/non-ASCII
WORDS = ["the", "The", "cat", "cats", "sat", "sitting", "on", "mat", "mats", "a", "run", "running", "runs",
         "happy", "happiness", "generalization", "general", "news", "dying", "it's", "U.S.", "2004", "mp3",
         "--", ",", "é", "naïve", "over", "lazy", "dog", "dogs", "jumped", "jumps", "fox", "quick", "brown"]
SEPARATORS = [" ", " ", " ", " ", "  ", "\n", ". ", ".\n", "\t"]


@st.composite
def texts(draw) -> str:
    n = draw(st.integers(0, 30))
    words = draw(st.lists(st.sampled_from(WORDS), min_size=n, max_size=n))
    seps = draw(st.lists(st.sampled_from(SEPARATORS), min_size=n, max_size=n))
    return "".join(w + s for w, s in zip(words, seps))


def _assert_equal(ours: dict[str, Score], theirs: dict, types) -> None:
    for t in types:
        for field in ("precision", "recall", "fmeasure"):
            assert getattr(ours[t], field) == pytest.approx(getattr(theirs[t], field), abs=1e-6), (t, field)


@pytest.mark.parametrize("stemmer", [False, True])
@settings(max_examples=300, deadline=None)
@given(pred=texts(), ref=texts())
def test_equal_to_rouge_score_on_generated_pairs(stemmer, pred, ref):
    theirs = rouge_scorer.RougeScorer(TYPES, use_stemmer=stemmer).score(ref, pred)
    _assert_equal(score(pred, ref, TYPES, stemmer=stemmer), theirs, TYPES)


@pytest.mark.parametrize("stemmer", [False, True])
def test_corpus_rouge_is_the_mean_of_rouge_score_per_pair(stemmer):
    rng = random.Random(stemmer)
    words = [w for w in WORDS if w not in ("--", ",")]

    def text(n: int) -> str:
        return " ".join(rng.choice(words) + rng.choice(["", "", "", ".\n"]) for _ in range(n))

    preds = [text(rng.randint(1, 60)) for _ in range(200)]
    refs = [text(rng.randint(1, 120)) for _ in range(200)]
    types = TYPES + ["rouge3", "rouge4"]
    scorer = rouge_scorer.RougeScorer(types, use_stemmer=stemmer)
    per_pair = [scorer.score(r, p) for p, r in zip(preds, refs)]
    ours = rouge(preds, refs, types, stemmer=stemmer)
    assert list(ours) == types
    for t in types:
        for field in ("precision", "recall", "fmeasure"):
            mean = np.mean([getattr(s[t], field) for s in per_pair])
            assert getattr(ours[t], field) == pytest.approx(mean, abs=1e-6), (t, field)


def test_tokens_equal_rouge_score_tokenizer():
    from rouge_score.tokenizers import DefaultTokenizer

    text = "The U.S. economy's 2.5% growth -- naïve SKIES, running\nhappily_ever after! Ünïcode: 東京 K"
    for stemmer in (False, True):
        assert tokenize(text, stemmer) == DefaultTokenizer(stemmer).tokenize(text)
    assert tokenize("Cats, running!") == ["cats", "running"]
    assert tokenize("Cats, running!", stemmer=True) == ["cat", "run"]  # 'cats' has 4 letters: stemmed


def test_ngrams_and_overlap():
    assert ngrams(["a", "b", "a", "b"], 2) == {("a", "b"): 2, ("b", "a"): 1}
    assert ngrams(["a"], 2) == {}
    # pred bigrams {ab: 2, ba: 1} (3), ref {ab: 1, bc: 1} (2): clipped matches min(2, 1) = 1 -> P 1/3, R 1/2
    s = overlap_f(ngrams(["a", "b", "a", "b"], 2), ngrams(["a", "b", "c"], 2))
    assert (s.precision, s.recall) == pytest.approx((1 / 3, 1 / 2)) and s.fmeasure == pytest.approx(0.4)
    assert overlap_f(ngrams([], 1), ngrams(["a"], 1)) == Score(0.0, 0.0, 0.0)


def _lcs_table(a, b):
    t = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            t[i][j] = t[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(t[i - 1][j], t[i][j - 1])
    return t


def test_bit_parallel_lcs_equals_the_table_and_picks_rouge_scores_subsequence():
    rng = random.Random(0)
    for _ in range(300):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]  # > 64 tokens: several machine words
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 70))]
        assert lcs_length(a, b) == lcs_length(b, a) == _lcs_table(a, b)[-1][-1]
        assert lcs_indices(a, b) == rouge_scorer.lcs_ind(a, b)


def test_rouge_l_sum_without_newlines_equals_rouge_l():
    s = score("the cat was found under the bed", "the cat was under the bed", ["rougeL", "rougeLsum"])
    assert s["rougeLsum"] == s["rougeL"]


def test_rouge_w_by_hand():
    # Lin (2004), section 3.3, with f(k) = k**2: X = a b c d e f g (reference, 7 tokens).
    # Y1 = a b c d h i k: one run of 4 -> WLCS = f(4) = 16; R = P = sqrt(16 / f(7)) = sqrt(16/49) = 4/7.
    # Y2 = a h b k c i d: four runs of 1 -> WLCS = 4 * f(1) = 4; R = P = sqrt(4/49) = 2/7 (plain LCS: 4/7 both).
    ref = "a b c d e f g"
    s1 = score("a b c d h i k", ref, ["rougeW-2"])["rougeW-2"]
    s2 = score("a h b k c i d", ref, ["rougeW-2", "rougeL"])
    assert (s1.precision, s1.recall, s1.fmeasure) == pytest.approx((4 / 7, 4 / 7, 4 / 7))
    assert s2["rougeW-2"].recall == pytest.approx(2 / 7) and s2["rougeL"].recall == pytest.approx(4 / 7)
    # Default weight 1.2: pred a b x d vs ref a b c d -> runs "a b" and "d":
    # WLCS = 2**1.2 + 1**1.2 = 2.29739671 + 1 = 3.29739671; f(4) = 4**1.2 = 5.27803164;
    # R = P = (3.29739671 / 5.27803164) ** (1 / 1.2) = 0.62473985 ** 0.83333 = 0.67569288.
    w = score("a b x d", "a b c d", ["rougeW"])["rougeW"]
    assert (w.precision, w.recall, w.fmeasure) == pytest.approx((0.67569288, 0.67569288, 0.67569288), abs=1e-8)
    # Unequal lengths: pred a b (2 tokens) in ref a b c d: WLCS = f(2) = 4 (weight 2);
    # P = sqrt(4 / f(2)) = 1, R = sqrt(4 / f(4)) = sqrt(4/16) = 0.5, F = 2 * 1 * 0.5 / 1.5 = 2/3.
    w = score("a b", "a b c d", ["rougeW-2"])["rougeW-2"]
    assert (w.precision, w.recall, w.fmeasure) == pytest.approx((1.0, 0.5, 2 / 3))
    assert weighted_lcs(["a", "b", "c"], ["a", "b", "c"], 1.0) == pytest.approx(3.0)  # weight 1: plain LCS


def test_rouge_s_and_su_by_hand():
    # Lin (2004), section 3.4. Reference S1 = police killed the gunman: C(4,2) = 6 skip-bigrams
    #   police-killed police-the police-gunman killed-the killed-gunman the-gunman.
    ref = "police killed the gunman"
    # S2 = police kill the gunman shares police-the, police-gunman, the-gunman: 3/6 -> R = P = F = 0.5.
    # ROUGE-SU adds the unigrams: shared police, the, gunman -> (3 + 3) / (6 + 4) = 0.6.
    s = score("police kill the gunman", ref, ["rougeS", "rougeSU", "rougeS0", "rougeS1"])
    assert s["rougeS"] == Score(0.5, 0.5, 0.5)
    assert s["rougeSU"].fmeasure == pytest.approx(0.6)
    # rougeS0 (no token between: bigrams): 3 each, shared the-gunman -> 1/3.
    assert s["rougeS0"].fmeasure == pytest.approx(1 / 3)
    # rougeS1 (at most one between): police-killed police-the killed-the killed-gunman the-gunman (5) vs
    # police-kill police-the kill-the kill-gunman the-gunman (5): shared police-the, the-gunman -> 2/5.
    assert s["rougeS1"].fmeasure == pytest.approx(0.4)
    # S3 = the gunman kill police shares only the-gunman: 1/6 (the paper's 0.167);
    # S4 = the gunman police killed shares the-gunman and police-killed: 2/6 (0.333).
    assert score("the gunman kill police", ref, ["rougeS"])["rougeS"].fmeasure == pytest.approx(1 / 6)
    assert score("the gunman police killed", ref, ["rougeS"])["rougeS"].fmeasure == pytest.approx(2 / 6)
    # S5 = gunman the killed police: reversed, no skip-bigram in common -> rougeS 0; the unigrams all match
    # -> rougeSU (0 + 4) / (6 + 4) = 0.4.
    s5 = score("gunman the killed police", ref, ["rougeS", "rougeSU"])
    assert s5["rougeS"] == Score(0.0, 0.0, 0.0) and s5["rougeSU"].recall == pytest.approx(0.4)
    # Unequal lengths: pred police the gunman has 3 pairs, all in S1: P = 3/3 = 1, R = 3/6 = 0.5, F = 2/3.
    s = score("police the gunman", ref, ["rougeS"])["rougeS"]
    assert (s.precision, s.recall, s.fmeasure) == pytest.approx((1.0, 0.5, 2 / 3))


def test_any_rouge_n_and_type_names_are_the_keys():
    s = score("a b c d e f g h i j k l", "a b c d e f g h i j k l", ["rouge12", "rouge13", "rougeSU4"])
    assert list(s) == ["rouge12", "rouge13", "rougeSU4"]
    assert s["rouge12"] == Score(1.0, 1.0, 1.0) and s["rouge13"] == Score(0.0, 0.0, 0.0)


@pytest.mark.parametrize("bad", ["rouge0", "rougeX", "rouge", "rougel", "rougeW-0.5", "bleu"])
def test_unknown_types_are_refused(bad):
    with pytest.raises(InputError, match=f"unknown ROUGE type '{bad}'"):
        score("a", "a", [bad])


def test_corpus_errors_name_both_counts():
    with pytest.raises(InputError, match="got 2 predictions and 3 references"):
        rouge(["a", "b"], ["a", "b", "c"])
    with pytest.raises(InputError, match="empty"):
        rouge([], [])
    with pytest.raises(InputError, match="prediction 1 must be a string, got NoneType"):
        rouge(["a", None], ["a", "b"])


# ---- bertkit rouge ----------------------------------------------------------------------------------------


def test_cli_table_and_json_give_rouge_scores_numbers(tmp_path, capsys):
    import json

    from bertkit.cli.main import main

    preds = ["the cat sat on the mat\\nit was happy", "running dogs", ""]
    refs = ["it was so happy\\nthe cat lay on the mat", "a dog runs", "nothing"]
    (tmp_path / "p.txt").write_text("\n".join(preds) + "\n", encoding="utf-8")
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"summary": r.replace("\\n", "\n")}) + "\n"
                                              for r in refs), encoding="utf-8")
    types = TYPES + ["rougeW"]
    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "r.jsonl"), "--stemmer",
                 "--types", ",".join(types), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=True)
    per_pair = [scorer.score(r.replace("\\n", "\n"), p.replace("\\n", "\n")) for p, r in zip(preds, refs)]
    assert out["pairs"] == 3 and list(out["scores"]) == types
    for t in TYPES:
        for field in ("precision", "recall", "fmeasure"):
            mean = np.mean([getattr(s[t], field) for s in per_pair])
            assert out["scores"][t][field] == pytest.approx(mean, abs=1e-6)
    # "\n" in the plain file is a sentence break: in the first pair the sentences come in the other order, so
    # rougeLsum (matches per sentence: 5 + 3 = 8 hits) is above rougeL (one LCS: 5 tokens)
    assert out["scores"]["rougeLsum"]["recall"] > out["scores"]["rougeL"]["recall"]

    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "r.jsonl"),
                 "--stemmer"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["3 pairs, stemmed", "type       precision  recall  fmeasure"]
    r1 = out["scores"]["rouge1"]
    assert lines[2].split() == ["rouge1", f"{r1['precision']:.4f}", f"{r1['recall']:.4f}", f"{r1['fmeasure']:.4f}"]
    assert [line.split()[0] for line in lines[2:]] == TYPES


def test_cli_line_count_mismatch_is_one_line_naming_both_counts(tmp_path, capsys):
    from bertkit.cli.main import main

    (tmp_path / "p.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "r.txt").write_text("a\nb\n", encoding="utf-8")
    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "r.txt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bertkit: error: --pred")
    assert "has 3 texts" in err[0] and "has 2" in err[0]


def test_cli_bad_type_and_missing_field(tmp_path, capsys):
    from bertkit.cli.main import main

    (tmp_path / "p.txt").write_text("a\n", encoding="utf-8")
    (tmp_path / "r.jsonl").write_text('{"text": "a"}\n', encoding="utf-8")
    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "p.txt"),
                 "--types", "rouge1,rougeQ"]) == 2
    assert "unknown ROUGE type 'rougeQ'" in capsys.readouterr().err
    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "r.jsonl")]) == 2
    assert "line 1 has no field 'summary' (it has 'text')" in capsys.readouterr().err
    assert main(["rouge", "--pred", str(tmp_path / "p.txt"), "--ref", str(tmp_path / "r.jsonl"),
                 "--field", "text", "--json"]) == 0


def test_no_nltk_or_rouge_score_at_run_time():
    import subprocess
    import sys

    code = ("import sys; from bertkit.metrics import rouge; rouge(['Running cats'], ['a cat runs'], stemmer=True); "
            "assert not {'nltk', 'rouge_score'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
