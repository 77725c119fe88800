"""`bertkit tokenize [--model DIR] TEXT`: show how a text is cut into sub-word tokens."""
from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenize", help="print the tokens and ids of a text")
    p.add_argument("text", help="the text to tokenize")
    p.add_argument("--model", default=None, help="tokenizer or checkpoint folder (default: bundled MiniLM)")
    p.add_argument("--no-special", action="store_true", help="leave out [CLS]/[SEP]-style tokens")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.hub.default import resolve_model_path
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(resolve_model_path(args.model))
    ids = tok.encode(args.text, add_special_tokens=not args.no_special)
    tokens = tok.convert_ids_to_tokens(ids)
    print("tokens:", " ".join(tokens))
    print("ids:   ", " ".join(str(i) for i in ids))
    print(f"{len(ids)} tokens")
    return 0
