"""`bertkit explain DIR "text" [--pair TEXT] [--target LABEL] [--steps N] [--html FILE]`: which words made a
fine-tuned classifier's prediction (integrated gradients, see tasks/explain.py)."""
from __future__ import annotations

import argparse
import sys

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="token attributions of a classifier's prediction (integrated gradients)",
                       description="Prints `LABEL (score S): words`, each word coloured by its attribution to the "
                                   "label's logit (green: for it, red: against it); --plain prints word(+0.12).")
    p.add_argument("model", help="folder written by `bertkit finetune classify|pair --out`")
    p.add_argument("text", help="the text to explain (the first text, for a pair model)")
    p.add_argument("--pair", help="the second text, for a pair model")
    p.add_argument("--target", help="label to explain (default: the predicted one)")
    p.add_argument("--steps", type=positive_int, default=50,
                   help="integration steps (doubled, up to 1024, while the attributions miss the logit by >1%%)")
    p.add_argument("--baseline", choices=["pad", "zero"], default="pad",
                   help="what each token starts from: the [PAD] vector or zeros")
    p.add_argument("--html", help="also write a standalone HTML page here")
    p.add_argument("--plain", action="store_true", help="no colours: word(+0.12) (the default when not a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.tasks.predictor import Predictor

    exp = Predictor.load(args.model).explain(args.text, pair=args.pair, target=args.target, steps=args.steps,
                                             baseline=args.baseline, progress=True)
    print(exp.to_terminal(color=not args.plain and sys.stdout.isatty()))
    if exp.note:
        print(f"note: {exp.note}")
    if args.html:
        print(f"wrote {exp.to_html(args.html)}")
    return 0
