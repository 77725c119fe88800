"""Does pretraining help? Fine-tune the same small BERT on NSMC-derived Korean reviews twice: from a
checkpoint pretrained with `bertkit pretrain` and from random initialisation of the same architecture.

    python benchmarks/nsmc_pretraining_gain.py --pretrained runs/ko-bert/model --data ../shared/data/nsmc \
        [--train-rows 30000] [--max-steps 1500] [--batch-size 64] [--lr 1e-4[,3e-4,...]] [--pooling cls|mean]

Both runs use the same data, steps, batch, learning rate(s) and seed; dev = nsmc_rawderived_dev_sample.txt.
With several learning rates, every arm runs at each one and each arm is reported at its best (the same
grid for both, so neither gets more tuning than the other).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import bertkit
from bertkit.models import Model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrained", required=True, type=Path)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--train-rows", type=int, default=30000)
    ap.add_argument("--max-steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", default="1e-4", help="learning rate, or a comma-separated grid")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--pooling", default="cls", choices=["cls", "mean"],
                    help="classifier input for both arms: first token through the pooler, or mean of tokens")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        lines = (a.data / "nsmc_rawderived_train.txt").read_text(encoding="utf-8").splitlines()
        (d / "train.tsv").write_text("\n".join(lines[: a.train_rows + 1]) + "\n", encoding="utf-8")
        src = bertkit.from_pretrained(a.pretrained)
        torch.manual_seed(0)
        random = Model(src.config, "base")  # same architecture, fresh N(0, 0.02) weights
        bertkit.save_pretrained(random, d / "random", tokenizer=bertkit.Tokenizer.from_pretrained(a.pretrained))
        results: dict[str, tuple[float, float, float]] = {}  # arm -> (best accuracy, its lr, seconds)
        grid = [float(x) for x in str(a.lr).split(",")]
        for name, model in [("pretrained", a.pretrained), ("random init", d / "random")]:
            for lr in grid:
                t = time.perf_counter()
                pred = bertkit.finetune("classify", train=d / "train.tsv",
                                        dev=a.data / "nsmc_rawderived_dev_sample.txt", model=model,
                                        text_col="document", label_col="label", epochs=10, max_steps=a.max_steps,
                                        batch_size=a.batch_size, lr=lr, max_length=a.max_length,
                                        out=d / f"ft-{name.split()[0]}-{lr}", pooling=a.pooling,
                                        progress=False)
                acc = (pred.report.get("best") or {}).get("eval_accuracy")
                secs = time.perf_counter() - t
                print(f"  {name:<12} lr {lr:g}: dev accuracy {acc:.4f} ({secs:.0f} s)", flush=True)
                if name not in results or acc > results[name][0]:
                    results[name] = (acc, lr, secs)
    print(f"train rows {a.train_rows}, steps {a.max_steps}, batch {a.batch_size}, lr grid {grid}, "
          f"max length {a.max_length}, pooling {a.pooling}")
    for name, (acc, lr, secs) in results.items():
        print(f"{name:<12} dev accuracy {acc:.4f}  (best lr {lr:g}, {secs:.0f} s)")
    gain = (results["pretrained"][0] - results["random init"][0]) * 100
    print(f"pretraining adds {gain:+.2f} accuracy points (target >= +2; target accuracy >= 82%)")
    print(json.dumps({k: v[0] for k, v in results.items()}))


if __name__ == "__main__":
    main()
