"""`bertkit augment`: data augmentation for task-specific distillation (TinyBERT's word replacement)."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import non_negative_int, positive_int, unit_float


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("augment", help="augment a task's training file with word-replaced copies (TinyBERT)",
                       description="TinyBERT data augmentation (Jiao et al. 2020): writes every row of the input "
                                   "and N copies in which each word is replaced with probability P by one of K "
                                   "candidates (the MLM's predictions for single-piece words, embedding neighbours "
                                   "for the others). Output: TSV with the input's columns plus source_row and "
                                   "augmented (0/1). An interrupted run continues where it stopped when started "
                                   "again with the same arguments.")
    p.add_argument("--method", default="tinybert", choices=["tinybert"], help="tinybert (default)")
    p.add_argument("--mlm", required=True, help="masked-LM folder with its MLM head and WordPiece tokenizer")
    p.add_argument("-i", "--input", required=True, help="CSV / TSV / JSONL training file (as `finetune classify`)")
    p.add_argument("-o", "--out", "--output", dest="out", required=True, help="the augmented TSV to write")
    p.add_argument("--text-col", default="sentence", help="the text column (default: sentence)")
    p.add_argument("--text2-col", default=None, help="a second text column, augmented too (pair tasks)")
    p.add_argument("-n", type=positive_int, default=20, help="augmented copies per row (default 20)")
    p.add_argument("-k", type=positive_int, default=15, help="candidates per word (default 15)")
    p.add_argument("-p", type=unit_float, default=0.4, help="probability of replacing a word (default 0.4)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="masked copies per MLM forward")
    p.add_argument("--max-length", type=positive_int, default=128, help="MLM window in tokens")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--no-resume", dest="resume", action="store_false",
                   help="start over even when OUT.partial holds an interrupted run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.distill.augment import tinybert_augment

    stats = tinybert_augment(args.mlm, args.input, args.out, text_col=args.text_col, text2_col=args.text2_col,
                             n=args.n, k=args.k, p=args.p, batch_size=args.batch_size, max_length=args.max_length,
                             seed=args.seed, progress=not args.quiet, resume=args.resume)
    print(json.dumps(stats, indent=1))
    return 0
