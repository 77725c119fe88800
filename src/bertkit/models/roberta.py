"""RoBERTa (Liu et al. 2019) and XLM-R (Conneau et al. 2020): BERT's encoder with byte-level BPE or
SentencePiece, no NSP, one segment, and position ids that start after the padding index."""
from __future__ import annotations

from bertkit.models.family import (BERT_EMBEDDING_KEYS, Family, bert_layer_keys, common_from_hf, common_to_hf,
                                   register)


def _family(name: str, prefix: str, base: str) -> Family:
    return register(Family(
        name=name, arch_prefix=prefix, base_prefix=base,
        pooler_tasks=frozenset({"base"}),
        pretraining_heads=("mlm",),
        classifier_act="tanh", classifier_dropout_first=True,
        mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: "gelu",  # RobertaLMHead always uses exact GELU
        config_from_hf=lambda d: common_from_hf(d, name, position_offset=True),
        config_to_hf=lambda c: common_to_hf(c, name),
        backbone_keys=lambda c: BERT_EMBEDDING_KEYS + bert_layer_keys(c) + [("pooler.dense", "pooler.dense")],
        head_keys={
            "mlm": [("lm_head.dense", "mlm.dense"), ("lm_head.layer_norm", "mlm.norm"), ("lm_head.bias", "mlm.bias")],
            "classification": [("classifier.dense", "classification.dense"),
                               ("classifier.out_proj", "classification.out")],
            "token_classification": [("classifier", "token_classification.proj")],
            "qa": [("qa_outputs", "qa.proj")],
        },
    ))


FAMILY = _family("roberta", "Roberta", "roberta.")
XLMR_FAMILY = _family("xlm-roberta", "XLMRoberta", "roberta.")
