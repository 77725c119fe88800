"""AdamW with BERT's decay rule, optional layer-wise learning-rate decay, and the schedules: linear warm-up / linear
decay (BERT), the Transformer's inverse square root warm-up (Noam), one-cycle (Smith; fastai's and ktrain's
`fit_onecycle`), triangular cyclical rates (ktrain's `autofit`) and the exponential sweep of a learning-rate range
test (`lr_find`)."""
from __future__ import annotations

import math
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


def _prefix_scale(name: str, lr_scales: dict[str, float]) -> float:
    """The scale of the longest prefix in `lr_scales` that names `name` or a module above it (1.0: none)."""
    best, scale = -1, 1.0
    for prefix, s in lr_scales.items():
        if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
            best, scale = len(prefix), s
    return scale


def param_groups(module: nn.Module, weight_decay: float, layer_lr_decay: float = 1.0,
                 lr_scales: dict[str, float] | None = None) -> list[dict]:
    """Matrices decay; biases, LayerNorm weights and other vectors (ndim < 2) do not.

    BERT's optimizer excluded `bias` and `LayerNorm.weight` by name; the ndim rule selects the same
    tensors without depending on parameter names. Shared (tied) parameters appear once.
    With `layer_lr_decay` d < 1 (ULMFiT's discriminative fine-tuning, ELECTRA's layer-wise decay) each
    group also carries `lr_scale` = d ** (top - depth) (see `layer_depths`): the heads learn at the full
    rate, the last block at d times it, the embeddings at d ** (blocks + 1).
    `lr_scales` maps a module's name (as in named_parameters, e.g. "model.decoder") to a factor on the rate of
    every parameter under it (the longest matching name wins), e.g. BERTSUM's fresh decoder or summarisation head
    learning faster than the pretrained encoder; it multiplies the layer decay's scale.
    """
    if not 0.0 < layer_lr_decay <= 1.0:
        raise InputError(f"layer_lr_decay must be in (0, 1], got {layer_lr_decay}")
    lr_scales = dict(lr_scales or {})
    names = {n for n, _ in module.named_modules()} | {n for n, _ in module.named_parameters()}
    for prefix, s in lr_scales.items():
        if prefix not in names:
            raise InputError(f"lr_scales names {prefix!r}, which is no module or parameter of the model")
        if not s > 0:
            raise InputError(f"lr_scales[{prefix!r}] must be > 0, got {s}")
    depths = layer_depths(module) if layer_lr_decay < 1.0 else {}
    top = max(depths.values(), default=0)
    groups: dict[tuple[float, bool], dict] = {}
    for name, p in module.named_parameters():  # a shared (tied) parameter is listed once
        if not p.requires_grad:
            continue
        scale = layer_lr_decay ** (top - depths[name]) if depths else 1.0
        scale *= _prefix_scale(name, lr_scales)
        g = groups.setdefault((scale, p.ndim >= 2), {"params": [], "weight_decay": weight_decay if p.ndim >= 2
                                                     else 0.0, "lr_scale": scale})
        g["params"].append(p)
    if not depths:  # the two classic groups, always present (matrices first)
        for key in ((1.0, True), (1.0, False)):
            groups.setdefault(key, {"params": [], "weight_decay": weight_decay if key[1] else 0.0, "lr_scale": 1.0})
    # the base rate's groups first (what the log reports as lr), then the others from the fastest down
    return sorted(groups.values(), key=lambda g: (g["lr_scale"] != 1.0, -g["lr_scale"], g["weight_decay"] == 0.0))


def build_optimizer(module: nn.Module, lr: float, weight_decay: float = 0.01, betas: tuple[float, float] = (0.9, 0.999),
                    eps: float = 1e-6, layer_lr_decay: float = 1.0,
                    lr_scales: dict[str, float] | None = None) -> torch.optim.AdamW:
    """AdamW over `param_groups` (each at lr * its lr_scale); the fused kernel where this PyTorch has it."""
    groups = param_groups(module, weight_decay, layer_lr_decay, lr_scales)
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
        self.scale = 1.0  # reduce(): the reductions on plateau so far, a product
        self._apply()

    def factor(self, step: int) -> float:
        raise NotImplementedError

    def beta1(self, step: int) -> float | None:
        """Adam's beta1 at `step` for a schedule that cycles momentum against the rate; None: leave it alone."""
        return None

    def reduce(self, factor: float) -> None:
        """Multiply every later rate by `factor` (reduce-on-plateau)."""
        self.scale *= factor
        self._apply()

    def _apply(self) -> None:
        f = self.factor(self.last_step) * self.scale
        b1 = self.beta1(self.last_step)
        for g in self.optimizer.param_groups:
            g["lr"] = g["initial_lr"] * f
            if b1 is not None:
                g["betas"] = (b1, g["betas"][1])

    def step(self) -> None:
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "scale": self.scale}

    def load_state_dict(self, state: dict) -> None:
        self.last_step = state["last_step"]
        self.scale = state.get("scale", 1.0)
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
        return {**super().state_dict(), "warmup": self.warmup, "total": self.total}

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
        return {**super().state_dict(), "warmup": self.warmup, "d_model": self.d_model}

    def load_state_dict(self, state: dict) -> None:
        self.warmup, self.d_model = state["warmup"], state["d_model"]
        super().load_state_dict(state)


class OneCycleSchedule(_Schedule):
    """One cycle (Smith & Topin 2018, as fastai and ktrain's `fit_onecycle` run it): the rate rises linearly from
    peak / div to the peak over the first `warmup` steps, then falls to peak / final_div at `total` steps, along a
    half cosine (anneal="cos") or a line ("linear"). Adam's beta1 moves the other way: from beta_max down to beta_min
    while the rate rises and back up while it falls (high momentum where the rate is low)."""

    def __init__(self, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, anneal: str = "cos",
                 div: float = 25.0, final_div: float = 1e4, betas: tuple[float, float] = (0.85, 0.95)) -> None:
        if anneal not in ("cos", "linear"):
            raise InputError(f"anneal must be 'cos' or 'linear', got {anneal!r}")
        if div < 1 or final_div < 1:
            raise InputError(f"div and final_div must be >= 1, got {div} and {final_div}")
        self.total = max(1, total_steps)
        self.warmup = min(max(1, warmup_steps), self.total)
        self.anneal, self.div, self.final_div, self.betas = anneal, div, final_div, tuple(betas)
        super().__init__(optimizer)

    def _progress(self, step: int) -> tuple[bool, float]:
        """(in the rising phase, how far along that phase: 0 -> 1)."""
        if step < self.warmup:
            return True, step / self.warmup
        return False, min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))

    def _between(self, a: float, b: float, t: float, cos: bool) -> float:
        return b + (a - b) * (1 + math.cos(math.pi * t)) / 2 if cos else a + (b - a) * t

    def factor(self, step: int) -> float:
        rising, t = self._progress(step)
        if rising:
            return self._between(1 / self.div, 1.0, t, False)
        return self._between(1.0, 1 / self.final_div, t, self.anneal == "cos")

    def beta1(self, step: int) -> float | None:
        lo, hi = self.betas
        rising, t = self._progress(step)
        return self._between(hi, lo, t, False) if rising else self._between(lo, hi, t, self.anneal == "cos")

    def state_dict(self) -> dict:
        return {**super().state_dict(), "warmup": self.warmup, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.warmup, self.total = state["warmup"], state["total"]
        super().load_state_dict(state)


class TriangularSchedule(_Schedule):
    """Cyclical rates, Smith's (2017) triangular policy, as ktrain's `autofit` runs them: each cycle of `cycle`
    steps climbs linearly from peak / div to the peak in its first half and back down in its second; the first
    `warmup` steps rise from 0 to the start of the first cycle. With the Trainer's reduce-on-plateau, each dev
    evaluation that misses the best for `plateau_patience` evaluations in a row halves (or `factor`s) later cycles."""

    def __init__(self, optimizer: torch.optim.Optimizer, cycle_steps: int, warmup_steps: int = 0,
                 div: float = 10.0) -> None:
        if cycle_steps < 2:
            raise InputError(f"a triangular cycle needs at least 2 steps, got {cycle_steps}")
        if div < 1:
            raise InputError(f"div must be >= 1, got {div}")
        self.cycle, self.warmup, self.div = cycle_steps, max(0, warmup_steps), div
        super().__init__(optimizer)

    def factor(self, step: int) -> float:
        low = 1 / self.div
        if step < self.warmup:
            return low * step / self.warmup
        t = ((step - self.warmup) % self.cycle) / self.cycle  # 0 -> 1 through one cycle
        return low + (1 - low) * (1 - abs(2 * t - 1))

    def state_dict(self) -> dict:
        return {**super().state_dict(), "cycle": self.cycle, "warmup": self.warmup, "div": self.div}

    def load_state_dict(self, state: dict) -> None:
        self.cycle, self.warmup, self.div = state["cycle"], state["warmup"], state["div"]
        super().load_state_dict(state)


class ExponentialSchedule(_Schedule):
    """The learning-rate range test's sweep (Smith 2017; fastai's and ktrain's `lr_find`): over `total` steps the rate
    grows geometrically from start_lr to the optimizer's lr (the end of the range), the same factor each step."""

    def __init__(self, optimizer: torch.optim.Optimizer, start_lr: float, total_steps: int) -> None:
        end = optimizer.param_groups[0].get("initial_lr", optimizer.param_groups[0]["lr"])
        if not 0 < start_lr < end:
            raise InputError(f"the lr range must rise: start {start_lr:g} must be > 0 and below the end {end:g}")
        self.ratio, self.total = start_lr / end, max(2, total_steps)
        super().__init__(optimizer)

    def factor(self, step: int) -> float:
        return self.ratio ** (1 - min(step, self.total - 1) / (self.total - 1))

    def state_dict(self) -> dict:
        return {**super().state_dict(), "ratio": self.ratio, "total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.ratio, self.total = state["ratio"], state["total"]
        super().load_state_dict(state)


SCHEDULES = ("linear", "noam", "onecycle", "triangular", "exponential")


def build_schedule(name: str, optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                   d_model: int | None = None, cycle_steps: int | None = None,
                   start_lr: float | None = None) -> _Schedule:
    """The schedule called `name`: "linear" (warm-up then linear decay to 0 at total_steps), "noam" (needs d_model),
    "onecycle" (warm-up to the peak, cosine fall; beta1 cycled), "triangular" (cycles of cycle_steps, default
    total_steps) or "exponential" (the lr_find sweep from start_lr)."""
    if name == "linear":
        return LinearSchedule(optimizer, warmup_steps, total_steps)
    if name == "noam":
        if d_model is None:
            raise InputError("the noam schedule needs d_model (the model width)")
        return NoamSchedule(optimizer, warmup_steps, d_model)
    if name == "onecycle":
        return OneCycleSchedule(optimizer, warmup_steps, total_steps)
    if name == "triangular":
        return TriangularSchedule(optimizer, cycle_steps or max(2, total_steps), warmup_steps)
    if name == "exponential":
        if start_lr is None:
            raise InputError("the exponential schedule needs start_lr (the low end of the range)")
        return ExponentialSchedule(optimizer, start_lr, total_steps)
    raise InputError(f"unknown schedule {name!r}; expected one of {', '.join(SCHEDULES)}")


def trainable(params: Iterable[nn.Parameter]) -> list[nn.Parameter]:
    return [p for p in params if p.requires_grad]
