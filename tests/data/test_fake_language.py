"""The controlled second language of the M-BERT studies (bertkit.data.fake_language)."""
from __future__ import annotations

import unicodedata

import pytest

from bertkit.data.fake_language import _CYRILLIC, FakeLanguage, cipher_word, code_switch, piece_overlap
from bertkit.errors import InputError
from bertkit.tokenizers.text import normalize_char


def test_cipher_is_a_bijection_that_survives_bert_normalisation():
    assert len(set(_CYRILLIC)) == 26
    # no letter is lower-cased or stripped away by an uncased BERT normaliser
    assert "".join(normalize_char(c, True, True) for c in _CYRILLIC) == _CYRILLIC
    assert cipher_word("Movie,") == "нпцид,"  # digits and punctuation stay
    assert cipher_word("r2d2") == "т2г2"
    assert all(not unicodedata.combining(c) for c in _CYRILLIC)


def test_shared_fraction_is_per_word_type_and_deterministic():
    words = [f"word{i}" for i in range(4000)]
    for f in (0.0, 0.25, 0.5, 1.0):
        lang = FakeLanguage(shared=f)
        kept = [lang.word(w) == w for w in words]
        assert abs(sum(kept) / len(words) - f) < 0.03
        assert FakeLanguage(shared=f)(" ".join(words)) == lang(" ".join(words))  # same choice in every run
    lang = FakeLanguage(shared=0.5)
    s = lang("the film is the best film")
    assert s.split()[0] == s.split()[3] and s.split()[1] == s.split()[5]  # a type is shared or not, everywhere


def test_reversed_order_and_errors():
    assert FakeLanguage(1.0, "reversed")("a b c") == "c b a"
    assert FakeLanguage(0.0, "reversed")("ab cd") == "вг аб"
    with pytest.raises(InputError, match=r"fraction in \[0, 1\]"):
        FakeLanguage(shared=1.5)
    with pytest.raises(InputError, match="order must be"):
        FakeLanguage(order="shuffled")
    with pytest.raises(InputError, match="switch probability"):
        code_switch("a b", 2.0)


def test_code_switch_rate_and_order():
    text = " ".join(f"w{i}" for i in range(2000))
    out = code_switch(text, 0.3, seed=1).split()
    switched = sum(a != b for a, b in zip(out, text.split()))
    assert abs(switched / 2000 - 0.3) < 0.04
    assert code_switch(text, 0.3, seed=1) == code_switch(text, 0.3, seed=1)
    assert code_switch(text, 0.0) == text and code_switch(text, 1.0) == FakeLanguage()(text)


class _Chars:
    """A character tokenizer, so the overlap can be counted by hand."""

    def tokenize(self, text):
        return [c for c in text if not c.isspace()]


def test_piece_overlap_by_hand():
    assert piece_overlap(_Chars(), ["ab"], ["abc", "a"]) == 3 / 4  # a, b, a seen; c not
    assert piece_overlap(_Chars(), ["ab"], [FakeLanguage()("ab")]) == 0.0
    with pytest.raises(InputError, match="no tokens"):
        piece_overlap(_Chars(), ["ab"], [" "])
