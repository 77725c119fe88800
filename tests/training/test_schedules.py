"""One-cycle, triangular and exponential (lr_find) schedules; reduce-on-plateau and the divergence stop."""
from __future__ import annotations

import json
import math

import pytest
import torch

from bertkit.errors import InputError
from bertkit.training import TrainConfig, Trainer
from bertkit.training.optim import ExponentialSchedule, OneCycleSchedule, TriangularSchedule, build_schedule


def _opt(lr: float = 1.0) -> torch.optim.AdamW:
    return torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=lr, betas=(0.9, 0.999))


def _trace(sch, n: int) -> tuple[list[float], list[float]]:
    lrs, b1 = [], []
    for _ in range(n):
        lrs.append(sch.get_last_lr()[0])
        b1.append(sch.optimizer.param_groups[0]["betas"][0])
        sch.step()
    return lrs, b1


def test_onecycle_rises_linearly_then_falls_along_a_cosine_with_beta1_cycled_against_it():
    sch = OneCycleSchedule(_opt(2.0), warmup_steps=4, total_steps=12)  # div 25, final_div 1e4, betas 0.85-0.95
    lrs, b1 = _trace(sch, 13)
    assert lrs[0] == pytest.approx(2.0 / 25)
    assert lrs[2] == pytest.approx(2.0 * (1 / 25 + (1 - 1 / 25) / 2))
    assert lrs[4] == pytest.approx(2.0) and max(lrs) == lrs[4]
    assert lrs[8] == pytest.approx(2.0 * (1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi / 2)) / 2))  # halfway down
    assert lrs[6] == pytest.approx(2.0 * (1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi / 4)) / 2))
    assert lrs[12] == pytest.approx(2.0 / 1e4)
    assert b1[0] == pytest.approx(0.95) and b1[2] == pytest.approx(0.90) and b1[4] == pytest.approx(0.85)
    assert b1[8] == pytest.approx(0.90) and b1[12] == pytest.approx(0.95)
    assert sch.optimizer.param_groups[0]["betas"][1] == 0.999  # beta2 untouched
    lin = OneCycleSchedule(_opt(1.0), warmup_steps=2, total_steps=6, anneal="linear")
    assert _trace(lin, 7)[0][2:] == pytest.approx([1.0, 0.75 + 0.25e-4, 0.5 + 0.5e-4, 0.25 + 0.75e-4, 1e-4])
    with pytest.raises(InputError, match="anneal must be 'cos' or 'linear', got 'step'"):
        OneCycleSchedule(_opt(), 1, 4, anneal="step")


def test_triangular_cycles_between_peak_over_div_and_the_peak_and_reduce_scales_later_steps():
    sch = TriangularSchedule(_opt(1.0), cycle_steps=4)  # div 10
    lrs, b1 = _trace(sch, 9)
    assert lrs == pytest.approx([0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0, 0.55, 0.1])
    assert set(b1) == {0.9}  # momentum left alone
    sch.reduce(0.5)
    assert sch.get_last_lr()[0] == pytest.approx(0.275)  # step 9: 0.55, halved
    again = TriangularSchedule(_opt(1.0), cycle_steps=7)
    again.load_state_dict(sch.state_dict())  # resumption keeps the cycle, the position and the reduction
    assert again.get_last_lr()[0] == pytest.approx(0.275)
    warm = TriangularSchedule(_opt(1.0), cycle_steps=4, warmup_steps=2)
    assert _trace(warm, 4)[0] == pytest.approx([0.0, 0.05, 0.1, 0.55])
    with pytest.raises(InputError, match="at least 2 steps, got 1"):
        TriangularSchedule(_opt(), cycle_steps=1)


def test_exponential_sweep_multiplies_the_rate_by_the_same_factor_each_step():
    sch = ExponentialSchedule(_opt(1.0), start_lr=1e-6, total_steps=7)
    lrs, _ = _trace(sch, 7)
    assert lrs == pytest.approx([10.0 ** (k - 6) for k in range(7)], rel=1e-9)
    with pytest.raises(InputError, match="start 1 must be > 0 and below the end 0.1"):
        ExponentialSchedule(_opt(0.1), start_lr=1.0, total_steps=5)
    with pytest.raises(InputError, match="needs start_lr"):
        build_schedule("exponential", _opt(), 0, 10)


class _Scripted(torch.nn.Module):
    """A one-weight 'model' whose loss at step i is script[i] (the weight's gradient is what moves it)."""

    def __init__(self, script: list[float]) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.script, self.i = script, 0

    def objective(self, model, batch):
        v = self.script[min(self.i, len(self.script) - 1)]
        self.i += 1
        return {"loss": model.w.sum() * 0 + v}


def _collate(rows):
    return {"input_ids": torch.zeros(len(rows), 1, dtype=torch.long)}


def test_the_sweep_stops_when_the_loss_diverges(tmp_path):
    m = _Scripted([3.0, 2.0, 1.0, 2.5, 4.5, 1.0, 1.0])
    cfg = TrainConfig(out_dir=tmp_path, lr=1.0, max_steps=7, batch_size=1, log_every=1, schedule="exponential",
                      schedule_start_lr=1e-3, divergence=4.0, save_final=False, progress=False,
                      checkpoint_at_end=False)
    fit = Trainer(m, m.objective, list(range(8)), config=cfg, collate_fn=_collate).fit()
    losses = [json.loads(x)["loss"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert losses == [3.0, 2.0, 1.0, 2.5, 4.5]  # 4.5 > 4 x the lowest (1.0): stop there
    assert fit["diverged"] and fit["step"] == 5
    m2 = _Scripted([1.0, float("nan"), 0.5])
    fit2 = Trainer(m2, m2.objective, list(range(8)), config=TrainConfig(
        out_dir=tmp_path / "nan", lr=1.0, max_steps=3, batch_size=1, log_every=1, divergence=4.0, save_final=False,
        progress=False, clip_norm=None), collate_fn=_collate).fit()
    assert fit2["diverged"] and fit2["step"] == 2  # a loss that is not finite ends it too
    with pytest.raises(InputError, match="divergence must be > 1"):
        TrainConfig(max_steps=1, divergence=0.5).validate()


def test_reduce_on_plateau_scales_the_rate_after_evaluations_without_a_new_best(tmp_path):
    m = _Scripted([1.0] * 10)
    scores = iter([0.5, 0.6, 0.6, 0.55, 0.7, 0.7])
    cfg = TrainConfig(out_dir=tmp_path, lr=1.0, max_steps=12, batch_size=1, log_every=1, schedule="triangular",
                      schedule_cycle_steps=1000, eval_every=2, best_metric="acc", greater_is_better=True,
                      plateau_factor=0.5, plateau_patience=2, save_final=False, progress=False)
    tr = Trainer(m, m.objective, list(range(20)), config=cfg, collate_fn=_collate,
                 eval_fn=lambda model: {"acc": next(scores)}, save_fn=lambda model, p: p.mkdir(parents=True, exist_ok=True))
    tr.fit()
    recs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    lr = {r["step"]: r["lr"] for r in recs if "lr" in r}

    def tri(step):  # the triangular rate of a 1000-step cycle at `step`, unreduced
        t = step / 1000
        return 0.1 + 0.9 * (1 - abs(2 * t - 1))
    # evaluations at steps 2, 4, 6, 8, 10, 12: best at 2 and 4, then two misses (6, 8) -> x0.5 from step 9 on;
    # 10 is a new best (0.7), 12 a miss (one only: no second reduction)
    assert [lr[s] for s in (1, 8)] == pytest.approx([tri(0), tri(7)])  # the log's lr is the step's rate
    assert [lr[s] for s in (9, 12)] == pytest.approx([tri(8) * 0.5, tri(11) * 0.5])
    with pytest.raises(InputError, match="plateau_factor must be in"):
        TrainConfig(max_steps=1, plateau_factor=1.5).validate()
