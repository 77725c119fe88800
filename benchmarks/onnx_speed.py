"""Embedding throughput: bertkit against the same model exported by `bertkit export --onnx` and run in onnxruntime,
same corpus, batch size, length-sorted batches and mean pooling; rounds alternate, medians compared.

    python benchmarks/onnx_speed.py ../shared/checks/corpus.txt [--model DIR] [--batch-size 32] [--rounds 3]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import onnxruntime as ort
    import torch

    import bertkit
    from bertkit import hardware
    from bertkit.export_onnx import export_onnx

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--model")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    texts = [x for x in Path(args.corpus).read_text(encoding="utf-8").splitlines() if x.strip()]
    print(f"machine: {hardware.describe()}; torch threads {torch.get_num_threads()}")
    enc = bertkit.load(args.model)
    tok = enc.tokenizer
    with tempfile.TemporaryDirectory() as tmp:
        res = export_onnx(args.model, Path(tmp) / "m.onnx")
        so = ort.SessionOptions()
        so.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(res["path"]), so, providers=["CPUExecutionProvider"])
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))

        def run_ort() -> np.ndarray:
            out = np.zeros((len(texts), enc.dim), dtype=np.float32)
            for s in range(0, len(order), args.batch_size):
                idx = order[s:s + args.batch_size]
                b = tok([texts[i] for i in idx], max_length=256, return_tensors="np")
                feeds = {k: np.asarray(b[k], dtype=np.int64) for k in ("input_ids", "attention_mask",
                                                                      "token_type_ids")}
                h = sess.run(None, feeds)[0]
                m = feeds["attention_mask"][..., None].astype(np.float32)
                v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
                out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
            return out

        runs = {"bertkit fp32": lambda: enc.embed(texts, batch_size=args.batch_size, precision="fp32",
                                                  show_progress=False),
                "bertkit auto": lambda: enc.embed(texts, batch_size=args.batch_size, precision="auto",
                                                  show_progress=False),
                "onnxruntime fp32": run_ort}
        times: dict[str, list[float]] = {k: [] for k in runs}
        vecs = {}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                t = time.perf_counter()
                vecs[k] = np.asarray(fn())
                times[k].append(time.perf_counter() - t)
    ref = vecs["bertkit fp32"]
    print(f"{len(texts)} texts, batch {args.batch_size}, {args.rounds} rounds (median); graph check "
          f"max |diff| {res['max_abs_diff']:.1e}")
    print("| run | sentences/s | vs onnxruntime | min cosine vs bertkit fp32 |")
    print("|---|---:|---:|---:|")
    base = statistics.median(times["onnxruntime fp32"])
    for k in runs:
        med = statistics.median(times[k])
        cos = float((vecs[k] * ref).sum(1).min())
        print(f"| {k} | {len(texts) / med:,.0f} | {base / med:.2f}x | {cos:.6f} |")


if __name__ == "__main__":
    main()
