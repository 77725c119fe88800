"""`bertkit run TASK MODEL TEXT...`: a pipeline from the command line, its output as JSON (transformers' shapes)."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import positive_int
from bertkit.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    from bertkit.pipelines import ALIASES, TASKS

    p = sub.add_parser("run", help="run a pipeline task on texts and print its JSON output",
                       description="bertkit.pipeline(TASK, MODEL)(TEXT...) printed as JSON. question-answering: "
                                   "TEXT is the question and --context the passage.")
    p.add_argument("task", choices=list(TASKS) + list(ALIASES))
    p.add_argument("model", help="checkpoint folder ('default': the bundled MiniLM)")
    p.add_argument("text", nargs="+")
    p.add_argument("--context", help="question-answering: the passage")
    p.add_argument("--top-k", type=positive_int, help="fill-mask / text-classification: how many results")
    p.add_argument("--max-new-tokens", type=positive_int, help="generation tasks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.pipelines import pipeline

    pipe = pipeline(args.task, None if args.model == "default" else args.model)
    kw = {k: v for k, v in (("top_k", args.top_k), ("max_new_tokens", args.max_new_tokens)) if v is not None}
    if args.task == "question-answering":
        if args.context is None:
            raise InputError("question-answering needs --context PASSAGE")
        out = pipe(question=args.text, context=args.context)
    else:
        out = pipe(args.text if len(args.text) > 1 else args.text[0], **kw)
    print(json.dumps(out, ensure_ascii=False))
    return 0
