"""The BiLSTM student's inference paths side by side with its teacher, in one process (chapter 5, issue #18).

    python benchmarks/bilstm_inference.py --data ../shared/data --teacher /work/runs/distill/teacher \
        --bilstm /work/runs/distill/bilstm [--batch-size 32] [--rounds 5] [--repeats 2]

The 1,000 sentences of sst2/dev_from_train.tsv through `bertkit.Predictor`, tokenisation included, fp32, one batch
size for every model. BiLSTM rows: nn.LSTM on a packed sequence (the training path, and the inference path before
session 21) or the padded two-call LSTM (distill/bilstm.py `_padded_bilstm`, oneDNN's kernel), each with one batch
at a time or with as many batches at once as torch has threads (`BiLSTMPredictor.workers`). Each figure is the
median over `repeats` of the median of `rounds` timed passes; repeats alternate all rows so drift hits each alike.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--bilstm", type=Path, required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()

    import bertkit.distill.bilstm as B
    from bertkit import Predictor
    from bertkit.translation.train import cpu_name

    with open(a.data / "sst2" / "dev_from_train.tsv", encoding="utf-8", newline="") as f:
        texts = [r["sentence"] for r in csv.DictReader(f, delimiter="\t")]
    teacher = Predictor.load(a.teacher)
    teacher.settings.update(batch_size=a.batch_size, precision="fp32")
    student = Predictor.load(a.bilstm)
    student.settings["batch_size"] = a.batch_size
    padded = B.BiLSTMClassifier._padded_bilstm

    def packed(self, x, lengths):  # nn.LSTM on a packed sequence, as in training
        pk = torch.nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(pk)
        return torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])[0]

    def speed(fn) -> float:
        fn()
        times = []
        for _ in range(a.rounds):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return len(texts) / statistics.median(times)

    n = torch.get_num_threads()
    rows = [("packed nn.LSTM, one batch at a time", packed, 1), ("padded two-call LSTM, one batch at a time", padded, 1),
            (f"packed, {n} batches at once", packed, n), (f"padded, {n} batches at once", padded, n)]
    res: dict[str, list[float]] = {}
    try:
        for _ in range(a.repeats):
            res.setdefault("teacher (fp32)", []).append(speed(lambda: teacher.predict(texts)))
            for name, path, workers in rows:
                B.BiLSTMClassifier._padded_bilstm = path
                student.workers = workers
                res.setdefault(name, []).append(speed(lambda: student.predict(texts)))
    finally:
        B.BiLSTMClassifier._padded_bilstm = padded
    base = statistics.median(res["teacher (fp32)"])
    print(f"CPU: {cpu_name()}, {n} threads, batch {a.batch_size}, fp32, {len(texts)} sentences, tokenisation included")
    print("| model | sent/s | x teacher |\n|---|---:|---:|")
    for name, v in res.items():
        print(f"| {name} | {statistics.median(v):,.0f} | {statistics.median(v) / base:.2f}x |")


if __name__ == "__main__":
    main()
