"""DistilBERT's general distillation (Sanh et al. 2019) as one call: a teacher masked LM and a text corpus in, a
student of every other teacher layer out, trained with DistilBertObjective on the one Trainer.

    student = distill_general("teacher/", ["corpus.txt"], "student/", steps=10_000)

The corpus is read, tokenised (token cache) and packed into full-length sequences exactly as `bertkit pretrain`
does (RoBERTa's FULL-SENTENCES, dynamic token masking); checkpoints go to OUT/training (resume=True continues
from the latest); the student is saved at OUT with the teacher's tokenizer as a Hugging Face folder
(transformers' BertForMaskedLM loads it), and a report at OUT/metrics.json.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import CheckpointError, InputError
from bertkit.models import Model


def _check_corpus(files: Sequence[str | Path]) -> list[Path]:
    """The corpus files as paths; InputError when one is missing or none holds any text (pretraining's reader)."""
    from bertkit.data.token_cache import read_documents

    if isinstance(files, (str, Path)):
        files = [files]
    paths = [Path(f) for f in files]
    if not paths:
        raise InputError("no corpus given; distillation reads a text corpus (a sentence per line)")
    found = False
    for p in paths:
        docs = read_documents(p)  # InputError for a missing file
        found = found or next(iter(docs), None) is not None
        docs.close()
    if not found:
        raise InputError(f"the corpus is empty: no text in {', '.join(map(str, paths))}")
    return paths


def _student_out(teacher_model: Model, out: str | Path, max_length: int):
    """The teacher's folder, the student's (refused when it is the teacher's) and the teacher's tokenizer;
    InputError when max_length exceeds the teacher's positions."""
    from bertkit.tokenizers import Tokenizer

    path = teacher_model.pretrained_path
    out = Path(out)
    if out.resolve() == Path(path).resolve():
        raise InputError(f"the output folder {out} is the teacher's; write the student to another folder")
    if max_length > teacher_model.config.max_positions:
        raise InputError(f"max_length {max_length} exceeds the teacher's {teacher_model.config.max_positions} "
                         "positions")
    return path, out, Tokenizer.from_pretrained(path)


def load_teacher(teacher: str | Path | None) -> Model:
    """The teacher masked LM (None: the bundled MiniLM), in eval mode; InputError when the folder is missing or
    has no masked-LM head weights (DistilBERT's soft targets are its masked-LM predictions)."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path

    path = resolve_model_path(teacher)
    if not Path(path).is_dir():
        raise InputError(f"teacher folder not found: {path}")
    try:
        model = from_pretrained(path, task="mlm", require_heads=True)
    except CheckpointError as e:
        if "head" not in str(e):
            raise
        raise InputError(f"the teacher {path} has no masked-LM head weights; distillation needs its MLM head "
                         "(a model from `bertkit pretrain` or a *ForMaskedLM folder)") from None
    return model


def _first_last_losses(log: Path) -> tuple[float | None, float | None]:
    losses = []
    if log.is_file():
        for line in log.read_text().splitlines():
            rec = json.loads(line) if line.strip() else {}
            if "loss" in rec:
                losses.append(float(rec["loss"]))
    return (losses[0], losses[-1]) if losses else (None, None)


def _check_run(max_length: int, batch_size: int, steps: int | None, epochs: float, warmup: float, lr: float) -> None:
    for name, v in (("max_length", max_length), ("batch_size", batch_size)):
        if int(v) < 1:
            raise InputError(f"{name} must be >= 1, got {v}")
    if steps is not None and int(steps) < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    if steps is None and not epochs > 0:
        raise InputError(f"epochs must be > 0, got {epochs}")
    if not 0.0 <= warmup < 1.0:
        raise InputError(f"warmup is a fraction of the steps in [0, 1), got {warmup}")
    if not lr > 0:
        raise InputError(f"lr must be > 0, got {lr}")


def _train_on_corpus(student: Model, objective: Any, teacher_model: Model, tok: Any, files: list[Path], out: Path,
                     collate: Any, *, max_length: int, batch_size: int, steps: int | None, epochs: float, lr: float,
                     warmup: float, precision: str, seed: int, resume: bool, progress: bool) -> dict[str, Any]:
    """The corpus read, tokenised and packed as `bertkit pretrain` does, `objective` trained on the one Trainer
    (checkpoints under out/training), the student published at `out`; returns the report's common fields."""
    from bertkit.hub import save_pretrained
    from bertkit.training import checkpoint as ck
    from bertkit.training.pretrain import PretrainSpec, _examples
    from bertkit.training.trainer import TrainConfig, Trainer

    path = teacher_model.pretrained_path
    train_dir = out / "training"
    spec = PretrainSpec(arch="bert", tokenizer=path, corpus=list(files), out=train_dir, max_length=max_length,
                        seed=seed, progress=progress)
    train = _examples(spec, files, tok, "full", "train")  # pretraining's reader, cache and packing
    total = int(steps) if steps is not None else max(1, math.ceil(epochs * math.ceil(len(train) / batch_size)))
    cfg = TrainConfig(out_dir=train_dir, lr=lr, warmup_steps=round(warmup * total), max_steps=total,
                      batch_size=batch_size, precision=precision, log_every=1 if total <= 1000 else 10, seed=seed,
                      progress=progress, save_final=False, save_every=min(total, 1000))
    trainer = Trainer(student, objective, train, config=cfg, collate_fn=collate,
                      save_fn=lambda m, p: save_pretrained(m, p, tokenizer=tok))
    metrics = trainer.fit(resume=resume)
    student.eval()
    interrupted = bool(metrics.get("interrupted"))
    if not interrupted:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".student.", dir=out))
        try:
            save_pretrained(student, tmp / "model", tokenizer=tok)
            ck.publish_files(tmp / "model", out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    first, last = _first_last_losses(train_dir / "log.jsonl")
    return {
        "teacher": str(path), "steps": int(metrics.get("step", 0)), "train_examples": len(train),
        "loss_first": first, "loss_last": last,
        "teacher_parameters": sum(p.numel() for p in teacher_model.parameters()),
        "student_parameters": sum(p.numel() for p in student.parameters()),
        "teacher_layers": teacher_model.config.num_layers, "student_layers": student.config.num_layers,
        "interrupted": interrupted,
    }


def distill_general(teacher: str | Path | None, corpus: str | Path | Sequence[str | Path], out: str | Path,
                    layers: Sequence[int] | None = None, alpha: float = 5.0, beta: float = 2.0, gamma: float = 1.0,
                    temperature: float = 2.0, max_length: int = 128, batch_size: int = 32, steps: int | None = None,
                    epochs: float = 1.0, lr: float = 5e-4, warmup: float = 0.05, precision: str = "auto",
                    seed: int = 0, resume: bool = False, progress: bool = True) -> Model:
    """Distil `teacher` (a folder with a masked-LM head; None: the bundled MiniLM) into a DistilBERT student.

    The student copies teacher blocks `layers` (default every other one: distilbert_student) and learns
    L = alpha * L_ce (soft targets at `temperature`) + beta * L_mlm + gamma * L_cos on `corpus` (text files,
    read as `bertkit pretrain` reads them), for `steps` optimizer steps (default: `epochs` passes over the
    packed sequences) of `batch_size`, AdamW at `lr` with `warmup` (a fraction of the steps) of linear warm-up
    and linear decay. Returns the trained student; writes it to `out` (Hugging Face folder, the teacher's
    tokenizer), its checkpoints to out/training and a report (steps, first and last training loss, parameter
    counts, seconds) to out/metrics.json.
    """
    from bertkit.data.collate import PretrainCollator
    from bertkit.distill.students import distilbert_student
    from bertkit.objectives.distill import DistilBertObjective
    from bertkit.training.pretrain import masking_vocab

    t_start = time.perf_counter()
    _check_run(max_length, batch_size, steps, epochs, warmup, lr)
    files = _check_corpus(corpus)
    teacher_model = load_teacher(teacher)
    _, out, tok = _student_out(teacher_model, out, max_length)
    torch.manual_seed(seed)
    student = distilbert_student(teacher_model, layers, tokenizer=tok)  # a bad layer map fails here
    objective = DistilBertObjective(teacher_model, student, alpha, beta, gamma, temperature)

    collate = PretrainCollator(masking_vocab(tok), tok.pad_token_id or 0)
    report = _train_on_corpus(student, objective, teacher_model, tok, files, out, collate,
                              max_length=max_length, batch_size=batch_size, steps=steps, epochs=epochs, lr=lr,
                              warmup=warmup, precision=precision, seed=seed, resume=resume, progress=progress)
    report = {"method": "distilbert", "layers": list(layers) if layers is not None else None, **report,
              "seconds": time.perf_counter() - t_start}
    if report["layers"] is None:
        from bertkit.distill.students import every_other_layer
        report["layers"] = every_other_layer(teacher_model.config.num_layers)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    return student


def _plain_collate(pad_id: int):
    """Packed corpus rows -> padded input_ids / token_type_ids / attention_mask: TinyBERT reads unmasked text."""
    from bertkit.data.collate import pad_tokens

    def collate(examples: Sequence[dict[str, Any]], generator: torch.Generator | None = None) -> dict[str, Any]:
        return pad_tokens(examples, pad_id)
    return collate


def load_encoder_teacher(teacher: str | Path | None) -> Model:
    """The teacher's encoder (None: the bundled MiniLM), in eval mode; any head the folder has is not needed."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path

    path = resolve_model_path(teacher)
    if not Path(path).is_dir():
        raise InputError(f"teacher folder not found: {path}")
    return from_pretrained(path, task="base").eval()


def distill_general_tinybert(teacher: str | Path | None, corpus: str | Path | Sequence[str | Path], out: str | Path,
                             layers: int = 4, hidden: int = 312, heads: int | None = None, ffn: int = 1200,
                             max_length: int = 128, batch_size: int = 32, steps: int | None = None,
                             epochs: float = 1.0, lr: float = 5e-4, warmup: float = 0.05, precision: str = "auto",
                             seed: int = 0, resume: bool = False, progress: bool = True) -> Model:
    """TinyBERT's general distillation (Jiao et al. 2020): a random tinybert_student of `teacher` (an encoder
    folder; None: the bundled MiniLM) with `layers` layers of width `hidden`, `heads` heads (default the
    teacher's: the attention loss compares them one to one) and feed-forward `ffn` learns
    TinyBertObjective("intermediate") (embedding, hidden-state and attention-score losses through the layer map)
    on `corpus`, read and packed as distill_general reads it, but unmasked. Saves the student encoder at `out`
    (a Hugging Face BertModel folder with the teacher's tokenizer: the `student_init` of distill_task's tinybert
    method), checkpoints under out/training and out/metrics.json.
    """
    from bertkit.distill.students import tinybert_student
    from bertkit.objectives.distill import TinyBertObjective

    t_start = time.perf_counter()
    _check_run(max_length, batch_size, steps, epochs, warmup, lr)
    files = _check_corpus(corpus)
    teacher_model = load_encoder_teacher(teacher)
    _, out, tok = _student_out(teacher_model, out, max_length)
    torch.manual_seed(seed)
    student = tinybert_student(teacher_model, layers=layers, hidden=hidden,
                               heads=teacher_model.config.num_heads if heads is None else heads, ffn=ffn,
                               tokenizer=tok)
    objective = TinyBertObjective(teacher_model, student, "intermediate")
    report = _train_on_corpus(student, objective, teacher_model, tok, files, out, _plain_collate(tok.pad_token_id or 0),
                              max_length=max_length, batch_size=batch_size, steps=steps, epochs=epochs, lr=lr,
                              warmup=warmup, precision=precision, seed=seed, resume=resume, progress=progress)
    report = {"method": "tinybert", "hidden": hidden, "heads": student.config.num_heads, "ffn": ffn,
              "layer_map": objective.map, **report, "seconds": time.perf_counter() - t_start}
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n")
    return student


__all__ = ["distill_general", "distill_general_tinybert", "load_encoder_teacher", "load_teacher"]
