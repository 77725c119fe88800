"""bertkit.metrics.porter gives nltk's PorterStemmer (default mode, the one rouge_score uses) word for word."""
from __future__ import annotations

import random
from pathlib import Path

from nltk.stem.porter import PorterStemmer

from bertkit.metrics.porter import stem

TRICKY = [w for line in (Path(__file__).parent / "porter_words.txt").read_text().splitlines()
          if not line.startswith("#") for w in line.split()]


def test_tricky_words_equal_nltk():
    nltk = PorterStemmer()
    assert [stem(w) for w in TRICKY] == [nltk.stem(w) for w in TRICKY]


def test_thousands_of_generated_words_equal_nltk():
    """Random letter strings ending in the suffixes the rules look at: every branch is hit many times."""
    rng = random.Random(19)
    letters = "aeiouyybcdlstznmgxwr1"
    endings = ["", "ies", "ied", "eed", "ed", "ing", "y", "alli", "bli", "logi", "fulli", "ational", "ation",
               "ement", "ion", "sses", "ll", "ate", "e", "iviti", "biliti", "ness", "icate", "ous", "ize", "able"]
    words = {"".join(rng.choice(letters) for _ in range(rng.randint(0, 8))) + rng.choice(endings)
             + rng.choice(["", "s", "ed", "ing", "ly"]) for _ in range(20000)}
    nltk = PorterStemmer()
    assert [w for w in sorted(words) if stem(w) != nltk.stem(w)] == []


def test_upper_case_is_lowered_like_nltk():
    nltk = PorterStemmer()
    for w in ["Running", "SKIES", "Generalizations", "NEWS", "Is", "A"]:
        assert stem(w) == nltk.stem(w)
