"""XLM (Lample & Conneau 2019): cross-lingual BERT-style encoders (MLM, TLM and CLM checkpoints).

BERT's post-LN encoder with: a language table (when use_lang_emb and n_langs > 1) that adds a vector per token
like BERT's segment table, indexed by forward(langs=...) instead of token_type_ids; positions from 0, learned or
sinusoidal (interleaved sin/cos); no token scaling; layer_norm_emb on the sum; FFN width 4 x emb_dim with GELU
(gelu_activation) or ReLU; optionally causal self-attention (config `causal`, the CLM models), which in transformers
ignores the padding mask. Padded positions are zeros after the embeddings and after every layer, and without an
attention_mask a row's tokens are its first (input_ids != pad).sum() positions. XLMWithLMHeadModel's head
(`pred_layer`) is the token table itself as the output projection plus a trained bias; adaptive softmax (asm) is
not supported. As in transformers, token_type_ids, if given, are looked up in the token table and added.

Loads and saves XLMModel (task "base"), XLMWithLMHeadModel ("mlm"), XLMForSequenceClassification ("classification":
transformers' sequence summary with its defaults, dropout summary_first_dropout -> Linear(emb_dim, num_labels) on the
first token, no activation), XLMForTokenClassification ("token_classification") and XLMForQuestionAnsweringSimple
("qa"; the beam-search XLMForQuestionAnswering is not supported). This file is the preset and the key map; the model
is models/model.py's Model.
"""
from __future__ import annotations

from typing import Any

from bertkit.errors import CheckpointError
from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, register

# read into ModelConfig fields; n_langs and use_lang_emb stay in `extra` too (a table-less config keeps its n_langs)
_USED = {"vocab_size", "n_words", "emb_dim", "n_layers", "n_heads", "dropout", "attention_dropout", "gelu_activation",
         "sinusoidal_embeddings", "causal", "max_position_embeddings", "layer_norm_eps", "pad_token_id", "pad_index",
         "bos_token_id", "bos_index", "eos_token_id", "eos_index", "architectures", "model_type",
         "summary_first_dropout", "num_labels", "id2label", "label2id", "problem_type"}
# transformers' XLMSequenceSummary settings bertkit's classification head is (the XLMConfig defaults)
_SUMMARY = {"summary_type": "first", "summary_use_proj": True, "summary_proj_to_labels": True,
            "summary_activation": None}


def _check_summary(d: dict[str, Any]) -> None:
    """A sequence-classification checkpoint must use the summary bertkit builds; other heads never read it."""
    if not any(str(a).endswith("ForSequenceClassification") for a in d.get("architectures") or ()):
        return
    for k, v in _SUMMARY.items():
        if d.get(k, v) != v:
            raise CheckpointError(f"XLM classification config has {k}={d[k]!r}; bertkit supports only {k}={v!r} "
                                  "(the first token's vector through one linear layer)")
    if d.get("summary_last_dropout", 0.0):
        raise CheckpointError(f"XLM classification config has summary_last_dropout={d['summary_last_dropout']!r}; "
                              "bertkit supports only 0 (no dropout on the logits)")


def _get(d: dict[str, Any], key: str, alias: str, default: Any) -> Any:
    v = d.get(key)
    return v if v is not None else d.get(alias, default)


def _from_hf(d: dict[str, Any]) -> ModelConfig:
    if d.get("asm", False):
        raise CheckpointError("XLM config has asm=true (adaptive softmax output layer); bertkit supports only "
                              "asm=false, the full softmax tied to the token table")
    if not d.get("tie_word_embeddings", True):
        raise CheckpointError("XLM config has tie_word_embeddings=false; bertkit supports only the LM head tied to "
                              "the token table")
    if not d.get("is_encoder", True):
        raise CheckpointError("XLM config has is_encoder=false; XLM checkpoints are encoders only (transformers too)")
    _check_summary(d)
    dim = d.get("emb_dim", 2048)
    n_langs = d.get("n_langs", 1)
    if isinstance(n_langs, bool) or not isinstance(n_langs, int) or n_langs < 1:
        raise CheckpointError(f"XLM config: n_langs must be a positive integer, got {n_langs!r}")
    langs = n_langs if d.get("use_lang_emb", True) and n_langs > 1 else 0
    id2label = d.get("id2label")
    return ModelConfig(
        family="xlm", vocab_size=_get(d, "vocab_size", "n_words", 30145), hidden_size=dim,
        num_layers=d.get("n_layers", 12), num_heads=d.get("n_heads", 16), intermediate_size=4 * dim,
        max_positions=d.get("max_position_embeddings", 512), type_vocab_size=langs,
        hidden_act="gelu" if d.get("gelu_activation", True) else "relu",
        dropout=d.get("dropout", 0.1), attention_dropout=d.get("attention_dropout", 0.1),
        classifier_dropout=d.get("summary_first_dropout", 0.1),
        num_labels=len(id2label) if id2label else d.get("num_labels", 2),
        id2label={int(k): v for k, v in id2label.items()} if id2label else None, problem_type=d.get("problem_type"),
        layer_norm_eps=d.get("layer_norm_eps", 1e-12), pad_token_id=_get(d, "pad_token_id", "pad_index", 2),
        sinusoidal=bool(d.get("sinusoidal_embeddings", False)), causal=bool(d.get("causal", False)),
        bos_token_id=_get(d, "bos_token_id", "bos_index", 0), eos_token_id=_get(d, "eos_token_id", "eos_index", 1),
        extra={k: v for k, v in d.items() if k not in _USED},
    )


def _to_hf(c: ModelConfig) -> dict[str, Any]:
    if c.intermediate_size != 4 * c.hidden_size:
        raise CheckpointError(f"XLM's feed-forward width is 4 x emb_dim ({4 * c.hidden_size}); this config has "
                              f"{c.intermediate_size}, which an XLM config.json cannot hold")
    if c.hidden_act not in ("gelu", "relu"):
        raise CheckpointError(f"XLM uses GELU or ReLU (gelu_activation); this config has {c.hidden_act!r}")
    if c.type_vocab_size == 1:
        raise CheckpointError("XLM adds language vectors only for n_langs > 1; type_vocab_size 1 cannot be saved "
                              "as an XLM config (use 0 for none)")
    d = dict(c.extra)
    d.update(model_type="xlm", vocab_size=c.vocab_size, emb_dim=c.hidden_size, n_layers=c.num_layers,
             n_heads=c.num_heads, max_position_embeddings=c.max_positions, gelu_activation=c.hidden_act == "gelu",
             dropout=c.dropout, attention_dropout=c.attention_dropout, layer_norm_eps=c.layer_norm_eps,
             sinusoidal_embeddings=c.sinusoidal, causal=c.causal, pad_token_id=c.pad_token_id,
             bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id, asm=False, tie_word_embeddings=True,
             pad_index=c.pad_token_id, bos_index=c.bos_token_id, eos_index=c.eos_token_id,  # XLMModel reads *_index
             summary_first_dropout=c.head_dropout, **_SUMMARY)
    labels = c.id2label or {i: f"LABEL_{i}" for i in range(c.num_labels)}
    d["id2label"] = {str(k): v for k, v in labels.items()}
    d["label2id"] = {v: int(k) for k, v in labels.items()}
    if c.problem_type:
        d["problem_type"] = c.problem_type
    if c.type_vocab_size > 1:
        d.update(n_langs=c.type_vocab_size, use_lang_emb=True)
    else:  # no language table: a single language, or n_langs > 1 without language embeddings
        d.setdefault("n_langs", 1)
        if d["n_langs"] > 1:
            d["use_lang_emb"] = False
    return d


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = [("embeddings", "embeddings.word"), ("position_embeddings", "embeddings.position"),
             ("lang_embeddings", "embeddings.segment"), ("layer_norm_emb", "embeddings.norm")]
    for i in range(c.num_layers):
        b = f"encoder.blocks.{i}."
        pairs += [(f"attentions.{i}.q_lin", b + "attn.q"), (f"attentions.{i}.k_lin", b + "attn.k"),
                  (f"attentions.{i}.v_lin", b + "attn.v"), (f"attentions.{i}.out_lin", b + "attn.o"),
                  (f"layer_norm1.{i}", b + "norm1"), (f"ffns.{i}.lin1", b + "ff.fc1"),
                  (f"ffns.{i}.lin2", b + "ff.fc2"), (f"layer_norm2.{i}", b + "norm2")]
    return pairs


FAMILY = register(Family(
    name="xlm", arch_prefix="XLM", base_prefix="transformer.",
    pooler_tasks=frozenset(), pretraining_heads=("mlm",), classifier_act=None, classifier_dropout_first=False,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,  # no transform in the head: unused
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys,
    head_keys={"mlm": [("pred_layer.proj", "mlm")],  # the weight is the token table (tied): only the bias is its own
               "classification": [("sequence_summary.summary", "classification.out")],
               "token_classification": [("classifier", "token_classification.proj")],
               "qa": [("qa_outputs", "qa.proj")]},
    arch_suffixes={"Model": "base", "WithLMHeadModel": "mlm", "ForSequenceClassification": "classification",
                   "ForTokenClassification": "token_classification", "ForQuestionAnsweringSimple": "qa"},
    segment_input="langs", zero_padding=True, mlm_transform=False,
))
