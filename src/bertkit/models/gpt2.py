"""GPT-2 (Radford et al. 2019): a decoder-only Transformer, pre-LN, learned positions, causal self-attention and
an LM head tied to the token embeddings. The model is models/causal_lm.py; this file is the preset and the
checkpoint map.

transformers stores GPT-2's projections as Conv1D: weights (in, out), the transpose of nn.Linear's, and Q, K, V
as one (C, 3C) matrix `attn.c_attn`. That is a layout, not a layer: `state_from_hf` splits and transposes on
load and `state_to_hf` joins them back on save, so the blocks are the same nn.Linear blocks as BERT's.
"""
from __future__ import annotations

from typing import Any

import torch

from bertkit.errors import CheckpointError
from bertkit.models.config import ModelConfig
from bertkit.models.family import Family, register

_USED = {"vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "activation_function",
         "resid_pdrop", "attn_pdrop", "layer_norm_epsilon", "pad_token_id", "bos_token_id", "eos_token_id",
         "architectures", "model_type"}
_CONV1D = ("attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")  # plain transposes
_QKV = ("q", "k", "v")


def _from_hf(d: dict[str, Any]) -> ModelConfig:
    unsupported = {"add_cross_attention": False, "scale_attn_by_inverse_layer_idx": False,
                   "reorder_and_upcast_attn": False, "scale_attn_weights": True, "tie_word_embeddings": True}
    for key, ok in unsupported.items():
        if d.get(key, ok) != ok:
            raise CheckpointError(f"GPT-2 config has {key}={d[key]!r}; bertkit supports only {key}={ok!r}")
    n_embd = d.get("n_embd", 768)
    return ModelConfig(
        family="gpt2", vocab_size=d["vocab_size"], hidden_size=n_embd, num_layers=d.get("n_layer", 12),
        num_heads=d.get("n_head", 12), intermediate_size=d.get("n_inner") or 4 * n_embd,
        max_positions=d.get("n_positions", 1024), type_vocab_size=0,
        hidden_act=d.get("activation_function", "gelu_new"), dropout=d.get("resid_pdrop", 0.1),
        attention_dropout=d.get("attn_pdrop", 0.1), layer_norm_eps=d.get("layer_norm_epsilon", 1e-5),
        pad_token_id=d.get("pad_token_id"), bos_token_id=d.get("bos_token_id"), eos_token_id=d.get("eos_token_id"),
        extra={k: v for k, v in d.items() if k not in _USED},
    )


def _to_hf(c: ModelConfig) -> dict[str, Any]:
    d = dict(c.extra)
    d.update(model_type="gpt2", vocab_size=c.vocab_size, n_embd=c.hidden_size, n_layer=c.num_layers,
             n_head=c.num_heads, n_inner=c.intermediate_size, n_positions=c.max_positions,
             activation_function=c.hidden_act, resid_pdrop=c.dropout, attn_pdrop=c.attention_dropout,
             layer_norm_epsilon=c.layer_norm_eps, pad_token_id=c.pad_token_id, bos_token_id=c.bos_token_id,
             eos_token_id=c.eos_token_id)
    return d


def _backbone_keys(c: ModelConfig) -> list[tuple[str, str]]:
    pairs = [("wte", "embeddings.word"), ("wpe", "embeddings.position"), ("ln_f", "decoder.final_norm")]
    for i in range(c.num_layers):
        a, b = f"h.{i}.", f"decoder.blocks.{i}."
        pairs += [(a + "ln_1", b + "norm1"), (a + "attn.c_attn.q", b + "attn.q"), (a + "attn.c_attn.k", b + "attn.k"),
                  (a + "attn.c_attn.v", b + "attn.v"), (a + "attn.c_proj", b + "attn.o"), (a + "ln_2", b + "norm2"),
                  (a + "mlp.c_fc", b + "ff.fc1"), (a + "mlp.c_proj", b + "ff.fc2")]
    return pairs


def state_from_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Conv1D layout -> nn.Linear layout: c_attn (C, 3C) -> c_attn.{q,k,v} (C, C) each, other Conv1D weights
    transposed. Works with or without the `transformer.` prefix; other tensors pass through."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        if name.endswith(("attn.c_attn.weight", "attn.c_attn.bias")):
            stem, leaf = name.rsplit(".", 1)
            parts = t.t().chunk(3, dim=0) if leaf == "weight" else t.chunk(3)  # (C, C) weights / (C,) biases
            for p, part in zip(_QKV, parts):
                out[f"{stem}.{p}.{leaf}"] = part.contiguous()
        elif name.endswith(_CONV1D):
            out[name] = t.t().contiguous()
        else:
            out[name] = t
    return out


def state_to_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The inverse of state_from_hf: what transformers' GPT2 classes load."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state.items():
        stem, _, leaf = name.rpartition(".")
        if stem.endswith("attn.c_attn.q"):
            base = stem[:-2]
            q, k, v = (state[f"{base}.{p}.{leaf}"] for p in _QKV)
            joined = torch.cat([q, k, v], dim=0)  # (3C, C) or (3C,)
            out[f"{base}.{leaf}"] = (joined.t() if leaf == "weight" else joined).contiguous()
        elif stem.endswith(("attn.c_attn.k", "attn.c_attn.v")):
            continue  # joined with q above
        elif name.endswith(_CONV1D):
            out[name] = t.t().contiguous()
        else:
            out[name] = t
    return out


def _build(cfg: ModelConfig, task: str):
    from bertkit.models.causal_lm import CausalLM

    return CausalLM(cfg, task)


FAMILY = register(Family(
    name="gpt2", arch_prefix="GPT2", base_prefix="transformer.",
    pooler_tasks=frozenset(), pretraining_heads=(), classifier_act=None, classifier_dropout_first=False,
    mlm_out_dim=lambda c: c.hidden_size, mlm_act=lambda c: c.hidden_act,  # no MLM head: unused
    config_from_hf=_from_hf, config_to_hf=_to_hf, backbone_keys=_backbone_keys,
    head_keys={"lm": []},  # tied to wte: no weights of its own
    build=_build, arch_suffixes={"Model": "base", "LMHeadModel": "lm"},
    state_from_hf=state_from_hf, state_to_hf=state_to_hf,
))
