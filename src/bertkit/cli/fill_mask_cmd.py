"""`bertkit fill-mask DIR TEXT`: the masked-LM's top predictions for each mask token."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fill-mask", help="predict the [MASK] tokens of a text with a masked-LM checkpoint")
    p.add_argument("model", help="checkpoint folder with a masked-LM head")
    p.add_argument("text", help='text with the mask token, e.g. "Paris is the [MASK] of France."')
    p.add_argument("-k", type=positive_int, default=5, help="predictions per mask")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.fill_mask import FillMask

    for n, preds in enumerate(FillMask(args.model)(args.text, args.k), 1):
        print(f"mask {n}:")
        for token, p in preds:
            print(f"  {p:7.4f}  {token}")
    return 0
