"""Translation with the Transformer of chapter 1: parallel data, the training recipe, a Translator and BLEU."""
from __future__ import annotations

from bertkit.translation.data import read_parallel, token_batches
from bertkit.translation.train import TranslationSpec, train_translation
from bertkit.translation.translator import TranslationSettings, Translator, bleu

__all__ = ["TranslationSettings", "TranslationSpec", "Translator", "bleu", "read_parallel", "token_batches",
           "train_translation"]
