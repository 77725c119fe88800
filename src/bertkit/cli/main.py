"""`bertkit` entry point: parses arguments, calls library functions, prints user errors and bertkit's warnings
as one line each."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from bertkit.errors import BertkitError, BertkitWarning

# Each module defines register(subparsers) and sets `func` on its parser via set_defaults(func=...).
COMMAND_MODULES = [
    "embed_cmd",
    "info_cmd",
    "fill_mask_cmd",
    "convert_cmd",
    "demo_cmd",
    "pretrain_cmd",
    "tokenize_cmd",
    "tokenizer_cmd",
    "finetune_cmd",
    "predict_cmd",
    "explain_cmd",
    "evaluate_cmd",
    "index_cmd",
    "search_cmd",
    "serve_cmd",
    "finetune_sbert_cmd",
    "distill_cmd",
    "augment_cmd",
    "distill_multilingual_cmd",
    "translation_cmd",
    "generate_cmd",
    "ask_cmd",
    "zero_shot_cmd",
    "run_cmd",
    "attention_cmd",
    "project_cmd",
    "export_cmd",
    "summarize_cmd",
    "rouge_cmd",
    "pos_tagger_cmd",
    "video_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bertkit", description="The BERT family, offline and fast.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f"bertkit.cli.{name}").register(sub)
    return parser


def _join_negative_lists(argv: list[str]) -> list[str]:
    """argparse reads `--layers -4,-3` as two options; glue such values to their flag."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a.startswith("--") and "=" not in a:
            nxt = next(it, None)
            if nxt is not None and nxt[:1] == "-" and nxt[1:2].isdigit() and "," in nxt:
                out.append(f"{a}={nxt}")
                continue
            out.append(a)
            if nxt is not None:
                out.append(nxt)
            continue
        out.append(a)
    return out


def _one_line_warnings(show):
    """A warnings.showwarning that prints bertkit's own warnings as `bertkit: warning: ...` (the line that
    raised them means nothing to a command-line user) and passes any other library's to `show`."""
    def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, BertkitWarning):
            print(f"bertkit: warning: {message}", file=sys.stderr if file is None else file)
        else:
            show(message, category, filename, lineno, file, line)
    return show_warning


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["finetune", "sbert"]:  # Sentence-BERT has its own options: `finetune sbert` = `finetune-sbert`
        argv = ["finetune-sbert", *argv[2:]]
    args = parser.parse_args(_join_negative_lists(argv))
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warnings(warnings.showwarning)
            rc = args.func(args)
    except BertkitError as e:
        print(f"bertkit: error: {e}", file=sys.stderr)
        return 2
    except FileNotFoundError as e:
        print(f"bertkit: error: file not found: {e.filename or e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bertkit: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
