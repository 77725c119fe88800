"""Multilingual sentence embeddings by knowledge distillation (Reimers & Gurevych 2020, chapter 8).

A frozen teacher embeds the source sentence s; a student learns to put both s and its translation t at
the teacher's point:  loss = MSE(student(s), teacher(s)) + MSE(student(t), teacher(s)).
The teacher is frozen, so its vectors are computed once before training (not at every step) and travel
with the examples; the student trains on the shared Trainer and is saved as a sentence-transformers folder.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bertkit.embed.losses import DistillationMSELoss
from bertkit.embed.sbert import SBERT_POOLINGS, SbertSaver
from bertkit.errors import InputError
from bertkit.nn.pooling import pool


@dataclass
class ParallelExample:
    """A source sentence, its translation and the teacher's (D,) vector of the source."""

    src: str
    tgt: str
    target: np.ndarray


def read_parallel(src_file: str | Path, tgt_file: str | Path, limit: int | None = None) -> list[tuple[str, str]]:
    """Line-aligned parallel files -> (source, translation) pairs; pairs with an empty side are skipped."""
    from bertkit.textio import read_lines

    src, tgt = read_lines(src_file), read_lines(tgt_file)
    if len(src) != len(tgt):
        raise InputError(f"{src_file} has {len(src)} lines but {tgt_file} has {len(tgt)}; parallel files must align")
    pairs = [(a.strip(), b.strip()) for a, b in zip(src, tgt) if a.strip() and b.strip()]
    return pairs[:limit] if limit is not None else pairs


def teacher_examples(teacher, pairs: Sequence[tuple[str, str]], batch_size: int = 64,
                     show_progress: bool | None = None) -> list[ParallelExample]:
    """Embed every source sentence once with the teacher (its own pooling, not normalised: the student learns
    the vectors before any Normalize module, which its saved folder keeps)."""
    vecs = teacher.embed([s for s, _ in pairs], normalize=False, batch_size=batch_size, show_progress=show_progress)
    return [ParallelExample(s, t, v) for (s, t), v in zip(pairs, vecs)]


@dataclass
class DistillCollator:
    """Tokenises source (plain keys) and translation (`_b` keys); stacks the teacher vectors as `target`."""

    tokenizer: object
    max_length: int = 128

    def __call__(self, examples: list[ParallelExample]) -> dict[str, torch.Tensor]:
        a = self.tokenizer([e.src for e in examples], max_length=self.max_length, truncation=True, padding=True,
                           return_tensors="pt")
        b = self.tokenizer([e.tgt for e in examples], max_length=self.max_length, truncation=True, padding=True,
                           return_tensors="pt")
        return {"input_ids": a["input_ids"], "attention_mask": a["attention_mask"], "input_ids_b": b["input_ids"],
                "attention_mask_b": b["attention_mask"],
                "target": torch.from_numpy(np.stack([e.target for e in examples])).float()}


class DistillObjective(nn.Module):
    """objective(student, batch) -> {"loss", "mse_src", "mse_tgt"} with the student's pooling."""

    def __init__(self, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in SBERT_POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; expected one of {SBERT_POOLINGS}")
        self.pooling, self.loss = pooling, DistillationMSELoss()

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        s = pool(model(batch["input_ids"], batch["attention_mask"]).last_hidden_state, batch["attention_mask"],
                 self.pooling)
        t = pool(model(batch["input_ids_b"], batch["attention_mask_b"]).last_hidden_state, batch["attention_mask_b"],
                 self.pooling)
        target = batch["target"]
        mse_src = nn.functional.mse_loss(s.float(), target)
        mse_tgt = nn.functional.mse_loss(t.float(), target)
        return {"loss": self.loss(s, t, target), "mse_src": mse_src.detach(), "mse_tgt": mse_tgt.detach()}


def train_multilingual(pairs: Sequence[tuple[str, str]], config, *, teacher: str | Path | None = None,
                       student: str | Path | None = None, dev_pairs: Sequence[tuple[str, str]] | None = None,
                       max_length: int = 128, resume: bool = False) -> dict:
    """Distil `teacher` (default: bundled MiniLM) into `student` (default: a copy of the teacher) on parallel pairs.

    The student must produce vectors of the teacher's width. config: a training.TrainConfig. With dev_pairs,
    the trainer reports eval_loss / eval_mse_tgt on them. Returns the trainer's final metrics; the student is
    written to config.out_dir (sentence-transformers layout, the student's pooling).
    """
    from bertkit.embed import load
    from bertkit.training import Trainer

    if not pairs:
        raise InputError("no parallel sentence pairs to train on")
    t_enc = load(teacher)
    s_enc = load(student if student is not None else teacher)
    if s_enc.dim != t_enc.dim:
        raise InputError(f"the student gives {s_enc.dim}-d vectors but the teacher {t_enc.dim}-d; "
                         "they must match for MSE distillation")
    pooling = s_enc.pooling if s_enc.pooling in SBERT_POOLINGS else "mean"
    max_length = min(max_length, s_enc.model.max_tokens)
    train = teacher_examples(t_enc, pairs)
    dev = teacher_examples(t_enc, dev_pairs, show_progress=False) if dev_pairs else None
    if dev is not None and config.best_metric is None:
        config.best_metric, config.greater_is_better = "eval_loss", False
    trainer = Trainer(s_enc.model, DistillObjective(pooling), train, config=config,
                      collate_fn=DistillCollator(s_enc.tokenizer, max_length), eval_data=dev,
                      save_fn=SbertSaver(s_enc.tokenizer, pooling, max_length, normalize=s_enc.normalize))
    return trainer.fit(resume=resume)
