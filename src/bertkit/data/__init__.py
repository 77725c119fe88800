"""Corpora, token cache, pretraining example builders (packing, NSP/SOP pairs) and collators."""
from __future__ import annotations

from bertkit.data.collate import PretrainCollator, StaticMasked, pad_examples
from bertkit.data.packing import (PACKINGS, Specials, doc_sentences, full_sentences, nsp_pairs, single_sequences,
                                  sop_pairs)
from bertkit.data.token_cache import TokenCache, build_token_cache, read_documents

__all__ = ["TokenCache", "build_token_cache", "read_documents", "Specials", "full_sentences", "doc_sentences",
           "single_sequences", "nsp_pairs", "sop_pairs", "PACKINGS", "PretrainCollator", "StaticMasked",
           "pad_examples"]
