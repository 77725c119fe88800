from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def minilm_path():
    """Folder of the real pretrained all-MiniLM-L6-v2 (installed from PyPI by `make test`)."""
    from bertkit.hub.default import default_model_path

    return default_model_path()
