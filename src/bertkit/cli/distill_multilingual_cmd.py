"""`bertkit distill-multilingual`: teach a student to embed translations where the teacher embeds the source."""
from __future__ import annotations

import argparse

from bertkit.cli.options import add_training_precision, non_negative_int, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill-multilingual",
                       help="multilingual sentence embeddings by distillation on parallel text (Reimers & Gurevych 2020)")
    p.add_argument("--src", action="append", required=True, help="source-language file (repeat for several corpora)")
    p.add_argument("--tgt", action="append", required=True, help="line-aligned translation file, one per --src")
    p.add_argument("--dev-src", default=None, help="held-out source file (eval loss)")
    p.add_argument("--dev-tgt", default=None)
    p.add_argument("--teacher", default=None, help="teacher folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--student", default=None, help="student folder (default: a copy of the teacher)")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--limit", type=positive_int, default=None, help="use at most this many pairs per corpus")
    p.add_argument("--epochs", type=positive_float, default=1.0)
    p.add_argument("--max-steps", type=positive_int, default=None)
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--lr", type=positive_float, default=2e-5)
    p.add_argument("--warmup-steps", type=non_negative_int, default=0)
    p.add_argument("--max-length", type=positive_int, default=128)
    p.add_argument("--eval-every", type=positive_int, default=None)
    p.add_argument("--save-every", type=positive_int, default=None)
    p.add_argument("--resume", action="store_true")
    add_training_precision(p)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import random

    from bertkit.embed.distill_multilingual import read_parallel, train_multilingual
    from bertkit.errors import InputError
    from bertkit.training import TrainConfig

    if len(args.src) != len(args.tgt):
        raise InputError(f"{len(args.src)} --src files but {len(args.tgt)} --tgt files; give them in pairs")
    pairs = [p for s, t in zip(args.src, args.tgt) for p in read_parallel(s, t, args.limit)]
    random.Random(args.seed).shuffle(pairs)  # mix corpora so every batch sees every language
    dev = read_parallel(args.dev_src, args.dev_tgt) if args.dev_src and args.dev_tgt else None
    cfg = TrainConfig(out_dir=args.output, lr=args.lr, warmup_steps=args.warmup_steps, max_steps=args.max_steps,
                      epochs=None if args.max_steps else args.epochs, batch_size=args.batch_size,
                      precision=args.precision, eval_every=args.eval_every, save_every=args.save_every, seed=args.seed)
    m = train_multilingual(pairs, cfg, teacher=args.teacher, student=args.student, dev_pairs=dev,
                           max_length=args.max_length, resume=args.resume)
    if m.get("interrupted"):
        print(f"interrupted at step {m.get('step')}: the latest checkpoint is under {args.output}/checkpoints "
              "(continue with --resume)")
        return 0
    print(f"wrote {args.output}: {len(pairs)} pairs, {m.get('step')} steps, final loss {m.get('loss', float('nan')):.5f}")
    return 0
