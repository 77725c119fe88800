"""ktrain's workflow on SST-2: the rate lr_find suggests, fit_onecycle at it for one epoch, against `bertkit finetune`'s
default schedule (linear, warm-up 0.1) at its default rate (5e-5) for the same epoch; dev accuracy of both.

    python benchmarks/learner_sst2.py --data ../shared/data [--epochs 1] [--out runs/learner-sst2]

Both runs start from the bundled MiniLM with the same seed, batches and precision. Prints a markdown table and
leaves runs/learner-sst2/ (lr_find.png, confusion.png, fit folders with metrics.json).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import bertkit
from bertkit import hardware
from bertkit.tasks.finetune import DEFAULT_LR


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data", help="folder holding sst2/train.tsv and dev_from_train.tsv")
    ap.add_argument("--out", default="runs/learner-sst2")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=300, help="lr_find sweep steps")
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    train, dev = Path(args.data) / "sst2/train.tsv", Path(args.data) / "sst2/dev_from_train.tsv"
    out = Path(args.out)
    print(f"machine: {hardware.describe()}")
    common = {"text_col": "sentence", "label_col": "label", "max_length": args.max_length, "batch_size": args.batch_size}
    rows = []

    t0 = time.perf_counter()
    learner = bertkit.Learner("classify", train, dev=dev, out=out / "onecycle", **common)
    found = learner.lr_find(steps=args.steps)
    sweep_s = time.perf_counter() - t0
    print(found.summary())
    t0 = time.perf_counter()
    rep = learner.fit_onecycle(found.suggested, epochs=args.epochs)
    res = learner.validate()
    rows.append(("fit_onecycle at lr_find's suggestion", found.suggested, rep, res, time.perf_counter() - t0))

    t0 = time.perf_counter()
    base = bertkit.Learner("classify", train, dev=dev, out=out / "default", **common)
    rep_b = base.fit(DEFAULT_LR["classify"], epochs=args.epochs)  # finetune's defaults: linear, warm-up 0.1
    res_b = base.validate(print_report=False)
    rows.append(("default schedule (linear, warm-up 0.1) at the default rate", DEFAULT_LR["classify"], rep_b, res_b,
                 time.perf_counter() - t0))

    print(f"\nSST-2, {rep['train_examples']} train rows -> {rep_b['dev_examples']} dev rows; MiniLM-L6, "
          f"{args.epochs:g} epoch(s), batch {args.batch_size}, max length {args.max_length}, precision "
          f"{rep['settings']['precision']}; lr_find: {len(found.lrs)} steps in {sweep_s:.0f} s "
          f"(min loss at {found.min_loss_lr:.2e}, steepest {found.steepest:.2e})")
    print("| run | lr | steps | dev accuracy | dev macro F1 | seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, lr, r, v, s in rows:
        print(f"| {name} | {lr:.2e} | {r['steps']} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} | {s:.0f} |")
    (out / "summary.json").write_text(json.dumps({
        "machine": hardware.describe(), "lr_find": {"suggested": found.suggested, "steepest": found.steepest,
                                                    "min_loss_lr": found.min_loss_lr, "steps": len(found.lrs)},
        "runs": [{"name": n, "lr": lr, "steps": r["steps"], "accuracy": v["accuracy"], "macro_f1": v["macro_f1"],
                  "seconds": s} for n, lr, r, v, s in rows]}, indent=2) + "\n")


if __name__ == "__main__":
    main()
