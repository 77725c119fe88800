"""Knowledge distillation (chapter 5): students built from or for a teacher, and DistilBERT's general
distillation as one call (distill_general), and TinyBERT's data augmentation (tinybert_augment). The losses and
objectives are in bertkit.objectives.distill."""
from __future__ import annotations

from bertkit.distill.augment import tinybert_augment
from bertkit.distill.general import distill_general
from bertkit.distill.students import distilbert_student, every_other_layer, tinybert_student

__all__ = ["distilbert_student", "distill_general", "every_other_layer", "tinybert_augment", "tinybert_student"]
