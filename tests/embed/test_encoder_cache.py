"""The encoder's fused / bf16 copies follow the weights: training the model in place is seen by the next embed."""
from __future__ import annotations

import numpy as np
import torch

from bertkit.embed import load
from bertkit.training.optim import build_optimizer

TEXTS = ["a cat sat on the mat", "stocks fell sharply on monday", "the weather is nice today"]


def test_embed_after_training_in_place_matches_a_fresh_encoder(tiny_dir):
    enc = load(tiny_dir)
    for precision in ("fp32", "bf16"):
        enc.embed(TEXTS, precision=precision)                       # builds and caches this precision's copy
    model = enc.model.train()
    opt = build_optimizer(model, lr=1e-2)                             # the trainer's optimizer (fused AdamW)
    ids = torch.tensor([[101, 1037, 4937, 2938, 102]])
    model(ids).last_hidden_state.square().mean().backward()
    opt.step()
    model.eval()
    fresh = load(tiny_dir)
    fresh.model.load_state_dict(model.state_dict())
    for precision in ("fp32", "bf16"):
        got, want = enc.embed(TEXTS, precision=precision), fresh.embed(TEXTS, precision=precision)
        np.testing.assert_array_equal(got, want)
    before = load(tiny_dir).embed(TEXTS, precision="fp32")
    assert np.abs(enc.embed(TEXTS, precision="fp32") - before).max() > 1e-3   # the step really moved them
