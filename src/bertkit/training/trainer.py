"""One training loop for pretraining, fine-tuning and distillation.

    trainer = Trainer(model, objective, train_data, config=TrainConfig(out_dir="runs/x", max_steps=1000),
                      collate_fn=collate, eval_data=dev)
    metrics = trainer.fit(resume=True)

`objective(model, batch) -> {"loss": ..., other named losses}`; an objective that is an nn.Module (an SBO
head, an ELECTRA generator) is trained together with the model. The loop: AdamW (no decay on biases and
LayerNorm), linear warm-up then decay, gradient accumulation, clipping, bf16 autocast, evaluation with
best-checkpoint keeping and early stopping, atomic checkpoints with exact resumption, DDP via torchrun.
"""
from __future__ import annotations

import math
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from bertkit import hardware
from bertkit.errors import InputError
from bertkit.training import checkpoint as ck
from bertkit.training import distributed as dd
from bertkit.training.data import default_collate, stream
from bertkit.training.evaluate import evaluate_objective
from bertkit.training.log import JsonlLog, plot_loss
from bertkit.training.memory import malloc_trim
from bertkit.training.optim import SCHEDULES, build_optimizer, build_schedule


@dataclass
class TrainConfig:
    """Hyper-parameters of one run. batch_size is per process and micro-step: the global batch of one
    optimizer step is batch_size * grad_accum * world_size."""

    out_dir: str | Path = "runs/train"
    lr: float = 1e-4
    warmup_steps: int = 0
    schedule: str = "linear"              # linear (warm-up, linear decay) | noam (lr is the scale; see optim.py)
    schedule_d_model: int | None = None   # noam: the model width d_model
    schedule_cycle_steps: int | None = None  # triangular: steps per cycle (default: the whole run)
    schedule_start_lr: float | None = None   # exponential (lr_find's sweep): the rate at step 0; lr is the last
    plateau_factor: float | None = None   # reduce-on-plateau: after plateau_patience evaluations in a row without a new
    plateau_patience: int = 1             # best (best_metric), multiply all later rates by this factor
    divergence: float | None = None       # stop when a logged loss passes this many times the lowest logged so far,
                                          # or is not finite (lr_find's sweep ends there); metrics["diverged"]
    divergence_smoothing: float = 0.0     # beta of the bias-corrected moving average the divergence test reads
                                          # (0: each logged loss as it is; lr_find: 0.98, as fastai)
    max_steps: int | None = None          # optimizer steps; else derived from epochs
    epochs: float | None = None
    max_time_s: float | None = None       # stop after the step that passes this much wall-clock time (this process):
                                          # evaluated, saved and checkpointed (resumable) as if it were the last
    batch_size: int = 32
    grad_accum: int = 1
    clip_norm: float | None = 1.0
    weight_decay: float = 0.01
    layer_lr_decay: float = 1.0           # < 1: block i learns at lr * d ** (top - depth); see optim.param_groups
    lr_scales: dict[str, float] | None = None  # module name under the model -> factor on its rate, e.g.
                                          # {"head": 20.0}: a fresh head learns faster than a pretrained encoder
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-6
    precision: str = "fp32"               # fp32 | bf16 (autocast) | auto (bf16 where the device multiplies it
                                          # natively: bertkit.hardware; explicit bf16 elsewhere warns, emulated)
    eval_every: int | None = None
    eval_at_start: bool = False           # also evaluate before the first step (logged as step 0; with
                                          # best_metric the starting model is the first candidate for best)
    save_every: int | None = None
    log_every: int = 10
    keep_checkpoints: int = 2
    checkpoint_at_end: bool = True        # False: no checkpoint when the run ends by itself (last step or early
                                          # stop) for a caller that discards it; a stop signal still writes one
    best_metric: str | None = None        # e.g. "eval_loss": keep out_dir/best by this metric
    greater_is_better: bool = False
    patience: int | None = None           # stop after this many evaluations without improvement
    seed: int = 0
    num_workers: int = 0
    shuffle: bool = True
    device: str | None = None             # default: cuda if available else cpu
    progress: bool = True
    save_final: bool = True               # write the final model at out_dir's root
    trim_memory_s: float | None = 30.0    # CPU: return freed heap pages to the OS after a step at most this often
                                          # (None: never); stops fragmentation's climb, see training/memory.py

    def validate(self) -> None:
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise InputError(f"max_time_s must be > 0 or None, got {self.max_time_s}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise InputError(f"precision must be 'auto', 'fp32' or 'bf16', got {self.precision!r}")
        if self.max_steps is None and self.epochs is None:
            raise InputError("give max_steps or epochs")
        for name in ("batch_size", "grad_accum", "log_every"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if not 0.0 < self.layer_lr_decay <= 1.0:
            raise InputError(f"layer_lr_decay must be in (0, 1], got {self.layer_lr_decay}")
        if self.plateau_factor is not None and not 0.0 < self.plateau_factor < 1.0:
            raise InputError(f"plateau_factor must be in (0, 1), got {self.plateau_factor}")
        if self.plateau_patience < 1:
            raise InputError(f"plateau_patience must be >= 1, got {self.plateau_patience}")
        if not 0.0 <= self.divergence_smoothing < 1.0:
            raise InputError(f"divergence_smoothing must be in [0, 1), got {self.divergence_smoothing}")
        if self.divergence is not None and not self.divergence > 1.0:
            raise InputError(f"divergence must be > 1 (a multiple of the lowest loss), got {self.divergence}")
        if self.trim_memory_s is not None and self.trim_memory_s < 0:
            raise InputError(f"trim_memory_s must be >= 0 or None, got {self.trim_memory_s}")


class _Joint(nn.Module):
    """model + objective as one module, so DDP, the optimizer and checkpoints see every trained weight."""

    def __init__(self, model: nn.Module, objective: Callable) -> None:
        super().__init__()
        self.model = model
        self.objective = objective if isinstance(objective, nn.Module) else None
        self._fn = None if isinstance(objective, nn.Module) else objective

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return (self.objective or self._fn)(self.model, batch)


def default_save_fn(model: nn.Module, path: Path) -> None:
    from bertkit.hub import save_pretrained
    from bertkit.models import Model

    if isinstance(model, Model):
        save_pretrained(model, path)
    else:
        from safetensors.torch import save_file
        path.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path / "model.safetensors"))


class Trainer:
    """The loop. See the module docstring; `fit(resume)` returns the final metrics."""

    def __init__(self, model: nn.Module, objective: Callable, train_data: Sequence, *, config: TrainConfig,
                 collate_fn: Callable | None = None, eval_data: Sequence | None = None,
                 eval_collate_fn: Callable | None = None,
                 eval_fn: Callable[[nn.Module], dict[str, float]] | None = None,
                 save_fn: Callable[[nn.Module, Path], None] | None = None) -> None:
        config.validate()
        self.cfg, self.model, self.objective = config, model, objective
        self.train_data, self.eval_data, self.eval_fn = train_data, eval_data, eval_fn
        self.collate = collate_fn or default_collate
        self.eval_collate = eval_collate_fn or self.collate
        self.save_fn = save_fn or default_save_fn
        self.out_dir = Path(config.out_dir)
        self.dist = dd.setup(config.device)
        self.precision = hardware.resolve_precision(config.precision, self.dist.device, "training")
        self.joint = _Joint(model, objective).to(self.dist.device)
        self.optimizer = build_optimizer(self.joint, config.lr, config.weight_decay, config.adam_betas,
                                         config.adam_eps, config.layer_lr_decay,
                                         {f"model.{k}": v for k, v in (config.lr_scales or {}).items()})
        self.per_epoch = len(train_data) // (config.batch_size * self.dist.world_size)
        if self.per_epoch == 0:
            raise InputError(f"{len(train_data)} training examples cannot fill one batch of "
                             f"{config.batch_size} x {self.dist.world_size} process(es)")
        self.max_steps = config.max_steps or max(1, math.ceil(config.epochs * self.per_epoch / config.grad_accum))
        self.schedule = build_schedule(config.schedule, self.optimizer, config.warmup_steps, self.max_steps,
                                       config.schedule_d_model, config.schedule_cycle_steps, config.schedule_start_lr)
        self.step, self.best, self.bad_evals, self.history = 0, None, 0, []
        self.best_step: int | None = None  # the step whose state out_dir/best holds (0: the starting model)
        self._stop_signal = False

    # ---- state -------------------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        rng = ck.rng_state()
        if self.dist.enabled:
            import torch.distributed as dist
            all_rng: list[Any] = [None] * self.dist.world_size
            dist.all_gather_object(all_rng, rng)
        else:
            all_rng = [rng]
        return {"modules": self.joint.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "rng": all_rng, "step": self.step,
                "micro": self.step * self.cfg.grad_accum, "best": self.best, "best_step": self.best_step,
                "bad_evals": self.bad_evals,
                "world_size": self.dist.world_size, "config": {k: str(v) for k, v in asdict(self.cfg).items()}}

    def save_checkpoint(self) -> Path | None:
        """Write out_dir/checkpoints/step_N atomically (rank 0); every rank contributes its RNG state."""
        state = self._state()
        path = None
        if self.dist.is_main:
            def fill(tmp: Path) -> None:
                self.save_fn(self.model, tmp / "model")
                torch.save(state, tmp / "trainer_state.pt")
            path = ck.write_atomic_dir(self.out_dir / "checkpoints" / f"step_{self.step:06d}", fill)
            ck.prune(self.out_dir, self.cfg.keep_checkpoints)
        dd.barrier(self.dist)
        return path

    def _restore(self) -> bool:
        last = ck.latest_checkpoint(self.out_dir)
        if last is None:
            if self.dist.is_main:
                print(f"no checkpoint in {self.out_dir / 'checkpoints'}; starting from scratch")
            return False
        st = ck.load_trainer_state(last)
        if st.get("world_size", 1) != self.dist.world_size:
            raise InputError(f"{last} was written by {st.get('world_size')} processes; resume with the same number "
                             f"(now {self.dist.world_size})")
        self.joint.load_state_dict(st["modules"])
        self.optimizer.load_state_dict(st["optimizer"])
        self.schedule.load_state_dict(st["schedule"])
        ck.set_rng_state(st["rng"][self.dist.rank])
        self.step, self.best, self.bad_evals = st["step"], st["best"], st["bad_evals"]
        self.best_step = st.get("best_step")
        if self.dist.is_main:
            print(f"resumed from {last} at step {self.step}")
        return True

    # ---- evaluation -------------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """eval_fn(model) if given, else the objective's mean losses over eval_data (fixed masks), on rank 0."""
        metrics: dict[str, float] = {}
        if self.dist.is_main:
            was = self.joint.training
            self.joint.eval()
            with torch.no_grad(), self._autocast():
                if self.eval_fn is not None:
                    metrics = dict(self.eval_fn(self.model))
                elif self.eval_data is not None:
                    metrics = evaluate_objective(self.joint, self.eval_data, self.eval_collate, self.cfg.batch_size,
                                                 self.dist.device, self.cfg.seed)
            self.joint.train(was)
        return dd.broadcast_object(metrics, self.dist)

    def _after_eval(self, metrics: dict[str, float]) -> bool:
        """Keep the best model; True when patience is exhausted."""
        key = self.cfg.best_metric
        if key is None or key not in metrics:
            return False
        v = metrics[key]
        better = self.best is None or (v > self.best if self.cfg.greater_is_better else v < self.best)
        if better:
            self.best, self.best_step, self.bad_evals = v, self.step, 0
            if self.dist.is_main:
                ck.write_atomic_dir(self.out_dir / "best", lambda t: self.save_fn(self.model, t))
        else:
            self.bad_evals += 1
            if self.cfg.plateau_factor is not None and self.bad_evals % self.cfg.plateau_patience == 0:
                self.schedule.reduce(self.cfg.plateau_factor)
                if self.dist.is_main and self.cfg.progress:
                    print(f"{key} did not improve for {self.cfg.plateau_patience} evaluation(s): later learning "
                          f"rates x {self.cfg.plateau_factor:g}", file=sys.stderr)
        return self.cfg.patience is not None and self.bad_evals >= self.cfg.patience

    # ---- the loop ---------------------------------------------------------------------------------------
    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.dist.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        dev = self.dist.device
        if dev.type == "cpu":
            return batch
        return {k: v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}

    def _install_stop_signals(self) -> Callable[[], None]:
        """SIGTERM (a scheduler's preemption) and a first Ctrl-C (SIGINT) finish the current step, save a
        checkpoint and return, so nothing trained is lost; a second Ctrl-C aborts at once (KeyboardInterrupt)."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        old_term, old_int = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)

        def on_term(signum, frame):
            self._stop_signal = True

        def on_int(signum, frame):
            if self._stop_signal:  # the second Ctrl-C: stop waiting for the step
                signal.signal(signal.SIGINT, old_int)
                raise KeyboardInterrupt
            self._stop_signal = True
            if self.dist.is_main:
                print("\nstopping after the current step to keep what was trained (Ctrl-C again to abort)",
                      file=sys.stderr, flush=True)
        signal.signal(signal.SIGTERM, on_term)
        if old_int is signal.default_int_handler:  # leave a handler the user installed alone
            signal.signal(signal.SIGINT, on_int)

        def restore() -> None:
            signal.signal(signal.SIGTERM, old_term)
            if old_int is signal.default_int_handler:
                signal.signal(signal.SIGINT, old_int)
        return restore

    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train to max_steps (or early stop). resume=True continues exactly from the latest checkpoint."""
        cfg, info = self.cfg, self.dist
        t_begin = time.perf_counter()  # the time budget (max_time_s) counts from here
        resumed = self._restore() if resume else False
        if not resumed:
            torch.manual_seed(cfg.seed + info.rank)
        log = JsonlLog(self.out_dir / "log.jsonl", resume_step=self.step if resumed else None) if info.is_main \
            else None
        module: nn.Module = self.joint
        if info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP
            module = DDP(self.joint, device_ids=[info.device.index] if info.device.type == "cuda" else None)
        self.joint.train()
        batches = stream(self.train_data, self.collate, batch_size=cfg.batch_size, rank=info.rank,
                         world=info.world_size, seed=cfg.seed, shuffle=cfg.shuffle, num_workers=cfg.num_workers,
                         start=self.step * cfg.grad_accum)
        bar = tqdm(total=self.max_steps, initial=self.step, disable=not (info.is_main and cfg.progress),
                   desc="train", dynamic_ncols=True)
        restore_signal = self._install_stop_signals()
        metrics: dict[str, Any] = {}
        sums: dict[str, torch.Tensor] = {}
        win_items = win_tokens = win_examples = 0
        if cfg.eval_at_start and self.step == 0:
            ev = self.evaluate()
            if ev and log is not None:
                log.write({"step": 0, **ev})
            metrics.update({"initial_" + k: v for k, v in ev.items()})
            self._after_eval(ev)  # the starting model is the first candidate for out_dir/best
        t0 = t_start = t_trim = time.perf_counter()
        stopped_early = out_of_time = diverged = False
        lowest, avg, n_avg = math.inf, 0.0, 0
        try:
            while self.step < self.max_steps:
                micro = [next(batches) for _ in range(cfg.grad_accum)]
                counts = [m["items"] for _, m in micro]
                total: float | torch.Tensor = float(sum(counts))
                if info.enabled:  # the loss is a mean over items of the whole global batch, as in one process
                    total = dd.all_reduce_sum(torch.tensor(total, device=info.device), info)
                for i, (batch, meta) in enumerate(micro):
                    sync = nullcontext() if not info.enabled or i == len(micro) - 1 else module.no_sync()
                    with sync:
                        with self._autocast():
                            losses = module(self._to_device(batch))
                        scale = counts[i] * info.world_size / total
                        (losses["loss"] * scale).backward()
                    for k, v in losses.items():
                        v = v.detach().float() * meta["items"]
                        sums[k] = sums[k] + v if k in sums else v
                    win_items += meta["items"]
                    win_tokens += meta["tokens"]
                    win_examples += meta["examples"]
                grad_norm = None
                if cfg.clip_norm:
                    grad_norm = torch.nn.utils.clip_grad_norm_(self.joint.parameters(), cfg.clip_norm)
                self.optimizer.step()
                lr = self.schedule.get_last_lr()[0]
                self.schedule.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.step += 1
                if cfg.trim_memory_s is not None and info.device.type == "cpu" \
                        and time.perf_counter() - t_trim >= cfg.trim_memory_s:
                    malloc_trim()
                    t_trim = time.perf_counter()
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == self.max_steps:
                    dt = max(time.perf_counter() - t0, 1e-9)
                    names = list(sums)
                    vals = torch.stack([sums[k] for k in names] + ([grad_norm.float()] if grad_norm is not None
                                                                   else [])).tolist()  # the one host sync
                    rec = {"step": self.step, "lr": lr}
                    rec.update({k: v / max(win_items, 1) for k, v in zip(names, vals)})
                    if grad_norm is not None:
                        rec["grad_norm"] = vals[-1]
                    rec["tokens_per_s"] = win_tokens * info.world_size / dt
                    rec["examples_per_s"] = win_examples * info.world_size / dt
                    rec["elapsed_s"] = time.perf_counter() - t_start
                    if log is not None:
                        log.write(rec)
                    bar.set_postfix(loss=f"{rec['loss']:.4f}", lr=f"{lr:.2e}", tok_s=f"{rec['tokens_per_s']:.0f}")
                    metrics.update(rec)
                    sums, win_items, win_tokens, win_examples, t0 = {}, 0, 0, 0, time.perf_counter()
                    if cfg.divergence is not None:
                        beta, n_avg = cfg.divergence_smoothing, n_avg + 1
                        avg = beta * avg + (1 - beta) * rec["loss"]
                        smooth = avg / (1 - beta ** n_avg)
                        diverged = not math.isfinite(smooth) or smooth > cfg.divergence * lowest
                        lowest = min(lowest, smooth) if math.isfinite(smooth) else lowest
                        if info.enabled:  # every process stops at the same step
                            diverged = bool(dd.broadcast_object(diverged, info))
                        if diverged:
                            break
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    ev = self.evaluate()
                    if ev:
                        metrics.update(ev)
                        if log is not None:
                            log.write({"step": self.step, **ev})
                        stopped_early = self._after_eval(ev)
                out_of_time = cfg.max_time_s is not None and time.perf_counter() - t_begin >= cfg.max_time_s \
                    and self.step < self.max_steps
                if info.enabled:  # every process stops at the same step
                    out_of_time = bool(dd.broadcast_object(out_of_time, info))
                stop_now = stopped_early or self.step == self.max_steps or self._stop_signal or out_of_time
                if info.enabled:
                    stop_now = bool(dd.broadcast_object(stop_now, info))
                resumable = self._stop_signal or out_of_time  # stopped before the end: keep a checkpoint to resume
                wanted = (cfg.save_every and self.step % cfg.save_every == 0) or (stop_now and (cfg.save_every or
                                                                                            resumable))
                if wanted and (cfg.checkpoint_at_end or resumable or not stop_now):
                    self.save_checkpoint()
                if stopped_early or self._stop_signal or out_of_time:
                    break
        finally:
            bar.close()
            restore_signal()
        if cfg.eval_every and self.step % cfg.eval_every and not self._stop_signal and (self.eval_data is not None
                                                                                        or self.eval_fn):
            ev = self.evaluate()
            metrics.update(ev)
            if ev and log is not None:
                log.write({"step": self.step, **ev})
            self._after_eval(ev)
        if info.is_main:
            plot_loss(self.out_dir / "log.jsonl", self.out_dir / "loss.png")
            if cfg.save_final and not self._stop_signal:
                tmp = Path(tempfile.mkdtemp(prefix=".final.", dir=self.out_dir))
                try:
                    self.save_fn(self.model, tmp / "model")
                    ck.publish_files(tmp / "model", self.out_dir)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        dd.barrier(info)
        metrics.update(step=self.step, stopped_early=stopped_early, interrupted=self._stop_signal,
                       out_of_time=out_of_time, diverged=diverged)
        if self.best is not None:
            metrics["best_" + str(self.cfg.best_metric)] = self.best
            metrics["best_step"] = self.best_step
        return metrics
