"""Trainer checkpoints: model folder + optimizer, schedule, RNG and data position, written atomically.

Layout of one checkpoint (out_dir/checkpoints/step_000120/):
    model/              the HF-layout model folder (save_fn), loadable by bertkit and transformers
    trainer_state.pt    weights of everything trained, optimizer, schedule, RNG states, data position
The folder is written under a temporary name and renamed when complete, so a crash while saving leaves
the previous checkpoint intact and never a half-written one under a checkpoint name.
"""
from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.atomic import write_atomic_dir  # noqa: F401  (re-exported for the trainer)
from bertkit.errors import CheckpointError

STEP_DIR = re.compile(r"^step_(\d+)$")


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and python RNG states, as plain tensors/lists (loadable weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss,
                                                       cached],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def publish_files(src: Path, dst: Path) -> None:
    """Move every file of `src` into `dst`, each by an atomic rename (for the final model at out_dir's root)."""
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        target = dst / f.name
        if f.is_dir():
            write_atomic_dir(target, lambda t, f=f: shutil.copytree(f, t, dirs_exist_ok=True))
        else:
            os.replace(f, target)


def list_checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints under out_dir/checkpoints, oldest first."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := STEP_DIR.match(p.name))
             and (p / "trainer_state.pt").is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(out_dir: Path) -> Path | None:
    ckpts = list_checkpoints(out_dir)
    return ckpts[-1] if ckpts else None


def load_trainer_state(ckpt: Path) -> dict[str, Any]:
    try:
        return torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=True)
    except Exception as e:  # truncated or foreign file
        raise CheckpointError(f"cannot read trainer state in {ckpt}: {type(e).__name__}: {e}") from None


def prune(out_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` checkpoints."""
    for p in list_checkpoints(out_dir)[:-keep] if keep > 0 else []:
        shutil.rmtree(p, ignore_errors=True)


def finish_task_run(out_dir: Path | None, train_dir: Path, report: dict[str, Any],
                    save: Callable[[Path], Any]) -> None:
    """The end of a task's fine-tuning run: save the model at out_dir (save(out_dir)) with report as
    out_dir/metrics.json. A finished run's resume checkpoints and best-epoch copy under train_dir are spent and
    removed; an interrupted run keeps them for --resume. Without out_dir, train_dir was temporary: removed."""
    import json

    if out_dir is None:
        shutil.rmtree(train_dir, ignore_errors=True)
        return
    save(out_dir)
    if not report.get("interrupted"):
        shutil.rmtree(train_dir / "checkpoints", ignore_errors=True)
        shutil.rmtree(train_dir / "best", ignore_errors=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
