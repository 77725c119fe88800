"""`bertkit zero-shot NLI_MODEL "text" --labels a,b,c`: zero-shot classification through an NLI model."""
from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zero-shot", help="classify a text into labels it was never trained on, with an NLI model",
                       description="Each label becomes a hypothesis ('This text is about {}.') for the text as "
                                   "premise; the NLI model's entailment scores rank the labels (transformers' "
                                   "zero-shot-classification pipeline).")
    p.add_argument("model", help="an NLI pair classifier (`bertkit finetune pair` output or a transformers folder)")
    p.add_argument("text", nargs="+", help="one or more texts")
    p.add_argument("--labels", required=True, help="candidate labels, comma-separated")
    p.add_argument("--template", default="This text is about {}.", help="the hypothesis, {} = the label")
    p.add_argument("--multi-label", action="store_true", help="score each label on its own (several may be true)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.tasks.zero_shot import ZeroShotClassifier

    res = ZeroShotClassifier(args.model)(args.text, args.labels, hypothesis_template=args.template,
                                         multi_label=args.multi_label)
    if args.json:
        print(json.dumps(res, ensure_ascii=False))
        return 0
    for r in res:
        print(r["sequence"])
        for label, score in zip(r["labels"], r["scores"]):
            print(f"  {score:.4f}  {label}")
    return 0
