"""`bertkit.finetune`: a labelled file in, a trained `Predictor` out, on the one shared trainer.

    clf = bertkit.finetune("classify", train="train.csv", text_col="review", label_col="sentiment")
    clf.predict(["I loved the song", "I hated the song"])

Per task: read the files (bad rows skipped and counted), build the label map, load the checkpoint with a
fresh head, apply the freezing policy, turn rows into features, and train with `training.Trainer`
(length-grouped dynamic-padding batches, bf16 autocast where the CPU has it, evaluation on the dev set each
epoch, best checkpoint kept, early stopping). The output folder gets the best model (a Predictor folder),
metrics.json, learning_curve.png and the trainer's log under training/. An interrupted run (Ctrl-C, SIGTERM, the
time budget) leaves its checkpoint under training/, a crashed one its last epoch's, and either continues exactly
with `resume=True` (`--resume`).
"""
from __future__ import annotations

import hashlib
import json
import resource
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError
from bertkit.models.config import CLASSIFIER_POOLINGS
from bertkit.tasks import classification as C
from bertkit.tasks.batching import GroupedBatches, grouped_collate
from bertkit.tasks.conll import tag_scheme
from bertkit.tasks.files import TaskData, read_task_file, row_langs, split_dev
from bertkit.tasks.freezing import apply_freezing
from bertkit.tasks.ner import encode_words
from bertkit.tasks.predictor import MODEL_TASK, Predictor
from bertkit.tasks.qa import encode_qa

MAIN_METRIC = {"classify": "accuracy", "pair": "accuracy", "regress": "spearman", "ner": "f1", "qa": "f1",
               "multi_label": "micro_f1"}
FINETUNE_SCHEDULES = ("linear", "onecycle", "triangular")
DEFAULT_LR = {"classify": 5e-5, "pair": 5e-5, "regress": 5e-5, "ner": 1e-4, "qa": 1e-4}


def resolve_precision(precision: str) -> str:
    """auto -> bf16 where the training device multiplies it natively, else fp32 (bertkit.hardware); the trainer
    warns about an explicit bf16 that would be emulated."""
    from bertkit import hardware

    return hardware.resolve_precision(precision, "cuda" if torch.cuda.is_available() else "cpu", warn=False)


def _labels(task: str, data: TaskData, kind: str) -> list[str] | None:
    if task in ("regress", "qa"):
        return None
    if task == "ner":
        tags = {t for s in data.gold for t in s}
        return ["O"] + sorted(tags - {"O"}, key=lambda t: (t[2:], t))
    return C.label_list(data.gold)


def _train_features(pred: Predictor, data: TaskData, progress: bool = False) -> list[dict[str, Any]]:
    s, tok = pred.settings, pred.tokenizer
    if pred.task in ("qa", "ner"):
        if pred.task == "qa":
            feats, owner = encode_qa(tok, data.inputs, s["max_length"], s["doc_stride"], train=True)
        else:
            l2i = {k: i for i, k in enumerate(pred.labels)}
            feats, owner = encode_words(tok, data.inputs, data.gold, l2i, s["max_length"], s["stride"])
        pred.tag_langs(feats, owner, len(data.inputs), s.get("lang"))
        return feats
    feats, owner = C.encode_texts(tok, data.inputs, data.pairs, s["max_length"], s["combine"] != "truncate",
                                  s["stride"], progress)
    targets = C.encode_targets(data.gold, pred.labels, s["kind"] == "multi_label")
    for f, k in zip(feats, owner):
        f["labels"] = targets[k]
    pred.tag_langs(feats, owner, len(data.inputs), row_langs(data, s))
    return feats


def _check_dev(task: str, labels: list[str] | None, dev: TaskData, dev_path: Any, train_path: Any) -> None:
    if labels is None:
        return
    if task == "ner":
        seen = sorted({t for s in dev.gold for t in s} - set(labels))
        if seen:
            raise InputError(f"{dev_path}: tag(s) {', '.join(seen)} do not occur in {train_path}; "
                             f"known tags: {', '.join(labels)}")
        return
    C.check_known(labels, dev.gold, dev.lines, str(dev_path), str(train_path))


def finetune(task: str, train: str | Path, dev: str | Path | None = None, *, model: str | Path | None = None,
             text_col: str | None = None, text2_col: str | None = None, label_col: str | None = None,
             multi_label: bool = False, label_sep: str = ",", epochs: float = 3, lr: float | None = None,
             batch_size: int = 32, max_length: int | None = None, freeze: str | int | None = None,
             out: str | Path | None = None, seed: int = 0, precision: str = "auto", patience: int | None = 2,
             warmup: float | None = None, weight_decay: float = 0.01, long_docs: str = "truncate", stride: int | None = None,
             doc_stride: int = 128, max_answer_length: int = 30, max_steps: int | None = None,
             time_budget: float | None = None, pooling: str | None = None, layer_lr_decay: float = 1.0,
             dev_split: float | None = None, schedule: str = "linear", reduce_on_plateau: int | None = None,
             resume: bool = False, lang: str | int | None = None, lang_col: str | None = None,
             progress: bool = True) -> Predictor:
    """Fine-tune `model` (None: the bundled MiniLM) on `train` for task classify | pair | regress | ner | qa.

    Files: CSV/TSV/JSONL for classify/pair/regress (columns found by name, or given), CoNLL for ner (IOB1 or
    IOB2 tags, trained and scored as IOB2, predicted in the training file's scheme), SQuAD v1.1 JSON for qa. With `dev`, the model is scored after each
    epoch, the best epoch is kept and training stops after `patience` epochs without improvement.
    dev_split: instead of a dev file, hold out this fraction of `train` (seeded by `seed`; classes in
    proportion, whole articles for qa) as the dev set.
    freeze: none | encoder | top:K. long_docs: truncate | clinical | mean | max (window texts, combine).
    pooling (classify, pair, regress; None keeps the checkpoint's, else "cls"): "cls" reads the first token
    through the pooler, as transformers does; "mean" averages the token vectors (an option for checkpoints
    pretrained by MLM alone, whose first token was never trained; on NSMC it did worse, see docs/results.md).
    A mean-pooled model gives its predictions in bertkit only.
    layer_lr_decay: d < 1 trains the task head at `lr`, the last encoder block at lr * d, and each block below
    at d times the one above it (embeddings last): ELECTRA's layer-wise decay (0.8 for its small models).
    schedule: "linear" (warm-up for `warmup` of the steps, default 0.1, then a linear fall to 0: BERT's),
    "onecycle" (ktrain's fit_onecycle: from lr/25 up to lr over `warmup`, default 0.3, then a cosine fall, Adam's
    beta1 cycled 0.95 -> 0.85 -> 0.95) or "triangular" (ktrain's autofit: one cycle per epoch between lr/10 and lr).
    reduce_on_plateau: N halves the later rates after N epochs in a row without a better dev score.
    time_budget: seconds of training after which the trainer stops as on preemption (SIGTERM: it finishes the
    step and saves a checkpoint); the model is then scored on dev once more and the best state is kept.
    A first Ctrl-C (or SIGTERM) stops training the same way, and the scored model is still returned and saved
    (report["interrupted"]); a second Ctrl-C aborts.
    resume: continue the run in `out` from its checkpoint (the one saved when it was interrupted, or the last
    epoch's if it crashed), with the same arguments and data (checked; time_budget and progress may differ).
    The finished run equals one that was never interrupted.
    lang (XLM models, whose tokens carry a language embedding as in pretraining): the language of the training
    rows, a name in config lang2id or an id; saved in the settings as what predictions read by default
    (Predictor.predict(..., lang=) overrides it). lang_col (classify, pair, regress): a column giving each row's
    language instead (a mixed-language file, e.g. XNLI's translate-train-all); predict_file reads it too.
    Returns the Predictor; with `out` it is also saved there with metrics.json and learning_curve.png (and, for
    classify and pair with a dev set, confusion.png and the per-class dev report in metrics.json).
    """
    if task not in MODEL_TASK:
        raise InputError(f"unknown fine-tuning task {task!r}; expected one of {', '.join(MODEL_TASK)}")
    if multi_label and task != "classify":
        raise InputError("multi_label is for the classify task")
    if pooling is not None and pooling not in CLASSIFIER_POOLINGS:
        raise InputError(f"pooling must be {' or '.join(CLASSIFIER_POOLINGS)}, got {pooling!r}")
    if pooling is not None and task not in ("classify", "pair", "regress"):
        raise InputError(f"pooling is for the classify, pair and regress tasks, not {task}")
    if not 0.0 < layer_lr_decay <= 1.0:
        raise InputError(f"layer_lr_decay must be in (0, 1], got {layer_lr_decay}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if dev is not None and dev_split is not None:
        raise InputError("give a dev file or dev_split (a fraction of train held out as dev), not both")
    if schedule not in FINETUNE_SCHEDULES:
        raise InputError(f"schedule must be one of {', '.join(FINETUNE_SCHEDULES)}, got {schedule!r}")
    if warmup is not None and not 0.0 <= warmup < 1.0:
        raise InputError(f"warmup is a fraction of the steps in [0, 1), got {warmup}")
    if reduce_on_plateau is not None and (reduce_on_plateau < 1 or dev is None and dev_split is None):
        raise InputError(f"reduce_on_plateau needs a dev set and N >= 1 epochs, got {reduce_on_plateau}")
    if resume and out is None:
        raise InputError("resume continues the interrupted run saved in `out`: give out")
    from bertkit.training import TrainConfig, Trainer

    t_start = time.perf_counter()
    warmup = default_warmup(schedule) if warmup is None else warmup
    data = read_data(task, train, dev, model=model, text_col=text_col, text2_col=text2_col, label_col=label_col,
                     multi_label=multi_label, label_sep=label_sep, dev_split=dev_split, seed=seed,
                     long_docs=long_docs, max_length=max_length, stride=stride, doc_stride=doc_stride,
                     max_answer_length=max_answer_length, precision=precision, lang=lang, lang_col=lang_col)
    kind, tr, dv, labels, settings, model_dir = data.kind, data.tr, data.dv, data.labels, data.settings, data.model_dir
    out_dir = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="bertkit-ft-"))
    train_dir = out_dir / "training"
    run = _fingerprint(task=task, train=train, dev=dev, model=model_dir, multi_label=multi_label, epochs=epochs,
                       lr=lr, batch_size=batch_size, freeze=freeze, seed=seed, patience=patience, warmup=warmup,
                       weight_decay=weight_decay, max_steps=max_steps, pooling=pooling, layer_lr_decay=layer_lr_decay,
                       dev_split=dev_split, **({"schedule": schedule, "reduce_on_plateau": reduce_on_plateau}
                                               if schedule != "linear" else {}),
                       settings={k: v for k, v in settings.items() if k != "base_model"})
    start_step = _resume_point(train_dir, run) if resume else _start_afresh(train_dir, run)
    build_model(data, seed=seed, freeze=freeze, pooling=pooling, batch_size=batch_size, progress=progress)
    net, params, pred, feats, batches, dev_enc = data.net, data.params, data.pred, data.feats, data.batches, \
        data.dev_enc
    metric = "eval_" + MAIN_METRIC["multi_label" if multi_label else task]
    history: list[dict[str, Any]] = []

    def eval_fn(m: torch.nn.Module) -> dict[str, float]:
        res = {"eval_" + k: v for k, v in pred.score(dev_enc).items()}
        history.append({"epoch": len(history) + 1, **res})
        if progress:
            print(f"epoch {len(history)}: " + ", ".join(f"{k[5:]}={v:.4f}" for k, v in res.items()))
        return res

    if start_step:  # the evaluations before the checkpoint, from the run's log (not the interrupted run's extra one)
        from bertkit.training.log import read_log

        done = [r for r in read_log(train_dir / "log.jsonl") if metric in r and 0 < r["step"] <= start_step]
        history.extend({"epoch": i + 1, **{k: v for k, v in r.items() if k.startswith("eval_")}}
                       for i, r in enumerate(done))
    steps = max_steps or max(1, round(epochs * len(batches)))
    cfg = TrainConfig(out_dir=train_dir, lr=lr or DEFAULT_LR[task], warmup_steps=int(warmup * steps),
                      schedule=schedule, schedule_cycle_steps=max(2, len(batches)),
                      plateau_factor=0.5 if reduce_on_plateau else None, plateau_patience=reduce_on_plateau or 1,
                      max_steps=steps, batch_size=1, precision=settings["precision"], eval_every=len(batches)
                      if dv is not None else None, log_every=max(1, min(50, len(batches) // 10)),
                      best_metric=metric if dv is not None else None, greater_is_better=True,
                      patience=patience if dv is not None else None, seed=seed, progress=progress,
                      weight_decay=weight_decay, layer_lr_decay=layer_lr_decay, save_final=False,
                      # with `out`, a checkpoint each epoch (one kept) lets a crashed run resume from its last epoch
                      save_every=len(batches) if out is not None else None, keep_checkpoints=1,
                      checkpoint_at_end=False)  # a finished run's checkpoint would be deleted at once
    trainer = Trainer(net, task_objective(kind, task), batches, config=cfg,
                      collate_fn=grouped_collate(pred.tokenizer.pad_token_id or 0),
                      eval_data=None, eval_fn=eval_fn if dv is not None else None,
                      save_fn=lambda m, p: Predictor(task, m, pred.tokenizer, settings).save(p))
    t_train = time.perf_counter()
    timer = _budget_timer(time_budget)
    try:
        fit = trainer.fit(resume=bool(start_step))
    finally:
        if timer is not None:
            timer.cancel()
    train_s = time.perf_counter() - t_train
    best_dir = train_dir / "best"
    interrupted = bool(fit.get("interrupted"))
    last_is_best = False
    if interrupted and dv is not None:  # the trainer skips evaluation when stopped: score the last state
        earlier = [h[metric] for h in history]
        last = trainer.evaluate()[metric]
        history[-1]["epoch"] = round(fit["step"] / len(batches), 3)  # a partial epoch
        last_is_best = not earlier or last > max(earlier)
    if best_dir.is_dir() and not last_is_best:  # keep the best epoch, not the last
        best = Predictor.load(best_dir)
        net.load_state_dict(best.model.state_dict())
    net.eval()
    report = {
        "task": task, "model": str(model_dir), "train": str(train), "dev": None if dev is None else str(dev),
        "dev_split": dev_split,
        "train_examples": len(tr.inputs), "train_skipped": tr.skipped, "train_features": len(feats),
        "dev_examples": None if dv is None else len(dv.inputs), "dev_skipped": None if dv is None else dv.skipped,
        "labels": labels, "settings": {k: v for k, v in settings.items() if k != "labels"},
        "lr": cfg.lr, "schedule": schedule, "warmup": warmup, "batch_size": batch_size, "epochs": epochs, "steps": fit.get("step"), "freeze": freeze,
        "params": params, "stopped_early": fit.get("stopped_early"),
        "interrupted": interrupted, "resumed_from_step": start_step or None,
        "stopped_by_time_budget": bool(interrupted and timer is not None and timer.fired),
        "time_budget": time_budget, "history": history,
        "best": max(history, key=lambda r: r.get(metric, float("-inf"))) if history else None,
        "train_seconds": round(train_s, 1), "train_examples_per_s": round(
            len(feats) * (fit.get("step", 0) - start_step) / max(len(batches), 1) / train_s, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    pred.report = report  # type: ignore[attr-defined]
    if out is None:
        shutil.rmtree(out_dir, ignore_errors=True)
        return pred
    pred.save(out_dir)
    if dv is not None and task in ("classify", "pair") and kind == "single_label":
        # the kept model on dev: per-class report and confusion matrix (metrics.json, confusion.png)
        from bertkit.tasks.curves import plot_confusion
        from bertkit.tasks.learner import confusion_report

        conf = confusion_report(pred.decode(dev_enc), dv.gold, labels or [])
        report["dev_report"], report["dev_confusion"] = conf["report"], conf["confusion"]
        plot_confusion(conf["confusion"], conf["labels"], out_dir / "confusion.png", "dev confusion matrix")
    if not interrupted:  # finished: the checkpoint and the best epoch's copy are spent (the model is out_dir)
        shutil.rmtree(train_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(best_dir, ignore_errors=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    from bertkit.tasks.curves import plot_learning_curve

    plot_learning_curve(train_dir / "log.jsonl", history, metric, out_dir / "learning_curve.png", len(batches))
    return pred


@dataclass
class Prepared:
    """What a fine-tuning run trains on: the data read and checked (read_data), then the model with its fresh head,
    the features and the batches (build_model). `bertkit.tasks.lr_find` sweeps over the same."""

    task: str
    kind: str
    tr: TaskData
    dv: TaskData | None
    labels: list[str] | None
    settings: dict[str, Any]
    model_dir: Path
    source: Any = None  # the train file, for messages
    net: Any = None
    params: Any = None
    pred: Predictor | None = None
    feats: list[dict[str, Any]] | None = None
    batches: GroupedBatches | None = None
    dev_enc: Any = None


def read_data(task: str, train: Any, dev: Any = None, *, model: Any = None, text_col: str | None = None,
              text2_col: str | None = None, label_col: str | None = None, multi_label: bool = False,
              label_sep: str = ",", dev_split: float | None = None, seed: int = 0, long_docs: str = "truncate",
              max_length: int | None = None, stride: int | None = None, doc_stride: int = 128,
              max_answer_length: int = 30, precision: str = "auto", lang: str | int | None = None,
              lang_col: str | None = None) -> Prepared:
    """Read and check the train and dev files, build the label list and the task settings (see `finetune`)."""
    from bertkit.hub.default import resolve_model_path

    if lang_col is not None and task in ("ner", "qa"):
        raise InputError(f"lang_col names a column of a table; {task} files have none (give lang)")
    if lang_col is not None and lang is not None:
        raise InputError("give lang (one language for every row) or lang_col (a column of row languages), not both")

    kind = "regression" if task == "regress" else "multi_label" if multi_label else "single_label"
    cols = {"text_col": text_col, "text2_col": text2_col, "label_col": label_col}
    tr, used = read_task_file(task, train, kind=kind, label_sep=label_sep, **cols)
    dv = None
    if dev_split is not None:
        tr, dv = split_dev(task, tr, dev_split, seed)
    labels = _labels(task, tr, kind)
    if dev is not None:
        dv, _ = read_task_file(task, dev, kind=kind, label_sep=label_sep, **{k: v for k, v in used.items()})
    if dv is not None:
        _check_dev(task, labels, dv, dev if dev is not None else f"the held-out part of {train}", train)
    model_dir = resolve_model_path(model)
    settings: dict[str, Any] = dict(
        used, kind=kind, labels=labels, label_sep=label_sep, combine=long_docs, c=2.0, threshold=0.5,
        max_length=max_length or (384 if task == "qa" else 256 if task == "ner" else 128),
        stride=stride if stride is not None else (32 if task == "ner" else 64 if long_docs != "truncate" else 0),
        doc_stride=doc_stride, n_best=20, max_answer_length=max_answer_length, batch_size=64,
        precision=resolve_precision(precision), base_model=str(model_dir))
    if lang is not None:
        settings["lang"] = lang
    if lang_col is not None:
        for d, where in ((tr, train), (dv, dev)):
            if d is not None and lang_col not in d.source.columns:
                raise InputError(f"{where}: no language column {lang_col!r}; available columns: "
                                 f"{', '.join(d.source.columns)}")
        settings["lang_col"] = lang_col
    if task == "ner":  # predictions come back in the training file's scheme: IOB1 in, IOB1 out
        settings["tag_scheme"] = tag_scheme([[c[-1] for c in s.columns] for s in tr.source])
    return Prepared(task, kind, tr, dv, labels, settings, model_dir, source=train)


def build_model(data: Prepared, *, seed: int = 0, freeze: str | int | None = None, pooling: str | None = None,
                batch_size: int = 32, progress: bool = True) -> Prepared:
    """Load the checkpoint with a fresh task head (seeded), freeze, encode the training rows into length-grouped
    batches and the dev rows for scoring; fills data's model fields and returns it."""
    from bertkit.hub import from_pretrained
    from bertkit.tokenizers import Tokenizer

    task, kind, labels = data.task, data.kind, data.labels
    torch.manual_seed(seed)
    n_out = 1 if kind == "regression" else len(labels) if labels else 2
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*newly initialised.*")
        net = from_pretrained(data.model_dir, task=MODEL_TASK[task], num_labels=None if task == "qa" else n_out,
                              id2label=dict(enumerate(labels)) if labels and task != "regress" else None)
    if pooling == "mean":
        net.config.extra["classifier_pooling"] = "mean"
    elif pooling == "cls":
        net.config.extra.pop("classifier_pooling", None)
    if kind != "single_label" and task != "ner" and task != "qa":
        net.config.problem_type = "regression" if kind == "regression" else "multi_label_classification"
    data.params = apply_freezing(net, freeze)
    data.net = net
    data.pred = pred = Predictor(task, net, Tokenizer.from_pretrained(data.model_dir), data.settings)
    data.feats = _train_features(pred, data.tr, progress)
    if not data.feats:
        raise InputError(f"{data.source}: nothing to train on")
    data.batches = GroupedBatches(data.feats, batch_size, seed)
    dv = data.dv
    data.dev_enc = pred.encode(dv.inputs, dv.pairs, gold=dv.gold, lang=row_langs(dv, data.settings)) \
        if dv is not None else None
    return data


def default_warmup(schedule: str) -> float:
    """The fraction of the steps spent rising to the peak rate: 0.1 for linear (BERT), 0.3 for one-cycle (fastai's
    pct_start), none for triangular (its cycles start low)."""
    return {"linear": 0.1, "onecycle": 0.3, "triangular": 0.0}[schedule]


RUN_FILE = "run.json"


def _fingerprint(*, train: Any, dev: Any, model: Path, **args: Any) -> dict[str, Any]:
    """What a resumed run must share with the interrupted one: the arguments, the data files' contents (wherever
    they are now) and the starting checkpoint's folder."""
    def digest(path: Any) -> str | None:
        if path is None:
            return None
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    return json.loads(json.dumps({"train_sha256": digest(train), "dev_sha256": digest(dev),
                                  "model": str(Path(model).resolve()), **args}, default=str))


def _start_afresh(train_dir: Path, run: dict[str, Any]) -> int:
    """A new run: clear what an earlier run in the same folder left under training/ and record this one."""
    from bertkit.errors import warn
    from bertkit.training.checkpoint import latest_checkpoint

    if latest_checkpoint(train_dir) is not None:
        warn(f"{train_dir.parent} holds an interrupted run ({latest_checkpoint(train_dir).name}); starting over. "
             "Pass resume=True (--resume) to continue it instead")
    for name in ("checkpoints", "best"):
        shutil.rmtree(train_dir / name, ignore_errors=True)
    train_dir.mkdir(parents=True, exist_ok=True)
    (train_dir / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")
    return 0


def _resume_point(train_dir: Path, run: dict[str, Any]) -> int:
    """The step of the interrupted run's checkpoint, after checking this call repeats that run's arguments."""
    from bertkit.resumable import differences
    from bertkit.training.checkpoint import STEP_DIR, latest_checkpoint

    last = latest_checkpoint(train_dir)
    if last is None:
        raise InputError(f"{train_dir.parent} has no interrupted fine-tuning run to resume (no checkpoint under "
                         f"{train_dir / 'checkpoints'}); start a new run without resume (--resume)")
    try:
        before = json.loads((train_dir / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{train_dir / RUN_FILE} is missing or unreadable: cannot check that the run to resume "
                         "had the same arguments") from None
    diff = differences(before, run)
    if diff:
        raise InputError("resume continues a run with the same arguments and data; these differ from the "
                         "interrupted run's: " + "; ".join(diff))
    return int(STEP_DIR.match(last.name).group(1))


def _budget_timer(seconds: float | None):
    """Send this process SIGTERM after `seconds`: the trainer's preemption path ends training cleanly. The
    signal is only sent once the trainer's handler is installed (never the default, process-killing one)."""
    if seconds is None:
        return None
    import os
    import signal
    import threading

    class _Timer:
        def __init__(self) -> None:
            self.t: threading.Timer | None = None
            self.fired = False
            self.arm(seconds)

        def arm(self, s: float) -> None:
            self.t = threading.Timer(s, self.fire)
            self.t.daemon = True
            self.t.start()

        def fire(self) -> None:
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
                self.arm(0.5)
            else:
                self.fired = True
                os.kill(os.getpid(), signal.SIGTERM)

        def cancel(self) -> None:
            if self.t is not None:
                self.t.cancel()

    return _Timer()


def task_objective(kind: str, task: str):
    """The training loss of a task: cross-entropy, BCE, MSE, token or span loss (objectives/task_losses.py)."""
    from bertkit.objectives.task_losses import OBJECTIVES

    key = {"ner": "token", "qa": "span"}.get(task, kind)
    return OBJECTIVES[key]
