"""Text generation for the generative members (GPT-2, BART): greedy, sampling and beam search.

A model hands `generate` a `Decoding`: the tokens the output starts from and a `logits(new)` step that feeds
the newest tokens (the whole prompt first, then one token a row) and returns the next-token logits. The model
keeps its key/value cache inside the Decoding (nn.attention.KVCache), so a step costs one position. The
search follows transformers' `generate` (same logits processing, stopping rules and beam bookkeeping), so the
same settings give the same tokens; tests/models/test_generation.py checks that on tiny random models.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from bertkit.errors import InputError

EARLY_STOPPING = (False, True, "never")
_NEG = -1.0e9  # a finite "impossible" score, as transformers' beam search uses


class Decoding(Protocol):
    tokens: torch.Tensor  # (N, T0): what the output starts from (GPT-2: the prompt; BART: the start token)
    prompt_padding: torch.Tensor | None  # (N,) left-padding positions of each row, None: none (repetition penalty)

    def logits(self, new: torch.Tensor) -> torch.Tensor:
        """new: (N, t) tokens after those already fed -> (N, V) logits for the token after them."""

    def reorder(self, index: torch.Tensor) -> None:
        """Keep rows `index` (N,) in that order (beam search)."""


@dataclass
class GenerationSettings:
    """What `generate` does; model.generate fills it from its arguments and the model's config."""

    max_new_tokens: int = 20
    do_sample: bool = False
    num_beams: int = 1
    temperature: float = 1.0
    top_k: int | None = 50           # transformers' default; None or 0: no top-k filter
    top_p: float = 1.0
    eos_token_id: int | None = None
    pad_token_id: int | None = None  # fills rows that finished early; None: eos_token_id
    forced_eos_token_id: int | None = None  # BART: the last new token is forced to be this one
    length_penalty: float = 1.0      # beam scores are sum(log p) / generated_length ** length_penalty
    early_stopping: bool | str = False  # beam search: True, False (heuristic) or "never", as in transformers
    repetition_penalty: float = 1.0  # > 1: the scores of tokens already in the sequence shrink (CTRL, Keskar 2019)
    no_repeat_ngram_size: int = 0    # > 0: no n-gram of this size occurs twice in the sequence
    min_new_tokens: int = 0          # eos cannot be chosen before this many new tokens (summaries' min length)

    def check(self) -> None:
        """Raise InputError naming any value out of range."""
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or self.max_new_tokens < 0:
            raise InputError(f"max_new_tokens must be an integer >= 0, got {self.max_new_tokens!r}")
        if isinstance(self.num_beams, bool) or not isinstance(self.num_beams, int) or self.num_beams < 1:
            raise InputError(f"num_beams must be an integer >= 1, got {self.num_beams!r}")
        if self.do_sample and self.num_beams > 1:
            raise InputError(f"sampling with beams (do_sample=True, num_beams={self.num_beams}) is not supported; "
                             "use do_sample=False for beam search or num_beams=1 for sampling")
        if self.do_sample and not self.temperature > 0:
            raise InputError(f"temperature must be > 0 when sampling, got {self.temperature!r}")
        if self.top_k is not None and self.top_k < 0:
            raise InputError(f"top_k must be >= 0 (0 or None: no top-k filter), got {self.top_k!r}")
        if not 0.0 < self.top_p <= 1.0:
            raise InputError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if self.early_stopping not in EARLY_STOPPING or not isinstance(self.early_stopping, (bool, str)):
            raise InputError(f"early_stopping must be True, False or 'never', got {self.early_stopping!r}")
        if isinstance(self.repetition_penalty, bool) or not isinstance(self.repetition_penalty, (int, float)) \
                or not self.repetition_penalty > 0:
            raise InputError(f"repetition_penalty must be a number > 0 (1: none), got {self.repetition_penalty!r}")
        if isinstance(self.no_repeat_ngram_size, bool) or not isinstance(self.no_repeat_ngram_size, int) \
                or self.no_repeat_ngram_size < 0:
            raise InputError(f"no_repeat_ngram_size must be an integer >= 0 (0: none), got "
                             f"{self.no_repeat_ngram_size!r}")
        if isinstance(self.min_new_tokens, bool) or not isinstance(self.min_new_tokens, int) \
                or self.min_new_tokens < 0:
            raise InputError(f"min_new_tokens must be an integer >= 0, got {self.min_new_tokens!r}")

    @property
    def fill(self) -> int | None:
        """The token appended to rows that already ended (transformers: the pad token, else eos)."""
        return self.pad_token_id if self.pad_token_id is not None else self.eos_token_id


def check_token_ids(vocab_size: int, **ids: int | None) -> None:
    """Raise InputError if a token id the caller passed (eos_token_id=..., ...) is outside the vocabulary.

    Ids taken from a config are not checked: one outside the vocabulary (tiny test configs keep GPT-2's 50256)
    can never be generated, so it is never used."""
    for name, t in ids.items():
        if t is not None and not 0 <= t < vocab_size:
            raise InputError(f"{name} {t} is outside the vocabulary (0..{vocab_size - 1})")


def check_prompt(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, vocab_size: int) -> None:
    """Raise InputError unless input_ids is a non-empty (B, T) batch of ids in the vocabulary with a matching mask."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0:
        shape = tuple(input_ids.shape) if isinstance(input_ids, torch.Tensor) else type(input_ids).__name__
        raise InputError(f"input_ids must be a non-empty (batch, length) tensor of token ids, got {shape}")
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool:
        raise InputError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}")
    lo, hi = int(input_ids.min()), int(input_ids.max())
    if lo < 0 or hi >= vocab_size:
        raise InputError(f"input_ids hold id {lo if lo < 0 else hi}, outside the vocabulary (0..{vocab_size - 1})")
    if attention_mask is not None and tuple(attention_mask.shape) != tuple(input_ids.shape):
        raise InputError(f"attention_mask has shape {tuple(attention_mask.shape)}, expected input_ids' "
                         f"{tuple(input_ids.shape)}")


def prepare(model, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, **given) -> GenerationSettings:
    """The checks and settings every model.generate starts with: the model has its LM head, the ids the caller gave
    are in the vocabulary, `given` (GenerationSettings' fields) is in range, with each of the eos, pad and forced-eos
    ids given as None taken from the model's config, and the prompt is a valid (B, T) batch."""
    if model.task != "lm":
        raise InputError(f"generate needs the language-model head (task 'lm'), this model is {model.task!r}")
    cfg = model.config
    ids = ("eos_token_id", "pad_token_id", "forced_eos_token_id")
    check_token_ids(getattr(model, "target_vocab_size", cfg.vocab_size), **{k: given[k] for k in ids if k in given})
    for k in ids:
        if k in given and given[k] is None:
            given[k] = getattr(cfg, k, None)
    s = GenerationSettings(**given)
    s.check()
    check_prompt(input_ids, attention_mask, cfg.vocab_size)
    return s


def penalize_repeats(scores: torch.Tensor, seqs: torch.Tensor, penalty: float,
                     padding: torch.Tensor | None = None) -> torch.Tensor:
    """CTRL's repetition penalty: the (N, V) score of every token that occurs in its row of seqs (N, T) is divided
    by `penalty` where positive and multiplied by it where negative, so it falls for penalty > 1 either way.
    padding (N,): leading positions of each row not counted (a left-padded prompt's padding). Ids outside the
    scores' vocabulary are never scored, so they are skipped."""
    n, vocab = scores.shape
    ids = seqs.clamp(max=vocab)  # column `vocab` is a spare one, dropped at the end
    if padding is not None:
        ids = ids.masked_fill(torch.arange(seqs.shape[1], device=seqs.device)[None, :] < padding[:, None], vocab)
    wide = torch.cat([scores, scores.new_zeros(n, 1)], dim=1)
    seen = wide.gather(1, ids)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return wide.scatter(1, ids, seen)[:, :vocab]


def ban_repeated_ngrams(scores: torch.Tensor, seqs: torch.Tensor, size: int) -> torch.Tensor:
    """-inf for every token that would complete, after the last size - 1 tokens of its row of seqs (N, T), an
    n-gram of `size` tokens the row already holds. (N, V) -> (N, V)."""
    n, t = seqs.shape
    if t < size:
        return scores
    tail = seqs[:, t - size + 1:]  # (N, size - 1): what the next token would extend
    grams = seqs.unfold(1, size, 1)  # (N, t - size + 1, size): every n-gram so far
    repeat = (grams[:, :, :-1] == tail[:, None, :]).all(-1)  # (N, t - size + 1): n-grams that start like the tail
    vocab = scores.shape[-1]
    nxt = torch.where(repeat, grams[:, :, -1].clamp(max=vocab), vocab)  # the token that would repeat them
    banned = torch.zeros(n, vocab + 1, dtype=torch.bool, device=scores.device).scatter_(1, nxt, True)
    return scores.masked_fill(banned[:, :vocab], float("-inf"))


def process_scores(scores: torch.Tensor, s: GenerationSettings, last: bool, seqs: torch.Tensor | None = None,
                   padding: torch.Tensor | None = None, step: int = 0) -> torch.Tensor:
    """(N, V) float scores -> scores after the repetition penalty and the n-gram ban (both need seqs (N, T), the
    tokens so far; padding (N,), see penalize_repeats), forced EOS and, when sampling, temperature, top-k and top-p.

    The same processors, in the same order, as transformers applies for these settings."""
    if s.repetition_penalty != 1.0 and seqs is not None:
        scores = penalize_repeats(scores, seqs, s.repetition_penalty, padding)
    if s.no_repeat_ngram_size and seqs is not None:
        scores = ban_repeated_ngrams(scores, seqs, s.no_repeat_ngram_size)
    if step < s.min_new_tokens and s.eos_token_id is not None:  # step: new tokens so far
        scores = scores.clone()
        scores[:, s.eos_token_id] = float("-inf")
    if s.forced_eos_token_id is not None and last:
        scores = torch.full_like(scores, float("-inf"))
        scores[:, s.forced_eos_token_id] = 0.0
    if not s.do_sample:
        return scores
    if s.temperature != 1.0:
        scores = scores / s.temperature
    if s.top_k:
        k = min(s.top_k, scores.shape[-1])
        kth = torch.topk(scores, k).values[..., -1:]  # (N, 1): the k-th best score
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if s.top_p < 1.0:
        ascending, order = torch.sort(scores, dim=-1)
        mass_below = ascending.softmax(-1).cumsum(-1)  # probability of this token and every smaller one
        drop = mass_below <= 1.0 - s.top_p
        drop[..., -1] = False  # always keep the most likely token
        scores = scores.masked_fill(drop.scatter(1, order, drop), float("-inf"))
    return scores


def search(dec: Decoding, s: GenerationSettings, generator: torch.Generator | None = None,
           on_tokens: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """Run the search over `dec`; returns (B, T0 + generated) ids, the best beam of each row.

    Rows that end early (eos) are filled with `s.fill`; generation stops when every row has ended. on_tokens
    (greedy and sampling only): called after each step with that step's (B,) new tokens, for streaming."""
    if s.num_beams > 1:
        if on_tokens is not None:
            raise InputError("streaming tokens needs num_beams=1: beam search knows its output only at the end")
        return _beam_search(dec, s)
    return _greedy_or_sample(dec, s, generator, on_tokens)


def _greedy_or_sample(dec: Decoding, s: GenerationSettings, generator: torch.Generator | None,
                      on_tokens: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    seqs = new = dec.tokens  # (N, T)
    padding = getattr(dec, "prompt_padding", None)
    running = torch.ones(seqs.shape[0], dtype=torch.bool, device=seqs.device)
    for step in range(s.max_new_tokens):
        scores = process_scores(dec.logits(new).float(), s, last=step == s.max_new_tokens - 1, seqs=seqs,
                                padding=padding, step=step)  # (N, V)
        if s.do_sample:
            nxt = torch.multinomial(scores.softmax(-1), 1, generator=generator).squeeze(1)
        else:
            nxt = scores.argmax(-1)
        if s.eos_token_id is not None:
            nxt = torch.where(running, nxt, s.fill)
            running &= nxt != s.eos_token_id
        new = nxt[:, None]
        seqs = torch.cat([seqs, new], dim=1)
        if on_tokens is not None:
            on_tokens(nxt)
        if not running.any():
            break
    return seqs


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (B, K, ...) -> (B, J, ...) rows index (B, J) along dim 1."""
    return torch.take_along_dim(x, index.view(*index.shape, *[1] * (x.dim() - 2)), dim=1)


def _beam_search(dec: Decoding, s: GenerationSettings) -> torch.Tensor:
    """Beam search as transformers runs it: per row `nb` running beams; at each step the 2*nb best continuations
    of all beams are ranked; those among the first nb that end (eos, or the last step) become finished
    hypotheses scored sum(log p) / generated_length ** length_penalty, the best nb that do not end run on."""
    nb = s.num_beams
    prompt = dec.tokens  # (B * nb, T0)
    t0, device = prompt.shape[1], prompt.device
    b = prompt.shape[0] // nb
    max_len = t0 + s.max_new_tokens
    fill = -1 if s.eos_token_id is None else (s.pad_token_id or s.eos_token_id)  # transformers' choice
    run_seqs = prompt.view(b, nb, t0)
    run_scores = torch.zeros(b, nb, device=device)
    run_scores[:, 1:] = _NEG  # all beams start equal: only the first may be continued at the first step
    fin_seqs = torch.full((b, nb, max_len), fill, dtype=prompt.dtype, device=device)
    fin_seqs[:, :, :t0] = run_seqs
    fin_scores = torch.full((b, nb), _NEG, device=device)
    fin_done = torch.zeros(b, nb, dtype=torch.bool, device=device)
    fin_len = torch.zeros(b, nb, dtype=torch.long, device=device)  # generated tokens of each hypothesis
    improvable = torch.ones(b, 1, dtype=torch.bool, device=device)
    top_nb = torch.arange(2 * nb, device=device) < nb
    padding = getattr(dec, "prompt_padding", None)  # the same for the beams of a row: reordering keeps it
    new = prompt
    for step in range(s.max_new_tokens):
        logp = torch.log_softmax(dec.logits(new).float(), dim=-1)
        logp = process_scores(logp, s, last=step == s.max_new_tokens - 1, seqs=run_seqs.reshape(b * nb, -1),
                              padding=padding, step=step)  # (B * nb, V)
        vocab = logp.shape[-1]
        total = (logp.view(b, nb, vocab) + run_scores[..., None]).view(b, nb * vocab)
        cand_scores, cand = torch.topk(total, 2 * nb)  # (B, 2nb)
        src, tok = cand // vocab, cand % vocab
        cand_seqs = torch.cat([_take(run_seqs, src), tok[..., None]], dim=-1)  # (B, 2nb, T0 + step + 1)
        ends = torch.ones_like(tok, dtype=torch.bool) if step == s.max_new_tokens - 1 else \
            (tok == s.eos_token_id if s.eos_token_id is not None else torch.zeros_like(tok, dtype=torch.bool))

        # the best nb continuations that do not end run on
        keep_scores = cand_scores + ends.float() * _NEG
        keep = torch.topk(keep_scores, nb).indices  # (B, nb)
        run_seqs, run_scores = _take(cand_seqs, keep), _take(keep_scores, keep)
        source = _take(src, keep) + torch.arange(b, device=device)[:, None] * nb  # rows of the previous step

        # the ending ones among the first nb join the finished hypotheses if they beat the worst of them
        gen_len = step + 1
        new_fin = cand_scores / gen_len ** s.length_penalty
        new_fin = new_fin + (fin_done.all(-1, keepdim=True) & (s.early_stopping is True)).float() * _NEG
        new_fin = new_fin + (~improvable).float() * _NEG
        just_ended = ends & top_nb
        new_fin = new_fin + (~just_ended).float() * _NEG
        padded = torch.full((b, 2 * nb, max_len), fill, dtype=prompt.dtype, device=device)
        padded[:, :, :cand_seqs.shape[-1]] = cand_seqs
        merged_scores = torch.cat([fin_scores, new_fin], dim=1)
        best = torch.topk(merged_scores, nb).indices
        fin_seqs = _take(torch.cat([fin_seqs, padded], dim=1), best)
        fin_scores = _take(merged_scores, best)
        fin_done = _take(torch.cat([fin_done, just_ended], dim=1), best)
        fin_len = _take(torch.cat([fin_len, torch.full_like(cand, gen_len)], dim=1), best)

        dec.reorder(source.view(-1))
        new = run_seqs[:, :, -1].reshape(-1, 1)
        # could a running beam still beat the worst finished one? (transformers' heuristic per early_stopping)
        best_len = s.max_new_tokens if s.early_stopping == "never" and s.length_penalty > 0 else gen_len
        best_running = run_scores[:, :1] / best_len ** s.length_penalty
        worst = torch.where(fin_done, fin_scores.min(-1, keepdim=True).values, _NEG)
        improvable = improvable & (best_running > worst).any(-1, keepdim=True)
        if not improvable.any() or (fin_done.all() and s.early_stopping is True) or ends.all():
            break
    out_len = t0 + int(fin_len[:, 0].max())
    return fin_seqs[:, 0, :out_len]
