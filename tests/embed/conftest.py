from __future__ import annotations

import shutil

import pytest

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, minilm_path):
    """A random 2-layer, 32-wide BERT with the real MiniLM WordPiece tokenizer: fast, but real text goes in."""
    import torch
    import transformers as T

    folder = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    cfg = T.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=128)
    T.BertModel(cfg).eval().save_pretrained(folder)
    for f in TOKENIZER_FILES:
        if (minilm_path / f).is_file():
            shutil.copy(minilm_path / f, folder / f)
    return folder
