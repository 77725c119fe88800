"""Peak memory of question-answering fine-tuning: bertkit (compact attention for large score tensors, the
default), bertkit with the attention stored (SDPA's math path) or recomputed in backward, and transformers'
BertForQuestionAnswering, on the same model (bundled MiniLM), the same SQuAD features and batches, AdamW,
bf16 autocast, CPU (see nn/attention.py DROPOUT_ATTENTION).

    python benchmarks/finetune_memory.py --data ../shared/data --steps 6 --batch-size 32 --max-length 384

Each side runs in its own process (peak RSS is a process maximum that never falls): the first `--warmup` steps
are not timed; seconds/step is the mean of the rest. The last row is bertkit.finetune("qa", ...) end to end
(reading, encoding, the Trainer) for --finetune-steps steps on 8 SQuAD articles, with the Trainer's periodic
malloc_trim (default) and without it: with batches of varying shape, glibc's heap fragments and the resident
memory climbs step after step unless freed pages are returned (training/memory.py). Attention dropout is 0.1 on
every side, as in the checkpoint: with dropout, SDPA on CPU takes its math path, which stores each layer's
(B, H, T, T) scores, probabilities and dropout mask.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
MODES = ("transformers", "bertkit-stored", "bertkit-recompute", "bertkit", "bertkit-finetune",
         "bertkit-finetune-notrim")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def squad_subset(data: Path, tmp: Path, articles: int = 2) -> Path:
    src = json.loads((data / "squad" / "dev_part_a.json").read_text(encoding="utf-8"))
    out = tmp / "train.json"
    out.write_text(json.dumps(dict(src, data=src["data"][:articles])))
    return out


def current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


def batches(path: Path, bs: int, max_length: int, steps: int) -> list[dict[str, torch.Tensor]]:
    """The first steps*bs training features, padded per batch (bertkit's encoder and tokenizer for both sides)."""
    import bertkit
    from bertkit.tasks.batching import pad_batch
    from bertkit.tasks.qa import encode_qa, read_squad

    tok = bertkit.Tokenizer.from_pretrained(bertkit.default_model_path())
    examples, _ = read_squad(path)
    feats, _ = encode_qa(tok, examples, max_length, 128, train=True)
    if len(feats) < steps * bs:
        raise SystemExit(f"only {len(feats)} features for {steps} x {bs}")
    pad = tok.pad_token_id or 0
    return [pad_batch(feats[i * bs:(i + 1) * bs], pad) for i in range(steps)]


def one(mode: str, a: argparse.Namespace) -> dict:
    import bertkit

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as d:
        train = squad_subset(a.data, Path(d))
        if mode.startswith("bertkit-finetune"):
            if mode.endswith("notrim"):
                import bertkit.training.trainer as trainer_mod

                trainer_mod.malloc_trim = lambda: False
            train = squad_subset(a.data, Path(d), 8)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bertkit.finetune("qa", train=train, batch_size=a.batch_size, max_length=a.max_length,
                                 max_steps=a.finetune_steps, epochs=1, lr=1e-4, precision="bf16", progress=False)
            return {"mode": mode, "seconds_per_step": (time.perf_counter() - t0) / a.finetune_steps,
                    "peak_rss_mb": rss_mb(), "end_rss_mb": current_rss_mb(),
                    "note": "whole call, reading and encoding included"}
        data = batches(train, a.batch_size, a.max_length, a.steps)
    path = bertkit.default_model_path()
    if mode == "transformers":
        import transformers as T

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = T.AutoModelForQuestionAnswering.from_pretrained(path)
        loss_of = lambda b: model(**b).loss
    else:
        from bertkit.nn import attention

        if mode == "bertkit-stored":
            attention.DROPOUT_ATTENTION = "store"
        elif mode == "bertkit-recompute":
            attention.DROPOUT_ATTENTION = "recompute"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = bertkit.from_pretrained(path, task="qa")
        ce = torch.nn.functional.cross_entropy

        def loss_of(b):
            o = model(b["input_ids"], b["attention_mask"], b["token_type_ids"])
            return (ce(o.start_logits.float(), b["start_positions"]) + ce(o.end_logits.float(), b["end_positions"])) / 2
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for i, b in enumerate(data):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_of(b)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    return {"mode": mode, "seconds_per_step": sum(times) / len(times), "peak_rss_mb": rss_mb(),
            "tokens_per_batch": int(data[0]["input_ids"].numel()), "last_loss": float(loss)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    ap.add_argument("--finetune-steps", type=int, default=60, help="steps of the bertkit.finetune rows")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=384)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--one", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a)))
        return
    if a.steps <= a.warmup:
        ap.error("--steps must be larger than --warmup")
    modes = a.modes.split(",")
    bad = [m for m in modes if m not in MODES]
    if bad:
        ap.error(f"--modes takes {', '.join(MODES)}; got {', '.join(bad)}")
    rows = []
    for m in modes:
        cmd = [sys.executable, __file__, "--one", m, "--data", str(a.data), "--steps", str(a.steps), "--warmup",
               str(a.warmup), "--finetune-steps", str(a.finetune_steps), "--batch-size", str(a.batch_size),
               "--max-length", str(a.max_length), "--threads", str(a.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if res.returncode:
            raise SystemExit(f"{m} failed:\n{res.stderr[-2000:]}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        rows.append(r)
        end = f", at the end {r['end_rss_mb']:.0f} MB" if "end_rss_mb" in r else ""
        print(f"{m}: {r['seconds_per_step']:.2f} s/step, peak RSS {r['peak_rss_mb']:.0f} MB{end}", flush=True)
    ref = next((r for r in rows if r["mode"] == "transformers"), None)
    print(f"\nSQuAD features, batch {a.batch_size}, max length {a.max_length}, bf16 autocast, AdamW, "
          f"{a.threads} thread(s), MiniLM-L6, {a.steps} steps ({a.warmup} untimed); bertkit-finetune rows: "
          f"{a.finetune_steps} steps of bertkit.finetune on 8 articles\n")
    print("| run | s/step | peak RSS (MB) | RSS vs transformers |\n|---|---:|---:|---:|")
    for r in rows:
        vs = f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.2f}x" if ref else "-"
        print(f"| {r['mode']} | {r['seconds_per_step']:.2f} | {r['peak_rss_mb']:.0f} | {vs} |")


if __name__ == "__main__":
    main()
