"""`bertkit search IDX "query"`: the k nearest indexed texts by exact cosine, one `score<TAB>id<TAB>text` line each."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="query an index built with `bertkit index build`")
    p.add_argument("index", help="index folder")
    p.add_argument("query", nargs="+", help="one or more query texts")
    p.add_argument("-k", type=positive_int, default=5, help="results per query (default 5)")
    p.add_argument("--model", default=None, help="query model folder (default: the one the index was built with)")
    p.add_argument("--backend", default="auto", choices=["auto", "numpy", "faiss"],
                   help="auto: faiss when installed, else numpy (both exact)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.embed.index import load_index

    idx = load_index(args.index, model=args.model)
    results = idx.search(args.query, k=args.k, backend=args.backend)
    for q, hits in zip(args.query, results):
        if len(args.query) > 1:
            print(f"# {q}")
        for h in hits:
            print(f"{h.score:.4f}\t{h.id}\t{h.text}")
    return 0
