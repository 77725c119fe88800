"""`bertkit finetune TASK`: fine-tune a checkpoint on a labelled file; one handler per task name.

Another task (e.g. `sbert`) plugs in with one entry in TASKS: name -> (help, handler(args)).
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from bertkit.cli.options import (
    add_training_precision,
    decay,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)


def _lr(text: str) -> float | str:
    return "auto" if text == "auto" else positive_float(text)


def _sweep(args: argparse.Namespace):
    """--lr-find (and --lr auto): the range test on the same data and model; its PNG and JSON go to --out."""
    import bertkit

    out = Path(args.out)
    found = bertkit.lr_find(args.task, args.train, model=args.model, text_col=args.text_col,
                            text2_col=args.text2_col, label_col=args.label_col, multi_label=args.multi_label,
                            label_sep=args.label_sep, max_length=args.max_length, long_docs=args.long_docs,
                            doc_stride=args.doc_stride, batch_size=args.batch_size, freeze=args.freeze,
                            pooling=args.pooling, layer_lr_decay=args.layer_lr_decay, precision=args.precision,
                            seed=args.seed, steps=args.lr_find_steps, plot=out / "lr_find.png", lang=args.lang,
                            lang_col=args.lang_col,
                            progress=not args.quiet)
    (out / "lr_find.json").write_text(json.dumps({
        "lrs": found.lrs, "losses": found.losses, "smoothed": found.smoothed, "diverged": found.diverged,
        "min_loss_lr": found.min_loss_lr, "steepest": found.steepest, "suggested": found.suggested}) + "\n")
    print(found.summary())
    print(f"wrote {out / 'lr_find.png'} and {out / 'lr_find.json'}")
    return found


def _run_task(args: argparse.Namespace) -> int:
    """classify | pair | regress | ner | qa through bertkit.finetune."""
    import bertkit

    args.batch_size = args.batch_size or 32
    if args.lr_find or args.lr == "auto":
        found = _sweep(args)
        if args.lr_find and args.lr != "auto":
            return 0
        args.lr = found.suggested
        print(f"fine-tuning at the suggested rate {args.lr:.2e}")
    pred = bertkit.finetune(
        args.task, train=args.train, dev=args.dev, model=args.model, text_col=args.text_col,
        text2_col=args.text2_col, label_col=args.label_col, multi_label=args.multi_label, label_sep=args.label_sep,
        epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_length=args.max_length, freeze=args.freeze,
        out=args.out, seed=args.seed, precision=args.precision, patience=args.patience, long_docs=args.long_docs,
        max_steps=args.max_steps, doc_stride=args.doc_stride, time_budget=args.time_budget, pooling=args.pooling,
        layer_lr_decay=args.layer_lr_decay, dev_split=args.dev_split, schedule=args.schedule,
        reduce_on_plateau=args.reduce_on_plateau, warmup=args.warmup, resume=args.resume, lang=args.lang,
        lang_col=args.lang_col, progress=not args.quiet)
    rep = pred.report
    if rep.get("train_skipped") or rep.get("dev_skipped"):
        print(f"skipped bad rows: train {rep['train_skipped']}, dev {rep.get('dev_skipped') or 0}")
    if rep.get("interrupted"):
        why = "the time budget ran out" if rep.get("stopped_by_time_budget") else "interrupted"
        kept = "the best scored state" if rep.get("history") else "the model as trained so far"
        print(f"{why} at step {rep['steps']}: kept {kept}; run the same command with --resume to continue "
              "from there")
    best = rep.get("best")
    if best:
        print("best epoch " + str(best["epoch"]) + ": " + json.dumps({k[5:]: round(v, 4) for k, v in best.items()
                                                                   if k.startswith("eval_")}))
    extra = ", confusion.png" if (Path(args.out) / "confusion.png").is_file() else ""
    print(f"wrote {args.out} (model, metrics.json, learning_curve.png{extra})")
    return 0


def _run_extsum(args: argparse.Namespace) -> int:
    """extsum: BERTSUM extractive summarisation on a JSONL of articles and reference summaries."""
    from bertkit.tasks.extsum import train_extsum

    summ = train_extsum(args.train, args.dev, model=args.model, head=args.head, sentence_vector=args.sentence_vector, out=args.out,
                        text_col=args.text_col or "article", summary_col=args.summary_col,
                        labels_col=args.label_col, dev_split=args.dev_split, oracle_max=args.oracle_max,
                        top_k=args.top_k, trigram_blocking=not args.no_trigram_blocking, epochs=args.epochs,
                        lr=args.lr or 5e-5, head_lr_scale=args.head_lr_scale,
                        batch_size=args.batch_size or 4,
                        max_length=args.max_length or 512, warmup=0.1 if args.warmup is None else args.warmup,
                        max_steps=args.max_steps, patience=args.patience, precision=args.precision,
                        seed=args.seed, resume=args.resume, progress=not args.quiet)
    rep = summ.report
    for part, sk in rep["skipped"].items():
        print(f"{part}: skipped " + "; ".join(f"{n} {r}" for r, n in sk["counts"].items()))
    if rep.get("best"):
        print(f"best epoch {rep['best']['epoch']}: dev (R1 F + R2 F) / 2 = {rep['best']['eval_rouge']:.2f}")
    print(f"wrote {args.out} (summariser, metrics.json); use it with `bertkit summarize {args.out} -i DOCS.jsonl`")
    return 0


def _run_abssum(args: argparse.Namespace) -> int:
    """abssum: abstractive summarisation, BERTSUM-abs on a BERT encoder or a BART folder fine-tuned (--init)."""
    from bertkit.errors import InputError
    from bertkit.tasks.abssum import train_abssum

    if args.lr == "auto":
        raise InputError("--lr auto (the range test) is not offered for abssum; give a rate or leave the default")
    summ = train_abssum(args.train, args.dev, init=args.init, encoder=None if args.init else args.model,
                        out=args.out, text_col=args.text_col or "article", summary_col=args.summary_col,
                        decoder_layers=args.decoder_layers, epochs=args.epochs, max_steps=args.max_steps,
                        time_budget_min=None if args.time_budget is None else args.time_budget / 60.0, lr=args.lr,
                        encoder_lr_scale=args.encoder_lr_scale, warmup=0.1 if args.warmup is None else args.warmup,
                        label_smoothing=args.label_smoothing, batch_tokens=args.batch_tokens,
                        max_source=args.max_length or 512, max_target=args.max_target, precision=args.precision,
                        seed=args.seed, dev_split=args.dev_split, resume=args.resume, progress=not args.quiet)
    rep = summ.report
    if rep.get("best"):
        print(f"best evaluation {rep['best']['evaluation']}: dev loss {rep['best']['eval_nll']:.4f} per target token")
    if rep.get("interrupted"):
        print(f"interrupted at step {rep['steps']}: run the same command with --resume to continue")
    print(f"wrote {args.out} ({rep['kind']}, a BART folder, metrics.json); use it with "
          f"`bertkit summarize {args.out} -i DOCS.jsonl --abstractive`")
    return 0


TASKS: dict[str, tuple[str, Callable[[argparse.Namespace], int]]] = {
    "classify": ("single-text classification (multi-class, or --multi-label)", _run_task),
    "pair": ("text-pair classification, e.g. NLI (premise [SEP] hypothesis)", _run_task),
    "regress": ("regression on one text or a pair (STS-B similarity)", _run_task),
    "ner": ("token classification on a CoNLL file (BIO tags)", _run_task),
    "qa": ("extractive question answering on SQuAD v1.1 JSON", _run_task),
    "extsum": ("BERTSUM extractive summarisation on JSONL articles + reference summaries (--head)", _run_extsum),
    "abssum": ("abstractive summarisation: BERTSUM-abs on --model's encoder, or a BART folder (--init)", _run_abssum),
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("finetune", help="fine-tune a model on labelled data",
                       description="Fine-tune a checkpoint (default: the bundled MiniLM). Tasks: "
                                   + "; ".join(f"{k}: {v[0]}" for k, v in TASKS.items())
                                   + "; sbert: Sentence-BERT bi-encoder (`bertkit finetune sbert --help`)")
    p.add_argument("task", choices=list(TASKS))
    p.add_argument("--train", required=True, help="CSV/TSV/JSONL (classify, pair, regress), CoNLL (ner), SQuAD (qa)")
    p.add_argument("--dev", help="scored after each epoch: best epoch kept, early stopping")
    p.add_argument("--dev-split", type=fraction, metavar="F",
                   help="no dev file: hold out this fraction of --train as dev (e.g. 0.1; classes in proportion, "
                        "whole articles for qa)")
    p.add_argument("--out", "-o", required=True, help="output folder (model, metrics.json, learning_curve.png)")
    p.add_argument("--model", help="checkpoint folder (default: bundled all-MiniLM-L6-v2)")
    p.add_argument("--text-col")
    p.add_argument("--text2-col")
    p.add_argument("--label-col")
    p.add_argument("--multi-label", action="store_true", help="classify: several labels per row")
    p.add_argument("--label-sep", default=",", help="separator of multi-label labels in one cell")
    p.add_argument("--epochs", type=positive_float, default=3)
    p.add_argument("--max-steps", type=positive_int, help="stop after this many optimizer steps (a time budget)")
    p.add_argument("--time-budget", type=positive_float, help="seconds of training; then stop, score dev and keep the best")
    p.add_argument("--lr", type=_lr, help="peak learning rate (default 5e-5; 1e-4 for ner and qa); 'auto': run the "
                                          "lr range test first and train at its suggestion")
    p.add_argument("--lr-find", action="store_true",
                   help="the learning-rate range test only: sweep 1e-7 -> 10, write OUT/lr_find.png and "
                        "OUT/lr_find.json, print the suggested rate, do not train")
    p.add_argument("--lr-find-steps", type=positive_int, default=200, help="steps of the range test")
    p.add_argument("--schedule", default="linear", choices=["linear", "onecycle", "triangular"],
                   help="linear: warm-up then linear decay (BERT); onecycle: ktrain's fit_onecycle (lr/25 -> lr -> "
                        "cosine fall, beta1 cycled); triangular: ktrain's autofit (one lr/10 <-> lr cycle an epoch)")
    p.add_argument("--warmup", type=unit_float, metavar="F",
                   help="fraction of the steps rising to the peak (default 0.1 linear, 0.3 onecycle, 0 triangular)")
    p.add_argument("--reduce-on-plateau", type=positive_int, metavar="N",
                   help="halve later rates after N epochs without a better dev score (needs --dev)")
    p.add_argument("--batch-size", type=positive_int, help="examples per step (default 32; extsum: 4 documents)")
    p.add_argument("--max-length", type=positive_int, help="tokens per window (default 128; ner 256; qa 384)")
    p.add_argument("--doc-stride", type=non_negative_int, default=128, help="qa: tokens shared by neighbouring windows")
    p.add_argument("--freeze", default="none", help="none | encoder | top:K (K top layers trainable)")
    p.add_argument("--long-docs", default="truncate", choices=["truncate", "clinical", "mean", "max"],
                   help="split long texts into windows and combine (clinical = ClinicalBERT's formula)")
    p.add_argument("--pooling", choices=["cls", "mean"],
                   help="classify/pair/regress: read the first token (cls, as transformers; the default) or the "
                        "mean of all tokens (bertkit-only: transformers would read the first token)")
    p.add_argument("--layer-lr-decay", type=decay, default=1.0, metavar="D",
                   help="D < 1: the head learns at --lr, the last block at lr*D, each lower block D times slower "
                        "(ELECTRA uses 0.8); 1 = one rate for all")
    p.add_argument("--lang", help="XLM models: the training rows' language (a name in the config's lang2id), "
                                  "the language vector every token carries; predictions read it by default")
    p.add_argument("--lang-col", metavar="COL", help="XLM models: a column giving each row's language instead")
    p.add_argument("--patience", type=positive_int, default=2, help="epochs without dev improvement before stopping")
    add_training_precision(p)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out (Ctrl-C, SIGTERM, --time-budget) from its checkpoint; "
                        "give the same arguments")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    s = p.add_argument_group("extsum (BERTSUM)")
    s.add_argument("--head", default="transformer", choices=["linear", "transformer", "lstm"],
                   help="summarisation head over the sentence vectors: a linear scorer, a 2-layer inter-sentence "
                        "Transformer, or a layer-normalised LSTM")
    s.add_argument("--sentence-vector", default="mean", choices=["mean", "cls"],
                   help="a sentence's vector: the mean of its tokens' outputs (default) or its [CLS] output "
                        "(BERTSUM's; weak on mean-pooling models such as the bundled MiniLM)")
    s.add_argument("--summary-col", default="summary", help="the reference summary field (--text-col: the article, "
                                                            "default 'article'; --label-col: sentence indices instead)")
    s.add_argument("--oracle-max", type=positive_int, default=3, help="most sentences the greedy oracle labels")
    s.add_argument("--top-k", type=positive_int, default=3, help="sentences in a summary")
    s.add_argument("--no-trigram-blocking", action="store_true", help="do not skip sentences repeating a trigram")
    s.add_argument("--head-lr-scale", type=positive_float, default=20.0,
                   help="the fresh head learns at --lr times this (the encoder at --lr)")
    a = p.add_argument_group("abssum (BERTSUM-abs, BART)")
    a.add_argument("--init", help="a BART folder to fine-tune (default: BERTSUM-abs, --model's BERT encoder under a "
                                  "fresh Transformer decoder)")
    a.add_argument("--decoder-layers", type=positive_int, default=6, help="BERTSUM-abs: blocks of the new decoder")
    a.add_argument("--encoder-lr-scale", type=positive_float,
                   help="the encoder learns at --lr times this (default 0.1 for BERTSUM-abs, whose --lr default "
                        "5e-4 is the decoder's; 1 for BART at 3e-5)")
    a.add_argument("--label-smoothing", type=unit_float, default=0.1, help="epsilon of the label-smoothed loss")
    a.add_argument("--batch-tokens", type=positive_int, default=3072,
                   help="tokens per batch, counted as rows x (longest source + longest summary)")
    a.add_argument("--max-target", type=positive_int, default=256, help="summary tokens kept (--max-length: source)")
    p.set_defaults(func=lambda args: TASKS[args.task][1](args))
