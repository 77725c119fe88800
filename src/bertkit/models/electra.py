"""ELECTRA (Clark et al. 2020): a generator (small MLM) and a discriminator (replaced-token detection)
sharing embeddings; embedding size E may differ from H, with a projection."""
from __future__ import annotations

from bertkit.models.config import ModelConfig
from bertkit.models.family import (BERT_EMBEDDING_KEYS, Family, bert_layer_keys, common_from_hf, common_to_hf,
                                   register)


def _to_hf(c: ModelConfig) -> dict:
    d = common_to_hf(c, "electra")
    d["embedding_size"] = c.emb_dim
    return d


FAMILY = register(Family(
    name="electra", arch_prefix="Electra", base_prefix="electra.",
    pooler_tasks=frozenset(),
    pretraining_heads=("rtd",),
    classifier_act="gelu", classifier_dropout_first=True,
    mlm_out_dim=lambda c: c.emb_dim, mlm_act=lambda c: "gelu",  # ElectraGeneratorPredictions: fixed GELU
    config_from_hf=lambda d: common_from_hf(d, "electra", embedding_size=d.get("embedding_size", 128)),
    config_to_hf=_to_hf,
    backbone_keys=lambda c: BERT_EMBEDDING_KEYS + [("embeddings_project", "proj")] + bert_layer_keys(c),
    head_keys={
        "mlm": [("generator_predictions.dense", "mlm.dense"), ("generator_predictions.LayerNorm", "mlm.norm"),
                ("generator_lm_head.bias", "mlm.bias")],
        "rtd": [("discriminator_predictions.dense", "rtd.dense"),
                ("discriminator_predictions.dense_prediction", "rtd.out")],
        "classification": [("classifier.dense", "classification.dense"), ("classifier.out_proj", "classification.out")],
        "token_classification": [("classifier", "token_classification.proj")],
        "qa": [("qa_outputs", "qa.proj")],
    },
))
