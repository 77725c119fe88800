"""What this CPU multiplies fast, measured: the evidence behind bertkit.hardware's `auto` choices.

    python benchmarks/hardware_probe.py [--threads 2] [--rounds 3]

Prints the machine (hardware.describe()), then per precision: one matrix product's GFLOP/s (MiniLM's
feed-forward shape, 512 tokens x 384 -> 1536), and the training throughput of a MiniLM-sized BERT (6 layers,
384 wide, batch 16 x 128 tokens, forward + backward + AdamW) in fp32 and under bf16 autocast, and inference
through the fused fp32 blocks against plain fp32. Rounds alternate between the variants so background load
hits both alike; the best round is kept.

To see an AVX2-only CPU on a bigger one, cap the kernels for the whole process:
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 python benchmarks/hardware_probe.py
(bertkit.hardware honours the oneDNN cap, so `auto` then decides as it would on such a CPU).
"""
from __future__ import annotations

import argparse
import time

import torch

import bertkit
from bertkit import hardware
from bertkit.nn.fused import fused_twin


def _best(fn, rounds: int, n: int) -> float:
    """Seconds per call, best of `rounds` rounds of n calls."""
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def matmul_gflops(dtype: torch.dtype, rounds: int) -> float:
    a, w = torch.randn(512, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
    torch.nn.functional.linear(a, w)
    return 2 * 512 * 384 * 1536 / _best(lambda: torch.nn.functional.linear(a, w), rounds, 20) / 1e9


def _minilm(task: str):
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=30522, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536,
                              max_positions=512, num_labels=2)
    return bertkit.build_model(cfg, task)


def train_rates(rounds: int, steps: int = 3) -> dict[str, float]:
    """Tokens/s of a training step in fp32 and bf16 autocast (alternating rounds)."""
    from bertkit.training.optim import build_optimizer

    model = _minilm("classification").train()
    opt = build_optimizer(model, lr=1e-5)
    ids = torch.randint(1000, 30000, (16, 128))
    labels = torch.randint(0, 2, (16,))

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids).logits
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step(False), step(hardware.bf16_native())  # warm-up (an emulated bf16 step is too slow to spend on it)
    best = {"fp32": float("inf"), "bf16": float("inf")}
    emulated = not hardware.bf16_native()  # then one bf16 step takes seconds to minutes: time one, once
    for r in range(rounds):
        for name, seconds in best.items():
            if name == "bf16" and emulated and r:
                continue
            n = 1 if name == "bf16" and emulated else steps
            best[name] = min(seconds, _best(lambda bf16=name == "bf16": step(bf16), 1, n))
    return {k: ids.numel() / v for k, v in best.items()}


def infer_rates(rounds: int) -> dict[str, float]:
    """Sentences/s of inference, batch 32 x 32 tokens: plain fp32, fused fp32, and bf16 (fused where packable)."""
    model = _minilm("base").eval()
    ids = torch.randint(1000, 30000, (32, 32))
    variants = {"fp32": model, "fp32-fused": fused_twin(model, torch.float32)}
    bf16 = fused_twin(model, torch.bfloat16) if hardware.cpu().bf16_packable else None
    import copy

    variants["bf16-fused" if bf16 is not None else "bf16-plain"] = bf16 or copy.deepcopy(model).bfloat16().eval()
    variants = {k: v for k, v in variants.items() if v is not None}
    best = {k: float("inf") for k in variants}
    with torch.inference_mode():
        for m in variants.values():
            m(ids)
        for _ in range(rounds):
            for k, m in variants.items():
                best[k] = min(best[k], _best(lambda m=m: m(ids), 1, 5))
    return {k: 32 / v for k, v in best.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {hardware.describe()}; {args.threads} threads; torch {torch.__version__}")
    print(f"auto picks: inference {'bf16 (after a cosine probe)' if hardware.bf16_native() else 'fp32'}, "
          f"training {hardware.resolve_precision('auto')}")
    f32, b16 = matmul_gflops(torch.float32, args.rounds), matmul_gflops(torch.bfloat16, args.rounds)
    print("\n| product 512x384 @ 384x1536 | GFLOP/s | vs fp32 |\n|---|---:|---:|")
    print(f"| fp32 | {f32:.1f} | 1.00x |\n| bf16 | {b16:.1f} | {b16 / f32:.2f}x |")
    tr = train_rates(args.rounds)
    print("\n| MiniLM-size training step, 16 x 128 | tokens/s | vs fp32 |\n|---|---:|---:|")
    for k, v in tr.items():
        print(f"| {k}{' autocast' if k == 'bf16' else ''} | {v:,.0f} | {v / tr['fp32']:.2f}x |")
    inf = infer_rates(args.rounds)
    print("\n| MiniLM-size inference, 32 x 32 | sentences/s | vs plain fp32 |\n|---|---:|---:|")
    for k, v in inf.items():
        print(f"| {k} | {v:,.0f} | {v / inf['fp32']:.2f}x |")


if __name__ == "__main__":
    main()
