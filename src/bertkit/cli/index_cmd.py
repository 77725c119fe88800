"""`bertkit index build`: embed a corpus (one text per line) into a memory-mapped search index."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("index", help="build a semantic search index")
    verbs = p.add_subparsers(dest="index_command", metavar="ACTION")
    verbs.required = True
    b = verbs.add_parser("build", help="embed a corpus file into an index folder")
    b.add_argument("-i", "--input", required=True, help="UTF-8 corpus, one text per line")
    b.add_argument("-o", "--output", required=True, help="index folder to write")
    b.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    b.add_argument("--pooling", default=None, choices=["mean", "cls", "max", "pooler"],
                   help="default: the model's own pooling")
    b.add_argument("--float16", action="store_true", help="store embeddings as float16 (half the disk)")
    b.add_argument("--chunk", type=positive_int, default=4096, help="texts embedded per chunk (bounds memory)")
    b.add_argument("--batch-size", type=positive_int, default=32)
    b.add_argument("--resume", action="store_true",
                   help="continue an interrupted build (Ctrl-C, SIGTERM, a crash) after its last finished chunk; "
                        "give the same arguments")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    import sys

    from bertkit.embed.index import build_index

    try:
        idx = build_index(args.input, args.output, model=args.model, dtype="float16" if args.float16 else "float32",
                          chunk_size=args.chunk, batch_size=args.batch_size, pooling=args.pooling,
                          resume=args.resume)
    except KeyboardInterrupt:
        print("bertkit: the finished chunks are kept; the same command with --resume continues the build",
              file=sys.stderr)
        raise
    m = idx.meta
    print(f"wrote {args.output}: {m['count']} x {m['dim']} {m['dtype']} ({m['model']}, {m['pooling']} pooling)")
    return 0
