"""AdamW with BERT's decay rule, optional layer-wise learning-rate decay, and the schedules: linear warm-up / linear
decay (BERT) and the Transformer's inverse square root warm-up (Noam)."""
from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from torch import nn

from bertkit.errors import InputError

_BLOCK_RE = re.compile(r"(?:^|\.)encoder\.blocks\.(\d+)\.")
_BOTTOM_RE = re.compile(r"(?:^|\.)backbone\.(?:embeddings|proj)\.")


def layer_depths(module: nn.Module) -> dict[str, int]:
    """Depth of each named parameter of an encoder: 0 for the embeddings (and ALBERT's E -> H projection),
    i + 1 for encoder block i, and one above the last block for everything else (pooler, task heads).
    Depth follows the blocks, not the layers: ALBERT's one shared block, which runs as every layer, is a
    single block, so it learns at lr * d like a BERT's top block and its embeddings at lr * d^2."""
    names = [n for n, _ in module.named_parameters()]
    blocks = [int(m.group(1)) for n in names if (m := _BLOCK_RE.search(n))]
    if not blocks:
        raise InputError("layer-wise lr decay needs an encoder with numbered blocks (encoder.blocks.i)")
    top = max(blocks) + 2
    depths = {}
    for n in names:
        m = _BLOCK_RE.search(n)
        depths[n] = int(m.group(1)) + 1 if m else 0 if _BOTTOM_RE.search(n) else top
    return depths


def param_groups(module: nn.Module, weight_decay: float, layer_lr_decay: float = 1.0) -> list[dict]:
    """Matrices decay; biases, LayerNorm weights and other vectors (ndim < 2) do not.

    BERT's optimizer excluded `bias` and `LayerNorm.weight` by name; the ndim rule selects the same
    tensors without depending on parameter names. Shared (tied) parameters appear once.
    With `layer_lr_decay` d < 1 (ULMFiT's discriminative fine-tuning, ELECTRA's layer-wise decay) each
    group also carries `lr_scale` = d ** (top - depth) (see `layer_depths`): the heads learn at the full
    rate, the last block at d times it, the embeddings at d ** (blocks + 1).
    """
    if not 0.0 < layer_lr_decay <= 1.0:
        raise InputError(f"layer_lr_decay must be in (0, 1], got {layer_lr_decay}")
    depths = layer_depths(module) if layer_lr_decay < 1.0 else {}
    top = max(depths.values(), default=0)
    groups: dict[tuple[float, bool], dict] = {}
    for name, p in module.named_parameters():  # a shared (tied) parameter is listed once
        if not p.requires_grad:
            continue
        scale = layer_lr_decay ** (top - depths[name]) if depths else 1.0
        g = groups.setdefault((scale, p.ndim >= 2), {"params": [], "weight_decay": weight_decay if p.ndim >= 2
                                                     else 0.0, "lr_scale": scale})
        g["params"].append(p)
    if not depths:  # the two classic groups, always present (matrices first)
        for key in ((1.0, True), (1.0, False)):
            groups.setdefault(key, {"params": [], "weight_decay": weight_decay if key[1] else 0.0, "lr_scale": 1.0})
    return sorted(groups.values(), key=lambda g: (-g["lr_scale"], g["weight_decay"] == 0.0))


def build_optimizer(module: nn.Module, lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                    eps: float = 1e-6, layer_lr_decay: float = 1.0) -> torch.optim.AdamW:
    """AdamW over `param_groups` (each at lr * its lr_scale); the fused kernel where this PyTorch has it."""
    groups = param_groups(module, weight_decay, layer_lr_decay)
    for g in groups:
        g["lr"] = lr * g["lr_scale"]
    params = [p for g in groups for p in g["params"]]
    fused = bool(params) and all(p.dtype in (torch.float32, torch.bfloat16, torch.float16) for p in params)
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=True)
        except (RuntimeError, TypeError):  # fused unsupported on this device/build
            pass
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, foreach=True)


class _Schedule:
    """lr of group g = g's initial lr * factor(optimizer steps taken so far). `step()` is called after each optimizer
    step; `state_dict` makes resumption exact."""

    def __init__(self, optimizer: torch.optim.Optimizer) -> None:
        self.optimizer = optimizer
        for g in optimizer.param_groups:
            g.setdefault("initial_lr", g["lr"])
        self.last_step = 0
        self._apply()

    def factor(self, step: int) -> float:
        raise NotImplementedError

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
        return {"last_step": self.last_step}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = state["last_step"]
        self._apply()


class LinearSchedule(_Schedule):
    """lr(step) = peak * step / warmup during warm-up, then falls linearly to 0 at `total` steps."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int) -> None:
        self.warmup, self.total = max(0, warmup_steps), max(1, total_steps)
        super().__init__(optimizer)

    def factor(self, step: int) -> float:
        if step < self.warmup:
            return step / self.warmup
        return max(0.0, (self.total - step) / max(1, self.total - self.warmup))

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.warmup, self.total = state["warmup"], state["total"]
        super().load_state_dict(state)


class NoamSchedule(_Schedule):
    """The Transformer's schedule (Vaswani et al. 2017, eq. 3): the n-th update (n = 1, 2, ...) runs at
    lr * d_model^-0.5 * min(n^-0.5, n * warmup^-1.5): a linear rise for `warmup` updates, then a fall as 1/sqrt(n).
    The peak, at n = warmup, is lr / sqrt(d_model * warmup); the paper's lr (the scale) is 1."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, d_model: int) -> None:
        if warmup_steps < 1:
            raise InputError(f"the noam schedule needs warmup_steps >= 1, got {warmup_steps}")
        if d_model < 1:
            raise InputError(f"the noam schedule needs d_model >= 1, got {d_model}")
        self.warmup, self.d_model = warmup_steps, d_model
        super().__init__(optimizer)

    def factor(self, step: int) -> float:
        n = step + 1  # `step` updates are done: this is the lr of update number step + 1
        return self.d_model ** -0.5 * min(n ** -0.5, n * self.warmup ** -1.5)

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "warmup": self.warmup, "d_model": self.d_model}

    def load_state_dict(self, state: dict) -> None:
        self.warmup, self.d_model = state["warmup"], state["d_model"]
        super().load_state_dict(state)


SCHEDULES = ("linear", "noam")


def build_schedule(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                   d_model: int | None = None) -> _Schedule:
    """The schedule called `name`: "linear" (warm-up then linear decay to 0 at total_steps) or "noam" (needs
    d_model)."""
    if name == "linear":
        return LinearSchedule(optimizer, warmup_steps, total_steps)
    if name == "noam":
        if d_model is None:
            raise InputError("the noam schedule needs d_model (the model width)")
        return NoamSchedule(optimizer, warmup_steps, d_model)
    raise InputError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]
