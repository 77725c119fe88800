"""BERT (Devlin et al. 2019): post-LN encoder, WordPiece, MLM + NSP pretraining."""
from __future__ import annotations

from bertkit.models.family import (BERT_EMBEDDING_KEYS, Family, bert_layer_keys, common_from_hf, common_to_hf,
                                   register)

FAMILY = register(Family(
    name="bert", arch_prefix="Bert", base_prefix="bert.",
    pooler_tasks=frozenset({"base", "pretraining", "classification"}),
    pretraining_heads=("mlm", "nsp"),
    classifier_act=None, classifier_dropout_first=True,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,
    config_from_hf=lambda d: common_from_hf(d, "bert"),
    config_to_hf=lambda c: common_to_hf(c, "bert"),
    backbone_keys=lambda c: BERT_EMBEDDING_KEYS + bert_layer_keys(c) + [("pooler.dense", "pooler.dense")],
    head_keys={
        "mlm": [("cls.predictions.transform.dense", "mlm.dense"), ("cls.predictions.transform.LayerNorm", "mlm.norm"),
                ("cls.predictions.bias", "mlm.bias")],
        "nsp": [("cls.seq_relationship", "nsp.proj")],
        "classification": [("classifier", "classification.out")],
        "token_classification": [("classifier", "token_classification.proj")],
        "qa": [("qa_outputs", "qa.proj")],
    },
))
