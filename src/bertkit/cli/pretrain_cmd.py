"""`bertkit pretrain`: pretrain a BERT-family model on your corpus (also under torchrun for DDP)."""
from __future__ import annotations

import argparse
import json
import sys

from bertkit.cli.options import (
    add_training_precision,
    decay,
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pretrain", help="pretrain BERT / RoBERTa / ALBERT / ELECTRA / SpanBERT / GPT-2 / BART on a corpus, "
                                                    "or VideoBERT on captioned visual tokens",
                       description="Pretrain from scratch or continue from a checkpoint (--init). Multi-process: "
                                   "torchrun --nproc_per_node=N -m bertkit.cli pretrain ...")
    p.add_argument("--arch", required=True, choices=["bert", "roberta", "albert", "electra", "spanbert", "gpt2", "bart",
                                                 "xlm", "videobert"],
                   help="gpt2: a decoder trained on the next token (documents joined by eos, cut into blocks of "
                        "--max-length); bart: an encoder-decoder that rebuilds text from a noised copy (--noise); xlm: "
                        "language embeddings, --objective clm|mlm|tlm|mlm+tlm with --langs; videobert: text + visual "
                        "tokens (--tokens, --visual-vocab, --weights)")
    p.add_argument("--size", default="tiny", help="tiny|mini|small|medium|base or a JSON file of sizes")
    p.add_argument("--tokenizer", help="tokenizer folder (vocab.txt, or vocab.json + merges.txt; "
                                       "bart: with <mask>, e.g. bytebpe layout roberta); required but for "
                                       "videobert --init, which uses the checkpoint's")
    p.add_argument("--corpus", nargs="+", default=[], help="text files: a sentence per line, blank line between "
                                                          "documents (or a TSV with a 'document' column); xlm: one "
                                                          "per language, LANG=FILE, FILE.LANG or in --langs order; "
                                                          "required but for videobert")
    p.add_argument("--tokens", help="videobert: JSONL of {video, caption, visual_tokens} (ids in [0, V))")
    p.add_argument("--videos", help="videobert, instead of --tokens: folder of videos, tokenized into OUT/tokens.jsonl "
                                    "(reused if there) with --captions, --extractor and --codebook")
    p.add_argument("--captions", help="videobert --videos: JSONL of {video, caption}")
    p.add_argument("--extractor", help="videobert --videos: folder from `bertkit video train-extractor`")
    p.add_argument("--codebook", help="videobert --videos: file from `bertkit video codebook` (V is read from it)")
    p.add_argument("--eval-tokens", help="videobert: held-out JSONL for the eval losses")
    p.add_argument("--visual-vocab", type=positive_int, metavar="V",
                   help="videobert: visual words in the codebook (k^d)")
    p.add_argument("--weights", metavar="T,V,A",
                   help="videobert: weights of text cloze, video cloze and alignment in the loss (default 1,1,1)")
    p.add_argument("--eval-corpus", nargs="*", default=[], help="held-out text for the eval loss")
    p.add_argument("--objective", choices=["mlm", "nsp", "sop", "sbo", "rtd", "clm", "denoise", "tlm", "mlm+tlm"],
                   help="default: the arch's recipe (clm: next token, for gpt2 and xlm; denoise: for bart; tlm and "
                        "mlm+tlm: xlm's translation LM on --parallel pairs)")
    p.add_argument("--langs", type=lambda s: [x.strip() for x in s.split(",")], metavar="L1,L2,...",
                   help="xlm: the model's languages in language-id order (written to config.json as lang2id)")
    p.add_argument("--parallel", nargs="+", metavar="SRC TGT",
                   help="xlm tlm: aligned files in pairs, SRC TGT [SRC TGT ...] (e.g. en-de and en-ko), line i "
                        "translating line i (LANG=FILE or FILE.LANG)")
    p.add_argument("--packing", choices=["full", "doc", "single", "nsp", "sop", "causal"],
                   help="example builder (causal: gpt2's eos-separated blocks)")
    p.add_argument("--masking", choices=["token", "wwm", "span"], help="token (BERT), wwm (whole words), span")
    p.add_argument("--static-masking", type=non_negative_int, default=0, metavar="COPIES",
                   help="mask once per copy, COPIES copies (RoBERTa's static baseline); default dynamic")
    p.add_argument("--mask-prob", type=fraction, default=0.15)
    p.add_argument("--noise", metavar="NAMES",
                   help="bart: comma-separated noising, of mask (tokens -> <mask>), delete (tokens removed), infill "
                        "(Poisson spans -> one <mask> each), permute (sentences shuffled), rotate (a random token "
                        "starts the text); default infill,permute (BART-large)")
    p.add_argument("--noise-ratio", type=fraction, metavar="F",
                   help="bart: fraction of the tokens masked, deleted or infilled (default 0.15, 0.15, 0.3)")
    p.add_argument("--poisson-lambda", type=positive_float, metavar="L",
                   help="bart: mean length of the infilled spans (default 3, the paper's)")
    p.add_argument("--generator-fraction", type=decay, default=0.25, metavar="F",
                   help="electra: a new generator's width / the discriminator's (the paper: 1/4 to 1/2 is best)")
    p.add_argument("--max-length", type=positive_int, default=128)
    p.add_argument("--init", help="continue from this checkpoint, keeping its vocabulary (BioBERT recipe); "
                                  "with --arch electra: an ELECTRA folder (with generator/) or a BERT masked LM, "
                                  "whose encoder starts the discriminator and whose copy is the generator")
    p.add_argument("--steps", type=positive_int, required=True)
    p.add_argument("--batch-size", type=positive_int, default=32, help="per process and micro-step")
    p.add_argument("--grad-accum", type=positive_int, default=1)
    p.add_argument("--lr", type=positive_float, default=1e-4)
    p.add_argument("--warmup", type=non_negative_int, default=0)
    p.add_argument("--weight-decay", type=non_negative_float, default=0.01)
    p.add_argument("--clip-norm", type=non_negative_float, default=1.0)
    add_training_precision(p)
    p.add_argument("--eval-every", type=positive_int)
    p.add_argument("--eval-at-start", action="store_true", help="also evaluate before the first step")
    p.add_argument("--save-every", type=positive_int)
    p.add_argument("--log-every", type=positive_int, default=10)
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--num-workers", type=non_negative_int, default=0)
    p.add_argument("--cache-dir", help="token cache folder (default OUT/token_cache)")
    p.add_argument("--out", required=True)
    p.add_argument("--resume", action="store_true", help="continue exactly from OUT's latest checkpoint")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.training.distributed import setup
    from bertkit.training.pretrain import PretrainSpec, pretrain

    spec = PretrainSpec(arch=args.arch, size=args.size, tokenizer=args.tokenizer, corpus=args.corpus,
                        eval_corpus=args.eval_corpus, objective=args.objective, packing=args.packing,
                        masking=args.masking, static_masking=args.static_masking, mask_prob=args.mask_prob,
                        noise=args.noise, noise_ratio=args.noise_ratio, poisson_lambda=args.poisson_lambda,
                        generator_fraction=args.generator_fraction,
                        max_length=args.max_length, init=args.init, steps=args.steps, batch_size=args.batch_size,
                        grad_accum=args.grad_accum, lr=args.lr, warmup=args.warmup, weight_decay=args.weight_decay,
                        clip_norm=args.clip_norm, precision=args.precision, eval_every=args.eval_every,
                        eval_at_start=args.eval_at_start,
                        save_every=args.save_every, log_every=args.log_every, seed=args.seed,
                        num_workers=args.num_workers, cache_dir=args.cache_dir, out=args.out, resume=args.resume,
                        langs=args.langs, parallel=args.parallel, progress=not args.no_progress,
                        tokens=args.tokens, eval_tokens=args.eval_tokens, visual_vocab=args.visual_vocab,
                        loss_weights=args.weights, videos=args.videos, captions=args.captions,
                        extractor=args.extractor, codebook=args.codebook)
    metrics = pretrain(spec)
    if setup().is_main:
        keep = {k: v for k, v in metrics.items() if isinstance(v, (int, float, bool))}
        print(json.dumps(keep, indent=1))
        if metrics.get("interrupted"):
            print(f"interrupted at step {metrics.get('step')}: the checkpoint is under {args.out}/checkpoints; "
                  "run the same command with --resume to continue exactly from it", file=sys.stderr)
    return 0
