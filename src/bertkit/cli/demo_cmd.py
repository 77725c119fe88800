"""`bertkit demo FILE`: embed a text file with the bundled model and answer semantic-search queries."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int

DEFAULT_QUERIES = ["How do plants make their food?", "a famous painting in a museum", "What is the capital of France?"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="embed a text file and answer semantic-search queries (the `make run` job)")
    p.add_argument("corpus", help="UTF-8 text file, one sentence per line")
    p.add_argument("--queries", help="file with one query per line (default: three built-in questions)")
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("-k", type=positive_int, default=3)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import time

    from bertkit.embed import load
    from bertkit.embed.search import cosine_top_k
    from bertkit.errors import InputError
    from bertkit.textio import read_lines

    sentences = [s for s in read_lines(args.corpus) if s.strip()]
    if not sentences:
        raise InputError(f"{args.corpus} has no non-empty lines")
    queries = [q for q in read_lines(args.queries) if q.strip()] if args.queries else DEFAULT_QUERIES
    enc = load(args.model)
    t = time.perf_counter()
    vecs = enc.embed(sentences, normalize=True)
    dt = time.perf_counter() - t
    print(f"model {enc.name}: embedded {len(sentences)} sentences into {vecs.shape[1]} dimensions "
          f"in {dt:.2f}s ({len(sentences) / dt:.0f} sentences/s)\n")
    scores, idx = cosine_top_k(enc.embed(queries, normalize=True), vecs, args.k)
    for q, s_row, i_row in zip(queries, scores, idx):
        print(f"query: {q}")
        for s, i in zip(s_row, i_row):
            print(f"  {s:.3f}  {sentences[i]}")
        print()
    return 0
