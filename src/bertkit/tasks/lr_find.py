"""The learning-rate range test (Smith 2017; ktrain's and fastai's `lr_find`).

    found = bertkit.lr_find("classify", "train.tsv")
    found.suggested            # min-loss rate / 10
    found.plot("lr_find.png")  # the loss curve, both suggestions marked

The rate grows geometrically from start_lr to end_lr, one step at a time, on the fine-tuning run's own batches,
model, head and settings (tasks/finetune.read_data + build_model, the one Trainer, schedule "exponential"), and the
training loss is recorded at each step. The sweep stops early once the smoothed loss passes 4x its lowest value.
It trains a copy loaded from the checkpoint folder: the folder, and a Learner's model, are as they were before.
"""
from __future__ import annotations

import math
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertkit.errors import InputError
from bertkit.plotting import pyplot, save_png

SMOOTHING = 0.98  # the moving average over the per-step losses, bias-corrected (fastai's and ktrain's beta)


@dataclass
class LRFind:
    """A sweep's rates and losses (raw and smoothed), and the two suggestions read off the smoothed curve:
    `steepest`, the rate where the loss falls fastest per decade of rate (ktrain's "min numerical gradient"), and
    `min_loss_lr / 10` (fastai's and ktrain's "min loss / 10"), the one `suggested` returns."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float] = field(default_factory=list)
    diverged: bool = False

    def __post_init__(self) -> None:
        if not self.smoothed:
            self.smoothed = smooth(self.losses)

    def _usable(self) -> int:
        """Points up to and including the smoothed minimum (past it the loss climbs: nothing to suggest there)."""
        finite = [(v, i) for i, v in enumerate(self.smoothed) if math.isfinite(v)]
        if not finite:
            raise InputError("the sweep recorded no finite loss: lower end_lr or check the data")
        return min(finite)[1] + 1

    @property
    def min_loss_lr(self) -> float:
        """The rate at the lowest smoothed loss."""
        return self.lrs[self._usable() - 1]

    @property
    def steepest(self) -> float | None:
        """The rate at the most negative slope of the smoothed loss against log10(rate), before the minimum; None
        when the curve has too few points before its minimum to have a slope."""
        n = self._usable()
        if n < 3:
            return None
        xs = [math.log10(x) for x in self.lrs[:n]]
        ys = self.smoothed[:n]
        slopes = [(ys[i + 1] - ys[i - 1]) / (xs[i + 1] - xs[i - 1]) for i in range(1, n - 1)]
        return self.lrs[1 + min(range(len(slopes)), key=slopes.__getitem__)]

    @property
    def suggested(self) -> float:
        """min_loss_lr / 10: below the rate where the loss stops falling, with room to spare."""
        return self.min_loss_lr / 10

    def summary(self) -> str:
        st = self.steepest
        return (f"lr_find over {len(self.lrs)} steps ({self.lrs[0]:.1e} to {self.lrs[-1]:.1e}"
                + (", stopped: the loss diverged" if self.diverged else "") + f"): min loss at {self.min_loss_lr:.2e}"
                + f", suggested (min / 10) {self.suggested:.2e}"
                + (f", steepest descent at {st:.2e}" if st is not None else ""))

    def plot(self, png: str | Path) -> Path | None:
        """Loss against rate (log scale), raw and smoothed, with both suggestions marked. Needs matplotlib."""
        plt = pyplot("lr_find PNG", required=False)
        if plt is None:
            return None
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
        ax.plot(self.lrs, self.losses, color="tab:blue", alpha=0.3, label="loss")
        ax.plot(self.lrs, self.smoothed, color="tab:blue", label=f"smoothed (beta {SMOOTHING})")
        by_lr = dict(zip(self.lrs, self.smoothed))
        marks = [("suggested (min / 10)", self.suggested, "tab:red"), ("steepest", self.steepest, "tab:green")]
        for name, lr, colour in marks:
            if lr is not None:
                ax.axvline(lr, color=colour, linestyle="--", label=f"{name}: {lr:.1e}")
        ax.plot([self.min_loss_lr], [by_lr[self.min_loss_lr]], "o", color="black", label="min loss")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("training loss")
        finite = [v for v in self.smoothed if math.isfinite(v)]
        if finite:  # past divergence the loss dwarfs the curve: keep the interesting range in view
            lo, first = min(finite), finite[0]
            ax.set_ylim(lo - 0.1 * abs(first - lo) - 1e-3, max(first, lo) + 0.5 * abs(first - lo) + 1e-3)
        ax.set_title("learning-rate range test")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
        png = save_png(fig, png)
        return png


def smooth(values: list[float], beta: float = SMOOTHING) -> list[float]:
    """Bias-corrected exponential moving average: out[i] = avg_i / (1 - beta^(i+1))."""
    out, avg = [], 0.0
    for i, v in enumerate(values):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return out


def lr_find(task: str, train: str | Path, *, start_lr: float = 1e-7, end_lr: float = 10.0, steps: int = 200,
            divergence: float | None = 4.0, batch_size: int = 32, seed: int = 0, freeze: str | int | None = None,
            pooling: str | None = None, weight_decay: float = 0.01, layer_lr_decay: float = 1.0,
            precision: str = "auto", plot: str | Path | None = None, progress: bool = True,
            **data: Any) -> LRFind:
    """Sweep the rate from start_lr to end_lr over `steps` optimizer steps of fine-tuning `task` on `train` (the
    same model, head, batches and settings `bertkit.finetune` would use; `data` takes finetune's data arguments:
    model, text_col, text2_col, label_col, multi_label, max_length, ...). Returns the LRFind; `plot` also draws it.
    divergence: stop once the smoothed loss passes this multiple of its lowest value (None: run every step)."""
    from bertkit.tasks.batching import grouped_collate
    from bertkit.tasks.finetune import build_model, read_data, task_objective
    from bertkit.training import TrainConfig, Trainer
    from bertkit.training.log import read_log

    if not 0 < start_lr < end_lr:
        raise InputError(f"the lr range must rise: start_lr {start_lr:g} must be > 0 and below end_lr {end_lr:g}")
    if steps < 3:
        raise InputError(f"a sweep needs at least 3 steps, got {steps}")
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    unknown = set(data) - {"model", "text_col", "text2_col", "label_col", "multi_label", "label_sep", "long_docs",
                           "max_length", "stride", "doc_stride", "max_answer_length", "dev", "dev_split", "lang",
                           "lang_col"}
    if unknown:
        raise InputError(f"lr_find got unknown argument(s) {', '.join(sorted(unknown))}")
    data.pop("dev", None)  # the sweep reads training loss only
    data.pop("dev_split", None)
    prep = read_data(task, train, seed=seed, precision=precision, **data)
    build_model(prep, seed=seed, freeze=freeze, pooling=pooling, batch_size=batch_size, progress=progress)
    tmp = Path(tempfile.mkdtemp(prefix="bertkit-lr-find-"))
    try:
        cfg = TrainConfig(out_dir=tmp, lr=end_lr, schedule="exponential", schedule_start_lr=start_lr,
                          max_steps=steps, batch_size=1, precision=prep.settings["precision"], log_every=1,
                          divergence=divergence, divergence_smoothing=SMOOTHING, save_final=False,
                          checkpoint_at_end=False, seed=seed, progress=progress, weight_decay=weight_decay,
                          layer_lr_decay=layer_lr_decay, trim_memory_s=None)
        fit = Trainer(prep.net, task_objective(prep.kind, task), prep.batches, config=cfg,
                      collate_fn=grouped_collate(prep.pred.tokenizer.pad_token_id or 0)).fit()
        recs = [r for r in read_log(tmp / "log.jsonl") if "loss" in r and "lr" in r]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    found = LRFind([r["lr"] for r in recs], [r["loss"] for r in recs], diverged=bool(fit.get("diverged")))
    if plot is not None:
        found.plot(plot)
    return found
