"""`bertkit video render-synthetic | train-extractor | codebook | tokenize`: from video files to the visual-word
JSONL that VideoBERT reads ({"video", "caption", "visual_tokens"} per line)."""
from __future__ import annotations

import argparse

from bertkit.cli.options import non_negative_int, positive_float, positive_int


def _corpus(p: argparse.ArgumentParser) -> None:
    p.add_argument("--videos", required=True, help="folder the caption file's video paths are relative to")
    p.add_argument("--captions", required=True, help='JSONL, one {"video": PATH, "caption": TEXT} per line')


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="video input for VideoBERT: synthetic corpus, clip features, visual words")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    r = verbs.add_parser("render-synthetic", help="write moving coloured shapes as video files + captions.jsonl")
    r.add_argument("--out", required=True, help="folder to write")
    r.add_argument("--videos", type=positive_int, required=True, help="how many videos")
    r.add_argument("--seed", type=non_negative_int, default=0)
    r.add_argument("--clips-per-video", type=positive_int, default=4, help="video length in 1.5 s clips (4)")
    r.add_argument("--size", type=positive_int, default=64, help="frame width and height in pixels, even (64)")
    r.set_defaults(func=run_render)
    t = verbs.add_parser("train-extractor", help="train the default 3D-CNN clip feature extractor "
                                                 "(self-supervised clip autoencoder)")
    _corpus(t)
    t.add_argument("--out", required=True, help="extractor folder to write")
    t.add_argument("--steps", type=positive_int, default=500)
    t.add_argument("--batch-size", type=positive_int, default=32)
    t.add_argument("--lr", type=positive_float, default=3e-3)
    t.add_argument("--dim", type=positive_int, default=64, help="feature size D (64)")
    t.add_argument("--size", type=positive_int, default=32, help="frames are resized to SIZE x SIZE (32)")
    t.add_argument("--width", type=positive_int, default=16, help="channels of the first convolution (16)")
    t.add_argument("--max-clips", type=positive_int, default=None, help="train on a seeded sample of this many clips")
    t.add_argument("--seed", type=non_negative_int, default=0)
    t.add_argument("--resume", action="store_true", help="continue exactly from OUT's latest checkpoint")
    t.set_defaults(func=run_train)
    c = verbs.add_parser("codebook", help="hierarchical k-means of clip features: k ** depth visual words")
    _corpus(c)
    c.add_argument("--extractor", required=True, help="folder written by train-extractor")
    c.add_argument("--out", required=True, help="codebook file to write (.safetensors; a .json is written beside)")
    c.add_argument("-k", "--k", type=positive_int, default=12, help="clusters per level (12, as the paper)")
    c.add_argument("--depth", type=positive_int, default=4, help="levels (4, as the paper)")
    c.add_argument("--seed", type=non_negative_int, default=0)
    c.set_defaults(func=run_codebook)
    k = verbs.add_parser("tokenize", help="write the visual-word JSONL: one token per 1.5 s clip")
    _corpus(k)
    k.add_argument("--extractor", required=True, help="folder written by train-extractor")
    k.add_argument("--codebook", required=True, help="file written by `bertkit video codebook`")
    k.add_argument("--out", required=True, help="JSONL to write")
    k.set_defaults(func=run_tokenize)


def run_render(args: argparse.Namespace) -> int:
    from bertkit.video.synthetic import render_corpus

    captions = render_corpus(args.out, args.videos, seed=args.seed, clips_per_video=args.clips_per_video,
                             size=args.size)
    print(f"wrote {args.videos} videos ({args.videos * args.clips_per_video} clips) and {captions}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from bertkit.video.pipeline import train_extractor

    m = train_extractor(args.videos, args.captions, args.out, steps=args.steps, batch_size=args.batch_size,
                        lr=args.lr, dim=args.dim, size=args.size, width=args.width, seed=args.seed,
                        max_clips=args.max_clips, resume=args.resume)
    print(f"extractor in {args.out}: step {m['step']}, loss {m['loss']:.5f}")
    return 0


def run_codebook(args: argparse.Namespace) -> int:
    from bertkit.video.pipeline import build_codebook

    cb = build_codebook(args.videos, args.captions, args.extractor, args.out, k=args.k, depth=args.depth,
                        seed=args.seed)
    print(f"codebook {args.out}: k={cb.k}, depth={cb.depth}, {cb.size} visual words")
    return 0


def run_tokenize(args: argparse.Namespace) -> int:
    from bertkit.video.pipeline import tokenize_corpus

    n = tokenize_corpus(args.videos, args.captions, args.extractor, args.codebook, args.out)
    print(f"wrote {n} records to {args.out}")
    return 0
