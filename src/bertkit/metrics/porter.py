"""The Porter stemmer (Porter 1980) with the extensions of nltk's PorterStemmer in its default mode
(NLTK_EXTENSIONS), which is the stemmer rouge_score uses: a few irregular forms, no stemming of 1-2 letter
words, 'ies'/'ied' of four-letter words to 'ie', y -> i only after a consonant, 'alli' tried first in step 2,
'fulli' and 'logi' rules, and a vowel-consonant pair counting as *o.

Written from the published algorithm and tested word for word against nltk (tests/metrics/test_porter.py,
benchmarks/rouge_parity.py); bertkit never imports nltk.

    >>> [stem(w) for w in ("caresses", "ponies", "relational", "generalizations", "dying")]
    ['caress', 'poni', 'relat', 'gener', 'die']
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

_VOWELS = frozenset("aeiou")

# words nltk maps by a table instead of the rules
_IRREGULAR = {
    "skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
    "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
    "cannings": "canning", "canning": "canning", "howe": "howe",
    "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}


def _consonants(word: str) -> list[bool]:
    """Per letter: is it a consonant? A 'y' is one unless the letter before it is a consonant."""
    flags: list[bool] = []
    for i, ch in enumerate(word):
        flags.append(not flags[i - 1] if ch == "y" and i else ch not in _VOWELS)
    return flags


def _measure(stem: str) -> int:
    """m in [C](VC){m}[V]: the number of vowel-to-consonant turns."""
    c = _consonants(stem)
    return sum(1 for i in range(1, len(c)) if c[i] and not c[i - 1])


def _has_vowel(stem: str) -> bool:
    return not all(_consonants(stem))


def _double_consonant(word: str) -> bool:
    """*d: ends with two equal consonants."""
    return len(word) >= 2 and word[-1] == word[-2] and _consonants(word)[-1]


def _cvc(word: str) -> bool:
    """*o: ends consonant-vowel-consonant, the last not w, x or y; nltk also counts a two-letter
    vowel-consonant word (any consonant)."""
    c = _consonants(word)
    if len(word) >= 3:
        return c[-3] and not c[-2] and c[-1] and word[-1] not in "wxy"
    return len(word) == 2 and not c[0] and c[1]


def _m_above(k: int) -> Callable[[str], bool]:
    return lambda stem: _measure(stem) > k


Rule = tuple[str, str, Callable[[str], bool]]


def _first_rule(word: str, rules: list[Rule]) -> str:
    """Apply the first rule whose suffix the word ends with. If its condition fails the word stays as it is:
    later rules are not tried (Porter's "longest matching suffix" choice, with the lists ordered so)."""
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[:len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


_STEP2: list[Rule] = [(s, r, _m_above(0)) for s, r in [
    ("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"),
    ("bli", "ble"), ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"),
    ("ation", "ate"), ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"),
    ("ousness", "ous"), ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful"),
]] + [("logi", "log", lambda stem: _measure(stem + "l") > 0)]  # the 'l' counts, so 'geologi' -> 'geolog'

_STEP3: list[Rule] = [(s, r, _m_above(0)) for s, r in [
    ("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", ""),
]]

_STEP4: list[Rule] = [(s, "", _m_above(1)) for s in [
    "al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent",
]] + [("ion", "", lambda stem: _measure(stem) > 1 and stem[-1:] in ("s", "t"))] + [(s, "", _m_above(1)) for s in [
    "ou", "ism", "ate", "iti", "ous", "ive", "ize",
]]


def _step1a(word: str) -> str:
    if len(word) == 4 and word.endswith("ies"):  # 'ties' -> 'tie' (the paper gives 'ti')
        return word[:-1]
    for suffix, replacement in (("sses", "ss"), ("ies", "i"), ("ss", "ss"), ("s", "")):
        if word.endswith(suffix):
            return word[:len(word) - len(suffix)] + replacement
    return word


def _step1b(word: str) -> str:
    if word.endswith("ied"):  # 'died' -> 'die', 'spied' -> 'spi'
        return word[:-1] if len(word) == 4 else word[:-2]
    if word.endswith("eed"):
        return word[:-1] if _measure(word[:-3]) > 0 else word
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and _has_vowel(word[:-len(suffix)]):
            stem = word[:-len(suffix)]
            break
    else:
        return word
    # tidy the stem so that step 4 can see -ate, -ble, -ize; undouble 'hopp' but not 'fall', 'hiss', 'fizz'
    if stem.endswith(("at", "bl", "iz")):
        return stem + "e"
    if _double_consonant(stem):
        return stem if stem[-1] in "lsz" else stem[:-1]
    return stem + "e" if _measure(stem) == 1 and _cvc(stem) else stem


def _step1c(word: str) -> str:
    """y -> i after a consonant that is not the whole stem: 'happy' -> 'happi', 'enjoy' and 'by' stay."""
    if word.endswith("y") and len(word) > 2 and _consonants(word)[-2]:
        return word[:-1] + "i"
    return word


def _step2(word: str) -> str:
    if word.endswith("alli") and _measure(word[:-4]) > 0:  # nltk: 'alli' -> 'al' first, then step 2 again
        return _step2(word[:-2])
    return _first_rule(word, _STEP2)


def _step5a(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        m = _measure(stem)
        if m > 1 or (m == 1 and not _cvc(stem)):
            return stem
    return word


def _step5b(word: str) -> str:
    if word.endswith("ll") and _measure(word[:-1]) > 1:
        return word[:-1]
    return word


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter stem of a word, lowercased: equal to nltk.stem.PorterStemmer().stem(word)."""
    short = len(word) <= 2
    word = word.lower()
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if short:
        return word
    for step in (_step1a, _step1b, _step1c, _step2):
        word = step(word)
    word = _first_rule(_first_rule(word, _STEP3), _STEP4)
    return _step5b(_step5a(word))
