"""Does pretraining help? Fine-tune the same small BERT on NSMC-derived Korean reviews twice: from a
checkpoint pretrained with `bertkit pretrain` and from random initialisation of the same architecture.

    python benchmarks/nsmc_pretraining_gain.py --pretrained runs/ko-bert/model --data ../shared/data/nsmc \
        [--train-rows 30000] [--max-steps 1500] [--batch-size 64] [--lr 1e-4[,3e-4,...]] [--pooling cls|mean] [--seeds N]
        [--layer-lr-decay 1[,0.8,...]] [--freeze none[,top:4,...]] [--arms pretrained,random]

Both runs use the same data, steps, batch, learning rate(s) and seed; dev = nsmc_rawderived_dev_sample.txt.
With --seeds N each arm is fine-tuned N times (seeds 0..N-1; the random arm also starts from N different
initialisations) and the mean accuracy is compared.
With several learning rates (and/or layer-wise lr decays, freezing policies), every arm runs at each setting of the
grid and each arm is reported at its best (the same grid for both, so neither gets more tuning than the other).
--arms runs one arm only (its figures, no gain): the two arms are independent and deterministic for a seed on one
thread, so they may run on two cores at once.
"""
from __future__ import annotations

import argparse
import json
import statistics
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
    ap.add_argument("--seeds", type=int, default=1,
                    help="repeat each arm with seeds 0..N-1 (the random arm's initial weights, the new head, the "
                         "batch order) and report the mean: one run of a random-initialised model varies by points")
    ap.add_argument("--layer-lr-decay", default="1", help="layer-wise lr decay, or a comma-separated grid")
    ap.add_argument("--freeze", default="none",
                    help="freezing policy (none | encoder | top:K; top:K with K = all layers freezes only the "
                         "embeddings), or a comma-separated grid")
    ap.add_argument("--arms", default="pretrained,random", help="pretrained,random (default), or one of them")
    a = ap.parse_args()
    grid = [(float(x), float(d), f) for x in str(a.lr).split(",") for d in str(a.layer_lr_decay).split(",")
            for f in str(a.freeze).split(",")]
    seeds = list(range(a.seeds))
    arms = {"pretrained": "pretrained", "random": "random init"}
    if not a.arms or any(x not in arms for x in a.arms.split(",")):
        ap.error(f"--arms takes pretrained, random or both (comma-separated), got {a.arms!r}")
    # arm -> (lr, layer decay, freeze) -> accuracy per seed
    acc: dict[str, dict[tuple[float, float, str], list[float]]] = {arms[x]: {} for x in a.arms.split(",")}
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        lines = (a.data / "nsmc_rawderived_train.txt").read_text(encoding="utf-8").splitlines()
        (d / "train.tsv").write_text("\n".join(lines[: a.train_rows + 1]) + "\n", encoding="utf-8")
        src = bertkit.from_pretrained(a.pretrained)
        tok = bertkit.Tokenizer.from_pretrained(a.pretrained)
        for seed in seeds:
            torch.manual_seed(seed)
            random = Model(src.config, "base")  # same architecture, fresh N(0, 0.02) weights
            bertkit.save_pretrained(random, d / f"random-{seed}", tokenizer=tok)
            for name, runs in acc.items():
                model = a.pretrained if name == "pretrained" else d / f"random-{seed}"
                for lr, decay, freeze in grid:
                    t = time.perf_counter()
                    pred = bertkit.finetune("classify", train=d / "train.tsv",
                                            dev=a.data / "nsmc_rawderived_dev_sample.txt", model=model,
                                            text_col="document", label_col="label", epochs=10,
                                            max_steps=a.max_steps, batch_size=a.batch_size, lr=lr,
                                            max_length=a.max_length, out=d / f"ft-{name.split()[0]}-{lr}-{decay}-{freeze.replace(':', '')}-{seed}",
                                            freeze=None if freeze == "none" else freeze,
                                            pooling=a.pooling, seed=seed, layer_lr_decay=decay, progress=False)
                    x = (pred.report.get("best") or {}).get("eval_accuracy")
                    runs.setdefault((lr, decay, freeze), []).append(x)
                    print(f"  seed {seed} {name:<12} lr {lr:g} layer decay {decay:g} freeze {freeze}: dev accuracy {x:.4f} "
                          f"({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"train rows {a.train_rows}, steps {a.max_steps}, batch {a.batch_size}, (lr, layer decay, freeze) grid {grid}, "
          f"max length {a.max_length}, pooling {a.pooling}, seeds {len(seeds)}")
    best: dict[str, float] = {}
    for name, by_setting in acc.items():  # each arm at the setting with the best mean over seeds
        (lr, decay, freeze), xs = max(by_setting.items(), key=lambda kv: statistics.fmean(kv[1]))
        best[name] = statistics.fmean(xs)
        spread = f" +- {statistics.stdev(xs):.4f} (sd), runs {', '.join(f'{x:.4f}' for x in xs)}" if len(xs) > 1 else ""
        print(f"{name:<12} dev accuracy {best[name]:.4f}{spread}  (best lr {lr:g}, layer decay {decay:g}, freeze {freeze})")
    if len(best) < 2:
        print(json.dumps(best))
        return
    gain = (best["pretrained"] - best["random init"]) * 100
    print(f"pretraining adds {gain:+.2f} accuracy points (target >= +2; target accuracy >= 82%)")
    print(json.dumps(best))

if __name__ == "__main__":
    main()
