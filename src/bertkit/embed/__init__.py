"""Sentence and token embeddings from any encoder of the family."""
from __future__ import annotations

from bertkit.embed.encoder import Features, TextEncoder, load

__all__ = ["load", "TextEncoder", "Features"]
