"""Fine-tuning throughput: bertkit's Trainer vs transformers' Trainer on the same model (bundled MiniLM),
the same SST-2 rows, the same batch size, bf16 autocast, CPU.

    python benchmarks/finetune_speed.py --data ../shared/data --rows 2048 --batch-size 32

Each side trains one epoch over the rows after a short warm-up run (kernel caches, lazy imports);
examples/s = rows / wall seconds of the timed training call. Peak RSS is the process's, after each run.
transformers runs with dynamic padding (DataCollatorWithPadding), with and without its group_by_length.
Writes runs/ft-speed.json for `finetune_results.py report`.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

import bertkit

ROOT = Path(__file__).resolve().parent.parent


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bertkit_run(train: Path, rows: int, bs: int, tmp: Path) -> float:
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pred = bertkit.finetune("classify", train=train, text_col="sentence", label_col="label", epochs=1,
                                batch_size=bs, max_length=128, precision="bf16", progress=False, out=None,
                                warmup=0.0)
    return pred.report["train_seconds"], time.perf_counter() - t0


def hf_run(texts: list[str], labels: list[int], bs: int, group: bool, tmp: Path) -> float:
    import transformers as T

    path = bertkit.default_model_path()
    tok = T.AutoTokenizer.from_pretrained(path)
    model = T.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    enc = tok(texts, truncation=True, max_length=128)
    ds = [{"input_ids": i, "attention_mask": m, "token_type_ids": t, "labels": y}
          for i, m, t, y in zip(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"], labels)]
    args = T.TrainingArguments(output_dir=str(tmp / "hf"), per_device_train_batch_size=bs, num_train_epochs=1,
                               learning_rate=5e-5, bf16=True, use_cpu=True, report_to=[], save_strategy="no",
                               logging_strategy="no", dataloader_num_workers=0, group_by_length=group,
                               disable_tqdm=True, dataloader_drop_last=True)
    trainer = T.Trainer(model=model, args=args, train_dataset=ds, data_collator=T.DataCollatorWithPadding(tok))
    t0 = time.perf_counter()
    trainer.train()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--rows", type=int, default=2048)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import matplotlib  # noqa: F401  (imported up front so no side pays for it inside the timed call)
    import torch._dynamo  # noqa: F401

    lines = (args.data / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sub = tmp / "sub.tsv"
        sub.write_text("\n".join(lines[:1 + args.rows]) + "\n")
        warm = tmp / "warm.tsv"
        warm.write_text("\n".join(lines[:1 + 4 * args.batch_size]) + "\n")
        rows = [x.split("\t") for x in lines[1:1 + args.rows]]
        texts, labels = [r[1] for r in rows], [int(r[0]) for r in rows]
        n = args.rows // args.batch_size * args.batch_size  # both drop the last incomplete batch
        results = {}
        hf_run(texts[:4 * args.batch_size], labels[:4 * args.batch_size], args.batch_size, False, tmp)  # warm-up
        bertkit_run(warm, 4 * args.batch_size, args.batch_size, tmp)
        for name, fn in [("transformers Trainer", lambda: hf_run(texts, labels, args.batch_size, False, tmp)),
                         ("bertkit", lambda: bertkit_run(sub, args.rows, args.batch_size, tmp)[0]),
                         ("transformers Trainer, group_by_length", lambda: hf_run(texts, labels, args.batch_size,
                                                                                  True, tmp))]:
            secs = fn()
            results[name] = (secs, n / secs, rss_mb())
            print(f"{name}: {secs:.1f} s, {n / secs:.1f} examples/s, peak RSS so far {rss_mb():.0f} MB", flush=True)
    base = results["transformers Trainer"][1]
    table = ["| trainer | seconds | examples/s | vs transformers (default) |", "|---|---|---|---|"]
    table += [f"| {k} | {s:.1f} | {e:.1f} | {e / base:.2f}x |" for k, (s, e, _) in results.items()]
    table_s = "\n".join(table) + (f"\n\n{n} SST-2 rows, batch {args.batch_size}, bf16 autocast, {args.threads} thread(s), "
                                  f"MiniLM-L6; peak RSS of the whole process {rss_mb():.0f} MB.")
    print(table_s)
    (ROOT / "runs").mkdir(exist_ok=True)
    (ROOT / "runs" / "ft-speed.json").write_text(json.dumps({
        "table": table_s, "command": "python benchmarks/finetune_speed.py " + " ".join(sys.argv[1:])}, indent=1))


if __name__ == "__main__":
    main()
