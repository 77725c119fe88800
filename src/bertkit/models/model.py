"""The encoder backbone and the task model every family member is built as."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import nn

from bertkit.errors import InputError
from bertkit.models.config import TASKS, ModelConfig
from bertkit.models.family import Family, get_family
from bertkit.nn.attention import additive_mask, check_output_attentions
from bertkit.nn.embeddings import Embeddings
from bertkit.nn.heads import ClassifierHead, LinearHead, MaskedLMHead, Pooler, ReplacedTokenHead, TiedLMHead
from bertkit.nn.pooling import pool
from bertkit.nn.stack import Stack, make_block


@dataclass
class ModelOutput:
    """Outputs under the names users know from transformers; fields a model does not produce are None."""

    last_hidden_state: torch.Tensor | None = None        # (B, T, H)
    pooler_output: torch.Tensor | None = None            # (B, H)
    hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings + every layer, each (B, T, H)
    attentions: tuple[torch.Tensor, ...] | None = None   # each (B, heads, T, T)
    logits: torch.Tensor | None = None                   # task logits (MLM: (B, T, V); RTD: (B, T))
    prediction_logits: torch.Tensor | None = None        # MLM logits of a pretraining model
    seq_relationship_logits: torch.Tensor | None = None  # NSP (B, 2)
    sop_logits: torch.Tensor | None = None               # ALBERT sentence order (B, 2)
    start_logits: torch.Tensor | None = None             # QA (B, T)
    end_logits: torch.Tensor | None = None
    # encoder-decoders (BART): last_hidden_state and attentions are the decoder's
    encoder_last_hidden_state: torch.Tensor | None = None         # (B, S, H)
    encoder_hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings + every encoder layer
    decoder_hidden_states: tuple[torch.Tensor, ...] | None = None  # embeddings + every decoder layer
    encoder_attentions: tuple[torch.Tensor, ...] | None = None

    def __getitem__(self, key: str) -> torch.Tensor:
        return getattr(self, key)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, unit LayerNorm."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            if m.weight.requires_grad:
                nn.init.normal_(m.weight, std=std)
                if m.padding_idx is not None:
                    m.weight.data[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class Encoder(nn.Module):
    """Embeddings -> [projection E -> H] -> stack of post-LN blocks -> [pooler]."""

    def __init__(self, cfg: ModelConfig, pooler: bool) -> None:
        super().__init__()
        fam = get_family(cfg.family)
        self.langs = fam.segment_input == "langs"  # XLM: the segment table holds languages
        self.zero_padding, self.causal, self.pad_id = fam.zero_padding, cfg.causal, cfg.pad_token_id
        self.embeddings = Embeddings(cfg.vocab_size, cfg.emb_dim, cfg.max_positions, cfg.type_vocab_size,
                                     cfg.pad_token_id, cfg.layer_norm_eps, cfg.dropout, cfg.sinusoidal,
                                     cfg.position_offset, segment_default=None if self.langs else 0)
        project = cfg.emb_dim != cfg.hidden_size or fam.always_project
        self.proj = nn.Linear(cfg.emb_dim, cfg.hidden_size) if project else None
        shared = cfg.family == "albert"
        n_blocks = cfg.num_hidden_groups * cfg.inner_group_num if shared else cfg.num_layers
        blocks = [make_block(cfg.hidden_size, cfg.num_heads, cfg.intermediate_size, cfg.hidden_act, cfg.dropout,
                             cfg.attention_dropout, cfg.layer_norm_eps, causal=cfg.causal) for _ in range(n_blocks)]
        schedule = None
        if shared:  # layer i runs every block of group int(i / (L / groups))
            g, inner = cfg.num_hidden_groups, cfg.inner_group_num
            schedule = lambda i: [int(i / (cfg.num_layers / g)) * inner + j for j in range(inner)]
        self.encoder = Stack(blocks, cfg.num_layers, schedule)
        self.pooler = Pooler(cfg.hidden_size) if pooler else None

    @property
    def max_tokens(self) -> int:
        return self.embeddings.max_tokens

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
                output_attentions=False, langs=None, position_ids=None):
        if self.langs:  # XLM, as transformers computes it: token_type_ids index the token table
            x = self.embeddings(input_ids, langs, position_ids=position_ids, added_token_ids=token_type_ids)
        else:
            x = self.embeddings(input_ids, token_type_ids, position_ids=position_ids)  # (B, T, E)
        if self.proj is not None:
            x = self.proj(x)  # (B, T, H)
        keep = None
        if self.zero_padding:
            if attention_mask is None:  # a row's tokens are its first (input_ids != pad).sum() positions
                t = input_ids.shape[1]
                real = input_ids != self.pad_id if self.pad_id is not None else torch.ones_like(input_ids).bool()
                attention_mask = torch.arange(t, device=input_ids.device)[None, :] < real.sum(1)[:, None]
            if attention_mask.dim() == 2:
                keep = attention_mask[:, :, None].to(x.dtype)  # (B, T, 1)
                x = x * keep
        bias = None if self.causal else additive_mask(attention_mask, x.dtype)
        return self.encoder(x, bias, output_hidden_states=output_hidden_states,
                            output_attentions=output_attentions, keep=keep)


class Model(nn.Module):
    """An encoder of the BERT family with the heads of one task.

    forward(input_ids, attention_mask=None, token_type_ids=None, output_hidden_states=False,
            output_attentions=False, masked_positions=None, langs=None, position_ids=None) -> ModelOutput
    `masked_positions` (bool (B, T)) makes the MLM head run only there: logits become (M, V).
    `langs` (B, T): XLM's language ids (its language table; None adds no language vector).
    `position_ids` (B, T): explicit positions from 0 (XLM's TLM restarts them at the second sentence); default 0..T-1.
    output_attentions: True gives each layer's attention probabilities, "scores" its pre-softmax scores
    q k^T / sqrt(d) + mask bias (TinyBERT's attention loss); either way off the fused attention path.
    The model never computes a loss; objectives/ do.
    """

    def __init__(self, cfg: ModelConfig, task: str = "base") -> None:
        super().__init__()
        if task not in TASKS:
            raise InputError(f"unknown task {task!r}; expected one of {TASKS}")
        cfg.classifier_pooling  # noqa: B018  (raises on an unknown value: fail at load, not at use)
        fam: Family = get_family(cfg.family)
        self.config, self.task, self.family = cfg, task, fam
        self.backbone = Encoder(cfg, pooler=task in fam.pooler_tasks)
        heads = fam.pretraining_heads if task == "pretraining" else (task,)
        H, drop = cfg.hidden_size, cfg.head_dropout
        self.heads = nn.ModuleDict()
        for h in heads:
            if h == "mlm" and not fam.mlm_transform:  # XLM: the tied projection with a trained bias
                self.heads["mlm"] = TiedLMHead(cfg.vocab_size, learned_bias=True)
            elif h == "mlm":
                self.heads["mlm"] = MaskedLMHead(H, fam.mlm_out_dim(cfg), cfg.vocab_size, fam.mlm_act(cfg),
                                                 cfg.layer_norm_eps)
            elif h in ("nsp", "sop"):
                self.heads[h] = LinearHead(H, 2, drop if h == "sop" else 0.0)
            elif h == "classification":
                self.heads[h] = ClassifierHead(H, cfg.num_labels, drop, fam.classifier_act,
                                               fam.classifier_dropout_first)
            elif h == "token_classification":
                self.heads[h] = LinearHead(H, cfg.num_labels, drop)
            elif h == "qa":
                self.heads[h] = LinearHead(H, 2, drop if cfg.family == "distilbert" else 0.0)
            elif h == "rtd":
                self.heads[h] = ReplacedTokenHead(H, cfg.hidden_act)
        init_weights(self)

    @property
    def max_tokens(self) -> int:
        """The longest input (special tokens included) the position table allows."""
        return self.backbone.max_tokens

    def input_embeddings(self) -> nn.Embedding:
        return self.backbone.embeddings.word

    @property
    def n_langs(self) -> int | None:
        """The languages of an XLM model (config n_langs), None for a family without languages."""
        if not self.backbone.langs:
            return None
        return self.config.type_vocab_size or int(self.config.extra.get("n_langs", 1))

    def lang_id(self, lang: str | int | None) -> int | None:
        """The language id of `lang` (a name in config lang2id, or an id) for an XLM model; None stays None.
        InputError (one line) for a model without languages or a language it does not have."""
        if lang is None:
            return None
        n = self.n_langs
        if n is None:
            raise InputError(f"lang= is for XLM models (language embeddings); this {self.config.family} "
                             "model has none")
        lang2id = self.config.extra.get("lang2id") or {}
        if isinstance(lang, str):
            if lang not in lang2id:
                raise InputError(f"language {lang!r} is not one of the model's languages "
                                 f"({', '.join(lang2id) or 'none named in config lang2id; pass an id'})")
            lang = int(lang2id[lang])
        if isinstance(lang, bool) or not isinstance(lang, int) or not 0 <= lang < n:
            raise InputError(f"language id {lang!r} is outside the model's n_langs={n} languages (0..{n - 1})")
        return lang

    def _check_langs(self, input_ids: torch.Tensor, langs: torch.Tensor) -> None:
        n = self.n_langs
        if n is None:
            raise InputError(f"langs= holds XLM language ids; a {self.config.family} model has no language "
                             "embeddings (segments go in token_type_ids)")
        if tuple(langs.shape) != tuple(input_ids.shape):
            raise InputError(f"langs has shape {tuple(langs.shape)}, input_ids {tuple(input_ids.shape)}: one "
                             "language id per token")
        bad = langs[(langs < 0) | (langs >= n)]
        if bad.numel():
            raise InputError(f"language id {int(bad[0])} is outside the model's n_langs={n} languages "
                             f"(ids 0..{n - 1})")

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, output_hidden_states: bool = False,
                output_attentions: bool | str = False, masked_positions: torch.Tensor | None = None,
                langs: torch.Tensor | None = None, position_ids: torch.Tensor | None = None) -> ModelOutput:
        if output_attentions is not False and output_attentions is not True:
            try:
                check_output_attentions(output_attentions)
            except ValueError as e:
                raise InputError(str(e)) from None
        if input_ids.shape[1] > self.max_tokens:
            raise InputError(f"sequence of {input_ids.shape[1]} tokens is longer than the model's "
                             f"{self.max_tokens} positions; truncate it or embed by windows")
        if langs is not None:
            self._check_langs(input_ids, langs)
            if self.backbone.embeddings.segment is None:
                langs = None  # n_langs 1 or use_lang_emb false: transformers adds no language vector either
        x, hidden, attns = self.backbone(input_ids, attention_mask, token_type_ids, output_hidden_states,
                                         output_attentions, langs=langs, position_ids=position_ids)
        out = ModelOutput(last_hidden_state=x, hidden_states=hidden, attentions=attns)
        if self.backbone.pooler is not None:
            out.pooler_output = self.backbone.pooler(x)
        for name, head in self.heads.items():
            if name == "mlm":
                h = x[masked_positions] if masked_positions is not None else x  # (M, H): gather first
                logits = head(h, self.input_embeddings().weight)
                if self.task == "pretraining":
                    out.prediction_logits = logits
                else:
                    out.logits = logits
            elif name == "nsp":
                out.seq_relationship_logits = head(out.pooler_output)
            elif name == "sop":
                out.sop_logits = head(out.pooler_output)
            elif name == "classification":
                if self.config.classifier_pooling == "mean":
                    mean = x.mean(1) if attention_mask is None else pool(x, attention_mask, "mean")
                    out.logits = head.from_vector(mean)
                else:
                    out.logits = head(x, out.pooler_output)
            elif name == "qa":
                start, end = head(x).split(1, dim=-1)
                out.start_logits, out.end_logits = start.squeeze(-1), end.squeeze(-1)
            else:  # token_classification, rtd
                out.logits = head(x)
        return out


def build_model(cfg: ModelConfig, task: str = "base") -> Model:
    """Builder: a freshly initialised model for `task` (see models.config.TASKS)."""
    return Model(cfg, task)
