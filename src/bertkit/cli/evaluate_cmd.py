"""`bertkit evaluate sts|retrieval`: STS Pearson/Spearman of cosine vs gold; recall@k and MRR of aligned pairs."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import int_list, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate sentence embeddings")
    verbs = p.add_subparsers(dest="eval_command", metavar="TASK")
    verbs.required = True
    s = verbs.add_parser("sts", help="Pearson and Spearman of cosine vs gold similarity (STS-B csv/tsv, KorSTS)")
    s.add_argument("--data", required=True, help="STS file: s1,s2,score csv; KorSTS/GLUE tsv; STS benchmark tsv")
    _common(s)
    s.set_defaults(func=run_sts)
    r = verbs.add_parser("retrieval", help="recall@k and MRR: query line i should retrieve corpus line i")
    r.add_argument("--queries", required=True, help="UTF-8 file, one query per line")
    r.add_argument("--corpus", required=True, help="UTF-8 file, line i is the answer to query i")
    r.add_argument("-k", type=int_list(positive_int), default=[1, 5, 10], help="recall cut-offs, comma separated")
    _common(r)
    r.set_defaults(func=run_retrieval)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--pooling", default=None, choices=["mean", "cls", "max", "pooler"],
                   help="default: the model's own pooling")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _print(args: argparse.Namespace, result: dict) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}\t{v:.4f}" if isinstance(v, float) else f"{k}\t{v}")


def run_sts(args: argparse.Namespace) -> int:
    from bertkit.embed import load
    from bertkit.embed.evaluate import evaluate_sts, read_sts

    data = read_sts(args.data)
    enc = load(args.model)
    r = evaluate_sts(enc, data, pooling=args.pooling, batch_size=args.batch_size)
    _print(args, {"model": enc.name, "data": str(args.data), "pairs": len(data), "pearson": r["pearson"],
                  "spearman": r["spearman"]})
    return 0


def run_retrieval(args: argparse.Namespace) -> int:
    from bertkit.embed import load
    from bertkit.embed.evaluate import evaluate_retrieval
    from bertkit.errors import InputError
    from bertkit.textio import read_lines

    q, c = read_lines(args.queries), read_lines(args.corpus)
    if len(q) != len(c):
        raise InputError(f"{args.queries} has {len(q)} lines but {args.corpus} has {len(c)}; they must be aligned")
    enc = load(args.model)
    r = evaluate_retrieval(enc, q, c, [{i} for i in range(len(q))], ks=args.k, pooling=args.pooling,
                           batch_size=args.batch_size)
    _print(args, {"model": enc.name, "queries": len(q), **r})
    return 0
