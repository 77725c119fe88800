"""Knowledge distillation (chapter 5): students built from or for a teacher; DistilBERT's and TinyBERT's general
distillation as one call each (distill_general, distill_general_tinybert); task-specific distillation of a
classifier (distill_task); TinyBERT's data augmentation (tinybert_augment); BERT -> BiLSTM (distill_bilstm in
bertkit.distill.bilstm_train). The losses and objectives are in bertkit.objectives.distill."""
from __future__ import annotations

from bertkit.distill.augment import tinybert_augment
from bertkit.distill.general import distill_general, distill_general_tinybert
from bertkit.distill.students import distilbert_student, every_other_layer, tinybert_student
from bertkit.distill.task import distill_task

__all__ = ["distilbert_student", "distill_general", "distill_general_tinybert", "distill_task", "every_other_layer",
           "tinybert_augment", "tinybert_student"]
