"""Freezing policies: which parameters train."""
from __future__ import annotations

import pytest
import torch

import bertkit
from bertkit.errors import InputError
from bertkit.tasks.freezing import apply_freezing


def _model():
    cfg = bertkit.ModelConfig(vocab_size=99, hidden_size=32, num_layers=3, num_heads=4, intermediate_size=37,
                              max_positions=64, num_labels=3)
    return bertkit.build_model(cfg, "classification")


def _trainable(m):
    return {n for n, p in m.named_parameters() if p.requires_grad}


def test_full_frozen_and_top_k():
    m = _model()
    full = apply_freezing(m, "none")
    assert full["trainable"] == full["total"] == sum(p.numel() for p in m.parameters())
    apply_freezing(m, "encoder")
    assert _trainable(m) == {n for n, _ in m.named_parameters() if n.startswith("heads.") or ".pooler." in n}
    apply_freezing(m, "top:1")
    names = _trainable(m)
    assert any("blocks.2." in n for n in names) and not any("blocks.1." in n or "embeddings" in n for n in names)
    # a frozen part gets no gradient; the trainable top layer does
    out = m(torch.randint(1, 99, (2, 5))).logits.sum()
    out.backward()
    assert m.backbone.embeddings.word.weight.grad is None
    assert all(p.grad is not None for p in m.backbone.encoder.blocks[2].parameters())
    assert all(p.grad is None for p in m.backbone.encoder.blocks[0].parameters())
    with pytest.raises(InputError, match="more layers than the model's 3"):
        apply_freezing(m, "top:4")
    with pytest.raises(InputError, match="freeze must be"):
        apply_freezing(m, "bottom")
