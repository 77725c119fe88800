"""One training loop for pretraining, fine-tuning and distillation (see trainer.py)."""
from __future__ import annotations

from bertkit.training.data import default_collate
from bertkit.training.optim import LinearSchedule, NoamSchedule, build_optimizer, build_schedule, param_groups
from bertkit.training.trainer import TrainConfig, Trainer

__all__ = ["Trainer", "TrainConfig", "default_collate", "build_optimizer", "param_groups", "LinearSchedule",
           "NoamSchedule", "build_schedule"]
