"""Embedding throughput: bertkit against the same model exported by `bertkit export --onnx` and run in onnxruntime,
same corpus, batch size, length-sorted batches and mean pooling; rounds alternate, medians compared.

    python benchmarks/onnx_speed.py ../shared/checks/corpus.txt [--model DIR] [--batch-size 32] [--rounds 3] \
        [--onnx fp32,bf16]

`OnnxEmbedder` and `export_graphs` are shared with benchmarks/embed_speed.py (its onnx lines).
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class OnnxEmbedder:
    """An exported graph in onnxruntime, embedding as `enc.embed(texts, pooling="mean", normalize=True)` does: the
    encoder's own tokenization and truncation, its length-sorted batches padded to their longest row, mean pooling
    over the attention mask, unit-length vectors. Only the forward differs (onnxruntime's instead of PyTorch's)."""

    def __init__(self, enc, onnx_path: str | Path, threads: int) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.enc = enc
        self.session = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        ids, _ = self.enc._encode(list(texts), True)  # truncate=True: one row per text
        out = np.zeros((len(ids), self.enc.dim), dtype=np.float32)
        for idx, batch, mask in self.enc._batches(ids, batch_size):
            b, m = batch.numpy(), mask.numpy()
            h = self.session.run(None, {"input_ids": b, "attention_mask": m, "token_type_ids": np.zeros_like(b)})[0]
            mf = m[..., None].astype(np.float32)
            out[idx] = (h * mf).sum(1) / np.maximum(mf.sum(1), 1e-9)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def export_graphs(model: str | None, folder: str | Path, precisions: Sequence[str]) -> dict[str, dict]:
    """`bertkit export --onnx` of `model` once per precision into `folder`: {precision: export_onnx's result, with
    "seconds" (the export's time, its onnxruntime check included)}."""
    from bertkit.export_onnx import export_onnx

    graphs = {}
    for p in precisions:
        t = time.perf_counter()
        graphs[p] = export_onnx(model, Path(folder) / f"model-{p}.onnx", precision=p)
        graphs[p]["seconds"] = time.perf_counter() - t
    return graphs


def describe_graph(p: str, g: dict) -> str:
    """One line: the graph's precision, size, export time and parity figures."""
    vs32 = f", vs the fp32 model {g['max_abs_diff_fp32']:.1e}" if p != "fp32" else ""
    return (f"onnx {p}: {g['bytes'] / 1e6:.1f} MB, exported in {g['seconds']:.1f} s; onnxruntime vs PyTorch "
            f"(same weights) max |diff| {g['max_abs_diff']:.1e}{vs32}")


def main() -> None:
    import tempfile

    import torch

    import bertkit
    from bertkit import hardware

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--model")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--onnx", default="fp32", help="precisions of the exported graphs to time (fp32, bf16)")
    args = ap.parse_args()
    texts = [x for x in Path(args.corpus).read_text(encoding="utf-8").splitlines() if x.strip()]
    print(f"machine: {hardware.describe()}; torch threads {torch.get_num_threads()}")
    enc = bertkit.load(args.model)
    precisions = [p for p in args.onnx.split(",") if p]
    with tempfile.TemporaryDirectory() as tmp:
        graphs = export_graphs(args.model, tmp, precisions)
        runs = {"bertkit fp32": lambda: enc.embed(texts, batch_size=args.batch_size, precision="fp32",
                                                  pooling="mean", normalize=True, show_progress=False),
                "bertkit auto": lambda: enc.embed(texts, batch_size=args.batch_size, precision="auto",
                                                  pooling="mean", normalize=True, show_progress=False)}
        for p, g in graphs.items():
            ort_enc = OnnxEmbedder(enc, g["path"], torch.get_num_threads())
            runs[f"onnxruntime {p}"] = lambda e=ort_enc: e.embed(texts, args.batch_size)
        times: dict[str, list[float]] = {k: [] for k in runs}
        vecs = {}
        for _ in range(args.rounds):
            for k, fn in runs.items():
                t = time.perf_counter()
                vecs[k] = np.asarray(fn())
                times[k].append(time.perf_counter() - t)
    ref = vecs["bertkit fp32"]
    print(f"{len(texts)} texts, batch {args.batch_size}, {args.rounds} rounds (median)")
    for p, g in graphs.items():
        print(describe_graph(p, g))
    base_key = f"onnxruntime {precisions[0]}" if precisions else "bertkit fp32"
    print(f"| run | sentences/s | vs {base_key} | min cosine vs bertkit fp32 |")
    print("|---|---:|---:|---:|")
    base = statistics.median(times[base_key])
    for k in runs:
        med = statistics.median(times[k])
        cos = float((vecs[k] * ref).sum(1).min())
        print(f"| {k} | {len(texts) / med:,.0f} | {base / med:.2f}x | {cos:.6f} |")


if __name__ == "__main__":
    main()
