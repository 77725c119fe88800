"""Training speed, both figures of the Speed issue in one run: MLM pretraining tokens/s and fine-tuning
examples/s, bertkit against transformers' Trainer on the same model, data and batch.

    python benchmarks/train_speed.py --data ../shared/data [--tokenizer TOK --corpus FILE] [--steps 40]
        [--repeats 2] [--rows 2048] [--batch-size 32] [--threads 2]

Runs benchmarks/pretrain_speed.py (tiny BERT, packed 128-token MLM examples, alternating repeats) and then
benchmarks/finetune_speed.py (MiniLM on SST-2 rows) as two child processes, so neither inherits the other's
warm caches, and prints both tables and the two ratios. Without --tokenizer/--corpus, a WordPiece vocabulary
of 8,000 is trained on the NSMC-derived Korean reviews in <data>/nsmc (what examples/pretrain_korean_from_scratch.sh
uses) into a temporary folder.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def run(cmd: list[str], env: dict[str, str]) -> str:
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print(p.stdout, flush=True)
    if p.returncode:
        raise SystemExit(f"{cmd[1]} failed with exit code {p.returncode}")
    return p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--tokenizer")
    ap.add_argument("--corpus")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
               OMP_NUM_THREADS=str(a.threads))
    py = sys.executable
    with tempfile.TemporaryDirectory() as d:
        tok, corpus = a.tokenizer, a.corpus
        if not (tok and corpus):
            src = a.data / "nsmc" / "nsmc_rawderived_train.txt"
            corpus = str(Path(d) / "reviews.txt")
            rows = src.read_text(encoding="utf-8").splitlines()[1:]
            Path(corpus).write_text("\n".join(r.split("\t")[1] for r in rows) + "\n", encoding="utf-8")
            tok = str(Path(d) / "tok")
            run([py, "-m", "bertkit.cli", "tokenizer", "train", "--algo", "wordpiece", "--vocab-size", "8000",
                 "-i", corpus, "-o", tok], env)
        pre = run([py, str(HERE / "pretrain_speed.py"), "--tokenizer", tok, "--corpus", corpus,
                   "--steps", str(a.steps), "--repeats", str(a.repeats), "--batch-size", str(a.batch_size)], env)
        fine = run([py, str(HERE / "finetune_speed.py"), "--data", str(a.data), "--rows", str(a.rows),
                    "--batch-size", str(a.batch_size), "--threads", str(a.threads)], env)
    print("== summary (targets: >= 1.5x each) ==")
    for line in pre.splitlines():
        if re.search(r"\d\.\d+x", line) and "|" in line:
            print("pretraining:", line)
    for line in fine.splitlines():
        if line.startswith("| bertkit"):
            print("fine-tuning:", line)


if __name__ == "__main__":
    main()
