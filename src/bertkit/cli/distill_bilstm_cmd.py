"""BERT -> BiLSTM distillation (Tang et al. 2019) from the command line: `add_arguments(parser)` and `run(args)`.

The lead wires these to `bertkit distill --method bilstm`; until then `bertkit distill-bilstm` uses them.
"""
from __future__ import annotations

import argparse

from bertkit.cli.options import non_negative_int, positive_float, positive_int, unit_float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--teacher", help="a classification folder from `bertkit finetune classify` (not needed with "
                                      "--labels-only --embeddings trained)")
    p.add_argument("--train", required=True, help="CSV/TSV/JSONL with a text (and label) column")
    p.add_argument("--dev", help="a labelled file to report accuracy on")
    p.add_argument("--out", required=True, help="output folder (the BiLSTM, metrics.json, caches)")
    p.add_argument("--text-col")
    p.add_argument("--text2-col", help="second text (sentence-pair student)")
    p.add_argument("--label-col")
    p.add_argument("--tagger", help="POS tagger JSON (bertkit train-pos-tagger), needed when --p-pos > 0")
    p.add_argument("--no-augment", action="store_true", help="distil on the training texts only")
    p.add_argument("--n-iter", type=positive_int, default=20, help="augmented copies per example (default 20)")
    p.add_argument("--p-mask", type=unit_float, default=0.1)
    p.add_argument("--p-pos", type=unit_float, default=0.1)
    p.add_argument("--p-ng", type=unit_float, default=0.25)
    p.add_argument("--alpha", type=unit_float, default=0.0,
                   help="weight of cross-entropy on gold labels; 1 - alpha goes to MSE on teacher logits (default 0)")
    p.add_argument("--labels-only", action="store_true",
                   help="no teacher signal: cross-entropy on gold labels, no augmentation (the no-teacher twin)")
    p.add_argument("--embeddings", choices=["teacher", "trained"], default="teacher",
                   help="teacher: its WordPiece vocabulary and input embeddings; trained: a word vocabulary")
    p.add_argument("--hidden", type=positive_int, default=150)
    p.add_argument("--epochs", type=positive_float, default=3)
    p.add_argument("--time-budget-min", type=positive_float)
    p.add_argument("--lr", type=positive_float, default=1e-3)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--quiet", action="store_true")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill-bilstm", help="distil a fine-tuned classifier into a BiLSTM (Tang et al. 2019)")
    add_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from bertkit.distill.bilstm_train import distill_bilstm

    distill_bilstm(args.teacher, args.train, args.out, dev=args.dev, text_col=args.text_col,
                   text2_col=args.text2_col, label_col=args.label_col, tagger=args.tagger,
                   augment=not args.no_augment, n_iter=args.n_iter, p_mask=args.p_mask, p_pos=args.p_pos,
                   p_ng=args.p_ng, alpha=None if args.labels_only else args.alpha, embeddings=args.embeddings,
                   hidden=args.hidden, epochs=args.epochs, time_budget_min=args.time_budget_min, lr=args.lr,
                   batch_size=args.batch_size, seed=args.seed, resume=args.resume, progress=not args.quiet)
    from pathlib import Path
    print(json.dumps(json.loads((Path(args.out) / "metrics.json").read_text()), indent=2))
    return 0
