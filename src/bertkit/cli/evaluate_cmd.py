"""`bertkit evaluate sts|retrieval|xnli`: STS Pearson/Spearman of cosine vs gold; recall@k and MRR of aligned pairs;
XNLI's cross-lingual protocols (zero-shot, translate-test, translate-train, translate-train-all)."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import (
    add_training_precision,
    int_list,
    non_negative_int,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="evaluate sentence embeddings (sts, retrieval) or cross-lingual NLI (xnli)")
    verbs = p.add_subparsers(dest="eval_command", metavar="TASK")
    verbs.required = True
    s = verbs.add_parser("sts", help="Pearson and Spearman of cosine vs gold similarity (STS-B csv/tsv, KorSTS)")
    s.add_argument("--data", required=True, help="STS file: s1,s2,score csv; KorSTS/GLUE tsv; STS benchmark tsv")
    _common(s)
    s.set_defaults(func=run_sts)
    r = verbs.add_parser("retrieval", help="recall@k and MRR: query line i should retrieve corpus line i")
    r.add_argument("--queries", required=True, help="UTF-8 file, one query per line")
    r.add_argument("--corpus", required=True, help="UTF-8 file, line i is the answer to query i")
    r.add_argument("-k", type=int_list(positive_int), default=[1, 5, 10], help="recall cut-offs, comma separated")
    _common(r)
    r.set_defaults(func=run_retrieval)
    x = verbs.add_parser(
        "xnli", help="fine-tune an NLI pair classifier and score it across languages by an XNLI protocol",
        description="zero-shot: fine-tune on --train, score each --eval set. translate-test: the same model, each "
                    "other language's eval set translated into --train-lang first. translate-train: --train "
                    "translated into each other language, one model per language. translate-train-all: one model "
                    "on --train plus all its translations. Files are XNLI TSVs (sentence1, sentence2, gold_label). "
                    "OUT gets metrics.json, the models and the translations made.")
    x.add_argument("--protocol", required=True, help="zero-shot | translate-test | translate-train | "
                                                     "translate-train-all")
    x.add_argument("--train", required=True, help="training-language NLI TSV (sentence1, sentence2, gold_label)")
    x.add_argument("--train-lang", default="en", help="its language (default en)")
    x.add_argument("--eval", nargs="+", required=True, metavar="LANG=FILE", help="eval sets, e.g. de=xnli.dev.de.tsv")
    x.add_argument("--translated", nargs="+", default=[], metavar="LANG=FILE",
                   help="translations aligned row by row: translate-test, LANG's eval set in --train-lang; "
                        "translate-train(-all), --train in LANG")
    x.add_argument("--translator", nargs="+", default=[], metavar="LANG=DIR[,DIR]",
                   help="folders from bertkit train-translation in the needed direction (translate-test LANG -> "
                        "train-lang, else train-lang -> LANG); several, comma separated, pivot in that order")
    x.add_argument("--model", default=None, help="checkpoint to fine-tune (default: bundled all-MiniLM-L6-v2)")
    x.add_argument("--classifier", default=None, help="an NLI model already fine-tuned on --train (e.g. OUT/model-LANG "
                                                      "of a zero-shot run): used instead of fine-tuning one")
    x.add_argument("--out", required=True)
    x.add_argument("--epochs", type=positive_float, default=2.0)
    x.add_argument("--lr", type=positive_float, default=None, help="default: fine-tuning's 5e-5")
    x.add_argument("--batch-size", type=positive_int, default=32)
    x.add_argument("--max-length", type=positive_int, default=128)
    x.add_argument("--seed", type=non_negative_int, default=0)
    x.add_argument("--beams", type=positive_int, default=1, help="beam width when translating (1: greedy)")
    add_training_precision(x)
    x.add_argument("--no-progress", action="store_true")
    x.add_argument("--json", action="store_true", help="print metrics.json instead of the table")
    x.set_defaults(func=run_xnli)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--pooling", default=None, choices=["mean", "cls", "max", "pooler"],
                   help="default: the model's own pooling")
    p.add_argument("--batch-size", type=positive_int, default=32)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def _print(args: argparse.Namespace, result: dict) -> None:
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}\t{v:.4f}" if isinstance(v, float) else f"{k}\t{v}")


def run_sts(args: argparse.Namespace) -> int:
    from bertkit.embed import load
    from bertkit.embed.evaluate import evaluate_sts, read_sts

    data = read_sts(args.data)
    enc = load(args.model)
    r = evaluate_sts(enc, data, pooling=args.pooling, batch_size=args.batch_size)
    _print(args, {"model": enc.name, "data": str(args.data), "pairs": len(data), "pearson": r["pearson"],
                  "spearman": r["spearman"]})
    return 0


def run_retrieval(args: argparse.Namespace) -> int:
    from bertkit.embed import load
    from bertkit.embed.evaluate import evaluate_retrieval
    from bertkit.errors import InputError
    from bertkit.textio import read_lines

    q, c = read_lines(args.queries), read_lines(args.corpus)
    if len(q) != len(c):
        raise InputError(f"{args.queries} has {len(q)} lines but {args.corpus} has {len(c)}; they must be aligned")
    enc = load(args.model)
    r = evaluate_retrieval(enc, q, c, [{i} for i in range(len(q))], ks=args.k, pooling=args.pooling,
                           batch_size=args.batch_size)
    _print(args, {"model": enc.name, "queries": len(q), **r})
    return 0


def _pairs(items: list[str], option: str) -> dict[str, str]:
    from bertkit.errors import InputError

    out: dict[str, str] = {}
    for item in items:
        lang, sep, value = item.partition("=")
        if not sep or not lang.strip() or not value.strip():
            raise InputError(f"{option} {item!r}: expected LANG=VALUE, e.g. ko=xnli.dev.ko.tsv")
        if lang.strip() in out:
            raise InputError(f"{option}: language {lang.strip()!r} given twice")
        out[lang.strip()] = value.strip()
    return out


def run_xnli(args: argparse.Namespace) -> int:
    from bertkit.tasks.xnli import evaluate_xnli, format_table

    translators = {k: v.split(",") for k, v in _pairs(args.translator, "--translator").items()}
    m = evaluate_xnli(args.protocol, train=args.train, train_lang=args.train_lang,
                      evals=_pairs(args.eval, "--eval"), translated=_pairs(args.translated, "--translated"),
                      translators=translators, model=args.model, classifier=args.classifier,
                      out=args.out, epochs=args.epochs, lr=args.lr,
                      batch_size=args.batch_size, max_length=args.max_length, seed=args.seed,
                      precision=args.precision, beams=args.beams, progress=not args.no_progress)
    print(json.dumps(m, indent=1, ensure_ascii=False) if args.json else format_table(m))
    return 0
