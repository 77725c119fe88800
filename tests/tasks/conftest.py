from __future__ import annotations

import pytest
import torch

import bertkit


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, minilm_path):
    """A random tiny BERT (hidden 32, 2 layers) with the real MiniLM vocabulary, saved with its tokenizer."""
    d = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                              max_positions=128)
    bertkit.save_pretrained(bertkit.build_model(cfg, "base"), d, tokenizer=bertkit.Tokenizer.from_pretrained(minilm_path))
    return d
