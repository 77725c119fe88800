"""`bertkit rouge --pred P --ref R`: ROUGE of predicted summaries against references (equal to rouge-score)."""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

_TEXT_HELP = ("one text per line, or a .jsonl file (the --field of each record). In a plain file the two "
              "characters \\n inside a line mark a sentence break (rougeLsum splits sentences on them; "
              "write one sentence per break, punctuation alone does not split)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rouge", help="ROUGE of predicted texts against references (rouge-score's numbers)",
                       description="Line i of --pred is scored against line i of --ref; prints the mean over the "
                                   "pairs of precision, recall and F per ROUGE type. Tokens and scores are those "
                                   "of Google's rouge-score package (--stemmer: its Porter stemming).")
    p.add_argument("--pred", required=True, help=f"predictions: {_TEXT_HELP}")
    p.add_argument("--ref", required=True, help="references, in the same form as --pred")
    p.add_argument("--types", default="rouge1,rouge2,rougeL,rougeLsum",
                   help="comma-separated: rougeN (any N), rougeL, rougeLsum, rougeW or rougeW-<weight> "
                        "(default weight 1.2), rougeS[<max skip>], rougeSU[<max skip>] "
                        "(default: rouge1,rouge2,rougeL,rougeLsum)")
    p.add_argument("--stemmer", action="store_true", help="Porter-stem words longer than 3 letters")
    p.add_argument("--field", default="summary", help="the text field of .jsonl records (default: summary)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=run)


def read_texts(path: str, field: str) -> list[str]:
    """Texts of a .jsonl file's `field`, or the lines of any other file with a literal \\n as a line break."""
    from bertkit.textio import read_field, read_lines

    if Path(path).suffix.lower() == ".jsonl":
        return read_field(path, field)
    return [line.replace("\\n", "\n") for line in read_lines(path)]


def run(args: argparse.Namespace) -> int:
    from bertkit.errors import InputError
    from bertkit.metrics import rouge

    preds, refs = read_texts(args.pred, args.field), read_texts(args.ref, args.field)
    if len(preds) != len(refs):
        raise InputError(f"--pred {args.pred} has {len(preds)} texts but --ref {args.ref} has {len(refs)}; "
                         "line i of one is scored against line i of the other")
    types = [t.strip() for t in args.types.split(",") if t.strip()]
    scores = rouge(preds, refs, types, stemmer=args.stemmer)
    if args.json:
        print(json.dumps({"pairs": len(preds), "stemmer": args.stemmer,
                          "scores": {t: asdict(s) for t, s in scores.items()}}))
        return 0
    width = max(9, *(len(t) for t in scores))
    print(f"{len(preds)} pairs{', stemmed' if args.stemmer else ''}")
    print(f"{'type':<{width}}  precision  recall  fmeasure")
    for t, s in scores.items():
        print(f"{t:<{width}}  {s.precision:9.4f}  {s.recall:6.4f}  {s.fmeasure:8.4f}")
    return 0
