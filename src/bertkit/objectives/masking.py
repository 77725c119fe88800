"""Masking for pretraining: pure functions on token ids, all randomness from a torch.Generator.

Every function returns (input_ids, labels): the corrupted ids and labels that hold the original id at the
positions to predict and -100 elsewhere (the ignore index of cross entropy).

- `mask_tokens`: BERT's token masking. A budget of `prob` of the maskable (non-special, non-padding) tokens
  is chosen per sequence (stochastic rounding keeps the expected fraction exact); of those, `mask_frac`
  become [MASK], `random_frac` a random non-special token and the rest stay unchanged (80/10/10).
- `mask_whole_words`: whole words are masked together, chosen in random order until the budget, skipping any
  word that would exceed it (Google's whole-word masking); 80/10/10 is decided per word.
- `mask_spans`: SpanBERT. Span lengths in words ~ Geometric(p=0.2) truncated at 10 (mean 3.8), random
  starts on word boundaries, spans never overlap, 80/10/10 decided per span.

Word boundaries come from a per-vocabulary table (`continuation_table`): WordPiece marks continuations with
`##`; byte-level BPE (`Ġ`) and SentencePiece (`▁`) mark word starts instead.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from bertkit.errors import InputError

IGNORE = -100


@dataclass(frozen=True)
class MaskingConfig:
    """Rates of BERT's masking; the remaining 1 - mask_frac - random_frac of chosen tokens stay unchanged."""

    prob: float = 0.15
    mask_frac: float = 0.8
    random_frac: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 < self.prob < 1.0:
            raise InputError(f"masking probability must be in (0, 1), got {self.prob}")
        if self.mask_frac < 0 or self.random_frac < 0 or self.mask_frac + self.random_frac > 1.0 + 1e-9:
            raise InputError(f"mask_frac + random_frac must be within [0, 1], got {self.mask_frac} + {self.random_frac}")


@dataclass(frozen=True)
class Vocab:
    """What masking needs to know about a vocabulary: the [MASK] id, the ids never to mask or sample
    (specials, padding), the vocabulary size and, for whole words, which ids continue a word."""

    mask_id: int
    vocab_size: int
    special_ids: tuple[int, ...]
    continuation: torch.Tensor | None = None   # bool (V,): True where the token continues the previous word

    def special_table(self) -> torch.Tensor:
        t = torch.zeros(self.vocab_size, dtype=torch.bool)
        t[list(self.special_ids)] = True
        return t

    def random_candidates(self) -> torch.Tensor:
        return (~self.special_table()).nonzero().squeeze(1)


def continuation_table(tokens: Sequence[str], scheme: str) -> torch.Tensor:
    """bool (V,): True for tokens that continue the word before them.

    scheme: "wordpiece" (`##` prefix continues), "bpe" (byte-level, `Ġ` starts a word), "sentencepiece"
    (`▁` starts a word). Tokens in <...> or [...] are specials and never continue a word.
    """
    def special(t: str) -> bool:
        return len(t) > 2 and ((t[0] == "[" and t[-1] == "]") or (t[0] == "<" and t[-1] == ">"))

    if scheme == "wordpiece":
        flags = [t.startswith("##") for t in tokens]
    elif scheme in ("bpe", "sentencepiece"):
        marker = "Ġ" if scheme == "bpe" else "▁"
        flags = [not (t.startswith(marker) or special(t)) for t in tokens]
    else:
        raise InputError(f"unknown word-boundary scheme {scheme!r}; expected wordpiece, bpe or sentencepiece")
    return torch.tensor(flags, dtype=torch.bool)


def maskable(input_ids: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """bool (B, T): tokens that may be chosen (not special, not padding)."""
    return ~vocab.special_table()[input_ids]


def _budget(n: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """floor(n * prob + u), u ~ U(0, 1): an integer budget whose expectation is exactly n * prob."""
    u = torch.rand(n.shape, generator=gen)
    return torch.floor(n.double() * prob + u.double()).long()


def _corrupt(input_ids: torch.Tensor, chosen: torch.Tensor, unit: torch.Tensor | None, vocab: Vocab,
             cfg: MaskingConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply 80/10/10 to chosen positions. unit (B, T) long: positions with the same unit id share one draw."""
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    if unit is None:
        r = torch.rand(input_ids.shape, generator=gen)
    else:
        draws = torch.rand(int(unit.max()) + 1, generator=gen)
        r = draws[unit]
    out = input_ids.clone()
    to_mask = chosen & (r < cfg.mask_frac)
    to_rand = chosen & (r >= cfg.mask_frac) & (r < cfg.mask_frac + cfg.random_frac)
    out[to_mask] = vocab.mask_id
    cand = vocab.random_candidates()
    pick = torch.randint(len(cand), (int(to_rand.sum()),), generator=gen)
    out[to_rand] = cand[pick]
    return out, labels


def mask_tokens(input_ids: torch.Tensor, vocab: Vocab, gen: torch.Generator,
                cfg: MaskingConfig = MaskingConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of (B, T) ids -> (corrupted ids, labels), both (B, T)."""
    ok = maskable(input_ids, vocab)
    k = _budget(ok.sum(1), cfg.prob, gen)                       # (B,)
    scores = torch.rand(input_ids.shape, generator=gen).masked_fill(~ok, 2.0)
    rank = scores.argsort(1).argsort(1)                         # 0 = smallest score
    chosen = (rank < k[:, None]) & ok
    return _corrupt(input_ids, chosen, None, vocab, cfg, gen)


def word_ids(input_ids: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """(B, T) long: index of the word each token belongs to (specials get their own index)."""
    if vocab.continuation is None:
        raise InputError("whole-word and span masking need the vocabulary's continuation table "
                         "(masking.continuation_table(tokens, scheme))")
    special = vocab.special_table()[input_ids]
    cont = vocab.continuation[input_ids] & ~special
    prev_special = torch.ones_like(special)
    prev_special[:, 1:] = special[:, :-1]
    starts = ~cont | prev_special
    return starts.long().cumsum(1) - 1


def _words(ids_row: list[int], wid_row: list[int], ok_row: list[bool]) -> list[tuple[int, int]]:
    """[(start, end)) token ranges of the maskable words of one sequence."""
    words: list[tuple[int, int]] = []
    i, n = 0, len(ids_row)
    while i < n:
        j = i + 1
        while j < n and wid_row[j] == wid_row[i]:
            j += 1
        if ok_row[i]:
            words.append((i, j))
        i = j
    return words


def mask_whole_words(input_ids: torch.Tensor, vocab: Vocab, gen: torch.Generator,
                     cfg: MaskingConfig = MaskingConfig()) -> tuple[torch.Tensor, torch.Tensor]:
    """Whole-word masking of (B, T) ids: all pieces of a chosen word are predicted and corrupted together."""
    ok = maskable(input_ids, vocab)
    wid = word_ids(input_ids, vocab)
    budgets = _budget(ok.sum(1), cfg.prob, gen).tolist()
    chosen = torch.zeros_like(ok)
    unit = torch.zeros_like(input_ids)
    n_units = 0
    for b, (wrow, okrow) in enumerate(zip(wid.tolist(), ok.tolist())):
        words = _words(input_ids[b].tolist(), wrow, okrow)
        order = torch.randperm(len(words), generator=gen).tolist()
        left = budgets[b]
        for w in order:
            if left == 0:
                break
            s, e = words[w]
            if e - s > left:
                continue  # never exceed the budget
            chosen[b, s:e] = True
            unit[b, s:e] = n_units
            n_units += 1
            left -= e - s
    return _corrupt(input_ids, chosen, unit, vocab, cfg, gen)


def span_length_distribution(p: float = 0.2, max_len: int = 10) -> torch.Tensor:
    """P(len = 1..max_len) of SpanBERT's geometric distribution truncated at max_len (renormalised)."""
    lens = torch.arange(1, max_len + 1, dtype=torch.float64)
    w = p * (1 - p) ** (lens - 1)
    return w / w.sum()


def mask_spans(input_ids: torch.Tensor, vocab: Vocab, gen: torch.Generator, cfg: MaskingConfig = MaskingConfig(),
               p: float = 0.2, max_len: int = 10, max_tries: int = 50) -> tuple[torch.Tensor, torch.Tensor,
                                                                              list[list[tuple[int, int]]]]:
    """SpanBERT masking of (B, T) ids -> (corrupted ids, labels, spans) where spans[b] lists the
    [start, end) token ranges masked in sequence b, in the order drawn (for the span boundary objective).

    Spans cover whole words, never overlap and never cross special tokens. A span that does not fit where
    its start fell gets a new start (which keeps the length distribution); spans[b] is in the order drawn,
    and only the last one may be cut short, to whole words within the budget."""
    dist = span_length_distribution(p, max_len)
    ok = maskable(input_ids, vocab)
    wid = word_ids(input_ids, vocab)
    budgets = _budget(ok.sum(1), cfg.prob, gen).tolist()
    chosen = torch.zeros_like(ok)
    unit = torch.zeros_like(input_ids)
    spans: list[list[tuple[int, int]]] = []
    n_units = 0
    for b, (wrow, okrow) in enumerate(zip(wid.tolist(), ok.tolist())):
        words = _words(input_ids[b].tolist(), wrow, okrow)
        used = [False] * len(words)
        left, tries, row_spans = budgets[b], 0, []
        while left > 0 and tries < max_tries and words:
            tries += 1  # consecutive draws that placed nothing
            length = int(torch.multinomial(dist, 1, generator=gen)) + 1
            # rejection sampling keeps the length distribution: a start is redrawn until the whole span fits
            for _ in range(20):
                w0 = int(torch.randint(len(words), (1,), generator=gen))
                w1 = w0 + length - 1
                if w1 < len(words) and not any(used[w0:w1 + 1]) and all(
                        words[w + 1][0] == words[w][1] for w in range(w0, w1)):
                    break
            else:
                continue
            cut = words[w1][1] - words[w0][0] > left
            while w1 >= w0 and words[w1][1] - words[w0][0] > left:
                w1 -= 1  # the budget's last span is cut to the whole words that fit
            if w1 < w0:
                break  # not even one more word fits
            s, e = words[w0][0], words[w1][1]
            if cut:
                left = 0  # a cut span is the last one
            for w in range(w0, w1 + 1):
                used[w] = True
            chosen[b, s:e] = True
            unit[b, s:e] = n_units
            n_units += 1
            left, tries = max(0, left - (e - s)), 0
            row_spans.append((s, e))
        spans.append(row_spans)
    ids, labels = _corrupt(input_ids, chosen, unit, vocab, cfg, gen)
    return ids, labels, spans
