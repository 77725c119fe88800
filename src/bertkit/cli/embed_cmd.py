"""`bertkit embed`: one text per line in, an (N, D) float32 .npy out, streamed in chunks.

Memory stays flat whatever the file size: lines are read chunk by chunk and each chunk's vectors are
appended to the .npy file (which `np.load(..., mmap_mode="r")` opens without reading it whole).
"""
from __future__ import annotations

import argparse
import itertools
import os
from pathlib import Path

import numpy as np

from bertkit.cli.options import positive_int
from bertkit.errors import InputError


def parse_layers(s: str) -> int | list[int]:
    """--layers: one index (-1) or a comma list (-4,-3,-2,-1); checked while the command line is parsed."""
    try:
        vals = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes integers like -1 or -4,-3,-2,-1, got {s!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("is empty: give a layer index like -1 or a list like -4,-3,-2,-1")
    return vals[0] if len(vals) == 1 else vals


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed a text file (one text per line) into an .npy array")
    p.add_argument("-i", "--input", required=True, help="UTF-8 text file, one text per line")
    p.add_argument("-o", "--output", required=True, help="output .npy file, shape (N, D) float32")
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--pooling", default=None, choices=["mean", "cls", "max", "pooler"],
                   help="default: the model's own (its 1_Pooling setting), else mean")
    p.add_argument("--layers", type=parse_layers, default=-1, help="layer index or comma list, e.g. -4,-3,-2,-1")
    p.add_argument("--combine", default="concat", choices=["concat", "sum", "mean"])
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None,
                   help="unit-length vectors (default: the model's own, i.e. when its modules.json has a "
                        "Normalize step, as all-MiniLM-L6-v2's does)")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16", "int8"])
    p.add_argument("--windows", action="store_true", help="embed long texts as the mean of sliding windows "
                                                          "instead of truncating them")
    p.add_argument("--chunk", type=positive_int, default=4096, help="texts embedded per chunk (bounds memory)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run (Ctrl-C, SIGTERM, a crash) after its last finished chunk; "
                        "give the same arguments")
    p.set_defaults(func=run)


def _open_rows(path: Path, n: int, dim: int, resume_at: int | None):
    """The partial .npy opened for writing rows: a new file with its header, or (resume_at) the interrupted
    run's file, positioned after its first `resume_at` rows."""
    if resume_at is None:
        f = open(path, "wb")  # noqa: SIM115 (returned open: the caller writes the rows)
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (n, dim)})
        return f
    f = open(path, "r+b")  # noqa: SIM115 (returned open: the caller writes the rows)
    try:
        np.lib.format.read_magic(f)
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    except ValueError as e:
        f.close()
        raise InputError(f"{path} is not the .npy an interrupted run left: {e}") from None
    if shape != (n, dim) or dtype != np.dtype("<f4"):
        f.close()
        raise InputError(f"{path} holds a {shape} {dtype} array, not the ({n}, {dim}) float32 this run writes")
    start = f.tell() + resume_at * dim * 4
    if os.fstat(f.fileno()).st_size < start:  # seeking past the end would leave zero rows in the output
        f.close()
        raise InputError(f"{path} is shorter than the {resume_at} rows its record says are done; run without "
                         "--resume to start over")
    f.seek(start)
    return f


def run(args: argparse.Namespace) -> int:
    import sys

    from tqdm.auto import tqdm

    from bertkit.embed import load
    from bertkit.errors import warn
    from bertkit.resumable import Progress, input_signature
    from bertkit.textio import iter_lines

    out_path = Path(args.output)
    if out_path.suffix != ".npy":
        raise InputError(f"output must be a .npy file, got {out_path}")
    n = sum(1 for _ in iter_lines(args.input))  # first pass: count, and report a bad line before any work
    if n == 0:
        warn(f"{args.input} has no lines: the output holds no vectors")
    enc = load(args.model)
    enc.window_hint = "--windows"  # the truncation warning names this command's option
    opts = dict(pooling=args.pooling, layers=args.layers, combine=args.combine,
                normalize=args.normalize, batch_size=args.batch_size, precision=args.precision,
                truncate="window" if args.windows else True)
    # validates the options before any file is written; with --precision auto, the first texts are its probe
    probe = list(itertools.islice(iter_lines(args.input), args.batch_size)) or [""]
    dim = enc.embed(probe, **opts).shape[1]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    progress = Progress(out_path.with_name(out_path.name + ".partial.json"), {
        **input_signature(args.input), "model": None if args.model is None else str(Path(enc.path).resolve()),  # a hub id: its snapshot
        **opts, "chunk": args.chunk, "rows": n, "dim": int(dim)})
    done = 0
    if args.resume:
        done = progress.resume("embedding run")["rows"]
        if not tmp.is_file():
            raise InputError(f"nothing to resume: {tmp} is missing; run without --resume to start over")
    elif tmp.exists():
        warn(f"{tmp} holds an interrupted run; starting over (the same command with --resume continues it)")
    f = _open_rows(tmp, n, dim, done if args.resume else None)
    progress.commit(done)
    lines = itertools.islice(iter_lines(args.input), done, None)
    bar = tqdm(total=n, initial=done, desc="embed", unit="text", disable=n <= args.batch_size)
    try:
        with bar, f:
            while batch := list(itertools.islice(lines, args.chunk)):
                f.write(np.ascontiguousarray(enc.embed(batch, show_progress=False, **opts), dtype="<f4").tobytes())
                f.flush()
                os.fsync(f.fileno())
                done += len(batch)
                progress.commit(done)  # only once the rows are on disk: a crash in between redoes one chunk
                bar.update(len(batch))
        if done != n:
            raise InputError(f"input changed while embedding: expected {n} lines, got {done}")
        tmp.replace(out_path)
        progress.remove()
    except InputError:
        tmp.unlink(missing_ok=True)
        progress.remove()
        raise
    except BaseException:  # Ctrl-C, or a failure in the middle: keep what is done for --resume
        if not done:
            tmp.unlink(missing_ok=True)
            progress.remove()
        else:
            print(f"bertkit: stopped after {done} of {n} texts; the same command with --resume continues from "
                  "there", file=sys.stderr)
        raise
    print(f"wrote {out_path}: {n} x {dim} float32")
    return 0
