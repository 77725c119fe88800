"""Tang et al. (2019)'s data augmentation for distilling BERT into small networks.

Per source example, `n_iter` candidates; for each candidate, word by word (whitespace words):
  with prob. p_mask the word becomes the mask token; otherwise, with prob. p_pos, it becomes a word of the same
  POS tag drawn from the training corpus's unigram distribution of words with that tag; then, with prob. p_ng,
  only a random n-gram of the result is kept (n uniform in 1..5, start uniform).
Candidates are deduplicated (and never equal the source). Row k's randomness is seeded by (seed, k), so one row's
candidates do not depend on the others and a stopped file run continues with the same output.
A sentence pair is augmented side by side with the same generator.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import InputError

MASK = "[MASK]"


class PosVocab:
    """Per POS tag: the words of the corpus with that tag and their unigram probabilities."""

    def __init__(self, tagged: Sequence[tuple[Sequence[str], Sequence[str]]]) -> None:
        counts: dict[str, Counter] = defaultdict(Counter)
        for words, tags in tagged:
            for w, t in zip(words, tags):
                counts[t][w] += 1
        self.words = {t: list(c) for t, c in counts.items()}
        self.probs = {t: np.array(list(c.values()), dtype=np.float64) / sum(c.values()) for t, c in counts.items()}

    def draw(self, tag: str, rng: np.random.Generator) -> str:
        ws = self.words[tag]
        return ws[int(rng.choice(len(ws), p=self.probs[tag]))]


def _check(n_iter: int, p_mask: float, p_pos: float, p_ng: float) -> None:
    if n_iter < 1:
        raise InputError(f"n_iter must be >= 1, got {n_iter}")
    for name, p in (("p_mask", p_mask), ("p_pos", p_pos), ("p_ng", p_ng)):
        if not 0.0 <= p <= 1.0:
            raise InputError(f"{name} must be in [0, 1], got {p}")


def _one(words: list[str], tags: list[str] | None, vocab: PosVocab | None, rng: np.random.Generator,
         p_mask: float, p_pos: float, p_ng: float, mask: str) -> list[str]:
    out = []
    for i, w in enumerate(words):
        u = rng.random()
        if u < p_mask:
            out.append(mask)
        elif vocab is not None and tags is not None and u < p_mask + (1 - p_mask) * p_pos:
            out.append(vocab.draw(tags[i], rng))
        else:
            out.append(w)
    if out and rng.random() < p_ng:
        n = min(int(rng.integers(1, 6)), len(out))
        s = int(rng.integers(0, len(out) - n + 1))
        out = out[s:s + n]
    return out


def tang_augment(texts: Sequence[str | tuple[str, str]], tagger: Any = None, n_iter: int = 20,
                 p_mask: float = 0.1, p_pos: float = 0.1, p_ng: float = 0.25, seed: int = 0,
                 mask: str = MASK, start: int = 0) -> Iterator[tuple[int, str | tuple[str, str]]]:
    """Yield (row index, augmented text or pair) for every row of `texts` from `start` on, up to n_iter per row.

    tagger: a PosTagger (its `tag(words)`), needed when p_pos > 0; the unigram tables come from tagging `texts`."""
    _check(n_iter, p_mask, p_pos, p_ng)
    if p_pos > 0 and tagger is None:
        raise InputError("p_pos > 0 needs a POS tagger (train one with `bertkit train-pos-tagger`)")
    pair = bool(texts) and isinstance(texts[0], tuple)
    sides = [list(t) if pair else [t] for t in texts]  # type: ignore[list-item]
    tagged = [[tagger.tag(s.split()) for s in row] for row in sides] if p_pos > 0 else None
    vocab = PosVocab([(s.split(), t) for row, tr in zip(sides, tagged) for s, t in zip(row, tr)]) if tagged \
        else None
    for k in range(start, len(sides)):
        rng = np.random.default_rng([seed, k])
        src = tuple(sides[k])
        seen = {src}
        for _ in range(n_iter):
            cand = tuple(" ".join(_one(s.split(), tagged[k][j] if tagged else None, vocab, rng, p_mask, p_pos, p_ng,
                                       mask)) for j, s in enumerate(src))
            if cand in seen or not all(cand):
                continue
            seen.add(cand)
            yield k, cand if pair else cand[0]


def tang_augment_file(texts: Sequence[str | tuple[str, str]], dst: str | Path, tagger: Any = None,
                      n_iter: int = 20, p_mask: float = 0.1, p_pos: float = 0.1, p_ng: float = 0.25, seed: int = 0,
                      progress: bool = True) -> list[tuple[int, str | tuple[str, str]]]:
    """Stream the augmented rows of `texts` to the TSV `dst` (columns: row, text[, text2]) with a progress bar
    and return them. An existing `dst` (a stopped run) is continued: its complete rows are kept, the last source
    row it reached is redone."""
    from tqdm.auto import tqdm

    _check(n_iter, p_mask, p_pos, p_ng)
    dst = Path(dst)
    kept: list[tuple[int, Any]] = []
    if dst.is_file():
        lines = dst.read_text(encoding="utf-8").split("\n")[1:-1]  # header; the last piece is a partial line
        for line in lines:
            f = line.split("\t")
            kept.append((int(f[0]), tuple(f[1:]) if len(f) > 2 else f[1]))
    start = kept[-1][0] if kept else 0
    kept = [r for r in kept if r[0] < start]
    pair = bool(texts) and isinstance(texts[0], tuple)
    clean = [tuple(x.replace("\t", " ").replace("\n", " ") for x in t) if pair else
             str(t).replace("\t", " ").replace("\n", " ") for t in texts]
    tmp = dst.with_name(dst.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write("row\ttext" + ("\ttext2" if pair else "") + "\n")
        fh.writelines(f"{k}\t" + ("\t".join(t) if pair else t) + "\n" for k, t in kept)
    tmp.replace(dst)
    out = list(kept)
    bar = tqdm(total=len(texts), initial=start, desc="augment", unit="row", disable=not progress,
               dynamic_ncols=True)
    last = start
    with dst.open("a", encoding="utf-8") as fh:
        for k, t in tang_augment(clean, tagger, n_iter, p_mask, p_pos, p_ng, seed, start=start):
            fh.write(f"{k}\t" + ("\t".join(t) if pair else t) + "\n")  # type: ignore[arg-type]
            out.append((k, t))
            if k != last:
                bar.update(k - last)
                last = k
    bar.update(len(texts) - last)
    bar.close()
    return out
