"""`bertkit embed`: one text per line in, an (N, D) float32 .npy out, streamed in chunks.

Memory stays flat whatever the file size: lines are read chunk by chunk and each chunk's vectors are
appended to the .npy file (which `np.load(..., mmap_mode="r")` opens without reading it whole).
"""
from __future__ import annotations

import argparse
import itertools
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
    p.add_argument("--pooling", default=None, choices=["mean", "cls", "max", "pooler"],
                   help="default: the model's own (its 1_Pooling setting), else mean")
    p.add_argument("--layers", default="-1", help="layer index or comma list, e.g. -4,-3,-2,-1")
    p.add_argument("--combine", default="concat", choices=["concat", "sum", "mean"])
    p.add_argument("--normalize", action="store_true", help="unit-length vectors")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16", "int8"])
    p.add_argument("--windows", action="store_true", help="embed long texts as the mean of sliding windows "
                                                          "instead of truncating them")
    p.add_argument("--chunk", type=int, default=4096, help="texts embedded per chunk (bounds memory)")
    p.set_defaults(func=run)


def write_npy_stream(path: Path, n: int, dim: int, chunks) -> None:
    """Write an (n, dim) float32 .npy from an iterator of (k, dim) arrays without holding it in memory."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, dim)})
        written = 0
        for c in chunks:
            f.write(np.ascontiguousarray(c, dtype="<f4").tobytes())
            written += len(c)
    if written != n:
        raise InputError(f"input changed while embedding: expected {n} lines, got {written}")


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from bertkit.embed import load
    from bertkit.textio import iter_lines

    out_path = Path(args.output)
    if out_path.suffix != ".npy":
        raise InputError(f"output must be a .npy file, got {out_path}")
    if args.chunk < 1:
        raise InputError(f"--chunk must be >= 1, got {args.chunk}")
    n = sum(1 for _ in iter_lines(args.input))  # first pass: count, and report a bad line before any work
    enc = load(args.model)
    opts = dict(pooling=args.pooling, layers=parse_layers(args.layers), combine=args.combine,
                normalize=args.normalize, batch_size=args.batch_size, precision=args.precision,
                truncate="window" if args.windows else True)
    dim = enc.embed([""], **opts).shape[1]  # validates options before any file is written
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    lines = iter_lines(args.input)
    bar = tqdm(total=n, desc="embed", unit="text", disable=n <= args.batch_size)

    def chunks():
        while batch := list(itertools.islice(lines, args.chunk)):
            yield enc.embed(batch, show_progress=False, **opts)
            bar.update(len(batch))

    try:
        with bar:
            write_npy_stream(tmp, n, dim, chunks())
        tmp.replace(out_path)
    finally:
        tmp.unlink(missing_ok=True)
    print(f"wrote {out_path}: {n} x {dim} float32")
    return 0
