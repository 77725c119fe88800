"""`bertkit predict DIR -i FILE [-o FILE]`: run a fine-tuned model folder over a file."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="predict a file with a fine-tuned model folder",
                       description="Tables (CSV/TSV/JSONL) come back in the same format with `prediction` and "
                                   "`score` columns; CoNLL files get a predicted-tag column; SQuAD JSON gives "
                                   "{id: answer}. A labelled input also prints the task metrics.")
    p.add_argument("model", help="folder written by `bertkit finetune --out`")
    p.add_argument("-i", "--input", required=True)
    p.add_argument("-o", "--output", help="default: INPUT's name with .pred before the extension, in the current "
                                          "directory (not beside INPUT)")
    p.add_argument("--tag-scheme", choices=["iob1", "iob2"],
                   help="ner: the predicted tags' scheme (default: the training file's, IOB1 in -> IOB1 out)")
    p.add_argument("--lang", help="XLM models: the input rows' language (a name in the config's lang2id); default: "
                                  "the fine-tuning language, or the --lang-col column the model was trained with")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.tasks.predictor import Predictor

    pred = Predictor.load(args.model)
    if args.lang is not None:
        lang_id = getattr(getattr(pred, "model", None), "lang_id", None)
        if lang_id is None:
            from bertkit.errors import InputError

            raise InputError("--lang is for XLM models (language embeddings); this model has none")
        lang_id(args.lang)  # a language the model lacks: one line, before any work
        pred.settings["lang"] = args.lang
        pred.settings.pop("lang_col", None)
    dst, rep = pred.predict_file(args.input, args.output, tag_scheme=args.tag_scheme)
    msg = f"wrote {dst.resolve() if args.output is None else dst}: {rep['rows']} predictions"
    if rep.get("skipped"):
        msg += f", {rep['skipped']} bad row(s) skipped"
    print(msg)
    if "metrics" in rep:
        print(json.dumps({k: round(v, 4) for k, v in rep["metrics"].items()}))
    if "metrics_error" in rep:
        print(f"no metrics: {rep['metrics_error']}")
    return 0
