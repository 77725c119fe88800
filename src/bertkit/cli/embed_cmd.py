"""`bertkit embed`: one text per line in, an (N, D) float32 .npy out, streamed in chunks."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bertkit.errors import InputError


def parse_layers(s: str) -> int | list[int]:
    try:
        vals = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"--layers takes integers like -1 or -4,-3,-2,-1, got {s!r}") from None
    if not vals:
        raise InputError("--layers is empty")
    return vals[0] if len(vals) == 1 else vals


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed a text file (one text per line) into an .npy array")
    p.add_argument("-i", "--input", required=True, help="UTF-8 text file, one text per line")
    p.add_argument("-o", "--output", required=True, help="output .npy file, shape (N, D) float32")
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--pooling", default="mean", choices=["mean", "cls", "max", "pooler"])
    p.add_argument("--layers", default="-1", help="layer index or comma list, e.g. -4,-3,-2,-1")
    p.add_argument("--combine", default="concat", choices=["concat", "sum", "mean"])
    p.add_argument("--normalize", action="store_true", help="unit-length vectors")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16"])
    p.add_argument("--chunk", type=int, default=8192, help="texts embedded per chunk (bounds memory)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.embed import load
    from bertkit.textio import read_lines

    texts = read_lines(args.input)
    out_path = Path(args.output)
    if out_path.suffix != ".npy":
        raise InputError(f"output must be a .npy file, got {out_path}")
    enc = load(args.model)
    layers = parse_layers(args.layers)
    opts = dict(pooling=args.pooling, layers=layers, combine=args.combine, normalize=args.normalize,
                batch_size=args.batch_size, precision=args.precision)
    dim = enc.embed([""], **opts).shape[1]  # validates options before any file is written
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial.npy")
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(texts), dim))
    for s in range(0, len(texts), args.chunk):
        arr[s:s + args.chunk] = enc.embed(texts[s:s + args.chunk], show_progress=len(texts) > args.batch_size, **opts)
    arr.flush()
    del arr
    tmp.replace(out_path)
    print(f"wrote {out_path}: {len(texts)} x {dim} float32")
    return 0
