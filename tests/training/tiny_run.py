"""A tiny, deterministic MLM training run used by the trainer tests (in-process and as a subprocess)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from bertkit.models import Model, ModelConfig
from bertkit.objectives.masking import Vocab, mask_tokens
from bertkit.objectives.mlm import MLMObjective
from bertkit.training import TrainConfig, Trainer

VOCAB = Vocab(mask_id=4, vocab_size=99, special_ids=(0, 1, 2, 3, 4))


def tiny_config(**kw) -> ModelConfig:
    base = dict(vocab_size=99, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37, max_positions=64,
                dropout=0.0, attention_dropout=0.0)
    base.update(kw)
    return ModelConfig(**base)


def static_mlm_data(n: int = 64, length: int = 16, seed: int = 0) -> list[dict[str, torch.Tensor]]:
    """Sequences [CLS] w ... w [SEP] over a repetitive toy language, masked once (static masking)."""
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(5, 60, (n, 1), generator=g)
    body = (start + torch.arange(length - 2)[None, :] % 7) % 94 + 5          # learnable pattern
    ids = torch.cat([torch.full((n, 1), 2), body, torch.full((n, 1), 3)], 1)
    masked, labels = mask_tokens(ids, VOCAB, g)
    return [{"input_ids": masked[i], "attention_mask": torch.ones(length, dtype=torch.long), "labels": labels[i]}
            for i in range(n)]


def collate(examples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    batch = {k: torch.stack([e[k] for e in examples]) for k in examples[0]}
    batch["num_items"] = int((batch["labels"] != -100).sum())
    return batch


class SlowMLM(MLMObjective):
    """MLM that sleeps a little per step, so a test can kill the process mid-run."""

    def __init__(self, delay: float, crash_at: int | None = None) -> None:
        super().__init__()
        self.delay, self.crash_at, self.calls = delay, crash_at, 0

    def forward(self, model, batch):
        self.calls += 1
        if self.crash_at is not None and self.calls == self.crash_at:
            raise RuntimeError("simulated crash")
        time.sleep(self.delay)
        return super().forward(model, batch)


def press_ctrl_c_once_training(after: float = 0.0):
    """Send this process SIGINT (Ctrl-C) `after` seconds once the trainer's Ctrl-C handler is installed, from a
    thread; returns the thread."""
    import os
    import signal
    import threading

    def press():
        while signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            time.sleep(0.02)
        time.sleep(after)
        os.kill(os.getpid(), signal.SIGINT)
    t = threading.Thread(target=press, daemon=True)
    t.start()
    return t


def run(out_dir: Path, max_steps: int = 8, batch_size: int = 8, grad_accum: int = 1, save_every: int | None = None,
        resume: bool = False, delay: float = 0.0, precision: str = "fp32", seed: int = 0,
        crash_at: int | None = None, **cfg) -> Model:
    torch.manual_seed(1234)
    model = Model(tiny_config(), "mlm")
    trainer = Trainer(model, SlowMLM(delay, crash_at), static_mlm_data(), collate_fn=collate,
                      config=TrainConfig(out_dir=out_dir, lr=cfg.pop("lr", 1e-3), warmup_steps=2, max_steps=max_steps,
                                         batch_size=batch_size, grad_accum=grad_accum, save_every=save_every,
                                         log_every=1, precision=precision, seed=seed, progress=False, **cfg))
    trainer.fit(resume=resume)
    return model


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out_dir", type=Path)
    p.add_argument("--max-steps", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--save-every", type=int, default=None)
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    m = run(a.out_dir, a.max_steps, a.batch_size, save_every=a.save_every, resume=a.resume, delay=a.delay)
    import os
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save(m.state_dict(), a.out_dir / "final_state.pt")
    sys.exit(0)
