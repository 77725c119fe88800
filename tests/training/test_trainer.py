from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from bertkit import from_pretrained
from bertkit.errors import InputError
from bertkit.models import Model
from bertkit.objectives.mlm import MLMObjective
from bertkit.training import LinearSchedule, NoamSchedule, TrainConfig, Trainer, param_groups
from tests.training.tiny_run import collate, run, static_mlm_data, tiny_config


def _same_weights(a: torch.nn.Module, b: torch.nn.Module, atol: float = 1e-6) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], atol=atol, rtol=1e-5, msg=k)


def test_no_weight_decay_on_biases_and_layernorm():
    model = Model(tiny_config(), "mlm")
    decay, no_decay = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == 0.01 and no_decay["weight_decay"] == 0.0
    nd = {names[id(p)] for p in no_decay["params"]}
    assert "backbone.encoder.blocks.0.norm1.weight" in nd and "backbone.encoder.blocks.0.attn.q.bias" in nd
    assert "heads.mlm.bias" in nd
    assert all(names[id(p)].endswith("weight") and p.ndim == 2 for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_layer_lr_decay_scales_each_block():
    """d = 0.5 on a 2-block model: heads at lr, block 1 at lr/2, block 0 at lr/4, embeddings at lr/8."""
    from bertkit.training import build_optimizer

    model = Model(tiny_config(num_labels=3), "classification")
    names = {id(p): n for n, p in model.named_parameters()}
    opt = build_optimizer(model, 1e-3, 0.01, layer_lr_decay=0.5)
    lr_of = {names[id(p)]: (g["lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    assert len(lr_of) == len(list(model.parameters()))
    assert lr_of["backbone.embeddings.word.weight"] == (pytest.approx(1e-3 / 8), 0.01)
    assert lr_of["backbone.embeddings.norm.bias"] == (pytest.approx(1e-3 / 8), 0.0)
    assert lr_of["backbone.encoder.blocks.0.attn.q.weight"][0] == pytest.approx(1e-3 / 4)
    assert lr_of["backbone.encoder.blocks.1.norm2.weight"] == (pytest.approx(1e-3 / 2), 0.0)
    heads = [n for n in lr_of if not n.startswith("backbone.embeddings") and ".blocks." not in n]
    assert heads and all(lr_of[n][0] == pytest.approx(1e-3) for n in heads)
    sch = LinearSchedule(opt, warmup_steps=2, total_steps=10)  # the schedule keeps the ratios
    sch.step()
    ratios = {g["lr"] / g["initial_lr"] for g in opt.param_groups}
    assert len(ratios) == 1 and ratios.pop() == pytest.approx(0.5)
    # d = 1 keeps the two classic groups
    assert [len(g["params"]) > 0 for g in build_optimizer(model, 1e-3).param_groups] == [True, True]


def test_lr_scales_by_module_name():
    """lr_scales: every parameter under a named module runs at lr * factor (longest name wins), composed with the
    layer decay; the base rate's groups stay first, and a name that is no module is an error."""
    from bertkit.training import build_optimizer

    model = Model(tiny_config(num_labels=3), "classification")
    names = {id(p): n for n, p in model.named_parameters()}
    opt = build_optimizer(model, 1e-3, 0.01, lr_scales={"heads": 10.0, "backbone.encoder.blocks.1": 0.5,
                                                         "backbone.encoder.blocks.1.ff": 2.0})
    lr_of = {names[id(p)]: g["lr"] for g in opt.param_groups for p in g["params"]}
    assert len(lr_of) == len(list(model.parameters()))
    assert all(v == pytest.approx(1e-2) for k, v in lr_of.items() if k.startswith("heads."))
    assert lr_of["backbone.encoder.blocks.1.attn.q.weight"] == pytest.approx(5e-4)
    assert lr_of["backbone.encoder.blocks.1.ff.fc1.weight"] == pytest.approx(2e-3)
    assert lr_of["backbone.encoder.blocks.0.attn.q.weight"] == pytest.approx(1e-3)
    assert opt.param_groups[0]["lr"] == pytest.approx(1e-3)
    decayed = build_optimizer(model, 1e-3, layer_lr_decay=0.5, lr_scales={"heads": 10.0})
    lr_of = {names[id(p)]: g["lr"] for g in decayed.param_groups for p in g["params"]}
    assert lr_of["backbone.embeddings.word.weight"] == pytest.approx(1e-3 / 8)
    assert all(v == pytest.approx(1e-2) for k, v in lr_of.items() if k.startswith("heads."))
    with pytest.raises(InputError, match="'decoder', which is no module"):
        build_optimizer(model, 1e-3, lr_scales={"decoder": 2.0})


def test_layer_lr_decay_counts_albert_shared_block_as_one_block():
    """ALBERT runs one shared block as every layer: it is the top block (lr * d), the factorized embeddings and
    their projection sit below it (lr * d^2); the number of layers it runs as does not change that."""
    from bertkit.models.model import build_model
    from bertkit.training import build_optimizer

    for layers in (2, 6):
        cfg = tiny_config(family="albert", embedding_size=16, num_layers=layers, num_hidden_groups=1, num_labels=2)
        model = build_model(cfg, "classification")
        names = {id(p): n for n, p in model.named_parameters()}
        lr_of = {names[id(p)]: g["lr"] for g in build_optimizer(model, 1e-3, layer_lr_decay=0.5).param_groups
                 for p in g["params"]}
        blocks = {n for n in lr_of if ".blocks." in n}
        assert blocks and {n.split(".blocks.")[1].split(".")[0] for n in blocks} == {"0"}  # one shared block
        assert all(lr_of[n] == pytest.approx(5e-4) for n in blocks)
        bottom = [n for n in lr_of if n.startswith(("backbone.embeddings", "backbone.proj"))]
        assert any(n.startswith("backbone.proj") for n in bottom)
        assert all(lr_of[n] == pytest.approx(2.5e-4) for n in bottom)


def test_layer_lr_decay_in_training_and_bad_values(tmp_path):
    """With d = 0.1 the embeddings move far less than with d = 1 over the same steps."""
    from bertkit.training import build_optimizer

    with pytest.raises(InputError, match="layer_lr_decay must be in"):
        TrainConfig(layer_lr_decay=0.0, max_steps=1).validate()
    with pytest.raises(InputError, match="layer_lr_decay must be in"):
        build_optimizer(Model(tiny_config(), "mlm"), 1e-3, layer_lr_decay=1.5)
    with pytest.raises(InputError, match="numbered blocks"):
        build_optimizer(torch.nn.Linear(2, 2), 1e-3, layer_lr_decay=0.8)
    moved = {}
    for d in (1.0, 0.1):
        torch.manual_seed(1234)  # run() starts from these weights
        start = Model(tiny_config(), "mlm").backbone.embeddings.word.weight.detach().clone()
        model = run(tmp_path / str(d), max_steps=5, lr=1e-2, layer_lr_decay=d)
        moved[d] = (model.backbone.embeddings.word.weight.detach() - start).abs().mean().item()
    assert 0 < moved[0.1] < 0.1 * moved[1.0]


def test_linear_warmup_then_linear_decay():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1e-4)
    sch = LinearSchedule(opt, warmup_steps=4, total_steps=10)
    lrs = []
    for _ in range(10):
        lrs.append(sch.get_last_lr()[0])
        sch.step()
    expected = [0, 0.25e-4, 0.5e-4, 0.75e-4, 1e-4, 5 / 6 * 1e-4, 4 / 6 * 1e-4, 3 / 6 * 1e-4, 2 / 6 * 1e-4, 1 / 6 * 1e-4]
    assert lrs == pytest.approx(expected)
    assert sch.get_last_lr()[0] == 0.0


def test_noam_schedule_follows_the_papers_formula_from_update_one():
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=2.0)  # lr: the scale of the formula
    sch = NoamSchedule(opt, warmup_steps=4, d_model=64)
    lrs = []
    for _ in range(12):
        lrs.append(sch.get_last_lr()[0])
        sch.step()
    expected = [2.0 * 64 ** -0.5 * min(n ** -0.5, n * 4 ** -1.5) for n in range(1, 13)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    assert lrs[0] == pytest.approx(2.0 / 8 / 8)  # update 1: scale * d^-0.5 * warmup^-1.5
    assert max(lrs) == lrs[3] == pytest.approx(2.0 / (64 * 4) ** 0.5)  # the peak, at update `warmup`
    assert lrs[8] == pytest.approx(2.0 / 8 / 3)  # update 9 after the peak: scale * d^-0.5 / sqrt(9)
    again = NoamSchedule(torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=2.0), 1, 1)
    again.load_state_dict(sch.state_dict())  # resumption restores warm-up, width and position
    assert again.get_last_lr()[0] == pytest.approx(2.0 * 64 ** -0.5 * 13 ** -0.5)


def test_trainer_runs_the_noam_schedule(tmp_path):
    run(tmp_path, max_steps=6, lr=1.0, schedule="noam", schedule_d_model=32)
    lrs = [json.loads(x)["lr"] for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert lrs == pytest.approx([32 ** -0.5 * min(n ** -0.5, n * 2 ** -1.5) for n in range(1, 7)])  # warm-up 2
    with pytest.raises(InputError, match="noam schedule needs d_model"):
        run(tmp_path / "x", max_steps=2, schedule="noam")
    with pytest.raises(InputError, match="schedule must be one of linear, noam, onecycle, triangular, exponential, got 'cosine'"):
        TrainConfig(max_steps=1, schedule="cosine").validate()


def test_time_budget_stops_evaluates_saves_and_resumes(tmp_path):
    """max_time_s ends the run after the step that passes it, as if that step were the last (final evaluation and
    model), and leaves a checkpoint from which the same run continues to max_steps."""
    model = run(tmp_path, max_steps=20, delay=0.05, max_time_s=0.3)
    recs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    done = max(r["step"] for r in recs)
    assert 1 <= done < 20  # how many steps fit in 0.3 s depends on the load; that it stops early does not
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == [f"step_{done:06d}"]
    _same_weights(model, from_pretrained(tmp_path))
    resumed = run(tmp_path, max_steps=20, resume=True)
    _same_weights(run(tmp_path / "full", max_steps=20), resumed, atol=1e-6)
    with pytest.raises(InputError, match="max_time_s must be > 0"):
        TrainConfig(max_steps=1, max_time_s=0).validate()


def test_fit_learns_logs_and_writes_loadable_model(tmp_path):
    model = run(tmp_path, max_steps=40, eval_every=20, lr=1e-2)
    recs = [json.loads(x) for x in (tmp_path / "log.jsonl").read_text().splitlines()]
    train = [r for r in recs if "loss" in r]
    assert len(train) == 40 and train[-1]["step"] == 40
    assert train[-1]["loss"] < 0.75 * train[0]["loss"]
    assert all(r["tokens_per_s"] > 0 and "lr" in r for r in train)
    assert train[0]["lr"] == 0.0 and train[2]["lr"] == pytest.approx(1e-2)  # warm-up of 2 steps
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = from_pretrained(tmp_path)
    _same_weights(model, loaded)


def test_grad_accumulation_equals_one_big_batch(tmp_path):
    """Losses are averaged over all masked tokens of the optimizer step, not per micro-batch."""
    big = run(tmp_path / "a", max_steps=3, batch_size=8)
    acc = run(tmp_path / "b", max_steps=3, batch_size=4, grad_accum=2, shuffle=False)
    big2 = run(tmp_path / "c", max_steps=3, batch_size=8, shuffle=False)
    _same_weights(acc, big2, atol=1e-5)
    with pytest.raises(AssertionError):
        _same_weights(big, big2)  # shuffling is real: another order gives other weights


def test_resume_after_crash_gives_identical_weights(tmp_path):
    full = run(tmp_path / "full", max_steps=8, save_every=3)
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path / "cut", max_steps=8, save_every=3, crash_at=5)
    assert sorted(p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()) == ["step_000003"]
    resumed = run(tmp_path / "cut", max_steps=8, save_every=3, resume=True)
    _same_weights(full, resumed, atol=0)
    steps = [json.loads(x)["step"] for x in (tmp_path / "cut" / "log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 9))


def test_checkpoint_at_end_false_skips_only_the_finished_runs_checkpoint(tmp_path, monkeypatch):
    """A caller that discards the last checkpoint (finetune) does not pay for writing it; the periodic ones and a
    stop signal's are still written."""
    saved: list[int] = []
    real = Trainer.save_checkpoint

    def spy(self):
        saved.append(self.step)
        return real(self)
    monkeypatch.setattr(Trainer, "save_checkpoint", spy)
    run(tmp_path / "a", max_steps=9, save_every=3)
    assert saved == [3, 6, 9]
    saved.clear()
    run(tmp_path / "b", max_steps=9, save_every=3, checkpoint_at_end=False)
    assert saved == [3, 6]
    assert sorted(p.name for p in (tmp_path / "b" / "checkpoints").iterdir()) == ["step_000003", "step_000006"]
    saved.clear()
    run(tmp_path / "c", max_steps=8, save_every=3, checkpoint_at_end=False)  # the end between two periodic saves
    assert saved == [3, 6]


class _CtrlC(MLMObjective):
    """MLM that presses Ctrl-C (SIGINT to this process) `times` times during its `at`-th call."""

    def __init__(self, at: int, times: int = 1) -> None:
        super().__init__()
        self.at, self.times, self.calls = at, times, 0

    def forward(self, model, batch):
        self.calls += 1
        if self.calls == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)  # the Python-level handler runs before the next press
        return super().forward(model, batch)


def _ctrl_c_run(out_dir, at, times=1):
    torch.manual_seed(1234)
    model = Model(tiny_config(), "mlm")
    trainer = Trainer(model, _CtrlC(at, times), static_mlm_data(), collate_fn=collate,
                      config=TrainConfig(out_dir=out_dir, lr=1e-3, warmup_steps=2, max_steps=8, batch_size=8,
                                         save_every=None, log_every=1, precision="fp32", seed=0, progress=False))
    return trainer.fit()


def test_first_ctrl_c_finishes_the_step_and_saves_a_checkpoint_that_resumes_exactly(tmp_path, capsys):
    full = run(tmp_path / "full", max_steps=8)
    metrics = _ctrl_c_run(tmp_path / "cut", at=5)
    assert metrics["interrupted"] and metrics["step"] == 5  # the step in progress finished, no more
    assert "stopping after the current step to keep what was trained (Ctrl-C again to abort)" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()] == ["step_000005"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after fit
    resumed = run(tmp_path / "cut", max_steps=8, resume=True)
    _same_weights(full, resumed, atol=0)


def test_second_ctrl_c_aborts_at_once(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        _ctrl_c_run(tmp_path / "cut", at=3, times=2)
    assert not (tmp_path / "cut" / "checkpoints").exists()  # nothing saved: the user asked to abort
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_best_checkpoint_and_early_stopping(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    seen = []

    def eval_fn(model):
        seen.append(model.heads["mlm"].bias.detach().clone())
        return {"acc": next(scores)}

    torch.manual_seed(0)
    model = Model(tiny_config(), "mlm")
    from bertkit.objectives.mlm import MLMObjective
    t = Trainer(model, MLMObjective(), static_mlm_data(), collate_fn=collate, eval_fn=eval_fn,
                config=TrainConfig(out_dir=tmp_path, lr=1e-3, max_steps=50, batch_size=8, eval_every=2,
                                   best_metric="acc", greater_is_better=True, patience=2, progress=False))
    m = t.fit()
    assert m["stopped_early"] and m["step"] == 8 and m["best_acc"] == 0.7
    best = from_pretrained(tmp_path / "best")
    torch.testing.assert_close(best.heads["mlm"].bias, seen[1])


def test_bad_config_messages():
    with pytest.raises(InputError, match="precision"):
        TrainConfig(precision="fp16", max_steps=1).validate()
    with pytest.raises(InputError, match="cannot fill one batch"):
        Trainer(Model(tiny_config(), "mlm"), lambda m, b: {}, static_mlm_data(4),
                config=TrainConfig(max_steps=1, batch_size=8))


def test_bf16_autocast_tracks_fp32(tmp_path):
    def losses(d, precision):
        run(d, max_steps=20, precision=precision, lr=1e-2)
        return [json.loads(x)["loss"] for x in (d / "log.jsonl").read_text().splitlines()]

    bf16, fp32 = losses(tmp_path / "bf16", "bf16"), losses(tmp_path / "fp32", "fp32")
    assert bf16 != fp32  # autocast really changed the arithmetic
    assert bf16[-1] < 0.9 * bf16[0]
    assert abs(bf16[-1] - fp32[-1]) < 0.1


FRAGMENT = """
import ctypes
from bertkit.training.memory import malloc_trim

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if not malloc_trim():
    raise SystemExit(3)                                   # not glibc
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-2, 1 << 30)                                 # M_TRIM_THRESHOLD: no automatic trimming meanwhile
blocks = [ctypes.create_string_buffer(60_000) for _ in range(3000)]   # 180 MB of heap blocks, touched
keep = blocks[9::10]                                      # every tenth stays: the free space is all in holes
del blocks
before = rss_mb()
malloc_trim()
after = rss_mb()
assert all(k.raw[:1] == b"\\x00" for k in keep)
print(before, after)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc_trim")
def test_malloc_trim_returns_a_fragmented_heap_to_the_os():
    # in a child process: mallopt changes the allocator of the whole process
    res = subprocess.run([sys.executable, "-c", FRAGMENT], capture_output=True, text=True, check=False)
    if res.returncode == 3:
        pytest.skip("not glibc")
    assert res.returncode == 0, res.stderr
    before, after = map(float, res.stdout.split())
    assert before - after > 100, (before, after)   # ~160 MB of holes went back to the OS


def test_trainer_trims_the_heap_at_most_every_trim_memory_s(tmp_path, monkeypatch):
    import bertkit.training.trainer as T

    calls = []
    monkeypatch.setattr(T, "malloc_trim", lambda: calls.append(1) or True)
    run(tmp_path / "a", max_steps=6, trim_memory_s=0.0)
    assert len(calls) == 6
    calls.clear()
    run(tmp_path / "b", max_steps=6, trim_memory_s=None)
    assert calls == []
    run(tmp_path / "c", max_steps=6)                 # the default, 30 s: not within a 6-step toy run
    assert calls == []
    with pytest.raises(InputError, match="trim_memory_s must be >= 0 or None, got -1"):
        TrainConfig(max_steps=1, trim_memory_s=-1).validate()
