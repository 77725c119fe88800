"""`bertkit tokenizer train|stats|extend`: build a vocabulary from text files, measure one, or give a
pretrained one the characters a new corpus needs."""
from __future__ import annotations

import argparse
import time

from bertkit.cli.options import non_negative_int, positive_int, unit_float


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tokenizer", help="train a tokenizer or print its statistics")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    t = verbs.add_parser("train", help="train bpe | bytebpe | wordpiece | unigram | spbpe on text files")
    t.add_argument("--algo", required=True, choices=["bpe", "bytebpe", "wordpiece", "unigram", "spbpe"])
    t.add_argument("--vocab-size", type=positive_int, required=True)
    t.add_argument("--lowercase", action="store_true", help="lowercase (and strip accents) before training")
    t.add_argument("--min-frequency", type=positive_int, default=2, help="merge only pairs seen at least K times")
    t.add_argument("--score", choices=["gain", "ratio"], default=None,
                   help="wordpiece merge score: gain = count(ab)*log(count(ab)*N/(count(a)*count(b))) "
                        "(default), ratio = count(ab)/(count(a)*count(b)) (the book's formula)")
    t.add_argument("--layout", choices=["roberta", "gpt2", "kogpt2", "kobart", "bert", "kobert"], default=None,
                   help="bytebpe special tokens: roberta (default; <s> </s> <pad> <unk> <mask>), gpt2 "
                        "(<|endoftext|>), kogpt2 (</s> <unk> <pad> <mask> <usr> <sys> + emoticons/emoji kept whole), "
                        "kobart (<s> </s> <usr> <pad> <sys> <unk> <mask> + the same emoticons); unigram/spbpe: "
                        "bert (default; [PAD]=0 [UNK]=1 [CLS] [SEP] [MASK], spm.model) or kobert ([UNK]=0 [PAD]=1 "
                        "[CLS] [SEP] [MASK], spiece.model + XLNetTokenizer config as skt/kobert-base-v1)")
    t.add_argument("--add-tokens", metavar="FILE", help="bytebpe: a file of tokens (one per line) kept whole, "
                                                        "e.g. emoji")
    t.add_argument("-i", "--input", action="append", help="a UTF-8 text file (repeatable)")
    t.add_argument("--lang-files", metavar="LANG=FILE,...",
                   help="one file per language (de=a.txt,en=b.txt) instead of -i: the training stream samples "
                        "language i with q_i ∝ p_i^alpha (p_i its share of the sentences); the languages are stored "
                        "in tokenizer_config.json")
    t.add_argument("--alpha", type=unit_float, default=None, metavar="A",
                   help="--lang-files smoothing exponent: 0.5 (XLM, default), 0.3 (XLM-R), 1 = no smoothing")
    t.add_argument("--seed", type=non_negative_int, default=0, help="--lang-files: seed of the sampling")
    t.add_argument("-o", "--output", required=True, help="folder to write")
    t.set_defaults(func=run_train)
    s = verbs.add_parser("stats", help="tokens per word, unknown rate, common pieces, vocabulary overlap")
    s.add_argument("model", help="tokenizer folder")
    s.add_argument("-i", "--input", action="append", required=True, help="a UTF-8 text file (repeatable)")
    s.add_argument("--against", default=None, help="a second tokenizer folder to compare with")
    s.add_argument("--top", type=positive_int, default=10)
    s.set_defaults(func=run_stats)
    e = verbs.add_parser("extend", help="copy a WordPiece checkpoint with its [unused] slots holding the "
                                        "characters a corpus needs (then continue pretraining it)")
    e.add_argument("model", help="checkpoint folder with a WordPiece vocab.txt")
    e.add_argument("-i", "--input", action="append", required=True, help="a UTF-8 text file (repeatable)")
    e.add_argument("-o", "--output", required=True, help="new folder: the checkpoint with the filled vocabulary")
    e.add_argument("--min-count", type=positive_int, default=3, help="fill only pieces the corpus uses at least K times")
    e.set_defaults(func=run_extend)


def run_train(args: argparse.Namespace) -> int:
    from bertkit.tokenizers.train import train_tokenizer

    start = time.perf_counter()
    from bertkit.errors import InputError

    extra: list[str] = []
    if args.add_tokens:
        from pathlib import Path

        if not Path(args.add_tokens).is_file():
            raise InputError(f"--add-tokens file not found: {args.add_tokens}")
        extra = [t.strip("\n") for t in Path(args.add_tokens).read_text(encoding="utf-8").splitlines() if t.strip()]
    kw = {"lowercase": args.lowercase, "min_frequency": args.min_frequency, "score": args.score,
          "progress": True, "layout": args.layout, "extra_tokens": extra}
    if args.lang_files:
        from bertkit.tokenizers.multilingual import parse_lang_files, train_multilingual

        if args.input:
            raise InputError("give the corpus as -i FILE or as --lang-files LANG=FILE,..., not both")
        alpha = 0.5 if args.alpha is None else args.alpha
        tok, sample = train_multilingual(parse_lang_files(args.lang_files), args.algo, args.vocab_size,
                                         alpha=alpha, seed=args.seed, **kw)
        print(sample.format())
    else:
        if not args.input:
            raise InputError("no corpus: give -i FILE (repeatable) or --lang-files LANG=FILE,...")
        if args.alpha is not None:
            raise InputError("--alpha smooths the language sampling of --lang-files; with -i there are no languages")
        tok = train_tokenizer(args.input, args.algo, args.vocab_size, **kw)
    tok.save_pretrained(args.output)
    seconds = time.perf_counter() - start
    print(f"trained {args.algo}: {tok.vocab_size} tokens in {seconds:.1f}s -> {args.output}")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from bertkit.tokenizers import Tokenizer
    from bertkit.tokenizers.stats import format_stats, token_stats, vocab_overlap
    from bertkit.tokenizers.train import read_corpus

    lines = read_corpus(args.input)
    tok = Tokenizer.from_pretrained(args.model)
    print(f"vocabulary: {tok.vocab_size}")
    print(format_stats(args.model, token_stats(tok, lines, args.top), args.top))
    if args.against:
        other = Tokenizer.from_pretrained(args.against)
        print(format_stats(args.against, token_stats(other, lines, args.top), args.top))
        print(f"vocabulary overlap |A∩B|/|A∪B|: {vocab_overlap(tok, other):.4f}")
    return 0


def run_extend(args: argparse.Namespace) -> int:
    from bertkit.tokenizers.extend import extend_checkpoint
    from bertkit.tokenizers.train import read_corpus

    report = extend_checkpoint(args.model, read_corpus(args.input), args.output, args.min_count)
    shown = ", ".join(f"{piece} ({n})" for _, piece, n in report.added[:12])
    print(f"{report.summary()} -> {args.output}")
    if shown:
        print(f"most used new pieces: {shown}")
    return 0
