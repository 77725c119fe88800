"""Task-specific distillation of a fine-tuned classifier (chapter 5) as one call, on the one Trainer.

    student = distill_task("teacher/", "train.tsv", "student/", method="distilbert", dev="dev.tsv")

teacher: a folder written by `bertkit finetune classify` (or pair). Methods:
  distilbert  student = every other teacher layer (distilbert_student, the classifier head copied; or those
              layers of `student_init`, e.g. the teacher's pretrained checkpoint, with a fresh head), trained on
              L = alpha * soft_target_kl(z_s, z_t, T) + (1 - alpha) * CE(z_s, y)      (LogitKDObjective)
  tinybert    student = a random TinyBERT (tinybert_student) or `student_init` (e.g. a general-distilled
              TinyBERT from `bertkit distill --method tinybert --corpus`), trained in two stages:
              1. TinyBertObjective("intermediate") (embeddings, hidden states, attention scores)
              2. TinyBertObjective("prediction", T) (soft cross entropy of the logits)
  labels      the no-teacher twin of `twin_of` ("distilbert" or "tinybert"): the same student, trained on the
              gold labels alone (cross entropy), the baseline a distillation benchmark compares with.
`augmented` rows (a table like train; an empty or missing label is -100) join the training set of the
teacher-based losses. Checkpoints go under OUT/training (tinybert: stage1/, stage2/), resume=True continues
the unfinished stage; the student is saved at OUT as a Predictor folder (Hugging Face weights, task head,
labels, the teacher's tokenizer) with OUT/metrics.json.
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import CheckpointError, InputError, warn
from bertkit.models import Model
from bertkit.objectives.masking import IGNORE

METHODS = ("distilbert", "tinybert", "labels")
TWINS = ("distilbert", "tinybert")
DEFAULT_TEMPERATURE = {"distilbert": 2.0, "tinybert": 1.0}
STAGE1_DONE = "done.json"


def load_classifier(path: str | Path) -> tuple[Model, str, dict[str, Any]]:
    """The teacher classifier of a `bertkit finetune classify` folder: (model in eval mode, task, settings).
    InputError when the folder is missing or has no trained classification head."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.tasks.predictor import TASK_FILE

    path = Path(resolve_model_path(path))
    if not path.is_dir():
        raise InputError(f"teacher folder not found: {path}")
    try:
        model = from_pretrained(path, task="classification", require_heads=True)
    except CheckpointError as e:
        if "head" not in str(e):
            raise
        raise InputError(f"the teacher {path} has no classification head; distil from a model fine-tuned by "
                         "`bertkit finetune classify`") from None
    task, settings = "classify", {}
    if (path / TASK_FILE).is_file():
        meta = json.loads((path / TASK_FILE).read_text(encoding="utf-8"))
        task, settings = meta.get("task", "classify"), dict(meta.get("settings", {}))
    if task not in ("classify", "pair") or settings.get("kind", "single_label") != "single_label":
        raise InputError(f"the teacher {path} is a {task} ({settings.get('kind')}) model; task distillation takes "
                         "a single-label classifier from `bertkit finetune classify` (or pair)")
    if not settings.get("labels"):
        id2label = model.config.id2label or {}
        settings["labels"] = [str(id2label.get(i, i)) for i in range(model.config.num_labels)]
    settings.setdefault("kind", "single_label")
    model.eval()
    return model, task, settings


def _read_augmented(path: Any, task: str, cols: dict[str, str | None], labels: list[str]) -> tuple[list, Any, list]:
    """Texts, second texts and label ids (-100 where the label is empty or its column absent) of `path`."""
    from bertkit.tasks import classification as C
    from bertkit.tasks.tables import read_table

    tc, t2, lc = cols["text_col"], cols["text2_col"], cols["label_col"]
    table = read_table(path, needed=[tc, t2])
    lc = lc if lc in table.columns else None
    ex = C.examples_from_table(table, tc, t2, None)
    index = {k: i for i, k in enumerate(labels)}
    ids = []
    for k, line in zip(ex.rows, ex.lines):
        raw = table.rows[k].get(lc) if lc else None
        raw = "" if raw is None else str(raw).strip()
        if raw and raw not in index:
            raise InputError(f"{path}: label {raw!r} (line {line}) is not one of the teacher's labels: "
                             f"{', '.join(labels)}")
        ids.append(index[raw] if raw else IGNORE)
    return ex.texts, ex.pairs, ids


def _features(tok: Any, texts: list, pairs: Any, targets: list[int], max_length: int) -> list[dict[str, Any]]:
    from bertkit.tasks import classification as C

    feats, owner = C.encode_texts(tok, texts, pairs, max_length)
    for f, k in zip(feats, owner):
        f["labels"] = targets[k]
    return feats


def build_student(kind: str, teacher: Model, tok: Any, *, layers: Any = None, student_init: Any = None,
                  student_layers: int = 4, hidden: int = 312, heads: int | None = None, ffn: int = 1200,
                  seed: int = 0) -> Model:
    """The classification student of `kind`: "distilbert" (blocks `layers`, default every other one, with the
    embeddings, of the teacher and its classifier head, or of `student_init` with a fresh head) or "tinybert"
    (`student_init`'s encoder with a fresh head, else a random tinybert_student of the teacher, `heads` default
    the teacher's)."""
    from bertkit.distill.students import distilbert_student, tinybert_student
    from bertkit.hub import from_pretrained
    from bertkit.objectives.distill import check_vocabularies

    torch.manual_seed(seed)
    cfg = teacher.config
    init = None
    if student_init is not None:
        from bertkit.tokenizers import Tokenizer

        if not Path(student_init).is_dir():
            raise InputError(f"student_init folder not found: {student_init}")
        if (Path(student_init) / "vocab.txt").is_file() or (Path(student_init) / "tokenizer.json").is_file():
            check_vocabularies(len(Tokenizer.from_pretrained(student_init)), cfg.vocab_size)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*newly initialised.*")
            init = from_pretrained(student_init, task="classification", num_labels=cfg.num_labels,
                                   id2label=cfg.id2label)
        check_vocabularies(init.config.vocab_size, cfg.vocab_size)
    if kind == "distilbert":
        # blocks `layers` of the teacher, or of `student_init` (its embeddings too, with a fresh head): a
        # no-teacher twin that inherits nothing the teacher learnt
        student = distilbert_student(teacher if init is None else init, layers, tokenizer=tok)
    elif init is not None:
        student = init
    else:
        student = tinybert_student(teacher, layers=student_layers, hidden=hidden,
                                   heads=cfg.num_heads if heads is None else heads, ffn=ffn, task="classification",
                                   tokenizer=tok)
    student.train()
    return student


def _fit(student: Model, objective: Any, batches: Any, stage_dir: Path, steps: int, lr: float, *, precision: str,
         seed: int, progress: bool, resume: bool, max_time_s: float | None, tok: Any) -> dict[str, Any]:
    from bertkit.hub import save_pretrained
    from bertkit.tasks.batching import grouped_collate
    from bertkit.training.trainer import TrainConfig, Trainer

    cfg = TrainConfig(out_dir=stage_dir, lr=lr, warmup_steps=int(0.1 * steps), max_steps=steps, batch_size=1,
                      precision=precision, log_every=max(1, min(50, len(batches) // 10)), seed=seed,
                      progress=progress, save_final=False, save_every=len(batches), keep_checkpoints=1,
                      checkpoint_at_end=False, max_time_s=max_time_s)
    trainer = Trainer(student, objective, batches, config=cfg, collate_fn=grouped_collate(tok.pad_token_id or 0),
                      save_fn=lambda m, p: save_pretrained(m, p, tokenizer=tok))
    return trainer.fit(resume=resume)


def _stopped(metrics: dict[str, Any]) -> bool:
    """The fit ended before its last step (Ctrl-C, SIGTERM or the time budget): its checkpoint resumes it."""
    return bool(metrics.get("interrupted") or metrics.get("out_of_time"))


def _steps(cap: int | None, epochs: float, n_batches: int, name: str) -> int:
    if cap is not None:
        if int(cap) < 1:
            raise InputError(f"{name} must be >= 1, got {cap}")
        return int(cap)
    return max(1, math.ceil(epochs * n_batches))


def distill_task(teacher: str | Path, train: str | Path, out: str | Path, method: str = "distilbert",
                 dev: str | Path | None = None, augmented: str | Path | None = None, *,
                 text_col: str | None = None, text2_col: str | None = None, label_col: str | None = None,
                 student_init: str | Path | None = None, twin_of: str = "distilbert", layers: Any = None,
                 student_layers: int = 4, hidden: int = 312, heads: int | None = None, ffn: int = 1200,
                 alpha: float = 0.5, temperature: float | None = None, epochs: float = 3.0,
                 intermediate_epochs: float = 10.0, prediction_epochs: float = 3.0, steps: int | None = None,
                 intermediate_steps: int | None = None, prediction_steps: int | None = None,
                 time_budget_min: float | None = None, lr: float = 5e-5, batch_size: int = 32,
                 max_length: int | None = None, precision: str = "auto", seed: int = 0, resume: bool = False,
                 progress: bool = True) -> Model:
    """Distil the classifier `teacher` into a smaller student on `train` (see the module docstring).

    distilbert / labels: `epochs` passes over the batches (or `steps`); tinybert: `intermediate_epochs` then
    `prediction_epochs` (or `intermediate_steps`, `prediction_steps`). temperature: None = 2 (distilbert) or 1
    (tinybert). time_budget_min: minutes of training after which the run stops with a checkpoint (resume=True
    continues it). AdamW at `lr` with 10% linear warm-up and linear decay, batches of `batch_size` rows of
    similar length, texts cut to `max_length` tokens (default: the teacher's fine-tuning length).
    Returns the trained student; writes it to `out` (a Predictor folder) with out/metrics.json (method,
    parameter counts, steps, first and last training loss, dev accuracy of student and teacher, seconds).
    """
    from bertkit.distill.general import _first_last_losses
    from bertkit.hub import from_pretrained, save_pretrained
    from bertkit.objectives.distill import LogitKDObjective, TinyBertObjective
    from bertkit.resumable import differences
    from bertkit.tasks import classification as C
    from bertkit.tasks.batching import GroupedBatches
    from bertkit.tasks.files import read_task_file
    from bertkit.tasks.finetune import _fingerprint, resolve_precision, task_objective
    from bertkit.tasks.predictor import Predictor
    from bertkit.tokenizers import Tokenizer
    from bertkit.training import checkpoint as ck

    t_start = time.perf_counter()
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if twin_of not in TWINS:
        raise InputError(f"twin_of must be one of {', '.join(TWINS)}, got {twin_of!r}")
    kind = twin_of if method == "labels" else method
    twin = twin_of if method == "labels" else None  # only a labels-only run is anyone's twin
    if augmented is not None and method == "labels":
        raise InputError("augmented rows have no gold labels to train the labels baseline on; they are for the "
                         "teacher-based methods (distilbert, tinybert)")
    for name, v in (("batch_size", batch_size), ("student_layers", student_layers), ("hidden", hidden),
                    ("ffn", ffn)):
        if int(v) < 1:
            raise InputError(f"{name} must be >= 1, got {v}")
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    if temperature is not None and not temperature > 0:
        raise InputError(f"the temperature must be > 0, got {temperature}")
    for name, v in (("epochs", epochs), ("intermediate_epochs", intermediate_epochs),
                    ("prediction_epochs", prediction_epochs), ("lr", lr)):
        if not v > 0:
            raise InputError(f"{name} must be > 0, got {v}")
    if time_budget_min is not None and not time_budget_min > 0:
        raise InputError(f"time_budget_min must be > 0, got {time_budget_min}")
    T = DEFAULT_TEMPERATURE[kind] if temperature is None else float(temperature)

    teacher_model, task, settings = load_classifier(teacher)
    t_path = Path(teacher_model.pretrained_path)
    out = Path(out)
    if out.resolve() == t_path.resolve():
        raise InputError(f"the output folder {out} is the teacher's; write the student to another folder")
    labels = list(settings["labels"])
    cols = {"text_col": text_col or settings.get("text_col"), "text2_col": text2_col or settings.get("text2_col"),
            "label_col": label_col or settings.get("label_col")}
    tr, used = read_task_file(task, train, kind="single_label", **cols)
    C.check_known(labels, tr.gold, tr.lines, str(train), f"the teacher's labels ({t_path})")
    dv = None
    if dev is not None:
        dv, _ = read_task_file(task, dev, kind="single_label", **used)
        C.check_known(labels, dv.gold, dv.lines, str(dev), f"the teacher's labels ({t_path})")
    L = int(max_length or settings.get("max_length", 128))
    if L > teacher_model.config.max_positions:
        raise InputError(f"max_length {L} exceeds the teacher's {teacher_model.config.max_positions} positions")
    tok = Tokenizer.from_pretrained(t_path)
    student = build_student(kind, teacher_model, tok, layers=layers, student_init=student_init,
                            student_layers=student_layers, hidden=hidden, heads=heads, ffn=ffn, seed=seed)
    prec = resolve_precision(precision)
    settings.update(used, max_length=L, precision=prec, base_model=str(t_path))

    train_dir = out / "training"
    run = _fingerprint(train=train, dev=dev, model=t_path, augmented=str(augmented), aug_sha=_fingerprint(
        train=augmented, dev=None, model=t_path)["train_sha256"], method=method, twin_of=twin,
        layers=layers, student_init=str(student_init), student_layers=student_layers, hidden=hidden, heads=heads,
        ffn=ffn, alpha=alpha, temperature=T, epochs=epochs, intermediate_epochs=intermediate_epochs,
        prediction_epochs=prediction_epochs, steps=steps, intermediate_steps=intermediate_steps,
        prediction_steps=prediction_steps, lr=lr, batch_size=batch_size, max_length=L, seed=seed)
    if resume:
        try:
            before = json.loads((train_dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{out} has no distillation run to resume ({train_dir / 'run.json'} is missing); "
                             "start without resume") from None
        diff = differences(before, run)
        if diff:
            raise InputError("resume continues a run with the same arguments and data; these differ: "
                             + "; ".join(diff))
    else:
        if train_dir.exists():
            if any(train_dir.glob("**/checkpoints/step_*")):
                warn(f"{out} holds an interrupted run; starting over. Pass resume=True (--resume) to continue it")
            shutil.rmtree(train_dir)
        train_dir.mkdir(parents=True)
        (train_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")

    gold = C.encode_targets(tr.gold, labels, False)
    feats = _features(tok, tr.inputs, tr.pairs, gold, L)
    n_aug = 0
    if augmented is not None:
        a_texts, a_pairs, a_ids = _read_augmented(augmented, task, used, labels)
        feats += _features(tok, a_texts, a_pairs, a_ids, L)
        n_aug = len(a_texts)
    if not feats:
        raise InputError(f"{train}: nothing to train on")
    batches = GroupedBatches(feats, batch_size, seed)
    budget = None if time_budget_min is None else time_budget_min * 60.0
    fit_kw = {"precision": prec, "seed": seed, "progress": progress, "tok": tok}

    def left() -> float | None:
        return None if budget is None else max(1e-3, budget - (time.perf_counter() - t_start))

    fits: list[tuple[str, dict[str, Any], Path]] = []
    if kind == "tinybert" and method == "tinybert":
        s1, s2 = train_dir / "stage1", train_dir / "stage2"
        if resume and (s1 / STAGE1_DONE).is_file():  # stage 1 finished: its student, not its training again
            done = from_pretrained(s1 / "student", task="classification")
            student.load_state_dict(done.state_dict())
            fits.append(("intermediate", json.loads((s1 / STAGE1_DONE).read_text()), s1))
        else:
            obj = TinyBertObjective(teacher_model, student, "intermediate")
            n1 = _steps(intermediate_steps, intermediate_epochs, len(batches), "intermediate_steps")
            m1 = _fit(student, obj, batches, s1, n1, lr, resume=resume, max_time_s=left(), **fit_kw)
            fits.append(("intermediate", m1, s1))
            if not _stopped(m1):
                save_pretrained(student, s1 / "student", tokenizer=tok)
                (s1 / STAGE1_DONE).write_text(json.dumps({"step": int(m1.get("step", 0))}) + "\n")
        if not _stopped(fits[-1][1]):
            obj = TinyBertObjective(teacher_model, student, "prediction", T)
            n2 = _steps(prediction_steps, prediction_epochs, len(batches), "prediction_steps")
            fits.append(("prediction", _fit(student, obj, batches, s2, n2, lr, resume=resume and s2.is_dir(),
                                            max_time_s=left(), **fit_kw), s2))
    else:
        obj = LogitKDObjective(teacher_model, student, alpha, T) if method == "distilbert" \
            else task_objective("single_label", "classify")
        n = _steps(steps, epochs, len(batches), "steps")
        fits.append((method, _fit(student, obj, batches, train_dir, n, lr, resume=resume, max_time_s=left(),
                                  **fit_kw), train_dir))
    student.eval()
    interrupted = _stopped(fits[-1][1])
    pred = Predictor(task, student, tok, settings)
    report: dict[str, Any] = {
        "method": method, "twin_of": twin, "teacher": str(t_path),
        "student_init": None if student_init is None else str(student_init), "task": task, "labels": labels,
        "train": str(train), "train_examples": len(tr.inputs), "train_skipped": tr.skipped,
        "augmented": None if augmented is None else str(augmented), "augmented_examples": n_aug,
        "train_features": len(feats), "alpha": alpha if method == "distilbert" else None,
        "temperature": T if method != "labels" else None,
        "teacher_parameters": sum(p.numel() for p in teacher_model.parameters()),
        "student_parameters": sum(p.numel() for p in student.parameters()),
        "teacher_layers": teacher_model.config.num_layers, "student_layers": student.config.num_layers,
        "student_hidden": student.config.hidden_size, "stages": {}, "interrupted": interrupted,
        "out_of_time": bool(fits[-1][1].get("out_of_time")), "time_budget_min": time_budget_min,
    }
    for name, m, d in fits:
        first, last = _first_last_losses(d / "log.jsonl")
        report["stages"][name] = {"steps": int(m.get("step", 0)), "loss_first": first, "loss_last": last}
    report["steps"] = sum(s["steps"] for s in report["stages"].values())
    report["loss_first"], report["loss_last"] = (report["stages"][fits[-1][0]]["loss_first"],
                                                 report["stages"][fits[-1][0]]["loss_last"])
    if dv is not None:
        enc = pred.encode(dv.inputs, dv.pairs, gold=dv.gold)
        report["dev_examples"] = len(dv.inputs)
        report["dev_accuracy"] = pred.score(enc)["accuracy"]
        report["teacher_dev_accuracy"] = Predictor(task, teacher_model, tok, settings).score(enc)["accuracy"]
    out.mkdir(parents=True, exist_ok=True)
    if not interrupted:
        tmp = Path(tempfile.mkdtemp(prefix=".student.", dir=out))
        try:
            pred.save(tmp / "model")
            ck.publish_files(tmp / "model", out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    report["seconds"] = round(time.perf_counter() - t_start, 2)
    (out / "metrics.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return student


__all__ = ["build_student", "distill_task", "load_classifier"]
