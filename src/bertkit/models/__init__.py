"""The BERT family as configs + one composed model; see family.py for what differs between members."""
from __future__ import annotations

from bertkit.models.config import SIZES, TASKS, ModelConfig
from bertkit.models.convert import convert_family
from bertkit.models.family import get_family, resolve_architecture
from bertkit.models.model import Model, ModelOutput, build_model

__all__ = ["ModelConfig", "Model", "ModelOutput", "build_model", "convert_family", "get_family", "resolve_architecture",
           "SIZES", "TASKS"]
