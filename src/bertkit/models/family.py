"""What distinguishes one member of the BERT family from another, as data (no copied layers).

Each family module (bert.py, roberta.py, ...) registers a Family: its Hugging Face names, which heads
its architectures carry, the shape of its classifier and MLM heads, and the explicit key map between
Hugging Face parameter names and bertkit's.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.models.config import ModelConfig

# Hugging Face architecture suffix -> bertkit task
ARCH_SUFFIXES = {
    "Model": "base", "ForMaskedLM": "mlm", "ForPreTraining": "pretraining",
    "ForSequenceClassification": "classification", "ForTokenClassification": "token_classification",
    "ForQuestionAnswering": "qa",
}


@dataclass(eq=False)
class Family:
    name: str                                   # bertkit name, also HF model_type
    arch_prefix: str                            # "Bert" in BertForMaskedLM
    base_prefix: str                            # "bert." in bert.encoder.layer.0...
    pooler_tasks: frozenset[str]                # tasks whose HF class has a pooler
    pretraining_heads: tuple[str, ...]          # heads of <Prefix>ForPreTraining
    classifier_act: str | None                  # None: linear on the pooled vector
    classifier_dropout_first: bool
    mlm_out_dim: Callable[[ModelConfig], int]
    mlm_act: Callable[[ModelConfig], str]
    config_from_hf: Callable[[dict[str, Any]], ModelConfig]
    config_to_hf: Callable[[ModelConfig], dict[str, Any]]
    backbone_keys: Callable[[ModelConfig], list[tuple[str, str]]]  # (hf name, bertkit name), no prefix
    head_keys: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # task -> (hf, ours)
    model_types: tuple[str, ...] = ()
    always_project: bool = False                # ALBERT maps E -> H even when E == H
    # XLM: the segment table holds languages, read from forward(langs=...); token_type_ids are then, as in
    # transformers, looked up in the token table. "token_type_ids": BERT's segments.
    segment_input: str = "token_type_ids"
    # XLM: padded positions are zeros after the embeddings and after every layer, and without an attention_mask
    # the first (input_ids != pad).sum() positions of a row are its tokens
    zero_padding: bool = False
    mlm_transform: bool = True                  # False: the MLM head is the tied projection + a bias alone (XLM)
    # Generative members (GPT-2, BART) are models of their own class with their own architecture names, and
    # their checkpoints may store tensors in another layout (GPT-2's Conv1D: transposed, Q/K/V in one matrix):
    build: Callable[[ModelConfig, str], nn.Module] | None = None      # None: models.model.Model
    arch_suffixes: dict[str, str] | None = None                        # None: ARCH_SUFFIXES
    state_from_hf: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None  # HF -> key-map layout
    state_to_hf: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None    # and back

    @property
    def suffixes(self) -> dict[str, str]:
        """Hugging Face architecture suffix -> bertkit task, for this family."""
        return self.arch_suffixes if self.arch_suffixes is not None else ARCH_SUFFIXES

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks a model of this family can be built for."""
        from bertkit.models.config import TASKS

        return tuple(dict.fromkeys(self.suffixes.values())) if self.arch_suffixes is not None else TASKS

    def arch_name(self, task: str) -> str:
        if task == "rtd":
            return f"{self.arch_prefix}ForPreTraining"
        suffix = {v: k for k, v in self.suffixes.items()}[task]
        return f"{self.arch_prefix}{suffix}"


FAMILIES: dict[str, Family] = {}


def register(f: Family) -> Family:
    for t in (f.name, *f.model_types):
        FAMILIES[t] = f
    return f


def get_family(name: str) -> Family:
    from bertkit.models import albert, bart, bert, distilbert, electra, gpt2, marian, roberta, xlm  # noqa: F401  (registration)

    try:
        return FAMILIES[name]
    except KeyError:
        raise CheckpointError(f"unknown model family {name!r}; bertkit knows {sorted(FAMILIES)}") from None


def resolve_architecture(hf_config: dict[str, Any]) -> tuple[Family, str]:
    """config.json -> (family, task) from `architectures` (first entry) or, failing that, `model_type`."""
    get_family("bert")  # make sure every family is registered
    archs = hf_config.get("architectures") or []
    for arch in archs:
        for fam in sorted(set(FAMILIES.values()), key=lambda f: -len(f.arch_prefix)):
            if arch.startswith(fam.arch_prefix):
                rest = arch[len(fam.arch_prefix):]
                if rest in fam.suffixes:
                    task = fam.suffixes[rest]
                    if task == "pretraining" and fam.pretraining_heads == ("rtd",):
                        task = "rtd"
                    return fam, task
    mt = hf_config.get("model_type")
    if mt in FAMILIES:
        return FAMILIES[mt], "base"
    what = f"architectures={archs}" if archs else f"model_type={mt!r}"
    known = sorted({f.arch_prefix + s for f in set(FAMILIES.values()) for s in f.suffixes})
    raise CheckpointError(f"unknown architecture ({what}); bertkit supports: {', '.join(known)}")


def common_from_hf(d: dict[str, Any], family: str, **over: Any) -> ModelConfig:
    """The BERT-style config.json keys shared by bert, roberta, albert and electra."""
    used = {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "max_position_embeddings", "type_vocab_size", "hidden_act", "hidden_dropout_prob",
            "attention_probs_dropout_prob", "classifier_dropout", "layer_norm_eps", "pad_token_id",
            "num_labels", "id2label", "label2id", "problem_type", "architectures", "model_type"}
    id2label = d.get("id2label")
    kw: dict[str, Any] = dict(
        family=family, vocab_size=d["vocab_size"], hidden_size=d.get("hidden_size", 768),
        num_layers=d.get("num_hidden_layers", 12), num_heads=d.get("num_attention_heads", 12),
        intermediate_size=d.get("intermediate_size", 3072), max_positions=d.get("max_position_embeddings", 512),
        type_vocab_size=d.get("type_vocab_size", 2), hidden_act=d.get("hidden_act", "gelu"),
        dropout=d.get("hidden_dropout_prob", 0.1), attention_dropout=d.get("attention_probs_dropout_prob", 0.1),
        classifier_dropout=d.get("classifier_dropout"), layer_norm_eps=d.get("layer_norm_eps", 1e-12),
        pad_token_id=d.get("pad_token_id") if d.get("pad_token_id") is not None else 0,
        num_labels=len(id2label) if id2label else d.get("num_labels", 2),
        id2label={int(k): v for k, v in id2label.items()} if id2label else None,
        problem_type=d.get("problem_type"),
        extra={k: v for k, v in d.items() if k not in used},
    )
    kw.update(over)
    return ModelConfig(**kw)


def common_to_hf(c: ModelConfig, model_type: str) -> dict[str, Any]:
    d = dict(c.extra)
    d.update(
        model_type=model_type, vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
        num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size,
        max_position_embeddings=c.max_positions, type_vocab_size=c.type_vocab_size, hidden_act=c.hidden_act,
        hidden_dropout_prob=c.dropout, attention_probs_dropout_prob=c.attention_dropout,
        classifier_dropout=c.classifier_dropout, layer_norm_eps=c.layer_norm_eps, pad_token_id=c.pad_token_id,
    )
    labels = c.id2label or {i: f"LABEL_{i}" for i in range(c.num_labels)}
    d["id2label"] = {str(k): v for k, v in labels.items()}
    d["label2id"] = {v: int(k) for k, v in labels.items()}
    if c.problem_type:
        d["problem_type"] = c.problem_type
    return d


def bert_layer_keys(cfg: ModelConfig, layer: str = "encoder.layer") -> list[tuple[str, str]]:
    """Per-layer names shared by BERT, RoBERTa, XLM-R and ELECTRA."""
    pairs = []
    for i in range(cfg.num_layers):
        a, b = f"{layer}.{i}.", f"encoder.blocks.{i}."
        for hf, ours in [("attention.self.query", "attn.q"), ("attention.self.key", "attn.k"),
                         ("attention.self.value", "attn.v"), ("attention.output.dense", "attn.o"),
                         ("attention.output.LayerNorm", "norm1"), ("intermediate.dense", "ff.fc1"),
                         ("output.dense", "ff.fc2"), ("output.LayerNorm", "norm2")]:
            pairs.append((a + hf, b + ours))
    return pairs


BERT_EMBEDDING_KEYS = [("embeddings.word_embeddings", "embeddings.word"),
                       ("embeddings.position_embeddings", "embeddings.position"),
                       ("embeddings.token_type_embeddings", "embeddings.segment"),
                       ("embeddings.LayerNorm", "embeddings.norm")]
