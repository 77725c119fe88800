"""`bertkit project texts.txt -o proj.png`: a 2-D picture (PCA, or UMAP) of the texts' sentence embeddings."""
from __future__ import annotations

import argparse

from bertkit.cli.options import non_negative_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="draw a 2-D projection (PCA/UMAP) of a text file's sentence embeddings")
    p.add_argument("input", help="text file, one text a line; with --labels, LABEL<TAB>TEXT lines")
    p.add_argument("-o", "--out", default="projection.png")
    p.add_argument("--model", help="embedding model (default: bundled MiniLM)")
    p.add_argument("--labels", action="store_true", help="lines are LABEL<TAB>TEXT: colour the points by label")
    p.add_argument("--method", choices=["pca", "umap"], default="pca")
    p.add_argument("--annotate", type=non_negative_int, default=40, help="write the texts beside at most N points")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.embed.projection import project
    from bertkit.errors import InputError
    from bertkit.textio import iter_lines

    lines = [x for x in iter_lines(args.input) if x.strip()]
    labels = None
    if args.labels:
        bad = [i + 1 for i, x in enumerate(lines) if "\t" not in x]
        if bad:
            raise InputError(f"{args.input}: line {bad[0]} has no LABEL<TAB>TEXT")
        labels, lines = zip(*(x.split("\t", 1) for x in lines))
    xy = project(list(lines), args.out, model=args.model, labels=None if labels is None else list(labels),
                 method=args.method, annotate=args.annotate)
    print(f"wrote {args.out} ({len(xy)} points, {args.method})")
    return 0
