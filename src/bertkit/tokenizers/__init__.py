"""Tokenizers: load pretrained WordPiece / byte-level BPE / SentencePiece vocabularies, train new ones."""
from __future__ import annotations

from bertkit.tokenizers.batch import BatchEncoding
from bertkit.tokenizers.tokenizer import Tokenizer

__all__ = ["BatchEncoding", "Tokenizer"]
