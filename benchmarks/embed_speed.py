"""Embedding throughput: bertkit vs sentence-transformers (and the model exported to ONNX, in onnxruntime) on the
same model, corpus and batch size.

Rounds alternate between the contenders in one process and medians are compared, so machine drift
cancels. Prints sentences/s, ratios, min cosine vs ST-fp32, useful GFLOP/s and a matmul peak measured
in the same run. When onnxruntime is installed (the `onnx` extra), the model is exported by `bertkit export
--onnx` to a temporary folder and timed too, with bertkit's own tokenization, length-sorted batches and mean
pooling (benchmarks/onnx_speed.py's OnnxEmbedder); --no-onnx leaves it out.

    python benchmarks/embed_speed.py ../shared/checks/corpus.txt [--model DIR] [--batch-size 32] \
        [--rounds 3] [--bertkit fp32,auto] [--st fp32,bf16] [--onnx fp32,bf16 | --no-onnx]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_speed import OnnxEmbedder, describe_graph, export_graphs  # noqa: E402


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9


def encoder_flops(n_tokens_per_text: list[int], hidden: int, ffn: int, layers: int) -> float:
    """Multiply-adds x2 of the encoder on the real (unpadded) tokens."""
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * ffn)
    attn = sum(2 * 2 * t * t * hidden for t in n_tokens_per_text)
    return layers * (per_token * sum(n_tokens_per_text) + attn)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--model", default=None)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bertkit", default="fp32,auto", help="bertkit precisions to time (fp32, bf16, int8, auto; "
                                                           "append +compile for torch.compile)")
    ap.add_argument("--st", default="fp32,bf16", help="sentence-transformers dtypes to time")
    ap.add_argument("--onnx", default="fp32", help="precisions of `bertkit export --onnx` to time in onnxruntime "
                                                   "(fp32, bf16), when it is installed")
    ap.add_argument("--no-onnx", action="store_true", help="no onnxruntime lines")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N lines")
    a = ap.parse_args()

    import bertkit
    from bertkit.embed import load
    from sentence_transformers import SentenceTransformer

    path = str(a.model or bertkit.default_model_path())
    sents = [line.rstrip("\n") for line in open(a.corpus, encoding="utf-8")]
    if a.limit:
        sents = sents[: a.limit]
    enc = load(path)
    runs = {}
    for p in [p for p in a.st.split(",") if p]:
        st = SentenceTransformer(path, device="cpu")
        if p == "bf16":
            st = st.to(torch.bfloat16)
        runs[f"st_{p}"] = (lambda st=st: st.encode(sents, batch_size=a.batch_size, normalize_embeddings=True,
                                                   convert_to_numpy=True))
    compiled = None
    for p in [p for p in a.bertkit.split(",") if p]:
        e = enc
        if p.endswith("+compile"):
            compiled = compiled or load(path, compile=True)
            e, p = compiled, p.split("+")[0]
        runs[f"bertkit_{p}" + ("+c" if e is compiled else "")] = (
            lambda p=p, e=e: e.embed(sents, pooling="mean", normalize=True, batch_size=a.batch_size, precision=p,
                                     show_progress=False))
    graphs: dict[str, dict] = {}
    onnx_note = "onnx: left out (--no-onnx)" if a.no_onnx else None
    tmp = tempfile.TemporaryDirectory()
    if not a.no_onnx:
        try:
            import onnxruntime
        except ImportError:
            onnx_note = "onnx: onnxruntime not installed (pip install 'bertkit[onnx]'): no onnx lines"
        else:
            graphs = export_graphs(path, tmp.name, [p for p in a.onnx.split(",") if p])
            for p, g in graphs.items():
                runs[f"onnx_{p}"] = (lambda e=OnnxEmbedder(enc, g["path"], torch.get_num_threads()):
                                     e.embed(sents, a.batch_size))
    first = {}
    for k, f in runs.items():  # warm-up; for +compile runs this first call includes torch.compile's time
        t = time.perf_counter()
        f()
        first[k] = time.perf_counter() - t
    times: dict[str, list[float]] = {k: [] for k in runs}
    outs = {}
    for _ in range(a.rounds):
        for k, f in runs.items():
            t = time.perf_counter()
            outs[k] = np.asarray(f(), dtype=np.float32)
            times[k].append(time.perf_counter() - t)
    tmp.cleanup()
    sps = {k: len(sents) / statistics.median(v) for k, v in times.items()}
    ref_key = "st_fp32" if "st_fp32" in outs else next(iter(outs))
    ref = outs[ref_key]
    cfg = enc.model.config
    lens = [min(len(x), enc.max_length) for x in enc.tokenizer(sents, truncation=False, padding=False)["input_ids"]]
    gflop = encoder_flops(lens, cfg.hidden_size, cfg.intermediate_size, cfg.num_layers) / 1e9
    from bertkit import hardware

    # emulated bf16 products of this size take about a minute each on an AVX2-only CPU: not timed there
    peak32, peak16 = matmul_peak(torch.float32), matmul_peak(torch.bfloat16) if hardware.bf16_native() else None
    order = sorted(lens, reverse=True)
    padded = sum(max(order[i:i + a.batch_size]) * len(order[i:i + a.batch_size]) for i in range(0, len(order), a.batch_size))
    print(f"machine: {hardware.describe()}")
    print(f"corpus: {len(sents)} sentences, {sum(lens)} tokens; batch {a.batch_size}; rounds {a.rounds}; "
          f"threads {torch.get_num_threads()}; padding in length-sorted batches {1 - sum(lens) / padded:.1%}")
    bf16_peak = f"{peak16:.0f} GFLOP/s" if peak16 is not None else "emulated here, not timed"
    print(f"matmul peak (2048^3): fp32 {peak32:.0f} GFLOP/s, bf16 {bf16_peak}")
    if onnx_note:
        print(onnx_note)
    for p, g in graphs.items():
        print(describe_graph(p, g) + f"; onnxruntime {onnxruntime.__version__}, threads {torch.get_num_threads()}")
    print(f"{'run':<16}{'sent/s':>10}{'GFLOP/s':>10}{'min cos vs ' + ref_key:>22}{'first call s':>14}")
    for k in runs:
        cos = ((ref * outs[k]).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(outs[k], axis=1))).min()
        print(f"{k:<16}{sps[k]:>10.0f}{gflop * sps[k] / len(sents):>10.0f}{cos:>22.6f}{first[k]:>14.1f}")
    for b in [k for k in runs if k.startswith("bertkit")]:
        ratios = ", ".join(f"{sps[b] / sps[s]:.2f}x {s}" for s in runs if s.startswith("st"))
        print(f"{b}: {ratios}")
    for o in [k for k in runs if k.startswith("onnx")]:
        ratios = ", ".join(f"{sps[o] / sps[b]:.2f}x {b}" for b in runs if b.startswith("bertkit"))
        print(f"{o}: {ratios}")


if __name__ == "__main__":
    main()
