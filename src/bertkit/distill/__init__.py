"""Knowledge distillation (chapter 5): students built from or for a teacher. The losses and objectives are in
bertkit.objectives.distill."""
from __future__ import annotations

from bertkit.distill.students import distilbert_student, every_other_layer, tinybert_student

__all__ = ["distilbert_student", "every_other_layer", "tinybert_student"]
