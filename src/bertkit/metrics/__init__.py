"""Text generation metrics computed in bertkit itself (no nltk or rouge_score at run time)."""
from __future__ import annotations

from bertkit.metrics.porter import stem
from bertkit.metrics.rouge import (
    DEFAULT_TYPES,
    Score,
    ngrams,
    overlap_f,
    rouge,
    score,
    skip_bigrams,
    tokenize,
)

__all__ = ["DEFAULT_TYPES", "Score", "ngrams", "overlap_f", "rouge", "score", "skip_bigrams", "stem", "tokenize"]
