"""DistilBERT (Sanh et al. 2019): BERT with half the layers, no segment embeddings and no pooler,
trained by distillation from BERT-base."""
from __future__ import annotations

from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, register

_USED = {"vocab_size", "dim", "n_layers", "n_heads", "hidden_dim", "max_position_embeddings", "activation",
         "dropout", "attention_dropout", "seq_classif_dropout", "qa_dropout", "pad_token_id", "sinusoidal_pos_embds",
         "id2label", "label2id", "num_labels", "architectures", "model_type", "problem_type"}


def _from_hf(d: dict) -> ModelConfig:
    id2label = d.get("id2label")
    return ModelConfig(
        family="distilbert", vocab_size=d["vocab_size"], hidden_size=d.get("dim", 768),
        num_layers=d.get("n_layers", 6), num_heads=d.get("n_heads", 12), intermediate_size=d.get("hidden_dim", 3072),
        max_positions=d.get("max_position_embeddings", 512), type_vocab_size=0, hidden_act=d.get("activation", "gelu"),
        dropout=d.get("dropout", 0.1), attention_dropout=d.get("attention_dropout", 0.1),
        classifier_dropout=d.get("seq_classif_dropout", 0.2), layer_norm_eps=1e-12,
        pad_token_id=d.get("pad_token_id", 0) or 0, sinusoidal=bool(d.get("sinusoidal_pos_embds", False)),
        num_labels=len(id2label) if id2label else d.get("num_labels", 2),
        id2label={int(k): v for k, v in id2label.items()} if id2label else None, problem_type=d.get("problem_type"),
        extra={k: v for k, v in d.items() if k not in _USED},
    )


def _to_hf(c: ModelConfig) -> dict:
    d = dict(c.extra)
    labels = c.id2label or {i: f"LABEL_{i}" for i in range(c.num_labels)}
    d.update(model_type="distilbert", vocab_size=c.vocab_size, dim=c.hidden_size, n_layers=c.num_layers,
             n_heads=c.num_heads, hidden_dim=c.intermediate_size, max_position_embeddings=c.max_positions,
             activation=c.hidden_act, dropout=c.dropout, attention_dropout=c.attention_dropout,
             seq_classif_dropout=c.head_dropout, pad_token_id=c.pad_token_id, sinusoidal_pos_embds=c.sinusoidal,
             id2label={str(k): v for k, v in labels.items()}, label2id={v: int(k) for k, v in labels.items()})
    if c.problem_type:
        d["problem_type"] = c.problem_type
    return d


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = [("embeddings.word_embeddings", "embeddings.word"), ("embeddings.position_embeddings", "embeddings.position"),
             ("embeddings.LayerNorm", "embeddings.norm")]
    for i in range(c.num_layers):
        a, b = f"transformer.layer.{i}.", f"encoder.blocks.{i}."
        for hf, ours in [("attention.q_lin", "attn.q"), ("attention.k_lin", "attn.k"), ("attention.v_lin", "attn.v"),
                         ("attention.out_lin", "attn.o"), ("sa_layer_norm", "norm1"), ("ffn.lin1", "ff.fc1"),
                         ("ffn.lin2", "ff.fc2"), ("output_layer_norm", "norm2")]:
            pairs.append((a + hf, b + ours))
    return pairs


FAMILY = register(Family(
    name="distilbert", arch_prefix="DistilBert", base_prefix="distilbert.",
    pooler_tasks=frozenset(), pretraining_heads=("mlm",),
    classifier_act="relu", classifier_dropout_first=False,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys,
    head_keys={
        "mlm": [("vocab_transform", "mlm.dense"), ("vocab_layer_norm", "mlm.norm"), ("vocab_projector.bias", "mlm.bias")],
        "classification": [("pre_classifier", "classification.dense"), ("classifier", "classification.out")],
        "token_classification": [("classifier", "token_classification.proj")],
        "qa": [("qa_outputs", "qa.proj")],
    },
))
