"""An encoder-decoder (BART, and the original Transformer of "Attention is all you need" as Marian lays it out): a
post-LN encoder, a causal post-LN decoder with cross-attention over the encoder output, token embeddings shared by
both and by the LM head (or one table per side). Composed from the nn/ parts the encoders use; models/bart.py and
models/marian.py are the presets and the checkpoint maps.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from bertkit.errors import InputError
from bertkit.models.config import ModelConfig
from bertkit.models.family import get_family
from bertkit.models.generation import prepare, search
from bertkit.models.model import ModelOutput, init_weights
from bertkit.nn.attention import additive_mask
from bertkit.nn.embeddings import Embeddings
from bertkit.nn.heads import TiedLMHead
from bertkit.nn.stack import DecoderCache, Stack, make_block

SEQ2SEQ_TASKS = ("base", "lm")


def shift_right(ids: torch.Tensor, start_id: int, pad_id: int | None) -> torch.Tensor:
    """(B, T) target ids -> (B, T) decoder inputs: start_id, then the targets but the last; -100 (ignored
    label) becomes pad_id. What the decoder reads when it is to predict `ids` (teacher forcing)."""
    out = torch.full_like(ids, start_id)
    out[:, 1:] = ids[:, :-1]
    if (out == -100).any():
        if pad_id is None:
            raise InputError("labels hold -100 but the config has no pad_token_id to put in its place")
        out = out.masked_fill(out == -100, pad_id)
    return out


@dataclass(frozen=True)
class Seq2SeqLayout:
    """What BART and the original Transformer (Marian) do differently around the same blocks.

    position_start: position p reads table row p + position_start (BART: 2). sinusoidal: fixed positions in
    that column layout (nn.embeddings.sinusoidal_table) instead of a learned table. embedding_norm: a LayerNorm on
    the embeddings of both stacks (BART's layernorm_embedding; the Transformer has none)."""

    position_start: int = 2
    sinusoidal: str | None = None
    embedding_norm: bool = True


BART_LAYOUT = Seq2SeqLayout()
TRANSFORMER_LAYOUT = Seq2SeqLayout(position_start=0, sinusoidal="halves", embedding_norm=False)


class Seq2SeqBackbone(nn.Module):
    """Token tables: one shared by encoder, decoder and LM head, or (cfg.decoder_vocab_size set) one for the source
    and one for the target, which the LM head shares. Encoder: embeddings -> post-LN blocks; decoder: its own
    embeddings -> causal post-LN blocks with cross-attention. Dropout as in transformers: once on each sublayer's
    output (the feed-forward's inner activation dropout is 0)."""

    def __init__(self, cfg: ModelConfig, layout: Seq2SeqLayout = BART_LAYOUT) -> None:
        super().__init__()
        H, eps = cfg.hidden_size, cfg.layer_norm_eps
        shared = nn.Embedding(cfg.vocab_size, H, padding_idx=cfg.pad_token_id)
        target = shared if cfg.decoder_vocab_size is None else \
            nn.Embedding(cfg.decoder_vocab_size, H, padding_idx=cfg.pad_token_id)
        scale = math.sqrt(H) if cfg.scale_embedding else 1.0

        def embeddings(word: nn.Embedding) -> Embeddings:
            return Embeddings(word.num_embeddings, H, cfg.max_positions + layout.position_start, type_vocab_size=0,
                              pad_id=cfg.pad_token_id, layer_norm_eps=eps, dropout=cfg.dropout,
                              sinusoidal=layout.sinusoidal is not None,
                              sinusoidal_layout=layout.sinusoidal or "interleaved",
                              position_start=layout.position_start, scale=scale, norm=layout.embedding_norm,
                              word=word)

        def block(heads: int, ffn: int, decoder: bool):
            return make_block(H, heads, ffn, cfg.hidden_act, cfg.dropout, cfg.attention_dropout, eps,
                              causal=decoder, cross=decoder, ff_dropout=0.0)

        dec_layers = cfg.decoder_layers or cfg.num_layers
        self.encoder_embeddings = embeddings(shared)
        self.encoder = Stack([block(cfg.num_heads, cfg.intermediate_size, False) for _ in range(cfg.num_layers)])
        self.decoder_embeddings = embeddings(target)
        self.decoder = Stack([block(cfg.decoder_heads or cfg.num_heads,
                                    cfg.decoder_intermediate_size or cfg.intermediate_size, True)
                              for _ in range(dec_layers)])


class Seq2SeqLM(nn.Module):
    """BART (task "lm": BartForConditionalGeneration, tied LM head + final_logits_bias; "base": BartModel) and the
    original Transformer (MarianMTModel / MarianModel), which differ only in `layout` and the config.

    forward(input_ids (B, S), attention_mask (B, S), decoder_input_ids (B, T) | None, ...) -> ModelOutput with
    logits (B, T, V), last_hidden_state (decoder, (B, T, C)), encoder_last_hidden_state (B, S, C) and, when
    asked, encoder_hidden_states / decoder_hidden_states. Without decoder_input_ids the decoder reads labels
    (else input_ids) shifted right behind decoder_start_token_id, as in transformers.
    """

    def __init__(self, cfg: ModelConfig, task: str = "lm", layout: Seq2SeqLayout = BART_LAYOUT) -> None:
        super().__init__()
        if task not in SEQ2SEQ_TASKS:
            raise InputError(f"unknown task {task!r} for {cfg.family}; expected one of {SEQ2SEQ_TASKS}")
        self.config, self.task, self.family, self.layout = cfg, task, get_family(cfg.family), layout
        self.backbone = Seq2SeqBackbone(cfg, layout)
        self.heads = nn.ModuleDict({"lm": TiedLMHead(self.target_vocab_size, bias=True)} if task == "lm" else {})
        init_weights(self)

    @property
    def target_vocab_size(self) -> int:
        """The decoder's (and LM head's) vocabulary: the shared one unless the config gives decoder_vocab_size."""
        return self.config.decoder_vocab_size or self.config.vocab_size

    @property
    def max_tokens(self) -> int:
        """The longest source, and the longest decoder sequence (start token + generated), the positions allow."""
        return self.backbone.encoder_embeddings.max_tokens

    def input_embeddings(self) -> nn.Embedding:
        """The source token table (also the target's when the vocabulary is shared)."""
        return self.backbone.encoder_embeddings.word

    def output_embeddings(self) -> nn.Embedding:
        """The target token table: the decoder reads it and the LM head is tied to it."""
        return self.backbone.decoder_embeddings.word

    def new_cache(self) -> DecoderCache:
        """An empty key/value cache for `decode(..., cache=)` (self- and cross-attention of every layer)."""
        return DecoderCache(len(self.backbone.decoder.blocks), cross=True)

    def _check_length(self, n: int, what: str) -> None:
        if n > self.max_tokens:
            raise InputError(f"{what} of {n} tokens is longer than the model's {self.max_tokens} positions; "
                             "truncate it")

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               output_hidden_states: bool = False, output_attentions: bool = False):
        """(B, S) source ids -> ((B, S, C), hidden states or None, attentions or None)."""
        self._check_length(input_ids.shape[1], "source")
        x = self.backbone.encoder_embeddings(input_ids)
        return self.backbone.encoder(x, additive_mask(attention_mask, x.dtype),
                                     output_hidden_states=output_hidden_states, output_attentions=output_attentions)

    def decode(self, decoder_input_ids: torch.Tensor, context: torch.Tensor,
               attention_mask: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
               output_hidden_states: bool = False, output_attentions: bool = False,
               cache: DecoderCache | None = None):
        """(B, T) decoder ids over the encoder output context (B, S, C) -> ((B, T, C), hidden, attentions).

        attention_mask (B, S) masks the source; decoder_attention_mask (B, T_past + T) the decoder's own padding.
        With a cache, decoder_input_ids are only the new tokens and positions continue after the cached ones.
        """
        past = len(cache) if cache is not None else 0
        t = decoder_input_ids.shape[1]
        self._check_length(past + t, "decoder sequence")
        positions = torch.arange(past, past + t, device=decoder_input_ids.device)[None, :]
        x = self.backbone.decoder_embeddings(decoder_input_ids, position_ids=positions)  # (B, T, C)
        return self.backbone.decoder(x, additive_mask(decoder_attention_mask, x.dtype), context,
                                     additive_mask(attention_mask, x.dtype), output_hidden_states,
                                     output_attentions, cache=cache)

    def _start_id(self) -> int:
        start = self.config.decoder_start_token_id
        if start is None:
            raise InputError("the config has no decoder_start_token_id; pass decoder_input_ids")
        return start

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                decoder_input_ids: torch.Tensor | None = None, decoder_attention_mask: torch.Tensor | None = None,
                labels: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False) -> ModelOutput:
        if decoder_input_ids is None:
            decoder_input_ids = shift_right(labels if labels is not None else input_ids, self._start_id(),
                                            self.config.pad_token_id)
        enc, enc_hidden, enc_attns = self.encode(input_ids, attention_mask, output_hidden_states, output_attentions)
        x, dec_hidden, dec_attns = self.decode(decoder_input_ids, enc, attention_mask, decoder_attention_mask,
                                               output_hidden_states, output_attentions)
        out = ModelOutput(last_hidden_state=x, encoder_last_hidden_state=enc, encoder_hidden_states=enc_hidden,
                          decoder_hidden_states=dec_hidden, encoder_attentions=enc_attns, attentions=dec_attns)
        if "lm" in self.heads:
            out.logits = self.heads["lm"](x, self.output_embeddings().weight)  # (B, T, V)
        return out

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 max_new_tokens: int = 20, do_sample: bool = False, num_beams: int = 1, temperature: float = 1.0,
                 top_k: int | None = 50, top_p: float = 1.0, eos_token_id: int | None = None,
                 pad_token_id: int | None = None, generator: torch.Generator | None = None,
                 length_penalty: float = 1.0, early_stopping: bool | str = False,
                 forced_eos_token_id: int | None = None, use_cache: bool = True, repetition_penalty: float = 1.0,
                 no_repeat_ngram_size: int = 0, on_tokens: Callable[[torch.Tensor], None] | None = None,
                 min_new_tokens: int = 0) -> torch.Tensor:
        """Generate a target for each source of input_ids (B, S): returns (B, 1 + generated) ids that start with
        decoder_start_token_id, as transformers returns them.

        attention_mask (B, S) marks source padding (None: none). eos, pad and forced-eos ids default to the
        config's; forced_eos_token_id (BART's config sets it) makes the last allowed new token that one. The
        other settings are those of CausalLM.generate and mean what they mean in transformers (the repetition
        penalty and the n-gram ban look at the decoder's tokens, the start token included, not the source).
        min_new_tokens: eos is barred until that many tokens have been generated (transformers' min_new_tokens).
        """
        s = prepare(self, input_ids, attention_mask, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    num_beams=num_beams, temperature=temperature, top_k=top_k, top_p=top_p,
                    eos_token_id=eos_token_id, pad_token_id=pad_token_id, forced_eos_token_id=forced_eos_token_id,
                    length_penalty=length_penalty, early_stopping=early_stopping,
                    repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                    min_new_tokens=min_new_tokens)
        self._check_length(input_ids.shape[1], "source")
        if 1 + max_new_tokens > self.max_tokens:
            raise InputError(f"max_new_tokens={max_new_tokens} and the start token need {1 + max_new_tokens} "
                             f"decoder positions; the model has {self.max_tokens}")
        dec = _Seq2SeqDecoding(self, input_ids, attention_mask, num_beams, use_cache)
        return search(dec, s, generator, on_tokens)


class _Seq2SeqDecoding:
    """A generation in progress: the encoder output (computed once), the decoder tokens so far, the cache."""

    def __init__(self, model: Seq2SeqLM, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 num_beams: int, use_cache: bool) -> None:
        self.model = model
        enc = model.encode(input_ids, attention_mask)[0]
        # beams of one row share its source, and reorder only within the row: context needs no reordering
        self.context = enc.repeat_interleave(num_beams, dim=0)  # (N, S, C)
        self.mask = None if attention_mask is None else attention_mask.repeat_interleave(num_beams, dim=0)
        self.tokens = torch.full((self.context.shape[0], 1), model._start_id(), dtype=torch.long,
                                 device=input_ids.device)
        self.prompt_padding = None  # the decoder's tokens start with the start token: no padding
        self.cache = model.new_cache() if use_cache else None
        self.seen: torch.Tensor | None = None  # (N, T) decoder tokens fed so far

    def logits(self, new: torch.Tensor) -> torch.Tensor:
        self.seen = new if self.seen is None else torch.cat([self.seen, new], dim=1)
        ids = self.seen if self.cache is None else new  # no cache: recompute the whole sequence
        x = self.model.decode(ids, self.context, self.mask, cache=self.cache)[0][:, -1]  # (N, C)
        return self.model.heads["lm"](x, self.model.output_embeddings().weight)

    def reorder(self, index: torch.Tensor) -> None:
        self.seen = self.seen[index]
        if self.cache is not None:
            self.cache.reorder(index)
