"""Checkpoints: Hugging Face folders in and out, and the bundled default model."""
from __future__ import annotations

from bertkit.hub.checkpoint import from_pretrained, read_config, read_weights, save_pretrained
from bertkit.hub.default import default_model_path

__all__ = ["from_pretrained", "save_pretrained", "read_config", "read_weights", "default_model_path"]
