"""AdamW with BERT's decay rule and the linear warm-up / linear decay schedule."""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def param_groups(module: nn.Module, weight_decay: float) -> list[dict]:
    """Two groups: matrices decay; biases, LayerNorm weights and other vectors (ndim < 2) do not.

    BERT's optimizer excluded `bias` and `LayerNorm.weight` by name; the ndim rule selects the same
    tensors without depending on parameter names. Shared (tied) parameters appear once.
    """
    decay, no_decay, seen = [], [], set()
    for p in module.parameters():
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizer(module: nn.Module, lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                    eps: float = 1e-6) -> torch.optim.AdamW:
    """AdamW over `param_groups`; the fused kernel where this PyTorch has it for the parameters' device."""
    groups = param_groups(module, weight_decay)
    params = [p for g in groups for p in g["params"]]
    fused = bool(params) and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) for p in params)
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=True)
        except (RuntimeError, TypeError):  # fused unsupported on this device/build
            pass
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, foreach=True)


class LinearSchedule:
    """lr(step) = peak * step / warmup during warm-up, then falls linearly to 0 at `total` steps.

    `step()` is called after each optimizer step; `state_dict` makes resumption exact.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> None:
        self.optimizer, self.warmup, self.total = optimizer, max(0, warmup_steps), max(1, total_steps)
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.last_step = 0
        self._apply()

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return step / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def _apply(self) -> None:
        f = self.factor(self.last_step)
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * f

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.last_step, self.warmup, self.total = state["last_step"], state["warmup"], state["total"]
        self._apply()


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]
