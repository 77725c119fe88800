"""Load test of `bertkit serve`: 16 concurrent clients for 30 s, with and without micro-batching, same run.

    python benchmarks/serve_load.py [--duration 30] [--clients 16] [--texts-per-request 1] [--model DIR]

For each mode a fresh server process is started on a free 127.0.0.1 port. Every answer is checked against
offline `TextEncoder.embed` of the same texts; the table gives throughput, p50/p99 latency, errors and
mismatches, and the run ends with the micro-batching speed-up (target: >= 2x).
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import bertkit
from bertkit.serve import ServerError

SUBJECTS = ["A man", "A woman", "Two children", "The old dog", "A chef", "The pilot", "A student", "My neighbour"]
ACTIONS = ["is eating a sandwich", "plays the guitar on stage", "rides a bicycle through the park",
           "reads a long novel by the window", "is cooking pasta for dinner", "walks along the beach at sunset",
           "repairs an old car in the garage", "is writing a letter to a friend"]
TEXTS = [f"{s} {a}." for s in SUBJECTS for a in ACTIONS]  # 64 distinct sentences of 5-11 words


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, batching: bool, model: str | None, threads: int | None) -> subprocess.Popen:
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "bertkit.cli", "serve", "--port", str(port), "--log-level", "warning"]
    cmd += [] if batching else ["--no-batching"]
    cmd += ["--model", model] if model else []
    cmd += ["--threads", str(threads)] if threads else []
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = bertkit.Client(f"http://127.0.0.1:{port}")
    for _ in range(480):  # bounded: ~2 minutes
        try:
            client.health()
            return proc
        except (OSError, ServerError):
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError("server did not start")


def load(url: str, clients: int, duration: float, per_request: int, offline: dict[str, np.ndarray]) -> dict:
    """`clients` threads send requests back to back for `duration` seconds; every answer is checked."""
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    mismatches = [0] * clients
    max_diff = [0.0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        c = bertkit.Client(url, timeout=60)
        k = i * 7
        start.wait()
        while time.perf_counter() < stop_at[0]:
            batch = [TEXTS[(k + j) % len(TEXTS)] for j in range(per_request)]
            k += per_request
            t0 = time.perf_counter()
            try:
                got = c.embed(batch)
            except Exception:  # noqa: BLE001 - counted, the load goes on
                errors[i] += 1
                continue
            lat[i].append(time.perf_counter() - t0)
            ref = np.stack([offline[t] for t in batch])
            d = float(np.abs(got - ref).max())
            max_diff[i] = max(max_diff[i], d)
            if not np.allclose(got, ref, atol=1e-4, rtol=1e-4):
                mismatches[i] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + duration
    t_begin = time.perf_counter()
    start.wait()
    for t in threads:
        t.join(duration + 120)
    elapsed = time.perf_counter() - t_begin
    all_lat = np.array([x for row in lat for x in row])
    n = len(all_lat)
    return {"requests": n, "rps": n / elapsed, "texts_per_s": n * per_request / elapsed,
            "p50_ms": float(np.percentile(all_lat, 50) * 1000) if n else float("nan"),
            "p99_ms": float(np.percentile(all_lat, 99) * 1000) if n else float("nan"),
            "errors": sum(errors), "mismatches": sum(mismatches), "max_abs_diff": max(max_diff)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--texts-per-request", type=int, default=1)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads in the server")
    args = ap.parse_args()
    enc = bertkit.load(args.model)
    offline = dict(zip(TEXTS, enc.embed(TEXTS, batch_size=1, show_progress=False)))  # one text at a time: no padding anywhere
    del enc
    results = {}
    for mode, batching in (("micro-batching", True), ("one request per forward", False)):
        port = free_port()
        proc = start_server(port, batching, args.model, args.threads)
        try:
            url = f"http://127.0.0.1:{port}"
            load(url, args.clients, 2.0, args.texts_per_request, offline)  # warm-up
            results[mode] = r = load(url, args.clients, args.duration, args.texts_per_request, offline)
            h = bertkit.Client(url).health()
            r["mean_batch"] = h["texts"] / max(h["batches"], 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        print(f"{mode}: {r}", flush=True)
    print(f"\n{args.clients} clients x {args.duration:g} s, {args.texts_per_request} text(s) per request, "
          f"{os.cpu_count()} CPUs\n")
    print("| mode | requests | req/s | p50 ms | p99 ms | errors | mismatches | max abs diff | texts per forward |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mode, r in results.items():
        print(f"| {mode} | {r['requests']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['errors']} | "
              f"{r['mismatches']} | {r['max_abs_diff']:.1e} | {r['mean_batch']:.1f} |")
    a, b = results["micro-batching"], results["one request per forward"]
    speedup = a["rps"] / max(b["rps"], 1e-9)
    ok = speedup >= 2 and a["errors"] == b["errors"] == 0 and a["mismatches"] == b["mismatches"] == 0
    print(f"\nmicro-batching speed-up: {speedup:.2f}x ({'PASS' if ok else 'FAIL'}: needs >= 2x, "
          "zero errors, answers equal to offline embed)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
