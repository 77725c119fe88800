"""The Transformer of "Attention is all you need" (Vaswani et al. 2017), laid out as transformers' MarianMT: post-LN
blocks, fixed sinusoidal positions (sines in the first half of each vector, cosines in the second), token vectors
scaled by sqrt(d), no LayerNorm on the embeddings, one token table for both sides and the LM head (or, with
`share_encoder_decoder_embeddings: false`, a source table and a target table tied to the LM head), and
`final_logits_bias`. The model is models/seq2seq.py with TRANSFORMER_LAYOUT; this file is the preset and the
checkpoint map, so what bertkit trains loads in `transformers.MarianMTModel` and back."""
from __future__ import annotations

from typing import Any

import torch

from bertkit.errors import CheckpointError
from bertkit.models.bart import _layer_keys
from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, register

_USED = {"vocab_size", "decoder_vocab_size", "share_encoder_decoder_embeddings", "d_model", "encoder_layers",
         "decoder_layers", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
         "max_position_embeddings", "activation_function", "dropout", "attention_dropout", "scale_embedding",
         "pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id", "forced_eos_token_id",
         "architectures", "model_type", "tie_word_embeddings"}


def transformer_config(vocab_size: int, *, decoder_vocab_size: int | None = None, d_model: int = 512,
                       layers: int = 6, decoder_layers: int | None = None, heads: int = 8, ffn: int = 2048,
                       dropout: float = 0.1, attention_dropout: float = 0.0, max_positions: int = 256,
                       activation: str = "relu", pad_token_id: int = 0, eos_token_id: int = 2,
                       decoder_start_token_id: int | None = None, bos_token_id: int | None = None) -> ModelConfig:
    """The base Transformer's sizes (d 512, 6 + 6 layers, 8 heads, FFN 2048, ReLU, dropout 0.1) as a Marian
    config; decoder_vocab_size gives the target its own vocabulary. The decoder starts from
    decoder_start_token_id (None: the pad token, as Marian does)."""
    return ModelConfig(
        family="marian", vocab_size=vocab_size, decoder_vocab_size=decoder_vocab_size, hidden_size=d_model,
        num_layers=layers, num_heads=heads, intermediate_size=ffn, decoder_layers=decoder_layers or layers,
        decoder_heads=heads, decoder_intermediate_size=ffn, max_positions=max_positions, type_vocab_size=0,
        hidden_act=activation, dropout=dropout, attention_dropout=attention_dropout, layer_norm_eps=1e-5,
        sinusoidal=True, scale_embedding=True, pad_token_id=pad_token_id, bos_token_id=bos_token_id,
        eos_token_id=eos_token_id,
        decoder_start_token_id=pad_token_id if decoder_start_token_id is None else decoder_start_token_id)


def init_transformer_weights(model: torch.nn.Module) -> None:
    """The initialisation the Transformer trains from (tensor2tensor, fairseq): Xavier-uniform matrices, zero
    biases, token vectors N(0, d^-0.5) so that after the sqrt(d) scaling they have unit variance, like the
    sinusoids they are added to; the padding row stays zero. Draws from torch's global generator (seed it)."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    tables = {id(t): t for t in (model.input_embeddings(), model.output_embeddings())}.values()
    for t in tables:
        nn.init.normal_(t.weight, std=t.embedding_dim ** -0.5)
        if t.padding_idx is not None:
            with torch.no_grad():
                t.weight[t.padding_idx].zero_()


def _from_hf(d: dict[str, Any]) -> ModelConfig:
    if not d.get("tie_word_embeddings", True):
        raise CheckpointError("Marian config has tie_word_embeddings=False; bertkit supports only an LM head tied "
                              "to the target token table")
    for key, plain in (("normalize_before", False), ("normalize_embedding", False), ("add_final_layer_norm", False),
                       ("static_position_embeddings", True)):  # keys of older Marian configs
        if key in d and bool(d[key]) != plain:
            raise CheckpointError(f"Marian config has {key}={d[key]}; bertkit builds the original Transformer "
                                  f"({key}={plain})")
    shared = bool(d.get("share_encoder_decoder_embeddings", True))
    vocab = d["vocab_size"]
    return ModelConfig(
        family="marian", vocab_size=vocab, decoder_vocab_size=None if shared else d.get("decoder_vocab_size") or vocab,
        hidden_size=d.get("d_model", 1024), num_layers=d.get("encoder_layers", 12),
        num_heads=d.get("encoder_attention_heads", 16), intermediate_size=d.get("encoder_ffn_dim", 4096),
        decoder_layers=d.get("decoder_layers", 12), decoder_heads=d.get("decoder_attention_heads", 16),
        decoder_intermediate_size=d.get("decoder_ffn_dim", 4096), max_positions=d.get("max_position_embeddings", 1024),
        type_vocab_size=0, hidden_act=d.get("activation_function", "gelu"), dropout=d.get("dropout", 0.1),
        attention_dropout=d.get("attention_dropout", 0.0), layer_norm_eps=1e-5, sinusoidal=True,
        scale_embedding=bool(d.get("scale_embedding", False)), pad_token_id=d.get("pad_token_id", 58100),
        bos_token_id=d.get("bos_token_id"), eos_token_id=d.get("eos_token_id", 0),
        decoder_start_token_id=d.get("decoder_start_token_id", 58100), forced_eos_token_id=d.get("forced_eos_token_id"),
        extra={k: v for k, v in d.items() if k not in _USED},
    )


def _to_hf(c: ModelConfig) -> dict[str, Any]:
    d = dict(c.extra)
    d.update(model_type="marian", vocab_size=c.vocab_size, decoder_vocab_size=c.decoder_vocab_size or c.vocab_size,
             share_encoder_decoder_embeddings=c.decoder_vocab_size is None, tie_word_embeddings=True,
             d_model=c.hidden_size, encoder_layers=c.num_layers, encoder_attention_heads=c.num_heads,
             encoder_ffn_dim=c.intermediate_size, decoder_layers=c.decoder_layers or c.num_layers,
             decoder_attention_heads=c.decoder_heads or c.num_heads,
             decoder_ffn_dim=c.decoder_intermediate_size or c.intermediate_size,
             max_position_embeddings=c.max_positions, activation_function=c.hidden_act, dropout=c.dropout,
             attention_dropout=c.attention_dropout, scale_embedding=c.scale_embedding, pad_token_id=c.pad_token_id,
             bos_token_id=c.bos_token_id, eos_token_id=c.eos_token_id,
             decoder_start_token_id=c.decoder_start_token_id, forced_eos_token_id=c.forced_eos_token_id,
             is_encoder_decoder=True)
    return d


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = []
    for side in ("encoder", "decoder"):
        table = "shared" if c.decoder_vocab_size is None else f"{side}.embed_tokens"  # shared: every name -> one
        pairs += [(table, f"{side}_embeddings.word"), (f"{side}.embed_positions", f"{side}_embeddings.position")]
        n = c.num_layers if side == "encoder" else (c.decoder_layers or c.num_layers)
        for i in range(n):
            pairs += _layer_keys(f"{side}.layers.{i}.", f"{side}.blocks.{i}.", cross=side == "decoder")
    return pairs


def _drop_positions(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The sinusoidal tables are computed, not stored (transformers leaves them out of its files too)."""
    return {k: v for k, v in state.items() if "embed_positions" not in k}


def _build(cfg: ModelConfig, task: str):
    from bertkit.models.seq2seq import TRANSFORMER_LAYOUT, Seq2SeqLM

    return Seq2SeqLM(cfg, task, TRANSFORMER_LAYOUT)


FAMILY = register(Family(
    name="marian", arch_prefix="Marian", base_prefix="model.",
    pooler_tasks=frozenset(), pretraining_heads=(), classifier_act=None, classifier_dropout_first=False,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,  # no MLM head: unused
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys,
    head_keys={"lm": [("final_logits_bias", "lm.bias")]},
    build=_build, arch_suffixes={"Model": "base", "MTModel": "lm"}, state_to_hf=_drop_positions,
))
