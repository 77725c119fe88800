"""`bertkit train-pos-tagger --train conll.txt --out tagger.json [--dev valid.txt]`: an averaged-perceptron POS
tagger trained on the 2nd column of a CoNLL-2003 file (for Tang et al.'s POS-guided augmentation)."""
from __future__ import annotations

import argparse

from bertkit.cli.options import non_negative_int, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-pos-tagger", help="train an averaged-perceptron POS tagger on a CoNLL file",
                       description="Trains on the POS column (the 2nd) of a CoNLL-2003 file and writes the tagger "
                                   "as JSON; with --dev prints its word accuracy there.")
    p.add_argument("--train", required=True, help="CoNLL file: TOKEN POS ... per line, blank line between sentences")
    p.add_argument("--out", required=True, help="the tagger's JSON file")
    p.add_argument("--dev", help="a CoNLL file to score the tagger on")
    p.add_argument("--iterations", type=positive_int, default=5, help="passes over the data (default 5)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.tasks.pos_tagger import read_pos, train_pos_tagger

    dev = read_pos(args.dev) if args.dev else None  # a bad dev file fails before training
    tagger = train_pos_tagger(args.train, iterations=args.iterations, seed=args.seed, progress=not args.quiet)
    tagger.save(args.out)
    print(f"wrote {args.out} ({len(tagger.tags)} tags, {len(tagger.weights)} features)")
    if dev is not None:
        n = sum(len(t) for _, t in dev)
        print(f"dev accuracy: {tagger.accuracy(dev):.4f} ({n} words of {args.dev})")
    return 0
