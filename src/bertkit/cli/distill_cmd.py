"""`bertkit distill`: general distillation of a teacher into a smaller student on a text corpus (--corpus:
DistilBERT or TinyBERT), or task-specific distillation of a fine-tuned classifier on its training table (--train:
DistilBERT-style logit KD, TinyBERT's two stages, or the labels-only baseline)."""
from __future__ import annotations

import argparse
import json

from bertkit.cli.options import (
    add_training_precision,
    int_list,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    unit_float,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="distil a teacher into a smaller student: on a corpus (general) or on a "
                                       "classification task (--train)",
                       description="General distillation (--corpus): --method distilbert starts the student from "
                                   "teacher layers (--layers, default every other one) and learns alpha*L_ce + "
                                   "beta*L_mlm + gamma*L_cos (Sanh et al. 2019); --method tinybert trains a random "
                                   "TinyBERT (--student-layers, --hidden, --heads, --ffn) on TinyBERT's intermediate "
                                   "losses (Jiao et al. 2020). The corpus is read as `bertkit pretrain` reads it. "
                                   "Task distillation (--train): the teacher is a folder from `bertkit finetune "
                                   "classify`; distilbert = alpha*KL(soft targets) + (1-alpha)*CE, tinybert = "
                                   "intermediate then prediction stage, labels = the same student as --twin-of "
                                   "trained on gold labels only. Writes a Hugging Face folder (the teacher's "
                                   "tokenizer), checkpoints under OUT/training and OUT/metrics.json.")
    p.add_argument("--method", default="distilbert", choices=["distilbert", "tinybert", "labels", "bilstm"],
                   help="distilbert (default), tinybert, or labels (task distillation's no-teacher baseline)")
    p.add_argument("--teacher", default=None,
                   help="--corpus: a masked-LM folder (distilbert; default the bundled MiniLM) or any encoder "
                        "folder (tinybert); --train: a classification folder from `bertkit finetune classify` "
                        "(required)")
    src = p.add_argument_group("data (give --corpus or --train)")
    src.add_argument("--corpus", nargs="+", default=None,
                     help="general distillation: text files, a sentence per line, blank line between documents "
                          "(or a TSV with a 'document' column)")
    src.add_argument("--train", default=None, help="task distillation: the training table (CSV/TSV/JSONL)")
    src.add_argument("--dev", default=None, help="task distillation: a dev table, scored after training")
    src.add_argument("--augmented", default=None,
                     help="task distillation: extra rows (a table like --train; empty labels allowed) added to the "
                          "teacher-based losses")
    src.add_argument("--text-col", default=None)
    src.add_argument("--text2-col", default=None)
    src.add_argument("--label-col", default=None)
    p.add_argument("-o", "--output", "--out", dest="out", required=True, help="the student's folder")
    st = p.add_argument_group("student")
    st.add_argument("--layers", type=int_list(non_negative_int), default=None, metavar="I,J,...",
                    help="distilbert: teacher blocks the student's blocks copy, e.g. 0,2,4 (default every other one)")
    st.add_argument("--student-layers", type=positive_int, default=4, help="tinybert: layers (default 4)")
    st.add_argument("--hidden", type=positive_int, default=None,
                    help="tinybert: width (default 312); bilstm: LSTM units per direction (default 150)")
    st.add_argument("--heads", type=positive_int, default=None, help="tinybert: attention heads (default the "
                                                                    "teacher's)")
    st.add_argument("--ffn", type=positive_int, default=1200, help="tinybert: feed-forward size (default 1200)")
    st.add_argument("--student-init", default=None,
                    help="task tinybert / labels: start from this encoder (e.g. from `bertkit distill --method "
                         "tinybert --corpus`) instead of a random TinyBERT; distilbert / labels --twin-of "
                         "distilbert: take --layers from this pretrained model (a fresh head) instead of the "
                         "fine-tuned teacher")
    st.add_argument("--twin-of", default="distilbert", choices=["distilbert", "tinybert"],
                    help="labels: the student architecture and initialisation to copy (default distilbert)")
    bl = p.add_argument_group("bilstm (Tang et al. 2019; --method bilstm --train ...)")
    bl.add_argument("--tagger", default=None, help="POS tagger JSON (`bertkit train-pos-tagger`), needed when --p-pos > 0")
    bl.add_argument("--no-augment", action="store_true", help="distil on the training texts only")
    bl.add_argument("--n-iter", type=positive_int, default=20, help="augmented copies per example (default 20)")
    bl.add_argument("--p-mask", type=unit_float, default=0.1, help="probability a word becomes the mask token")
    bl.add_argument("--p-pos", type=unit_float, default=0.1, help="probability of a same-POS word replacement")
    bl.add_argument("--p-ng", type=unit_float, default=0.25, help="probability of keeping one random n-gram")
    bl.add_argument("--labels-only", action="store_true",
                    help="the no-teacher twin: gold labels only, no teacher logits, no augmentation")
    bl.add_argument("--embeddings", choices=["teacher", "trained"], default="teacher",
                    help="teacher: the teacher's WordPiece table as initialisation; trained: a word vocabulary "
                         "from the training texts")
    ls = p.add_argument_group("losses")
    ls.add_argument("--alpha", type=non_negative_float, default=None,
                    help="--corpus distilbert: weight of L_ce (default 5); --train distilbert: weight of the "
                         "soft-target KL in [0, 1] (default 0.5; 1 - alpha on the cross entropy)")
    ls.add_argument("--beta", type=non_negative_float, default=2.0, help="--corpus distilbert: weight of L_mlm")
    ls.add_argument("--gamma", type=non_negative_float, default=1.0, help="--corpus distilbert: weight of L_cos")
    ls.add_argument("--temperature", type=positive_float, default=None,
                    help="softmax temperature of the soft targets (default 2; task tinybert 1)")
    tr = p.add_argument_group("training")
    tr.add_argument("--steps", type=positive_int, default=None, help="optimizer steps (default: --epochs)")
    tr.add_argument("--epochs", type=positive_float, default=None, help="passes over the data (default 1 for "
                                                                        "--corpus, 3 for --train)")
    tr.add_argument("--intermediate-epochs", type=positive_float, default=10.0, help="task tinybert: stage 1")
    tr.add_argument("--prediction-epochs", type=positive_float, default=3.0, help="task tinybert: stage 2")
    tr.add_argument("--intermediate-steps", type=positive_int, default=None, help="task tinybert: stage 1 cap")
    tr.add_argument("--prediction-steps", type=positive_int, default=None, help="task tinybert: stage 2 cap")
    tr.add_argument("--time-budget", type=positive_float, default=None, metavar="MINUTES",
                    help="task distillation: stop after this many minutes with a checkpoint (--resume continues)")
    tr.add_argument("--lr", type=positive_float, default=None, help="default 5e-4 (--corpus), 5e-5 (--train)")
    tr.add_argument("--warmup", type=unit_float, default=0.05, help="--corpus: fraction of the steps of warm-up")
    tr.add_argument("--batch-size", type=positive_int, default=None, help="default 32 (bilstm 64)")
    tr.add_argument("--max-length", type=positive_int, default=None,
                    help="default 128 (--corpus) or the teacher's fine-tuning length (--train)")
    add_training_precision(tr)
    tr.add_argument("--seed", type=non_negative_int, default=0)
    tr.add_argument("--resume", action="store_true", help="continue exactly from OUT/training's latest checkpoint")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bertkit.errors import InputError

    if args.corpus and args.train:
        raise InputError("give --corpus (general distillation) or --train (task distillation), not both")
    if not args.corpus and not args.train:
        raise InputError("give --corpus FILES (general distillation) or --train FILE with a fine-tuned --teacher "
                         "(task distillation)")
    if args.method == "bilstm":
        return _run_bilstm(args)
    common = {"batch_size": args.batch_size or 32, "precision": args.precision, "seed": args.seed,
              "resume": args.resume, "progress": not args.quiet}
    if args.train:
        from bertkit.distill.task import distill_task

        if args.teacher is None:
            raise InputError("task distillation needs --teacher: a classification folder from `bertkit finetune "
                             "classify`")
        distill_task(args.teacher, args.train, args.out, args.method, dev=args.dev, augmented=args.augmented,
                     text_col=args.text_col, text2_col=args.text2_col, label_col=args.label_col,
                     student_init=args.student_init, twin_of=args.twin_of, layers=args.layers,
                     student_layers=args.student_layers, hidden=args.hidden or 312, heads=args.heads, ffn=args.ffn,
                     alpha=0.5 if args.alpha is None else args.alpha, temperature=args.temperature,
                     epochs=args.epochs or 3.0, intermediate_epochs=args.intermediate_epochs,
                     prediction_epochs=args.prediction_epochs, steps=args.steps,
                     intermediate_steps=args.intermediate_steps, prediction_steps=args.prediction_steps,
                     time_budget_min=args.time_budget, lr=args.lr or 5e-5, max_length=args.max_length, **common)
    else:
        for flag, v in (("--dev", args.dev), ("--augmented", args.augmented), ("--student-init", args.student_init)):
            if v is not None:
                raise InputError(f"{flag} is for task distillation (--train), not for --corpus")
        general = {"max_length": args.max_length or 128, "steps": args.steps, "epochs": args.epochs or 1.0,
                   "lr": args.lr or 5e-4, "warmup": args.warmup, **common}
        if args.method == "labels":
            raise InputError("--method labels is task distillation's baseline: give --train, not --corpus")
        if args.method == "tinybert":
            from bertkit.distill.general import distill_general_tinybert

            distill_general_tinybert(args.teacher, args.corpus, args.out, layers=args.student_layers,
                                     hidden=args.hidden or 312, heads=args.heads, ffn=args.ffn, **general)
        else:
            from bertkit.distill.general import distill_general

            distill_general(args.teacher, args.corpus, args.out, layers=args.layers,
                            alpha=5.0 if args.alpha is None else args.alpha, beta=args.beta, gamma=args.gamma,
                            temperature=2.0 if args.temperature is None else args.temperature, **general)
    print(json.dumps(json.loads((Path(args.out) / "metrics.json").read_text()), indent=1))
    return 0


def _run_bilstm(args: argparse.Namespace) -> int:
    """--method bilstm: bertkit.distill.bilstm_train.distill_bilstm (task distillation only)."""
    from pathlib import Path

    from bertkit.distill.bilstm_train import distill_bilstm
    from bertkit.errors import InputError

    if args.corpus or not args.train:
        raise InputError("--method bilstm distils a fine-tuned classifier: give --train (and --teacher), not --corpus")
    distill_bilstm(args.teacher, args.train, args.out, dev=args.dev, text_col=args.text_col,
                   text2_col=args.text2_col, label_col=args.label_col, tagger=args.tagger,
                   augment=not args.no_augment, n_iter=args.n_iter, p_mask=args.p_mask, p_pos=args.p_pos,
                   p_ng=args.p_ng, alpha=None if args.labels_only else (args.alpha or 0.0),
                   embeddings=args.embeddings, hidden=args.hidden or 150, epochs=args.epochs or 3.0,
                   time_budget_min=args.time_budget, lr=args.lr or 1e-3, batch_size=args.batch_size or 64,
                   seed=args.seed, resume=args.resume, progress=not args.quiet)
    print(json.dumps(json.loads((Path(args.out) / "metrics.json").read_text()), indent=1))
    return 0
