"""BART (Lewis et al. 2019): a denoising encoder-decoder. Post-LN blocks, learned positions read from row p + 2
(BART's offset), a LayerNorm on the embeddings of both stacks, token vectors scaled by sqrt(d) only if the
config says so, and an LM head tied to the shared token table plus `final_logits_bias`. The model is
models/seq2seq.py; this file is the preset and the checkpoint map."""
from __future__ import annotations

from typing import Any

from bertkit.errors import CheckpointError
from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, register

_USED = {"vocab_size", "d_model", "encoder_layers", "decoder_layers", "encoder_attention_heads",
         "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim", "max_position_embeddings",
         "activation_function", "dropout", "attention_dropout", "scale_embedding", "pad_token_id", "bos_token_id",
         "eos_token_id", "decoder_start_token_id", "forced_eos_token_id", "architectures", "model_type"}


def _from_hf(d: dict[str, Any]) -> ModelConfig:
    if not d.get("tie_word_embeddings", True):
        raise CheckpointError("BART config has tie_word_embeddings=False; bertkit supports only a tied LM head")
    return ModelConfig(
        family="bart", vocab_size=d["vocab_size"], hidden_size=d.get("d_model", 1024),
        num_layers=d.get("encoder_layers", 12), num_heads=d.get("encoder_attention_heads", 16),
        intermediate_size=d.get("encoder_ffn_dim", 4096), decoder_layers=d.get("decoder_layers", 12),
        decoder_heads=d.get("decoder_attention_heads", 16), decoder_intermediate_size=d.get("decoder_ffn_dim", 4096),
        max_positions=d.get("max_position_embeddings", 1024), type_vocab_size=0,
        hidden_act=d.get("activation_function", "gelu"), dropout=d.get("dropout", 0.1),
        attention_dropout=d.get("attention_dropout", 0.0), layer_norm_eps=1e-5,  # nn.LayerNorm's default
        scale_embedding=bool(d.get("scale_embedding", False)), pad_token_id=d.get("pad_token_id", 1),
        bos_token_id=d.get("bos_token_id", 0), eos_token_id=d.get("eos_token_id", 2),
        decoder_start_token_id=d.get("decoder_start_token_id", 2), forced_eos_token_id=d.get("forced_eos_token_id"),
        extra={k: v for k, v in d.items() if k not in _USED},
    )


def _to_hf(c: ModelConfig) -> dict[str, Any]:
    d = dict(c.extra)
    d.update(model_type="bart", vocab_size=c.vocab_size, d_model=c.hidden_size, encoder_layers=c.num_layers,
             encoder_attention_heads=c.num_heads, encoder_ffn_dim=c.intermediate_size,
             decoder_layers=c.decoder_layers or c.num_layers, decoder_attention_heads=c.decoder_heads or c.num_heads,
             decoder_ffn_dim=c.decoder_intermediate_size or c.intermediate_size, max_position_embeddings=c.max_positions,
             activation_function=c.hidden_act, dropout=c.dropout, attention_dropout=c.attention_dropout,
             scale_embedding=c.scale_embedding, pad_token_id=c.pad_token_id, bos_token_id=c.bos_token_id,
             eos_token_id=c.eos_token_id, decoder_start_token_id=c.decoder_start_token_id,
             forced_eos_token_id=c.forced_eos_token_id)
    return d


def _layer_keys(hf: str, ours: str, cross: bool) -> list[tuple[str, str]]:
    pairs = [("self_attn.q_proj", "attn.q"), ("self_attn.k_proj", "attn.k"), ("self_attn.v_proj", "attn.v"),
             ("self_attn.out_proj", "attn.o"), ("self_attn_layer_norm", "norm1"), ("fc1", "ff.fc1"),
             ("fc2", "ff.fc2"), ("final_layer_norm", "norm2")]
    if cross:
        pairs += [("encoder_attn.q_proj", "cross.q"), ("encoder_attn.k_proj", "cross.k"),
                  ("encoder_attn.v_proj", "cross.v"), ("encoder_attn.out_proj", "cross.o"),
                  ("encoder_attn_layer_norm", "norm_cross")]
    return [(hf + a, ours + b) for a, b in pairs]


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = []
    for side in ("encoder", "decoder"):
        pairs += [("shared", f"{side}_embeddings.word"),  # one table: every name of it maps to `shared`
                  (f"{side}.embed_positions", f"{side}_embeddings.position"),
                  (f"{side}.layernorm_embedding", f"{side}_embeddings.norm")]
        n = c.num_layers if side == "encoder" else (c.decoder_layers or c.num_layers)
        for i in range(n):
            pairs += _layer_keys(f"{side}.layers.{i}.", f"{side}.blocks.{i}.", cross=side == "decoder")
    return pairs


def _build(cfg: ModelConfig, task: str):
    from bertkit.models.seq2seq import Seq2SeqLM

    return Seq2SeqLM(cfg, task)


FAMILY = register(Family(
    name="bart", arch_prefix="Bart", base_prefix="model.",
    pooler_tasks=frozenset(), pretraining_heads=(), classifier_act=None, classifier_dropout_first=False,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,  # no MLM head: unused
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys,
    head_keys={"lm": [("final_logits_bias", "lm.bias")]},
    build=_build, arch_suffixes={"Model": "base", "ForConditionalGeneration": "lm"},
))
