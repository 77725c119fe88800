"""Training log: one JSON object per line in out_dir/log.jsonl, and the loss-curve PNG."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertkit.errors import warn


class JsonlLog:
    """Appends records to `path`; on resume, records past the resumed step are dropped first."""

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is None:
            self.path.write_text("")
        elif self.path.exists():
            keep = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in keep))

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")


def read_log(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut by a crash
                continue
    return out


def plot_loss(log_path: Path, png_path: Path, title: str = "training loss") -> Path | None:
    """Train loss (and every eval_* loss) against step. Needs matplotlib (`pip install bertkit[plot]`)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warn("matplotlib is not installed, so no loss-curve PNG was drawn; pip install 'bertkit[plot]'")
        return None
    recs = read_log(log_path)
    series: dict[str, tuple[list[int], list[float]]] = {}
    for r in recs:
        for k, v in r.items():
            if k in ("step", "lr", "epoch", "tokens_per_s", "examples_per_s", "grad_norm", "elapsed_s") \
                    or not isinstance(v, (int, float)) or "loss" not in k:
                continue
            xs, ys = series.setdefault(k, ([], []))
            xs.append(r["step"])
            ys.append(v)
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for k, (xs, ys) in sorted(series.items()):
        ax.plot(xs, ys, label=k, marker="o" if k.startswith("eval") else None, markersize=3)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    png_path = Path(png_path)
    tmp = png_path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    tmp.replace(png_path)
    return png_path
