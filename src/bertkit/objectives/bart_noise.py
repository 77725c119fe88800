"""BART's noising functions (Lewis et al. 2019, section 2.2): pure functions on one sequence of token ids, all
randomness from a torch.Generator. The denoising target is always the original sequence.

- `token_masking`: `ratio` of the maskable tokens, chosen uniformly, become <mask> (BERT's masking, no 80/10/10).
- `token_deletion`: `ratio` of the maskable tokens are removed; the model must find where input is missing.
- `text_infilling`: spans with lengths ~ Poisson(lambda=3) cover `ratio` (30%) of the maskable tokens; each span
  becomes ONE <mask>, so the model also predicts how many tokens are missing. A span of length 0 inserts a <mask>.
- `sentence_permutation`: the text is split into sentences after each sentence-end token (full stops) and the
  sentences are shuffled.
- `document_rotation`: a uniformly chosen token becomes the start; the model must find the true start.

"Maskable" excludes the special tokens (<s>, </s>, <pad>, ...) and <mask> itself: those are never masked or
deleted. Sentence permutation and rotation move only the *body*: the tokens between the leading special tokens
(<s>) and the trailing ones (</s>), which stay where they are. `noise` applies the functions a NoiseConfig
chooses in the order of NOISES, fairseq's: permutation, masking (token masking, deletion, infilling), rotation.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from bertkit.errors import InputError

NOISES = ("permute", "mask", "delete", "infill", "rotate")  # also the order `noise` applies them in
SENTENCE_END = frozenset(".!?")  # a token of these alone (after its word marker) ends a sentence


@dataclass(frozen=True)
class NoiseVocab:
    """The ids noising needs: <mask>, the special tokens never masked, deleted or moved, and the tokens that end a
    sentence (for permutation; empty: the whole body is one sentence)."""

    mask_id: int
    special_ids: tuple[int, ...]
    sentence_end_ids: tuple[int, ...] = ()

    @classmethod
    def from_tokenizer(cls, tok, path: str = "") -> NoiseVocab:
        """From a bertkit Tokenizer (`path` names it in errors): <mask>; <s>, </s>, <pad> (BERT vocabularies:
        [CLS], [SEP], [PAD]); sentence ends: the tokens that are a full stop, ! or ? after their word marker."""
        bos, eos = bos_eos(tok)
        if tok.mask_token_id is None:
            raise InputError(f"the tokenizer {path} has no mask token; BART's noising replaces text with one "
                             "(<mask>): train one with `bertkit tokenizer train --algo bytebpe --layout roberta`")
        if bos is None or eos is None or tok.pad_token_id is None:
            raise InputError(f"the tokenizer {path} needs bos, eos and pad tokens for BART (<s>, </s>, <pad>); "
                             f"it has bos={tok.bos_token}, eos={tok.eos_token}, pad={tok.pad_token}")
        specials = {bos, eos, tok.pad_token_id, tok.cls_token_id, tok.sep_token_id} - {None}
        tokens = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
        ends = tuple(i for i, t in enumerate(tokens)
                     if i not in specials and t.lstrip("Ġ▁") and set(t.lstrip("Ġ▁")) <= SENTENCE_END)
        return cls(tok.mask_token_id, tuple(sorted(specials)), ends)

    def protected(self, ids: torch.Tensor) -> torch.Tensor:
        """bool (T,): tokens never masked or deleted (specials and <mask>)."""
        return torch.isin(ids, torch.tensor([*self.special_ids, self.mask_id], dtype=ids.dtype))

    def body(self, ids: torch.Tensor) -> tuple[int, int]:
        """[start, end) of the tokens between the leading and the trailing run of special tokens."""
        special = torch.isin(ids, torch.tensor(self.special_ids, dtype=ids.dtype)).tolist()
        start, end = 0, len(special)
        while start < end and special[start]:
            start += 1
        while end > start and special[end - 1]:
            end -= 1
        return start, end


def bos_eos(tok) -> tuple[int | None, int | None]:
    """A tokenizer's <s> and </s> ids (BERT-style vocabularies: [CLS] and [SEP])."""
    bos = tok.bos_token_id if tok.bos_token_id is not None else tok.cls_token_id
    eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    return bos, eos


@dataclass(frozen=True)
class NoiseConfig:
    """Which noising functions apply (any of NOISES; the default is BART-large's: infilling 30% of the tokens and
    permuting all sentences) and their rates: the fraction of maskable tokens masked, deleted or infilled, and
    the mean span length of infilling."""

    noises: tuple[str, ...] = ("infill", "permute")
    mask_ratio: float = 0.15
    delete_ratio: float = 0.15
    infill_ratio: float = 0.3
    poisson_lambda: float = 3.0

    def __post_init__(self) -> None:
        if isinstance(self.noises, str):
            object.__setattr__(self, "noises", parse_noises(self.noises))
        for name in self.noises:
            if name not in NOISES:
                raise InputError(f"unknown noise {name!r}; expected some of {', '.join(NOISES)} (comma-separated)")
        if not self.noises:
            raise InputError(f"no noise chosen; expected some of {', '.join(NOISES)}")
        if len(set(self.noises)) != len(self.noises):
            raise InputError(f"a noise is named twice in {','.join(self.noises)}")
        for key in ("mask_ratio", "delete_ratio", "infill_ratio"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise InputError(f"noise {key} must be in (0, 1), got {getattr(self, key)}")
        if not self.poisson_lambda > 0:
            raise InputError(f"poisson_lambda (the mean span length of infilling) must be > 0, "
                             f"got {self.poisson_lambda}")


def parse_noises(names: str | Iterable[str]) -> tuple[str, ...]:
    """"infill,permute" (or a list of names) -> ("infill", "permute"); names are checked by NoiseConfig."""
    items = names.split(",") if isinstance(names, str) else list(names)
    return tuple(n.strip() for n in items if n.strip())


def _stochastic_round(x: float, gen: torch.Generator) -> int:
    """floor(x + u), u ~ U(0, 1): an integer whose expectation is exactly x."""
    return int(x + float(torch.rand((), generator=gen, dtype=torch.float64)))


def _choose(ids: torch.Tensor, vocab: NoiseVocab, ratio: float, gen: torch.Generator) -> torch.Tensor:
    """Positions (k,) of k ~ ratio * (maskable tokens) maskable tokens, chosen uniformly without replacement."""
    where = (~vocab.protected(ids)).nonzero().squeeze(1)
    k = _stochastic_round(len(where) * ratio, gen)
    return where[torch.randperm(len(where), generator=gen)[:k]]


def token_masking(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator, ratio: float = 0.15) -> torch.Tensor:
    """(T,) ids -> (T,) ids with `ratio` of the maskable tokens (rounded stochastically) replaced by <mask>."""
    out = ids.clone()
    out[_choose(ids, vocab, ratio, gen)] = vocab.mask_id
    return out


def token_deletion(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator, ratio: float = 0.15) -> torch.Tensor:
    """(T,) ids -> (T - k,) ids: k = `ratio` of the maskable tokens removed, the rest in their order."""
    keep = torch.ones_like(ids, dtype=torch.bool)
    keep[_choose(ids, vocab, ratio, gen)] = False
    return ids[keep]


def infill_spans(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator, ratio: float = 0.3,
                 poisson_lambda: float = 3.0, max_length: int | None = None) -> list[tuple[int, int]]:
    """The spans text infilling replaces: [(start, length)] sorted by start; length 0 means insert a <mask>
    before token `start`.

    A budget of `ratio` of the maskable tokens (rounded stochastically) is filled with lengths drawn from
    Poisson(poisson_lambda) until they reach it; the last is cut so that they sum to the budget exactly. Spans
    cover maskable tokens only and never overlap; each is placed at a uniformly chosen start among those where it
    fits, longest first (one that fits nowhere is shortened to the longest free run). Zero-length spans go
    before a uniformly chosen unmasked body token or at the body's end. With max_length, zero-length spans are
    dropped (last drawn first) while the noised sequence would be longer than max_length."""
    protected = vocab.protected(ids)
    free = ~protected
    n = int(free.sum())
    budget = _stochastic_round(n * ratio, gen)
    lengths: list[int] = []
    total = 0
    rate = torch.tensor([float(poisson_lambda)], dtype=torch.float64)
    while total < budget:
        length = int(torch.poisson(rate, generator=gen))
        lengths.append(length)
        total += length
    if lengths:
        lengths[-1] -= total - budget  # >= 1: the sum before the last draw was below the budget
    if max_length is not None:
        grow = len(ids) + sum(1 - length for length in lengths) - max_length
        for i in reversed(range(len(lengths))):
            if grow <= 0:
                break
            if lengths[i] == 0:
                del lengths[i]
                grow -= 1
    spans: list[tuple[int, int]] = []
    for length in sorted((x for x in lengths if x > 0), reverse=True):
        while True:
            csum = torch.cat([free.new_zeros(1, dtype=torch.long), free.long().cumsum(0)])
            fits = (csum[length:] - csum[:-length]) == length  # (T - length + 1,): start s covers only free tokens
            if bool(fits.any()) or length == 1:
                break
            length -= 1
        starts = fits.nonzero().squeeze(1)
        if len(starts) == 0:
            break  # nothing maskable is left
        s = int(starts[torch.randint(len(starts), (1,), generator=gen)])
        free[s:s + length] = False
        spans.append((s, length))
    zeros = sum(1 for x in lengths if x == 0)
    if zeros:
        b0, b1 = vocab.body(ids)
        # before an unmasked body token, or at the end of the body; never inside a span
        slots = torch.cat([(free[b0:b1]).nonzero().squeeze(1) + b0, torch.tensor([b1])])
        for i in torch.randint(len(slots), (zeros,), generator=gen).tolist():
            spans.append((int(slots[i]), 0))
    return sorted(spans)


def apply_infill(ids: torch.Tensor, spans: Sequence[tuple[int, int]], mask_id: int) -> torch.Tensor:
    """(T,) ids -> ids with each span of `infill_spans` replaced by one <mask> (length 0: a <mask> inserted)."""
    inserts: dict[int, int] = {}
    covered: dict[int, int] = {}
    for s, length in spans:
        if length == 0:
            inserts[s] = inserts.get(s, 0) + 1
        else:
            covered[s] = length
    row = ids.tolist()
    out: list[int] = []
    i = 0
    while i <= len(row):
        out.extend([mask_id] * inserts.get(i, 0))
        if i == len(row):
            break
        if i in covered:
            out.append(mask_id)
            i += covered[i]
        else:
            out.append(row[i])
            i += 1
    return torch.tensor(out, dtype=ids.dtype)


def text_infilling(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator, ratio: float = 0.3,
                   poisson_lambda: float = 3.0, max_length: int | None = None) -> torch.Tensor:
    """(T,) ids -> ids with Poisson(poisson_lambda)-length spans covering `ratio` of the maskable tokens each
    replaced by one <mask> (see infill_spans)."""
    return apply_infill(ids, infill_spans(ids, vocab, gen, ratio, poisson_lambda, max_length), vocab.mask_id)


def sentences(ids: torch.Tensor, vocab: NoiseVocab) -> list[torch.Tensor]:
    """The body of (T,) ids cut after each sentence-end token (the last piece may lack one)."""
    b0, b1 = vocab.body(ids)
    body = ids[b0:b1]
    ends = (torch.isin(body, torch.tensor(vocab.sentence_end_ids, dtype=ids.dtype)).nonzero().squeeze(1) + 1).tolist()
    cuts = [0, *[e for e in ends if e < len(body)], len(body)]
    return [body[a:b] for a, b in itertools.pairwise(cuts) if b > a]


def sentence_permutation(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator) -> torch.Tensor:
    """(T,) ids -> (T,) ids whose body's sentences (see `sentences`) are in a uniformly random order."""
    b0, b1 = vocab.body(ids)
    parts = sentences(ids, vocab)
    if len(parts) < 2:
        return ids.clone()
    order = torch.randperm(len(parts), generator=gen).tolist()
    return torch.cat([ids[:b0], *[parts[i] for i in order], ids[b1:]])


def document_rotation(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator) -> torch.Tensor:
    """(T,) ids -> (T,) ids whose body starts at a uniformly chosen body token and wraps around."""
    b0, b1 = vocab.body(ids)
    if b1 - b0 < 2:
        return ids.clone()
    k = b0 + int(torch.randint(b1 - b0, (1,), generator=gen))
    return torch.cat([ids[:b0], ids[k:b1], ids[b0:k], ids[b1:]])


def noise(ids: torch.Tensor, vocab: NoiseVocab, gen: torch.Generator, cfg: NoiseConfig = NoiseConfig(),
          max_length: int | None = None) -> torch.Tensor:
    """(T,) original ids -> the noised encoder input: cfg's noises in the order of NOISES. max_length bounds the
    output (only infilling's insertions can lengthen a sequence)."""
    out = ids
    if "permute" in cfg.noises:
        out = sentence_permutation(out, vocab, gen)
    if "mask" in cfg.noises:
        out = token_masking(out, vocab, gen, cfg.mask_ratio)
    if "delete" in cfg.noises:
        out = token_deletion(out, vocab, gen, cfg.delete_ratio)
    if "infill" in cfg.noises:
        out = text_infilling(out, vocab, gen, cfg.infill_ratio, cfg.poisson_lambda, max_length)
    if "rotate" in cfg.noises:
        out = document_rotation(out, vocab, gen)
    return out
