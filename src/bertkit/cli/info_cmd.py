"""`bertkit info DIR`: what a checkpoint folder holds."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="architecture, parameter count and vocabulary of a checkpoint folder")
    p.add_argument("model", nargs="?", default=None, help="checkpoint folder (default: bundled model)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.hub.checkpoint import from_pretrained, hf_config
    from bertkit.hub.default import resolve_model_path

    folder = resolve_model_path(args.model)
    model = from_pretrained(folder)
    cfg = model.config
    n = sum(p.numel() for p in model.parameters())
    print(f"folder:        {folder}")
    print(f"architecture:  {hf_config(model)['architectures'][0]} (family {cfg.family}, task {model.task})")
    print(f"parameters:    {n:,}")
    print(f"layers:        {cfg.num_layers} x hidden {cfg.hidden_size}, {cfg.num_heads} heads, "
          f"feed-forward {cfg.intermediate_size}" + (f", embeddings {cfg.emb_dim}" if cfg.emb_dim != cfg.hidden_size else ""))
    print(f"positions:     {model.max_tokens} tokens")
    try:
        from bertkit.tokenizers import Tokenizer
        tok = Tokenizer.from_pretrained(folder)
        print(f"vocabulary:    {tok.vocab_size:,} ({type(tok).__name__})")
    except Exception as e:  # a model folder without tokenizer files is still a valid checkpoint
        print(f"vocabulary:    {cfg.vocab_size:,} (no tokenizer: {e})")
    return 0
