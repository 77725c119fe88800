"""`bertkit.Learner`: ktrain's workflow over `bertkit.finetune` (the one Trainer loop underneath).

    learner = bertkit.Learner("classify", "train.tsv", dev="dev.tsv", out="runs/sst2")
    learner.lr_find()                     # the sweep, runs/sst2/lr_find.png, the suggestion printed
    learner.fit_onecycle(2e-5, epochs=1)  # one cycle at the chosen peak rate
    learner.validate()                    # per-class report + confusion matrix (runs/sst2/confusion.png)
    learner.predictor.predict(["a gripping film"])

Each fit continues from the model the previous one left (saved under out/fit1, out/fit2, ...); lr_find sweeps a
copy of the current model, which stays as it was.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import InputError
from bertkit.tasks import metrics as M
from bertkit.tasks.lr_find import LRFind, lr_find
from bertkit.tasks.predictor import MODEL_TASK, Predictor

DATA_ARGS = ("text_col", "text2_col", "label_col", "multi_label", "label_sep", "long_docs", "max_length", "stride",
             "doc_stride", "max_answer_length")


class Learner:
    """A task, its data and a model that several fits train in turn. `data` takes finetune's data arguments
    (text_col, label_col, max_length, multi_label, ...); `train_args` (freeze, weight_decay, layer_lr_decay,
    pooling, ...) go to every fit."""

    def __init__(self, task: str, train: str | Path, dev: str | Path | None = None, *, model: str | Path | None = None,
                 out: str | Path | None = None, batch_size: int = 32, seed: int = 0, precision: str = "auto",
                 dev_split: float | None = None, progress: bool = True, **kwargs: Any) -> None:
        if task not in MODEL_TASK:
            raise InputError(f"unknown task {task!r}; expected one of {', '.join(MODEL_TASK)}")
        if not Path(train).is_file():
            raise InputError(f"training file {train} does not exist")
        self.task, self.train, self.dev, self.dev_split = task, train, dev, dev_split
        self.model: str | Path | None = model  # what the next fit starts from
        self.out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="bertkit-learner-"))
        self.batch_size, self.seed, self.precision, self.progress = batch_size, seed, precision, progress
        self.data = {k: v for k, v in kwargs.items() if k in DATA_ARGS}
        self.train_args = {k: v for k, v in kwargs.items() if k not in DATA_ARGS}
        self.predictor: Predictor | None = None
        self.reports: list[dict[str, Any]] = []
        self.found: LRFind | None = None

    # ---- the range test -----------------------------------------------------------------------------------
    def lr_find(self, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 200,
                plot: str | Path | None = None, **kwargs: Any) -> LRFind:
        """The learning-rate range test on the current model (see tasks/lr_find.py); draws `plot` (default
        out/lr_find.png) and prints the summary. The model is not changed."""
        keep = {k: v for k, v in self.train_args.items() if k in ("freeze", "pooling", "weight_decay",
                                                                 "layer_lr_decay")}
        self.found = lr_find(self.task, self.train, start_lr=start_lr, end_lr=end_lr, steps=steps,
                             batch_size=self.batch_size, seed=self.seed, precision=self.precision,
                             plot=plot or self.out / "lr_find.png", progress=self.progress, model=self.model,
                             **{**keep, **kwargs}, **self.data)
        if self.progress:
            print(self.found.summary())
        return self.found

    # ---- fitting ------------------------------------------------------------------------------------------
    def fit(self, lr: float, epochs: float = 1, schedule: str = "linear", **kwargs: Any) -> dict[str, Any]:
        """Fine-tune the current model for `epochs` at peak rate `lr` with `schedule`; returns finetune's report
        (history, best epoch, throughput). The result is this learner's predictor and the next fit's start."""
        from bertkit.tasks.finetune import finetune

        if not lr > 0:
            raise InputError(f"lr must be > 0, got {lr}")
        out = self.out / f"fit{len(self.reports) + 1}"
        args = {**self.train_args, **kwargs}
        pred = finetune(self.task, self.train, self.dev, model=self.model, out=out, lr=lr, epochs=epochs,
                        schedule=schedule, batch_size=self.batch_size, seed=self.seed, precision=self.precision,
                        dev_split=self.dev_split, progress=self.progress, **self.data, **args)
        self.predictor, self.model = pred, out
        self.reports.append(pred.report)
        return pred.report

    def fit_onecycle(self, lr: float, epochs: float = 1, **kwargs: Any) -> dict[str, Any]:
        """ktrain's fit_onecycle: the rate rises from lr/25 to `lr` over the first 30% of the steps, then falls
        along a cosine to lr/1e4, Adam's beta1 cycled against it (0.95 -> 0.85 -> 0.95); no early stopping."""
        return self.fit(lr, epochs, schedule="onecycle", **{"patience": None, **kwargs})

    def autofit(self, lr: float, epochs: int | None = None, early_stopping: int | None = None,
                reduce_on_plateau: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """ktrain's autofit: triangular cycles (one an epoch, between lr/10 and lr). epochs=None trains until
        `early_stopping` (default 5) epochs pass without a better dev score (at most 30 epochs), halving the rates
        after `reduce_on_plateau` (default 2) such epochs; both need a dev set."""
        if epochs is None:
            if self.dev is None and self.dev_split is None:
                raise InputError("autofit without epochs stops on the dev score: give the learner a dev set")
            epochs, early_stopping = 30, early_stopping or 5
            reduce_on_plateau = reduce_on_plateau or 2
        return self.fit(lr, epochs, schedule="triangular", patience=early_stopping,
                        reduce_on_plateau=reduce_on_plateau, **kwargs)

    # ---- scoring ------------------------------------------------------------------------------------------
    def validate(self, dev: str | Path | None = None, plot: str | Path | None = None,
                 print_report: bool | None = None) -> dict[str, Any]:
        """Score the current predictor on `dev` (default: the learner's dev file). Classifiers: accuracy, macro F1,
        the per-class report (precision, recall, F1, support), the confusion matrix (rows gold, columns
        predicted) and its picture (`plot`, default out/confusion.png); other tasks: their metrics."""
        from bertkit.tasks.files import read_task_file

        pred = self.predictor
        if pred is None:
            if self.model is None:
                raise InputError("nothing to validate yet: fit first (or give the learner a fine-tuned model)")
            pred = self.predictor = Predictor.load(self.model)
        dev = dev if dev is not None else self.dev
        if dev is None:
            raise InputError("validate needs a dev file (the learner has none)")
        kind = pred.settings.get("kind", "single_label")
        cols = {k: pred.settings.get(k) for k in ("text_col", "text2_col", "label_col")}
        data, _ = read_task_file(self.task, dev, kind=kind, label_sep=pred.settings.get("label_sep", ","),
                                 **(cols if self.task not in ("ner", "qa") else {}))
        enc = pred.encode(data.inputs, data.pairs, gold=data.gold)
        if self.task not in ("classify", "pair") or kind != "single_label":
            return pred.score(enc)
        res = confusion_report(pred.decode(enc), data.gold, pred.labels or [])
        png = plot or self.out / "confusion.png"
        from bertkit.tasks.curves import plot_confusion

        res["png"] = plot_confusion(np.asarray(res["confusion"]), res["labels"], png)
        if print_report if print_report is not None else self.progress:
            print(res["text"])
        return res

    def save(self, path: str | Path) -> Path:
        """Write the current predictor (a folder Predictor.load and transformers read)."""
        if self.predictor is None:
            raise InputError("nothing to save yet: fit first")
        return self.predictor.save(path)


def confusion_report(preds: Sequence[dict[str, Any]], gold: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Predictions (Predictor.decode's dicts) against gold label names: accuracy, macro F1, per-class report, the
    confusion matrix (rows gold, columns predicted) and the report as text."""
    index = {k: i for i, k in enumerate(labels)}
    unknown = sorted({g for g in gold if g not in index})
    if unknown:
        raise InputError(f"gold labels {unknown[:5]} are not among the model's labels {list(labels)}")
    y, g = [index[p["label"]] for p in preds], [index[x] for x in gold]
    report = M.classification_report(y, g, labels)
    acc = M.accuracy(y, g)
    return {"accuracy": acc, "macro_f1": M.macro_f1(y, g, len(labels)), "report": report,
            "confusion": M.confusion_matrix(y, g, len(labels)).tolist(), "labels": list(labels),
            "text": M.format_report(report, acc)}
