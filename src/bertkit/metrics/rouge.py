"""ROUGE (Lin 2004) for summaries, equal to Google's `rouge-score` package (rouge1, rouge2, rougeL, rougeLsum,
any rougeN; with and without its Porter stemming) plus ROUGE-W, ROUGE-S and ROUGE-SU of the paper.

    >>> s = score("the cat sat on the mat", "the cat lay on the mat")
    >>> round(s["rouge1"].fmeasure, 4), round(s["rouge2"].fmeasure, 4), round(s["rougeL"].fmeasure, 4)
    (0.8333, 0.6, 0.8333)

Types (the keys of the result are the names given):
  rougeN (rouge1, rouge2, ...)  clipped n-gram overlap.
  rougeL      LCS of the whole token sequences.
  rougeLsum   summary-level LCS: sentences are the newline-separated parts of a text; each reference sentence
              takes the union of its LCS with every predicted sentence, and a token counts at most as often as
              it occurs in both texts (rouge_score / ROUGE-1.5.5). A text without newlines is one sentence, and
              then rougeLsum equals rougeL. Sentences are NOT found by punctuation: put one per line.
  rougeW, rougeW-<w>   weighted LCS, f(k) = k**w (w = 1.2 by default, as ROUGE-1.5.5's -w):
              R = f^-1(WLCS / f(len(ref))), P = f^-1(WLCS / f(len(pred))).
  rougeS, rougeS<d>    skip-bigrams: ordered token pairs, with at most d tokens between them when d is given
              (rougeS0 counts bigrams); R and P divide the clipped matches by the pairs of each text.
  rougeSU, rougeSU<d>  skip-bigrams plus unigrams (so a prediction sharing only words still scores).
F is the harmonic mean of P and R (0 when both are 0). Tokens: lower case, every run of characters outside
[a-z0-9] is a space (so non-Latin text has no tokens); with stemmer=True words longer than 3 letters are
Porter-stemmed as nltk does.
"""
from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bertkit.errors import InputError
from bertkit.metrics.lcs import lcs_indices, lcs_length, weighted_lcs
from bertkit.metrics.porter import stem

DEFAULT_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
DEFAULT_W = 1.2

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_TYPE = re.compile(r"rouge(?:(?P<n>[0-9]+)|(?P<lcs>L|Lsum)|W(?:-(?P<w>[0-9]+(?:\.[0-9]+)?))?|(?P<skip>SU|S)(?P<d>[0-9]+)?)")


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float
    fmeasure: float


_ZERO = Score(0.0, 0.0, 0.0)


def _prf(precision: float, recall: float) -> Score:
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return Score(precision, recall, f)


def tokenize(text: str, stemmer: bool = False) -> list[str]:
    """rouge_score's default tokens: lower case, split on every run of characters outside [a-z0-9]; with
    `stemmer`, tokens longer than 3 characters are Porter-stemmed."""
    tokens = _NON_ALNUM.sub(" ", text.lower()).split()
    if stemmer:
        tokens = [stem(t) if len(t) > 3 else t for t in tokens]
    return tokens


def ngrams(tokens: Sequence[str], n: int) -> collections.Counter:
    """Counts of the n-grams (tuples of n tokens) of a token list."""
    if n < 1:
        raise InputError(f"n-grams need n >= 1, got {n}")
    return collections.Counter(zip(*(tokens[i:] for i in range(n))))


def skip_bigrams(tokens: Sequence[str], max_skip: int | None = None) -> collections.Counter:
    """Counts of ordered pairs (tokens[i], tokens[j]), i < j, with at most `max_skip` tokens between them
    (None: any distance; 0: plain bigrams)."""
    out: collections.Counter = collections.Counter()
    span = len(tokens) if max_skip is None else max_skip + 1
    for i, a in enumerate(tokens):
        out.update((a, b) for b in tokens[i + 1:i + 1 + span])
    return out


def overlap_f(pred: collections.Counter, ref: collections.Counter) -> Score:
    """P = clipped matches / predicted count, R = clipped matches / reference count (0 for an empty side)."""
    hits = sum((pred & ref).values())
    return _prf(hits / max(sum(pred.values()), 1), hits / max(sum(ref.values()), 1))


def _lcs_score(pred: list[str], ref: list[str]) -> Score:
    if not pred or not ref:
        return _ZERO
    hits = lcs_length(pred, ref)
    return _prf(hits / len(pred), hits / len(ref))


def _lsum_score(pred_sents: list[list[str]], ref_sents: list[list[str]]) -> Score:
    n, m = sum(map(len, pred_sents)), sum(map(len, ref_sents))
    if not n or not m:
        return _ZERO
    pred_left = collections.Counter(t for s in pred_sents for t in s)
    ref_left = collections.Counter(t for s in ref_sents for t in s)
    hits = 0
    for r in ref_sents:
        union = sorted(set().union(*(lcs_indices(r, c) for c in pred_sents)))
        for t in (r[i] for i in union):
            if pred_left[t] > 0 and ref_left[t] > 0:  # ROUGE-1.5.5: no token counted more often than it occurs
                hits += 1
                pred_left[t] -= 1
                ref_left[t] -= 1
    return _prf(hits / n, hits / m)


def _w_score(pred: list[str], ref: list[str], weight: float) -> Score:
    if not pred or not ref:
        return _ZERO
    wlcs = weighted_lcs(ref, pred, weight)
    inverse = 1.0 / weight
    return _prf((wlcs / len(pred) ** weight) ** inverse, (wlcs / len(ref) ** weight) ** inverse)


def _skip_score(pred: list[str], ref: list[str], max_skip: int | None, unigrams: bool) -> Score:
    p, r = skip_bigrams(pred, max_skip), skip_bigrams(ref, max_skip)
    if unigrams:
        p.update((t,) for t in pred)
        r.update((t,) for t in ref)
    return overlap_f(p, r)


def _parse_types(types: Iterable[str] | str) -> list[tuple[str, tuple]]:
    """(name, (kind, parameter)) per requested type; InputError for an unknown name."""
    if isinstance(types, str):
        types = [types]
    out = []
    for name in types:
        m = _TYPE.fullmatch(name.strip()) if isinstance(name, str) else None
        if m is None or (m["n"] is not None and int(m["n"]) < 1) or (m["w"] is not None and float(m["w"]) < 1):
            raise InputError(f"unknown ROUGE type {name!r}: expected rougeN (N >= 1, e.g. rouge1, rouge2), "
                             "rougeL, rougeLsum, rougeW or rougeW-<weight >= 1>, rougeS[<max skip>], "
                             "rougeSU[<max skip>]")
        if m["n"] is not None:
            spec: tuple = ("n", int(m["n"]))
        elif m["lcs"] is not None:
            spec = (m["lcs"], None)
        elif m["skip"] is not None:
            spec = (m["skip"], None if m["d"] is None else int(m["d"]))
        else:
            spec = ("W", DEFAULT_W if m["w"] is None else float(m["w"]))
        out.append((name, spec))
    if not out:
        raise InputError("no ROUGE types asked for")
    return out


def _sentences(text: str, stemmer: bool) -> list[list[str]]:
    """Tokens of each non-empty newline-separated part (their concatenation is tokenize(text))."""
    return [tokenize(s, stemmer) for s in text.split("\n") if s]


def _score_parsed(prediction: str, reference: str, specs: list[tuple[str, tuple]], stemmer: bool) -> dict[str, Score]:
    pred_sents, ref_sents = _sentences(prediction, stemmer), _sentences(reference, stemmer)
    pred = [t for s in pred_sents for t in s]
    ref = [t for s in ref_sents for t in s]
    out: dict[str, Score] = {}
    for name, (kind, param) in specs:
        if kind == "n":
            out[name] = overlap_f(ngrams(pred, param), ngrams(ref, param))
        elif kind == "L":
            out[name] = _lcs_score(pred, ref)
        elif kind == "Lsum":
            out[name] = _lsum_score(pred_sents, ref_sents)
        elif kind == "W":
            out[name] = _w_score(pred, ref, param)
        else:
            out[name] = _skip_score(pred, ref, param, unigrams=kind == "SU")
    return out


def _check_text(text: object, what: str) -> None:
    if not isinstance(text, str):
        raise InputError(f"{what} must be a string, got {type(text).__name__}")


def score(prediction: str, reference: str, types: Iterable[str] = DEFAULT_TYPES,
          stemmer: bool = False) -> dict[str, Score]:
    """ROUGE of one predicted text against one reference: {type: Score(precision, recall, fmeasure)} in the
    order of `types`; equal to rouge_score.RougeScorer(types, use_stemmer=stemmer).score(reference, prediction)."""
    specs = _parse_types(types)
    _check_text(prediction, "prediction")
    _check_text(reference, "reference")
    return _score_parsed(prediction, reference, specs, stemmer)


def rouge(predictions: Sequence[str], references: Sequence[str], types: Iterable[str] = DEFAULT_TYPES,
          stemmer: bool = False) -> dict[str, Score]:
    """Corpus ROUGE: the mean over the pairs of each pair's precision, recall and F (as rouge_score's scores are
    averaged; its BootstrapAggregator's mid value approximates this mean by resampling)."""
    specs = _parse_types(types)
    if len(predictions) != len(references):
        raise InputError(f"predictions and references must pair up: got {len(predictions)} predictions and "
                         f"{len(references)} references")
    if not predictions:
        raise InputError("no texts to score: predictions and references are empty")
    sums = {name: [0.0, 0.0, 0.0] for name, _ in specs}
    for i, (p, r) in enumerate(zip(predictions, references)):
        _check_text(p, f"prediction {i}")
        _check_text(r, f"reference {i}")
        for name, s in _score_parsed(p, r, specs, stemmer).items():
            acc = sums[name]
            acc[0] += s.precision
            acc[1] += s.recall
            acc[2] += s.fmeasure
    n = len(predictions)
    return {name: Score(acc[0] / n, acc[1] / n, acc[2] / n) for name, acc in sums.items()}
