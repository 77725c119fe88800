"""The learning-curve PNG of a fine-tuning run: training loss by step, the dev metric by epoch."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from bertkit.errors import warn
from bertkit.plotting import pyplot, save_png


def plot_learning_curve(log_path: Path, history: Sequence[dict[str, Any]], metric: str, png: Path,
                        steps_per_epoch: int) -> Path | None:
    """Draw `png` from the trainer's log.jsonl (train loss) and the per-epoch dev metrics. Needs matplotlib;
    without it a warning is given and nothing is drawn."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warn("matplotlib is not installed, so no learning-curve PNG was drawn")
        return None
    import json

    steps, losses = [], []
    if Path(log_path).is_file():
        for line in Path(log_path).read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "loss" in r and "step" in r:
                steps.append(r["step"])
                losses.append(r["loss"])
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    ax.plot(steps, losses, color="tab:blue", label="train loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("train loss", color="tab:blue")
    ax.grid(alpha=0.3)
    if history:
        ax2 = ax.twinx()
        ax2.plot([steps_per_epoch * h["epoch"] for h in history], [h.get(metric, float("nan")) for h in history],
                 "o-", color="tab:red", label=f"dev {metric[5:]}")
        ax2.set_ylabel(f"dev {metric[5:]}", color="tab:red")
    ax.set_title("fine-tuning learning curve")
    fig.tight_layout()
    png = Path(png)
    fig.savefig(png)
    plt.close(fig)
    return png


def plot_confusion(matrix: Any, labels: Sequence[str], png: str | Path, title: str = "confusion matrix") -> Path | None:
    """A confusion matrix (rows gold, columns predicted) as a PNG heat map with the counts written in each cell and
    row-normalised shading. Needs matplotlib; without it a warning is given and nothing is drawn."""
    plt = pyplot("confusion-matrix PNG", required=False)
    if plt is None:
        return None
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(max(3.5, 0.9 * n + 2), max(3.0, 0.8 * n + 1.5)), dpi=110)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=9)
    ax.set_xticks(range(n), [str(x) for x in labels], rotation=45 if n > 4 else 0)
    ax.set_yticks(range(n), [str(x) for x in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    ax.set_title(title)
    png = save_png(fig, png)
    return png
