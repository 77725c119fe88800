"""A decoder-only language model (GPT-2): embeddings -> causal pre-LN Stack -> LM head tied to the embeddings.

Composed from the same nn/ parts as the encoders; models/gpt2.py is the preset and the checkpoint key map.
"""
from __future__ import annotations

from collections.abc import Callable

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
from bertkit.nn.layout import decode_layout
from bertkit.nn.stack import DecoderCache, Stack, make_block

CAUSAL_TASKS = ("base", "lm")


class DecoderBackbone(nn.Module):
    """Token + learned positions (no LayerNorm) -> L pre-LN causal blocks -> final LayerNorm."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        H, eps = cfg.hidden_size, cfg.layer_norm_eps
        self.embeddings = Embeddings(cfg.vocab_size, H, cfg.max_positions, type_vocab_size=0, pad_id=None,
                                     layer_norm_eps=eps, dropout=cfg.dropout, norm=False)
        blocks = [make_block(H, cfg.num_heads, cfg.intermediate_size, cfg.hidden_act, cfg.dropout,
                             cfg.attention_dropout, eps, pre_ln=True, causal=True) for _ in range(cfg.num_layers)]
        self.decoder = Stack(blocks, final_norm=nn.LayerNorm(H, eps=eps))


class CausalLM(nn.Module):
    """GPT-2 (task "lm": with the tied LM head; "base": hidden states only).

    forward(input_ids (B, T), attention_mask (B, T_past + T) = None, position_ids (B|1, T) = None, ...)
    -> ModelOutput(logits (B, T, V), last_hidden_state, hidden_states); compute_logits=False leaves the logits out
    (training: objectives/clm.py takes the loss straight from the hidden states). Positions default to
    T_past .. T_past + T - 1 whatever the padding, as in transformers; generate() derives them from the mask.
    """

    def __init__(self, cfg: ModelConfig, task: str = "lm") -> None:
        super().__init__()
        if task not in CAUSAL_TASKS:
            raise InputError(f"unknown task {task!r} for {cfg.family}; expected one of {CAUSAL_TASKS}")
        self.config, self.task, self.family = cfg, task, get_family(cfg.family)
        self.backbone = DecoderBackbone(cfg)
        self.heads = nn.ModuleDict({"lm": TiedLMHead(cfg.vocab_size)} if task == "lm" else {})
        init_weights(self)

    @property
    def max_tokens(self) -> int:
        """The longest sequence (prompt + generated tokens) the position table allows."""
        return self.backbone.embeddings.max_tokens

    def input_embeddings(self) -> nn.Embedding:
        return self.backbone.embeddings.word

    def new_cache(self) -> DecoderCache:
        """An empty key/value cache for `forward(..., cache=)`: feed the prompt once, then one token a step."""
        return DecoderCache(self.config.num_layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool = False, cache: DecoderCache | None = None,
                compute_logits: bool = True) -> ModelOutput:
        past = len(cache) if cache is not None else 0
        if past + input_ids.shape[1] > self.max_tokens:
            raise InputError(f"sequence of {past + input_ids.shape[1]} tokens is longer than the model's "
                             f"{self.max_tokens} positions; shorten the prompt or max_new_tokens")
        if position_ids is None:
            position_ids = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)[None, :]
        x = self.backbone.embeddings(input_ids, position_ids=position_ids)  # (B, T, C)
        bias = additive_mask(attention_mask, x.dtype)  # (B, 1, 1, T_past + T); the blocks add the causal part
        x, hidden, attns = self.backbone.decoder(x, bias, output_hidden_states=output_hidden_states,
                                                 output_attentions=output_attentions, cache=cache)
        out = ModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attns)
        if "lm" in self.heads and compute_logits:  # False: the caller takes the loss from the hidden states
            out.logits = self.heads["lm"](x, self.input_embeddings().weight)  # (B, T, V)
        return out

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 max_new_tokens: int = 20, do_sample: bool = False, num_beams: int = 1, temperature: float = 1.0,
                 top_k: int | None = 50, top_p: float = 1.0, eos_token_id: int | None = None,
                 pad_token_id: int | None = None, generator: torch.Generator | None = None,
                 length_penalty: float = 1.0, early_stopping: bool | str = False,
                 use_cache: bool = True, repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                 on_tokens: Callable[[torch.Tensor], None] | None = None, min_new_tokens: int = 0) -> torch.Tensor:
        """Continue each prompt of input_ids (B, T): returns (B, T + generated) ids, prompt included.

        Left-pad batches of prompts of different lengths (attention_mask 0 on the padding; None: no padding).
        eos_token_id / pad_token_id default to the config's; rows that end early are filled with the pad id (else
        eos). Greedy by default; do_sample=True draws with `generator` after temperature, top_k, top_p; num_beams
        > 1 runs beam search. repetition_penalty (> 1 discourages tokens already in the sequence, prompt included)
        and no_repeat_ngram_size (no n-gram twice) too. The settings mean what they mean in transformers' generate.
        on_tokens (greedy and sampling): called with each step's (B,) new tokens, for streaming them.
        """
        s = prepare(self, input_ids, attention_mask, max_new_tokens=max_new_tokens, do_sample=do_sample,
                    num_beams=num_beams, temperature=temperature, top_k=top_k, top_p=top_p,
                    eos_token_id=eos_token_id, pad_token_id=pad_token_id, length_penalty=length_penalty,
                    early_stopping=early_stopping, repetition_penalty=repetition_penalty,
                    no_repeat_ngram_size=no_repeat_ngram_size, min_new_tokens=min_new_tokens)
        if input_ids.shape[1] + max_new_tokens > self.max_tokens:
            raise InputError(f"a prompt of {input_ids.shape[1]} tokens and max_new_tokens={max_new_tokens} need "
                             f"{input_ids.shape[1] + max_new_tokens} positions; the model has {self.max_tokens}")
        if not self.training and use_cache and not torch.is_grad_enabled():
            decode_layout(self)  # one-row products read (in, out)-stored weights faster (nn/layout.py)
        return search(_CausalDecoding(self, input_ids, attention_mask, num_beams, use_cache), s, generator,
                      on_tokens)


class _CausalDecoding:
    """A generation in progress: the growing attention mask, positions from it (left padding), the cache."""

    def __init__(self, model: CausalLM, input_ids: torch.Tensor, attention_mask: torch.Tensor | None,
                 num_beams: int, use_cache: bool) -> None:
        self.model = model
        self.tokens = input_ids.repeat_interleave(num_beams, dim=0)  # (N, T0), N = B * beams
        mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
        self.mask = mask.to(input_ids.device).long().repeat_interleave(num_beams, dim=0)
        self.prompt_padding = (self.mask != 0).int().argmax(dim=1)  # (N,) leading pad positions of each row
        self.cache = model.new_cache() if use_cache else None
        self.seen: torch.Tensor | None = None  # (N, T) every token fed so far

    def logits(self, new: torch.Tensor) -> torch.Tensor:
        if self.seen is not None:
            self.mask = torch.cat([self.mask, self.mask.new_ones(new.shape)], dim=1)
        self.seen = new if self.seen is None else torch.cat([self.seen, new], dim=1)
        positions = (self.mask.cumsum(-1) - 1).masked_fill(self.mask == 0, 0)  # real positions of left-padded rows
        if self.cache is None:  # recompute the whole sequence: the reference the cache must agree with
            return self.model(self.seen, self.mask, positions).logits[:, -1]
        t = new.shape[1]
        return self.model(new, self.mask, positions[:, -t:], cache=self.cache).logits[:, -1]

    def reorder(self, index: torch.Tensor) -> None:
        self.mask, self.seen = self.mask[index], self.seen[index]
        if self.cache is not None:
            self.cache.reorder(index)
