"""`bertkit serve`: the embedding server (POST /embed, POST /similarity, GET /health) on uvicorn."""
from __future__ import annotations

import argparse

from bertkit.cli.options import non_negative_float, port, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve embeddings over HTTP (micro-batched)")
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=port, default=8080)
    p.add_argument("--max-batch", type=positive_int, default=64, help="texts per micro-batch")
    p.add_argument("--max-wait-ms", type=non_negative_float, default=5.0, help="longest wait for a micro-batch to fill")
    p.add_argument("--no-batching", action="store_true", help="embed each request on its own (for comparison)")
    p.add_argument("--max-texts", type=positive_int, default=256, help="texts per request (413 beyond)")
    p.add_argument("--max-chars", type=positive_int, default=20_000, help="characters per text (413 beyond)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--precision", default="fp32", choices=["auto", "fp32", "bf16", "int8"],
                   help="fp32 (default, equal to sentence-transformers); auto: bf16 where the CPU multiplies it "
                        "natively and a probe keeps cosine >= 0.999; bf16 elsewhere is emulated (slower)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.errors import InputError

    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401

        from bertkit.serve.app import ServeConfig, serve
    except ImportError as e:
        raise InputError(f"the server needs FastAPI and uvicorn ({e.name} is missing): "
                         "pip install 'bertkit[serve]'") from None
    import torch

    from bertkit.embed import load

    if args.threads:
        torch.set_num_threads(args.threads)
    enc = load(args.model)
    enc.embed(["warm-up"], precision=args.precision, show_progress=False)  # builds the variant, warns if emulated
    cfg = ServeConfig(max_texts=args.max_texts, max_chars=args.max_chars, max_batch=args.max_batch,
                      max_wait_ms=args.max_wait_ms, batching=not args.no_batching, precision=args.precision)
    mode = "off" if args.no_batching else f"up to {args.max_batch} texts / {args.max_wait_ms:g} ms"
    print(f"serving {enc.name} ({enc.dim}-d, {enc.pooling} pooling) on http://{args.host}:{args.port} "
          f"(micro-batching {mode}; precision {args.precision})", flush=True)
    serve(enc, host=args.host, port=args.port, config=cfg, log_level=args.log_level)
    return 0
