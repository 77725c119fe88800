"""An interrupted fine-tuning run continues from its checkpoint (resume=True, --resume) and ends where an
uninterrupted run ends; a resume with other arguments or data, or with nothing to resume, is refused."""
from __future__ import annotations

import json
import os
import signal

import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import BertkitWarning, InputError
from bertkit.tasks import finetune as ft

ARGS = {"epochs": 3, "batch_size": 8, "precision": "fp32", "patience": None, "lr": 1e-3, "progress": False}


WORDS = ["good", "great", "fine", "bad", "awful", "poor", "ok", "nice"]


@pytest.fixture
def data(tmp_path):
    """Regression: its dev scores (Spearman, MSE) move with every step, so equal histories mean equal training."""
    rows = ["text,score"] + [f"item {i} is {WORDS[i % 8]} {'very ' * (i % 3)}much,{(i % 8) / 2 + (i % 3) / 4}"
                             for i in range(64)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "d.csv").write_text("\n".join(rows[:1] + rows[1::2]) + "\n")
    return tmp_path


def count_steps(monkeypatch, sigterm_at: int | None = None, crash_at: int | None = None) -> list[int]:
    """Count the fine-tuning objective's training calls (one per step); with `sigterm_at`, send this process
    SIGTERM (a preemption) during that step; with `crash_at`, raise in that step as a crash would."""
    real, calls = ft.task_objective, [0]

    def objective(kind, task):
        fn = real(kind, task)

        def wrapped(model, batch):
            if model.training:
                calls[0] += 1
                if calls[0] == sigterm_at:
                    os.kill(os.getpid(), signal.SIGTERM)
                if calls[0] == crash_at:
                    raise RuntimeError("simulated crash")
            return fn(model, batch)
        return wrapped
    monkeypatch.setattr(ft, "task_objective", objective)
    return calls


def test_interrupted_then_resumed_equals_uninterrupted(tiny, data, monkeypatch, capsys):
    whole = bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "a", **ARGS)
    assert whole.report["steps"] == 24 and len(whole.report["history"]) == 3
    assert whole.report["best"]["epoch"] == 1  # so the kept model is one saved before the interruption below

    with monkeypatch.context() as m:
        count_steps(m, sigterm_at=13)  # in the second epoch, after the first evaluation
        cut = bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "b",
                               **ARGS)
    assert cut.report["interrupted"] and cut.report["steps"] == 13
    assert [h["epoch"] for h in cut.report["history"]] == [1, pytest.approx(13 / 8, abs=1e-3)]
    assert bertkit.Predictor.load(data / "b").predict(["item 5 is good"]) == cut.predict(["item 5 is good"])

    # the same command with --resume, but another patience: refused; the time budget and progress may differ
    assert main(["finetune", "regress", "--train", str(data / "t.csv"), "--dev", str(data / "d.csv"),
                 "--model", str(tiny), "--epochs", "3", "--batch-size", "8", "--precision", "fp32", "--lr", "1e-3",
                 "--patience", "5", "--time-budget", "600", "--quiet", "--out", str(data / "b"), "--resume"]) == 2
    assert "patience: None then, 5 now" in capsys.readouterr().err
    with monkeypatch.context() as m:
        steps = count_steps(m)
        done = bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "b",
                                resume=True, time_budget=600, **ARGS)
    rep = done.report
    assert steps == [24 - 13] and rep["resumed_from_step"] == 13 and rep["steps"] == 24 and not rep["interrupted"]
    assert rep["history"] == whole.report["history"] and rep["best"] == whole.report["best"]
    a, b = bertkit.Predictor.load(data / "a").model.state_dict(), bertkit.Predictor.load(data / "b").model.state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)
    assert json.loads((data / "b" / "metrics.json").read_text())["resumed_from_step"] == 13
    assert not (data / "b" / "training" / "checkpoints").exists()  # spent once the run finished
    assert not (data / "b" / "training" / "best").exists()


def test_a_crashed_run_resumes_from_its_last_epoch(tiny, data, monkeypatch):
    from bertkit.training import Trainer

    saved, real = [], Trainer.save_checkpoint
    with monkeypatch.context() as m:
        m.setattr(Trainer, "save_checkpoint", lambda self: (saved.append(self.step), real(self))[1])
        whole = bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "a",
                                 **ARGS)
    assert saved == [8, 16]  # each epoch but the last: a finished run's checkpoint would be deleted unread
    with monkeypatch.context() as m:
        count_steps(m, crash_at=13)
        with pytest.raises(RuntimeError, match="simulated crash"):
            bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "b", **ARGS)
    ckpts = sorted(p.name for p in (data / "b" / "training" / "checkpoints").iterdir())
    assert ckpts == ["step_000008"]  # the end of epoch 1; one kept
    with monkeypatch.context() as m:
        steps = count_steps(m)
        done = bertkit.finetune("regress", train=data / "t.csv", dev=data / "d.csv", model=tiny, out=data / "b",
                                resume=True, **ARGS)
    assert steps == [24 - 8] and done.report["resumed_from_step"] == 8
    assert done.report["history"] == whole.report["history"]
    a, b = bertkit.Predictor.load(data / "a").model.state_dict(), bertkit.Predictor.load(data / "b").model.state_dict()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=0, atol=0, msg=k)


def test_resume_refuses_other_data_other_arguments_and_nothing_to_resume(tiny, data, monkeypatch):
    with pytest.raises(InputError, match="give out"):
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, resume=True, **ARGS)
    with pytest.raises(InputError, match="has no interrupted fine-tuning run to resume"):
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, out=data / "o", resume=True, **ARGS)
    with monkeypatch.context() as m:
        count_steps(m, sigterm_at=5)
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, out=data / "o", **ARGS)
    with pytest.raises(InputError, match=r"lr: 0\.001 then, 0\.002 now"):
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, out=data / "o", resume=True,
                         **{**ARGS, "lr": 2e-3})
    (data / "t.csv").write_text((data / "t.csv").read_text() + "one more row is good,2.5\n")
    with pytest.raises(InputError, match="train_sha256"):
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, out=data / "o", resume=True, **ARGS)
    assert (data / "o" / "training" / "checkpoints" / "step_000005").is_dir()  # refusals leave the run alone
    with pytest.warns(BertkitWarning, match=r"holds an interrupted run \(step_000005\); starting over") as w:
        bertkit.finetune("regress", train=data / "t.csv", model=tiny, out=data / "o", **ARGS)
    assert w[0].filename == __file__  # the user's line
    assert not (data / "o" / "training" / "checkpoints").exists()
