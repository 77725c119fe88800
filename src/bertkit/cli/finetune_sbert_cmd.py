"""`bertkit finetune-sbert`: fine-tune a Sentence-BERT bi-encoder (softmax | regression | triplet | mnrl).

`add_arguments` and `run` are kept separate from `register` so the same options can be mounted as
`bertkit finetune sbert` by the fine-tuning command.
"""
from __future__ import annotations

import argparse

from bertkit.cli.options import (
    add_training_precision,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train", required=True, help="training file (see --objective for its format)")
    p.add_argument("--objective", required=True, choices=["softmax", "regression", "triplet", "mnrl"],
                   help="softmax: s1<TAB>s2<TAB>NLI label; regression: STS csv/tsv (score 0..5); "
                        "triplet: anchor<TAB>positive<TAB>negative; mnrl: anchor<TAB>positive[<TAB>negative]")
    p.add_argument("--model", default=None, help="starting checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--out", "-o", "--output", dest="out", required=True,
                   help="output folder (sentence-transformers layout; with --dev, the best state on dev)")
    p.add_argument("--pooling", default=None, choices=["mean", "cls", "max"], help="default: the model's own")
    p.add_argument("--dev", default=None, help="STS file: dev Spearman before, every epoch (or --eval-every steps) "
                                               "and at the end; the best state is kept")
    p.add_argument("--epochs", type=positive_float, default=1.0)
    p.add_argument("--max-steps", type=positive_int, default=None, help="optimizer steps (overrides --epochs)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument("--lr", type=positive_float, default=2e-5)
    p.add_argument("--warmup-ratio", type=unit_float, default=0.1, help="fraction of steps with linear warm-up")
    p.add_argument("--max-length", type=positive_int, default=128, help="tokens per sentence")
    p.add_argument("--score-scale", type=positive_float, default=5.0, help="regression: gold scores are divided by this")
    p.add_argument("--eval-every", type=positive_int, default=None)
    p.add_argument("--save-every", type=positive_int, default=None, help="checkpoint every N steps (for --resume)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    add_training_precision(p)
    p.add_argument("--seed", type=non_negative_int, default=0)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune-sbert", help="fine-tune a Sentence-BERT bi-encoder")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import math

    from bertkit.embed.sbert import read_examples, train_sbert
    from bertkit.training import TrainConfig

    examples = read_examples(args.train, args.objective, args.score_scale)
    steps = args.max_steps or max(1, math.ceil(args.epochs * (len(examples) // args.batch_size)))
    cfg = TrainConfig(out_dir=args.out, lr=args.lr, warmup_steps=int(args.warmup_ratio * steps),
                      max_steps=args.max_steps, epochs=None if args.max_steps else args.epochs,
                      batch_size=args.batch_size, precision=args.precision, eval_every=args.eval_every,
                      save_every=args.save_every, seed=args.seed)
    run_ = train_sbert(args.model, args.train, args.objective, cfg, pooling=args.pooling, dev_file=args.dev,
                       max_length=args.max_length, score_scale=args.score_scale, resume=args.resume,
                       train_examples=examples)
    if run_.metrics.get("interrupted"):
        print(f"interrupted at step {run_.metrics.get('step')}: the latest checkpoint is under "
              f"{args.out}/checkpoints (continue with --resume)")
        return 0
    print(f"wrote {args.out} ({args.objective}, {run_.metrics.get('step')} steps, "
          f"final loss {run_.metrics.get('loss', float('nan')):.4f})")
    if run_.dev_before is not None:
        print(f"dev Spearman before {run_.dev_before['sts_spearman']:.4f}")
    if run_.dev_after is not None:
        kept = ""
        if run_.dev_last is not None:
            where = "the starting model" if run_.best_step == 0 else f"step {run_.best_step}"
            kept = (f"; kept the best on dev, {where}, over the last step's "
                    f"{run_.dev_last['sts_spearman']:.4f}")
        print(f"dev Spearman after  {run_.dev_after['sts_spearman']:.4f} "
              f"(Pearson {run_.dev_after['sts_pearson']:.4f}){kept}")
    return 0
