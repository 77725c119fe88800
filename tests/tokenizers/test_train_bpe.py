"""Character-level BPE and the shared merge loop: the book's example, incremental counts, HF loading."""
from __future__ import annotations

import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.tokenizers.merge_train import learn_merges
from bertkit.tokenizers.train import learn_bpe, train_bpe, train_tokenizer

from .conftest import make_lines


def test_book_worked_example():
    """aaabdaaabac, three merges: aa, then ab (tie with aa+a broken alphabetically), then aaab."""
    symbols, merges = learn_bpe({"aaabdaaabac": 1}, 4 + 3)
    assert symbols[:4] == ["a", "b", "c</w>", "d"]
    assert merges == [("a", "a"), ("a", "b"), ("aa", "ab")]
    tok = train_bpe(["aaabdaaabac"], 5 + 4 + 3, min_frequency=1)
    assert tok.tokenize("aaabdaaabac") == ["aaab", "d", "aaab", "a", "c</w>"]
    assert tok.decode(tok.encode("aaabdaaabac")) == "aaabdaaabac"


def _naive_score(score: str, n: int, na: int, nb: int, total: int) -> float:
    if score == "count":
        return n
    if score == "ratio":
        return n / (na * nb)
    return n * math.log(n * total / (na * nb))


def _naive_merges(words: dict[str, int], n: int, score: str = "count") -> list[tuple[str, str]]:
    """Reference: recount every pair and unit over the whole corpus after each merge."""
    segs = {w: list(w) for w in words}
    out = []
    for _ in range(n):
        counts: Counter[tuple[str, str]] = Counter()
        units: Counter[str] = Counter()
        for w, f in words.items():
            s = segs[w]
            for p in zip(s, s[1:]):
                counts[p] += f
            for u in s:
                units[u] += f
        if not counts:
            break
        total = sum(units.values())
        ranked = ((-_naive_score(score, n, units[p[0]], units[p[1]], total), p) for p, n in counts.items())
        best = min(ranked)[1]
        out.append(best)
        for w in segs:
            s, new, i = segs[w], [], 0
            while i < len(s):
                if i + 1 < len(s) and (s[i], s[i + 1]) == best:
                    new.append(s[i] + s[i + 1])
                    i += 2
                else:
                    new.append(s[i])
                    i += 1
            segs[w] = new
    return out


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text("abc", min_size=1, max_size=9), st.integers(1, 5), min_size=1, max_size=12),
       st.integers(1, 15), st.sampled_from(["count", "ratio", "gain"]))
def test_incremental_counts_equal_full_recount(words, n, score):
    symbols = sorted({c for w in words for c in w})
    sid = {s: i for i, s in enumerate(symbols)}
    seqs = [[sid[c] for c in w] for w in words]
    merges = learn_merges(seqs, list(words.values()), symbols, len(symbols) + n, score=score)
    got = [(symbols[a], symbols[b]) for a, b in merges]
    assert got == _naive_merges(words, len(got), score)
    assert len(got) >= min(n, len(_naive_merges(words, n, score)))


def test_trained_folder_loads_in_transformers(tmp_path, corpus_file):
    from transformers import PreTrainedTokenizerFast

    from bertkit import Tokenizer

    tok = train_tokenizer([corpus_file], "bpe", 200, lowercase=True)
    assert tok.vocab_size == 200
    tok.save_pretrained(tmp_path)
    ours = Tokenizer.from_pretrained(tmp_path)
    ref = PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"))
    for text in make_lines(40, seed=7) + ["Unseen wörds ☃ here!", "[MASK] token"]:
        assert ours.encode(text) == tok.encode(text) == ref(text)["input_ids"], text
        assert ours.tokenize(text) == ref.tokenize(text)
    assert ours.mask_token_id == 4 and ours.pad_token_id == 0
