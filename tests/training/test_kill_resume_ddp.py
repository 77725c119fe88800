"""Real processes: a run killed by SIGKILL and resumed, and 2-process DDP against one process."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    return env


def _tiny(out: Path, *args: str, launcher: list[str] | None = None) -> subprocess.Popen:
    cmd = (launcher or [sys.executable]) + ["-m", "tests.training.tiny_run", str(out), *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _final(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "final_state.pt", weights_only=True)


def _assert_same(a: dict, b: dict, atol: float) -> None:
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=1e-5, msg=k)


def test_sigkill_mid_run_then_resume_matches_uninterrupted(tmp_path):
    args = ["--max-steps", "8", "--save-every", "2", "--delay", "0.1"]
    ref = _tiny(tmp_path / "ref", *args)
    victim = _tiny(tmp_path / "cut", *args)
    ckpts = tmp_path / "cut" / "checkpoints"
    deadline = time.time() + 60
    while not (ckpts.is_dir() and any(p.name.startswith("step_000004") for p in ckpts.iterdir())):
        assert victim.poll() is None, victim.stdout.read().decode()
        assert time.time() < deadline
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL  # really killed mid-run, not finished
    assert not (tmp_path / "cut" / "final_state.pt").exists()
    resumed = _tiny(tmp_path / "cut", *args, "--resume")
    out = resumed.communicate()[0].decode()
    assert resumed.returncode == 0, out
    assert "resumed from" in out
    assert ref.wait() == 0
    _assert_same(_final(tmp_path / "ref"), _final(tmp_path / "cut"), atol=0)


def test_two_process_ddp_equals_one_process_with_same_global_batch(tmp_path):
    one = _tiny(tmp_path / "one", "--max-steps", "4", "--batch-size", "8")
    two = _tiny(tmp_path / "two", "--max-steps", "4", "--batch-size", "4",
                launcher=[sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"])
    out = two.communicate()[0].decode()
    assert two.returncode == 0, out
    assert one.wait() == 0
    a, b = _final(tmp_path / "one"), _final(tmp_path / "two")
    _assert_same(a, b, atol=1e-5)
