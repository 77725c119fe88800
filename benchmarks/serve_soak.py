"""Server soak: `bertkit serve` on loopback under clients sending a mix of valid, malformed and oversized requests for a
bounded time; every answer checked, the server's RSS sampled each minute.

    python benchmarks/serve_soak.py ../shared/checks/corpus.txt [--minutes 30] [--clients 16]

Valid requests must return the offline embeddings of their texts (cosine >= 0.999); malformed ones (bad JSON, wrong
types, missing keys) a 4xx with a JSON error; oversized ones (too many texts, a too-long text, a too-large body) 413.
Anything else is a wrong answer. A crash is the server process dying or refusing connections.

RSS is read every 5 s. One reading mostly says which batch was in flight (a 64-text batch's activations come and go
within a second, and the batcher hands freed pages back every 2 s), so each minute prints its floor (the lowest
reading: what the server holds between batches, where a leak shows), median and peak. Growth compares the last
minute with the first one after warm-up (minute 2), for the floor, median and peak. Single minutes swing by about
15% with the batch mix (session 13's 30-minute run: floor 589-828 MB with no trend), so the figure held against the
target is windowed: the mean of the per-minute values over the last 5 minutes against minutes 3-7 (warm-up: the
first 2 minutes), with the least-squares slope of the per-minute median from minute 3 on. Targets: 0 wrong answers,
0 crashes, windowed growth < 5%.
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import free_port, start_server

BIG_BODY = json.dumps({"texts": ["a"], "padding": "z" * (9 << 20)}).encode()  # over the 8 MiB body limit


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def request(port: int, body: bytes) -> tuple[int, bytes]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        c.request("POST", "/embed", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def main() -> None:
    import bertkit
    from bertkit import hardware

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mix", default="0.7,0.2,0.1", help="shares of valid, malformed and oversized requests")
    args = ap.parse_args()
    texts = [x for x in Path(args.corpus).read_text(encoding="utf-8").splitlines() if x.strip()][:2000]
    print(f"machine: {hardware.describe()}")
    mix = [float(x) for x in args.mix.split(",")]
    offline = bertkit.load(args.model).embed(texts, show_progress=False)
    port = free_port()
    proc = start_server(port, True, args.model, None)
    counts = {"valid": 0, "malformed": 0, "oversized": 0, "wrong": 0, "crash": 0}
    wrong: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + 60 * args.minutes

    def note(kind: str, problem: str | None = None) -> None:
        with lock:
            counts[kind] += 1
            if problem is not None:
                counts["wrong"] += 1
                if len(wrong) < 10:
                    wrong.append(problem)

    def client(k: int) -> None:
        r = random.Random(args.seed * 1000 + k)
        while time.monotonic() < stop and proc.poll() is None:
            kind = r.choices(["valid", "malformed", "oversized"], mix)[0]
            try:
                if kind == "valid":
                    idx = r.sample(range(len(texts)), r.randint(1, 8))
                    status, raw = request(port, json.dumps({"texts": [texts[i] for i in idx]}).encode())
                    ok = status == 200
                    if ok:
                        vec = np.asarray(json.loads(raw)["embeddings"], dtype=np.float32)
                        ok = vec.shape == (len(idx), offline.shape[1]) and \
                            float((vec * offline[idx]).sum(1).min()) >= 0.999
                    note(kind, None if ok else f"valid request -> {status} {raw[:120]!r}")
                elif kind == "malformed":
                    body = r.choice([b"{not json", b'{"texts": 5}', b'{"text": ["a"]}', b'[1, 2, 3]',
                                     b'{"texts": [1, 2]}', b'{"texts": ["a"], "pooling": "nope"}', b"\xff\xfe"])
                    status, raw = request(port, body)
                    note(kind, None if 400 <= status < 500 and raw.startswith(b"{") else
                         f"malformed {body[:30]!r} -> {status} {raw[:120]!r}")
                else:
                    body = r.choice([json.dumps({"texts": ["x"] * 300}).encode(),
                                     json.dumps({"texts": ["y" * 25_000]}).encode(),
                                     BIG_BODY])
                    status, raw = request(port, body)
                    note(kind, None if status == 413 else f"oversized ({len(body)} bytes) -> {status} {raw[:120]!r}")
            except (OSError, http.client.HTTPException) as e:
                note("crash" if proc.poll() is not None or isinstance(e, ConnectionRefusedError) else kind,
                     f"{kind}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(args.clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    readings: list[tuple[float, float]] = []  # (seconds since start, RSS MB)
    minutes: list[tuple[int, float, float, float]] = []  # (minute, floor, median, peak)
    while time.monotonic() < stop and proc.poll() is None:
        time.sleep(min(5.0, max(0.0, stop - time.monotonic())))
        if proc.poll() is not None:
            break
        readings.append((time.monotonic() - t0, rss_mb(proc.pid)))
        minute = int(readings[-1][0] // 60) + 1
        if len(readings) > 1 and int(readings[-2][0] // 60) + 1 != minute or time.monotonic() >= stop:
            done = minute - 1 if time.monotonic() < stop else minute
            xs = [r for t, r in readings if int(t // 60) + 1 == done]
            if len(xs) >= 6:  # a whole minute (12 readings); a last stub of a minute is left out
                minutes.append((done, min(xs), float(np.median(xs)), max(xs)))
                with lock:
                    print(f"minute {done:3d}: RSS floor {min(xs):7.1f}, median {np.median(xs):7.1f}, peak {max(xs):7.1f} MB;"
                          f" answers {dict(counts)}", flush=True)
    for t in threads:
        t.join(timeout=180)
    crashed = proc.poll() is not None
    proc.terminate()
    proc.wait(timeout=30)
    total = counts["valid"] + counts["malformed"] + counts["oversized"]
    print(f"\n{args.minutes:g} minutes, {args.clients} clients, {total:,} requests "
          f"({counts['valid']:,} valid, {counts['malformed']:,} malformed, {counts['oversized']:,} oversized)")
    print(f"wrong answers {counts['wrong']}, crashes {counts['crash'] + int(crashed)}")
    if len(minutes) >= 3:
        base, last = minutes[1], minutes[-1]
        for name, i in (("floor", 1), ("median", 2), ("peak", 3)):
            print(f"RSS {name:<6} minute {base[0]} {base[i]:7.1f} MB -> minute {last[0]} {last[i]:7.1f} MB "
                  f"({100 * (last[i] - base[i]) / base[i]:+.2f}%)")
    else:
        print("too short for a growth figure (needs 3 minutes)")
    after = [m for m in minutes if m[0] >= 3]
    if len(after) >= 10:
        first, final = after[:5], after[-5:]
        for name, i in (("floor", 1), ("median", 2), ("peak", 3)):
            a, b = float(np.mean([m[i] for m in first])), float(np.mean([m[i] for m in final]))
            print(f"RSS {name:<6} windowed: minutes {first[0][0]}-{first[-1][0]} {a:7.1f} MB -> minutes "
                  f"{final[0][0]}-{final[-1][0]} {b:7.1f} MB ({100 * (b - a) / a:+.2f}%; target < 5%)")
        slope = float(np.polyfit([m[0] for m in after], [m[2] for m in after], 1)[0])
        print(f"RSS median trend from minute 3: {slope:+.2f} MB/minute")
    else:
        print("too short for the windowed growth figure (needs 12 minutes)")
    for w in wrong:
        print("  " + w)


if __name__ == "__main__":
    main()
