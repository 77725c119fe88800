"""ALBERT (Lan et al. 2020): factorized embeddings (E < H), cross-layer parameter sharing, SOP."""
from __future__ import annotations

from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, common_from_hf, common_to_hf, register


def _from_hf(d: dict) -> ModelConfig:
    return common_from_hf(d, "albert", embedding_size=d.get("embedding_size", 128),
                          hidden_act=d.get("hidden_act", "gelu_new"),
                          classifier_dropout=d.get("classifier_dropout_prob", 0.1),
                          num_hidden_groups=d.get("num_hidden_groups", 1), inner_group_num=d.get("inner_group_num", 1))


def _to_hf(c: ModelConfig) -> dict:
    d = common_to_hf(c, "albert")
    d.pop("classifier_dropout", None)
    d.update(embedding_size=c.emb_dim, classifier_dropout_prob=c.head_dropout,
             num_hidden_groups=c.num_hidden_groups, inner_group_num=c.inner_group_num)
    return d


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = [("embeddings.word_embeddings", "embeddings.word"), ("embeddings.position_embeddings", "embeddings.position"),
             ("embeddings.token_type_embeddings", "embeddings.segment"), ("embeddings.LayerNorm", "embeddings.norm"),
             ("encoder.embedding_hidden_mapping_in", "proj"), ("pooler", "pooler.dense")]
    for g in range(c.num_hidden_groups):
        for j in range(c.inner_group_num):
            a, b = f"encoder.albert_layer_groups.{g}.albert_layers.{j}.", f"encoder.blocks.{g * c.inner_group_num + j}."
            for hf, ours in [("attention.query", "attn.q"), ("attention.key", "attn.k"), ("attention.value", "attn.v"),
                             ("attention.dense", "attn.o"), ("attention.LayerNorm", "norm1"), ("ffn", "ff.fc1"),
                             ("ffn_output", "ff.fc2"), ("full_layer_layer_norm", "norm2")]:
                pairs.append((a + hf, b + ours))
    return pairs


FAMILY = register(Family(
    name="albert", arch_prefix="Albert", base_prefix="albert.",
    pooler_tasks=frozenset({"base", "pretraining", "classification"}),
    pretraining_heads=("mlm", "sop"),
    classifier_act=None, classifier_dropout_first=True,
    mlm_out_dim=lambda c: c.emb_dim, mlm_act=lambda c: c.hidden_act,
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys, always_project=True,
    head_keys={
        "mlm": [("predictions.dense", "mlm.dense"), ("predictions.LayerNorm", "mlm.norm"), ("predictions.bias", "mlm.bias")],
        "sop": [("sop_classifier.classifier", "sop.proj")],
        "classification": [("classifier", "classification.out")],
        "token_classification": [("classifier", "token_classification.proj")],
        "qa": [("qa_outputs", "qa.proj")],
    },
))
