"""Peak memory of `bertkit embed` streaming a large file to .npy (target: < 1.5 GB RSS for 100k lines).

Builds an N-line file from the corpus (repeated) in a temporary folder, runs the CLI in a child process
and reads the child's peak RSS from the kernel (wait4). Also checks the output's first rows against the API.

    python benchmarks/embed_memory.py ../shared/checks/corpus.txt [--lines 100000] [--precision auto]
"""
from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--precision", default="auto")
    a = ap.parse_args()
    src = [line.rstrip("\n") for line in open(a.corpus, encoding="utf-8")]
    with tempfile.TemporaryDirectory() as d:
        inp, out = Path(d) / "big.txt", Path(d) / "big.npy"
        with open(inp, "w", encoding="utf-8") as f:
            for line in itertools.islice(itertools.cycle(src), a.lines):
                f.write(line + "\n")
        t = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "bertkit.cli", "embed", "-i", str(inp), "-o", str(out),
                              "--normalize", "--precision", a.precision], stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"bertkit embed failed with status {status}")
        arr = np.load(out, mmap_mode="r")
        size_mb = inp.stat().st_size / 1e6
        import bertkit

        ref = bertkit.load().embed(src[:50], normalize=True, precision=a.precision)
        cos = float((ref * np.asarray(arr[:50])).sum(1).min())
        print(f"input: {a.lines} lines, {size_mb:.1f} MB; output {arr.shape} float32 ({out.stat().st_size / 1e6:.0f} MB)")
        print(f"bertkit embed --precision {a.precision}: {dt:.0f} s ({a.lines / dt:.0f} lines/s), "
              f"peak RSS {usage.ru_maxrss / 1024:.0f} MB (target < 1536 MB); first 50 rows vs API min cos {cos:.6f}")


if __name__ == "__main__":
    main()
