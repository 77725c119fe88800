"""An averaged-perceptron part-of-speech tagger, trained by bertkit on the POS column of a CoNLL-2003 file.

    tagger = train_pos_tagger("train.txt", iterations=5)
    tagger.tag(["EU", "rejects", "German", "call"])   # ['NNP', 'VBZ', 'JJ', 'NN']
    tagger.save("tagger.json"); PosTagger.load("tagger.json")

Greedy left-to-right tagging; each word is scored by a linear model over sparse features (the word, its
lowercase form, prefixes and suffixes up to 3 letters, its shape, the neighbouring words and the two
previous predicted tags). Training is the perceptron with weight averaging (Collins 2002): after each
mistake the gold tag's features gain 1 and the predicted tag's lose 1; the saved weights are the average
over all updates, which generalises far better than the last weights. Words seen often with one tag only
are tagged from a table (the "tag dictionary"), as in Honnibal's textbook tagger.
"""
from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from bertkit.errors import InputError

START = ("-START-", "-START2-")
END = ("-END-", "-END2-")


def _shape(w: str) -> str:
    out = []
    for ch in w:
        c = "X" if ch.isupper() else "x" if ch.islower() else "d" if ch.isdigit() else ch
        if not out or out[-1] != c:
            out.append(c)
    return "".join(out)[:6]


def _norm(w: str) -> str:
    if any(c.isdigit() for c in w):
        return "!DIGITS" if w.isdigit() and len(w) != 4 else ("!YEAR" if w.isdigit() else "!HASDIGIT")
    return w.lower()


def features(words: Sequence[str], i: int, prev: str, prev2: str) -> list[str]:
    """Feature strings of word i given the two previous predicted tags."""
    w = words[i]
    low = _norm(w)
    ctx = list(START) + [_norm(x) for x in words] + list(END)
    j = i + 2
    return ["b", "w=" + w, "l=" + low, "s1=" + low[-1:], "s2=" + low[-2:], "s3=" + low[-3:],
            "p1=" + low[:1], "p2=" + low[:2], "p3=" + low[:3], "sh=" + _shape(w),
            "t-1=" + prev, "t-2=" + prev2, "t-1t-2=" + prev + "|" + prev2, "t-1w=" + prev + "|" + low,
            "w-1=" + ctx[j - 1], "s3-1=" + ctx[j - 1][-3:], "w-2=" + ctx[j - 2],
            "w+1=" + ctx[j + 1], "s3+1=" + ctx[j + 1][-3:], "w+2=" + ctx[j + 2]]


class PosTagger:
    """Averaged-perceptron tagger: `weights[feature][tag]`, the tag set and the single-tag word table."""

    def __init__(self, weights: dict[str, dict[str, float]], tags: list[str], tagdict: dict[str, str]) -> None:
        self.weights, self.tags, self.tagdict = weights, list(tags), dict(tagdict)

    def _best(self, feats: list[str]) -> str:
        scores: dict[str, float] = defaultdict(float)
        for f in feats:
            for t, v in self.weights.get(f, {}).items():
                scores[t] += v
        return max(self.tags, key=lambda t: (scores.get(t, 0.0), t))

    def tag(self, words: Sequence[str]) -> list[str]:
        """One POS tag per word."""
        prev, prev2, out = START[0], START[1], []
        for i, w in enumerate(words):
            t = self.tagdict.get(w) or self._best(features(words, i, prev, prev2))
            out.append(t)
            prev2, prev = prev, t
        return out

    def accuracy(self, sentences: Sequence[tuple[list[str], list[str]]]) -> float:
        """Share of words whose predicted tag equals the gold tag."""
        right = total = 0
        for words, gold in sentences:
            right += sum(p == g for p, g in zip(self.tag(words), gold))
            total += len(gold)
        return right / max(total, 1)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"bertkit_model": "pos_tagger", "tags": self.tags, "tagdict": self.tagdict,
                "weights": {f: {t: round(v, 4) for t, v in ws.items() if v} for f, ws in self.weights.items()}}
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PosTagger:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"POS tagger {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("bertkit_model") != "pos_tagger":
                raise KeyError("bertkit_model")
            return cls(data["weights"], data["tags"], data["tagdict"])
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise InputError(f"{path} is not a POS tagger written by bertkit train-pos-tagger") from None


def read_pos(path: str | Path) -> list[tuple[list[str], list[str]]]:
    """(words, POS tags) per sentence of a CoNLL file: the 1st and 2nd columns."""
    from bertkit.tasks.conll import read_conll

    sents = read_conll(path, tagged=False)
    if len(sents[0].columns[0]) < 2:
        raise InputError(f"{path}: expected a POS tag in the second column (CoNLL-2003: TOKEN POS CHUNK NER)")
    return [(s.words, [c[1] for c in s.columns]) for s in sents]


def train_pos_tagger(conll_path: str | Path | Sequence[tuple[list[str], list[str]]], iterations: int = 5,
                     seed: int = 0, progress: bool = True) -> PosTagger:
    """Train on the POS column of a CoNLL file (or on (words, tags) pairs); sentences are shuffled each
    iteration with `seed`."""
    from tqdm.auto import tqdm

    if iterations < 1:
        raise InputError(f"iterations must be >= 1, got {iterations}")
    sents = read_pos(conll_path) if isinstance(conll_path, (str, Path)) else [(list(w), list(t))
                                                                                for w, t in conll_path]
    if not sents:
        raise InputError("no tagged sentences to train on")
    counts: dict[str, Counter] = defaultdict(Counter)
    for words, tags in sents:
        for w, t in zip(words, tags):
            counts[w][t] += 1
    tagdict = {w: c.most_common(1)[0][0] for w, c in counts.items()
               if sum(c.values()) >= 20 and c.most_common(1)[0][1] / sum(c.values()) >= 0.97}
    tags = sorted({t for _, ts in sents for t in ts})
    w: dict[str, dict[str, float]] = defaultdict(dict)
    totals: dict[tuple[str, str], float] = defaultdict(float)
    stamps: dict[tuple[str, str], int] = defaultdict(int)
    model = PosTagger(w, tags, {})
    step = 0
    rng = random.Random(seed)
    order = list(range(len(sents)))
    bar = tqdm(total=iterations * len(sents), desc="train POS tagger", unit="sent", disable=not progress,
               dynamic_ncols=True)

    def update(f: str, t: str, v: float) -> None:
        key = (f, t)
        cur = w[f].get(t, 0.0)
        totals[key] += (step - stamps[key]) * cur  # lazily add the weight's value over the steps it stood
        stamps[key] = step
        w[f][t] = cur + v

    for _ in range(iterations):
        rng.shuffle(order)
        for k in order:
            words, gold = sents[k]
            prev, prev2 = START
            for i, g in enumerate(gold):
                if words[i] in tagdict:
                    guess = tagdict[words[i]]
                else:
                    feats = features(words, i, prev, prev2)
                    guess = model._best(feats)
                    step += 1
                    if guess != g:
                        for f in feats:
                            update(f, g, 1.0)
                            update(f, guess, -1.0)
                prev2, prev = prev, g if words[i] in tagdict else guess
            bar.update(1)
    bar.close()
    avg: dict[str, dict[str, float]] = {}
    for f, ws in w.items():
        row = {}
        for t, v in ws.items():
            key = (f, t)
            total = totals[key] + (step - stamps[key]) * v
            if total:
                row[t] = total / max(step, 1)
        if row:
            avg[f] = row
    return PosTagger(avg, tags, tagdict)
