"""`bertkit attention MODEL "text" --layer L [--head H] -o att.png`: the book's attention heat maps."""
from __future__ import annotations

import argparse

from bertkit.cli.options import integer


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("attention", help="draw a layer's attention (one head or all) as a heat map PNG")
    p.add_argument("model", help="checkpoint folder ('default': the bundled MiniLM)")
    p.add_argument("text")
    p.add_argument("--pair", help="a second text (segment B)")
    p.add_argument("--layer", type=integer, default=-1, help="layer, from 0 (negative: from the end; default the last)")
    p.add_argument("--head", type=integer, help="one head (default: every head of the layer)")
    p.add_argument("-o", "--out", default="attention.png", help="PNG to write")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.attention_plot import attention_map

    png = attention_map(None if args.model == "default" else args.model, args.text, args.out, layer=args.layer,
                        head=args.head, pair=args.pair)
    print(f"wrote {png}")
    return 0
