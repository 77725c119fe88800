"""`bertkit distill`: general distillation of a teacher masked LM into a smaller student on a text corpus."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import (
    add_training_precision,
    int_list,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a teacher masked LM into a smaller student on a corpus (DistilBERT)",
                       description="General distillation: the student starts from teacher layers (--layers, "
                                   "default every other one) and learns alpha*L_ce + beta*L_mlm + gamma*L_cos "
                                   "(Sanh et al. 2019) on the corpus, read as `bertkit pretrain` reads it. "
                                   "Writes a Hugging Face folder (the teacher's tokenizer), checkpoints under "
                                   "OUT/training and OUT/metrics.json.")
    p.add_argument("--method", default="distilbert", choices=["distilbert"],
                   help="distilbert (default; tinybert and bilstm are planned)")
    p.add_argument("--teacher", default=None,
                   help="teacher folder with its masked-LM head, e.g. from `bertkit pretrain` or a *ForMaskedLM "
                        "folder (default: the bundled MiniLM)")
    p.add_argument("--corpus", required=True, nargs="+", help="text files: a sentence per line, blank line between "
                                                             "documents (or a TSV with a 'document' column)")
    p.add_argument("-o", "--output", "--out", dest="out", required=True, help="the student's folder")
    p.add_argument("--layers", type=int_list(non_negative_int), default=None, metavar="I,J,...",
                   help="teacher blocks the student's blocks copy, e.g. 0,2,4 (default every other one)")
    p.add_argument("--alpha", type=non_negative_float, default=5.0, help="weight of the soft-target loss L_ce")
    p.add_argument("--beta", type=non_negative_float, default=2.0, help="weight of the masked-LM loss L_mlm")
    p.add_argument("--gamma", type=non_negative_float, default=1.0, help="weight of the cosine loss L_cos")
    p.add_argument("--temperature", type=positive_float, default=2.0, help="softmax temperature of L_ce")
    p.add_argument("--steps", type=positive_int, default=None, help="optimizer steps (default: --epochs)")
    p.add_argument("--epochs", type=positive_float, default=1.0)
    p.add_argument("--lr", type=positive_float, default=5e-4)
    p.add_argument("--warmup", type=unit_float, default=0.05, help="fraction of the steps of linear warm-up")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--max-length", type=positive_int, default=128)
    add_training_precision(p)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--resume", action="store_true", help="continue exactly from OUT/training's latest checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bertkit.distill.general import distill_general

    distill_general(args.teacher, args.corpus, args.out, layers=args.layers, alpha=args.alpha, beta=args.beta,
                    gamma=args.gamma, temperature=args.temperature, max_length=args.max_length,
                    batch_size=args.batch_size, steps=args.steps, epochs=args.epochs, lr=args.lr, warmup=args.warmup,
                    precision=args.precision, seed=args.seed, resume=args.resume, progress=not args.quiet)
    print(json.dumps(json.loads((Path(args.out) / "metrics.json").read_text()), indent=1))
    return 0
