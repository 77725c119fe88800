"""`bertkit serve` as a real process: SIGTERM lets the request in flight finish, then the process exits 0."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import bertkit
from bertkit.serve import ServerError
from tests.serve.conftest import free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")


def test_sigterm_finishes_request_in_flight(minilm):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    # a 1.5 s batching window keeps the request in flight long enough to signal in the middle of it
    proc = subprocess.Popen([sys.executable, "-m", "bertkit.cli", "serve", "--port", str(port), "--threads", "1",
                             "--max-wait-ms", "1500", "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        client = bertkit.Client(f"http://127.0.0.1:{port}", timeout=30)
        for _ in range(240):  # bounded wait for start-up: at most ~60 s
            try:
                client.health()
                break
            except (OSError, ServerError):
                time.sleep(0.25)
        else:
            raise AssertionError("server did not come up")
        result: dict = {}

        def call() -> None:
            try:
                result["vecs"] = bertkit.Client(f"http://127.0.0.1:{port}", timeout=30).embed(["in flight"])
            except Exception as e:  # noqa: BLE001 - recorded for the assertion below
                result["error"] = e

        t = threading.Thread(target=call)
        t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t.join(30)
        assert "error" not in result, result.get("error")
        np.testing.assert_allclose(result["vecs"], minilm.embed(["in flight"]), atol=2e-5, rtol=1e-4)
        assert proc.wait(30) == 0
        out = proc.stdout.read()
        assert "serving all-MiniLM-L6-v2" in out and "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
