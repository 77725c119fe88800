from __future__ import annotations

import os
import signal

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# A shell starts a background job (`pytest ... &`) with SIGINT ignored. The trainer then leaves Ctrl-C alone, as it
# should for a handler the user chose, and the tests that press Ctrl-C would train to the end. They test Ctrl-C as an
# interactive user has it, so the suite restores Python's default handler however it was started.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def minilm_path():
    """Folder of the real pretrained all-MiniLM-L6-v2 (installed from PyPI by `make test`)."""
    from bertkit.hub.default import default_model_path

    return default_model_path()


def save_tiny(folder, minilm_path, task: str = "base", seed: int = 0, **config):
    """Write a random tiny BERT (hidden 32, 2 layers, `config` on top) for `task` with the real MiniLM vocabulary
    and tokenizer into `folder`; returns the folder."""
    import bertkit

    torch.manual_seed(seed)
    cfg = bertkit.ModelConfig(**{**dict(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=4,
                                        intermediate_size=37, max_positions=128), **config})
    bertkit.save_pretrained(bertkit.build_model(cfg, task), folder,
                            tokenizer=bertkit.Tokenizer.from_pretrained(minilm_path))
    return folder


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, minilm_path):
    """A random tiny BERT encoder (hidden 32, 2 layers) with the real MiniLM vocabulary, saved with its tokenizer."""
    return save_tiny(tmp_path_factory.mktemp("tiny"), minilm_path)
