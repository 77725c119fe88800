"""`bertkit ask`: questions over a folder of documents.

    bertkit ask build DOCS_DIR -o INDEX_DIR [--model EMBED_MODEL]      # paragraphs -> embedding index
    bertkit ask INDEX_DIR "question" --model QA_MODEL [-k 5] [-n 3]    # retrieve, then read the answer
"""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import positive_int
from bertkit.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="questions over your documents: `ask build DOCS -o INDEX`, then "
                                   "`ask INDEX \"question\" --model QA_MODEL`",
                       description="`bertkit ask build DOCS_DIR -o INDEX_DIR [--model EMBED_MODEL]` splits every "
                                   ".txt/.md file into paragraphs and indexes their embeddings; `bertkit ask "
                                   "INDEX_DIR \"question\" --model QA_MODEL` retrieves the k nearest paragraphs and "
                                   "reads answers out of them with an extractive QA model (`bertkit finetune qa`).")
    p.add_argument("target", help="'build', or the index folder to ask")
    p.add_argument("text", help="build: the documents folder; otherwise: the question")
    p.add_argument("-o", "--out", help="build: the index folder to write")
    p.add_argument("--model", help="build: the embedding model (default: bundled MiniLM); ask: the QA model folder")
    p.add_argument("-k", type=positive_int, default=5, help="paragraphs retrieved")
    p.add_argument("-n", type=positive_int, default=3, help="answers shown")
    p.add_argument("--json", action="store_true", help="print the answers as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.tasks.docqa import DocumentQA

    if args.target == "build":
        if not args.out:
            raise InputError("ask build needs -o INDEX_DIR (where to write the index)")
        out = DocumentQA.build(args.text, args.out, model=args.model, progress=not args.quiet)
        meta = json.loads((out / "docqa.json").read_text(encoding="utf-8"))
        print(f"indexed {meta['paragraphs']} paragraphs of {meta['files']} file(s) into {out}")
        return 0
    if not args.model:
        raise InputError("ask needs --model QA_MODEL (a folder written by `bertkit finetune qa`)")
    answers = DocumentQA.load(args.target, args.model).ask(args.text, k=args.k, n_answers=args.n)
    if args.json:
        print(json.dumps([{k: v for k, v in a.items() if k != "context"} for a in answers], ensure_ascii=False))
        return 0
    if not answers:
        print("no answer found in the retrieved paragraphs")
    for a in answers:
        print(f"{a['score']:7.3f}  {a['answer']}    ({a['file']}:{a['line']})")
    return 0
