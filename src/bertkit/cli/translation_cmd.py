"""`bertkit train-translation` (the Transformer of chapter 1 on a parallel corpus) and `bertkit translate`."""
from __future__ import annotations

import argparse
import json
import sys

from bertkit.cli.options import (
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    real,
    unit_float,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-translation", help="train the Transformer (chapter 1) on a parallel corpus",
                       description="Train an encoder-decoder Transformer (post-LN, sinusoidal positions, label "
                                   "smoothing, the paper's warm-up schedule) on two line-aligned files. OUT gets the "
                                   "final model, OUT/best the best by validation BLEU, OUT/results.json the "
                                   "curve and the test BLEU (beam search, sacrebleu). Needs sacrebleu for BLEU: "
                                   "pip install 'bertkit[translation]'.")
    p.add_argument("--src", required=True, help="training sources, one sentence per line")
    p.add_argument("--tgt", required=True, help="their translations, line by line")
    p.add_argument("--val-src", help="validation sources (BLEU after every epoch picks OUT/best)")
    p.add_argument("--val-tgt")
    p.add_argument("--test-src", help="test sources, translated by beam search at the end")
    p.add_argument("--test-tgt")
    p.add_argument("--out", required=True)
    p.add_argument("--source-lang", help="e.g. en (recorded in translation.json)")
    p.add_argument("--target-lang", help="e.g. de")
    g = p.add_argument_group("vocabulary")
    g.add_argument("--tokenizer", help="use this tokenizer folder (with target_tokenizer/ for two vocabularies) "
                                       "instead of training one")
    g.add_argument("--separate-vocab", action="store_true", help="one vocabulary per side (default: one shared)")
    g.add_argument("--vocab-size", type=positive_int, default=8000)
    g.add_argument("--tokenizer-algo", choices=["bytebpe", "unigram", "spbpe"], default="bytebpe")
    g = p.add_argument_group("model")
    g.add_argument("--d-model", type=positive_int, default=256)
    g.add_argument("--layers", type=positive_int, default=3, help="encoder layers (and decoder layers unless given)")
    g.add_argument("--decoder-layers", type=positive_int)
    g.add_argument("--heads", type=positive_int, default=4)
    g.add_argument("--ffn", type=positive_int, default=1024, help="feed-forward width")
    g.add_argument("--dropout", type=unit_float, default=0.1)
    g.add_argument("--attention-dropout", type=unit_float, default=0.0)
    g.add_argument("--activation", default="relu")
    g = p.add_argument_group("training")
    g.add_argument("--label-smoothing", type=unit_float, default=0.1)
    g.add_argument("--max-tokens", type=positive_int, default=4096, help="per batch: rows x (longest source + target)")
    g.add_argument("--max-length", type=positive_int, default=128, help="leave out training pairs longer than this")
    g.add_argument("--epochs", type=positive_float, default=10.0)
    g.add_argument("--steps", type=positive_int, help="optimizer steps instead of --epochs")
    g.add_argument("--time-budget", type=positive_float, metavar="MINUTES",
                   help="stop training after this many minutes (then evaluate, save and test as at the end; "
                        "--resume continues)")
    g.add_argument("--lr", type=positive_float, default=1.0, help="scale of lr = d^-0.5 min(n^-0.5, n warmup^-1.5)")
    g.add_argument("--warmup", type=non_negative_int, default=4000)
    g.add_argument("--clip-norm", type=non_negative_float)
    g.add_argument("--grad-accum", type=positive_int, default=1)
    g.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    g.add_argument("--threads", type=positive_int, help="torch threads (default: torch's)")
    g.add_argument("--seed", type=non_negative_int, default=0)
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-beams", type=positive_int, default=1, help="beams for the validation BLEU (1: greedy)")
    g.add_argument("--eval-every", type=positive_int, help="optimizer steps between evaluations (default: every epoch)")
    g.add_argument("--beams", type=positive_int, default=5, help="beams for the test BLEU and the model's default")
    g.add_argument("--length-penalty", type=real, default=1.0)
    g.add_argument("--batch-size", type=positive_int, default=64, help="sentences per batch when translating")
    p.add_argument("--log-every", type=positive_int, default=10)
    p.add_argument("--resume", action="store_true", help="continue the run in OUT from its latest checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_train)

    t = sub.add_parser("translate", help="translate text with a model from train-translation",
                       description="Translate each TEXT (or each line of --input, or of stdin) and print one "
                                   "translation per line; with --references also print BLEU to stderr.")
    t.add_argument("model", help="a folder written by train-translation (OUT or OUT/best)")
    t.add_argument("texts", nargs="*", help="texts to translate (none: --input or stdin)")
    t.add_argument("--input", help="a file with one text per line")
    t.add_argument("--references", help="one reference translation per line: print corpus BLEU to stderr")
    t.add_argument("--beams", type=positive_int, help="default: the model's (translation.json)")
    t.add_argument("--length-penalty", type=real)
    t.add_argument("--max-new-tokens", type=positive_int)
    t.add_argument("--batch-size", type=positive_int, default=32)
    t.add_argument("--threads", type=positive_int)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=run_translate)


def run_train(args: argparse.Namespace) -> int:
    from bertkit.translation.train import TranslationSpec, train_translation

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    spec = TranslationSpec(
        src=args.src, tgt=args.tgt, out=args.out, val_src=args.val_src, val_tgt=args.val_tgt, test_src=args.test_src,
        test_tgt=args.test_tgt, source_lang=args.source_lang, target_lang=args.target_lang, tokenizer=args.tokenizer,
        separate_vocab=args.separate_vocab, vocab_size=args.vocab_size, tokenizer_algo=args.tokenizer_algo,
        d_model=args.d_model, layers=args.layers, decoder_layers=args.decoder_layers, heads=args.heads, ffn=args.ffn,
        dropout=args.dropout, attention_dropout=args.attention_dropout, activation=args.activation,
        label_smoothing=args.label_smoothing, max_tokens=args.max_tokens, max_length=args.max_length,
        epochs=None if args.steps else args.epochs, steps=args.steps, time_budget_min=args.time_budget, lr=args.lr,
        warmup=args.warmup, clip_norm=args.clip_norm, grad_accum=args.grad_accum, precision=args.precision,
        eval_beams=args.eval_beams, eval_every=args.eval_every, beams=args.beams, length_penalty=args.length_penalty,
        batch_size=args.batch_size, seed=args.seed, log_every=args.log_every, resume=args.resume,
        progress=not args.no_progress)
    report = train_translation(spec)
    print(json.dumps({k: v for k, v in report.items() if k != "curve"}, indent=1))
    for row in report["curve"]:
        print(f"epoch {row['epoch']:g}  step {row['step']}  val BLEU {row['val_bleu']:.2f}  "
              f"val nll {row['val_nll']:.3f}", file=sys.stderr)
    if report.get("interrupted"):
        print(f"interrupted at step {report['steps']}: run the same command with --resume to continue",
              file=sys.stderr)
    return 0


def run_translate(args: argparse.Namespace) -> int:
    from bertkit.errors import InputError
    from bertkit.textio import read_lines
    from bertkit.translation.translator import Translator, bleu

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.texts and args.input:
        raise InputError("give texts or --input, not both")
    texts = args.texts or (read_lines(args.input) if args.input else sys.stdin.read().splitlines())
    refs = read_lines(args.references) if args.references else None
    if refs is not None and len(refs) != len(texts):
        raise InputError(f"{args.references} has {len(refs)} lines for {len(texts)} texts; give one reference "
                         "per text")
    tr = Translator.load(args.model)
    out = tr.translate(texts, num_beams=args.beams, length_penalty=args.length_penalty,
                       max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                       progress=not args.no_progress and len(texts) > args.batch_size)
    for line in out:
        print(line)
    if refs is not None:
        score, signature = bleu(out, refs)
        print(f"BLEU {score:.2f} ({signature})", file=sys.stderr)
    return 0
