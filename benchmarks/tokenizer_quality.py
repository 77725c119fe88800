"""Tokens per word on held-out text: bertkit trainers vs Hugging Face `tokenizers`, same settings, one table.

Usage: python benchmarks/tokenizer_quality.py --english ../shared/checks/corpus.txt \
           --korean ../shared/data/nsmc/nsmc_rawderived_train.txt \
           --korean-test ../shared/data/nsmc/nsmc_rawderived_dev_sample.txt
English: the first 90% of the corpus lines train, the last 10% are held out. Korean: NSMC reviews
(train split, first --korean-lines rows) train; the dev sample is held out. WordPiece is trained once per
merge score (--wordpiece-scores); `tokenizers`' WordPieceTrainer (BPE by count underneath) is the
reference for each.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hf_train, read_lines  # noqa: E402

from bertkit.tokenizers.stats import token_stats  # noqa: E402
from bertkit.tokenizers.train import train_tokenizer  # noqa: E402

ALGOS = ["bpe", "bytebpe", "wordpiece", "unigram"]
WORDPIECE_SCORES = ["gain", "ratio"]


def hf_tokens_per_word(tok, lines: list[str]) -> float:
    enc = tok.encode_batch(lines, add_special_tokens=False)
    return sum(len(e.ids) for e in enc) / sum(len(line.split()) for line in lines)


def run(name: str, train: list[str], test: list[str], vocab: int, lowercase: bool, min_freq: int,
        wordpiece_scores: list[str]) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(train) + "\n", encoding="utf-8")
        for algo in ALGOS:
            ref = hf_seconds = b = None
            for score in wordpiece_scores if algo == "wordpiece" else [None]:
                t0 = time.perf_counter()
                ours = train_tokenizer([path], algo, vocab, lowercase=lowercase and algo != "bytebpe",
                                       min_frequency=min_freq, score=score)
                t1 = time.perf_counter()
                if ref is None:
                    ref = hf_train(algo, [str(path)], vocab, lowercase and algo != "bytebpe", min_freq)
                    hf_seconds = time.perf_counter() - t1
                    b = hf_tokens_per_word(ref, test)
                a = token_stats(ours, test).tokens_per_word
                ok = "yes" if abs(a / b - 1) <= 0.03 else "NO"
                label = algo if score is None else f"{algo} ({score})"
                rows.append(f"| {name} | {label} | {vocab} | {ours.vocab_size} / {ref.get_vocab_size()} "
                            f"| {a:.4f} | {b:.4f} | {a / b:.4f} | {ok} | {t1 - t0:.1f} / {hf_seconds:.1f} |")
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--english", required=True)
    ap.add_argument("--korean", required=True)
    ap.add_argument("--korean-test", required=True)
    ap.add_argument("--korean-lines", type=int, default=50_000)
    ap.add_argument("--english-vocab", type=int, default=3000)
    ap.add_argument("--korean-vocab", type=int, default=16000)
    ap.add_argument("--min-frequency", type=int, default=2)
    ap.add_argument("--wordpiece-scores", default=",".join(WORDPIECE_SCORES),
                    help="comma-separated WordPiece merge scores to train (gain, ratio)")
    args = ap.parse_args()
    scores = [x for x in args.wordpiece_scores.split(",") if x]
    print("| data | algo | vocab asked | vocab bertkit / HF | tokens/word bertkit | tokens/word HF | ratio "
          "| within 3% | train s bertkit / HF |")
    print("|---|---|---|---|---|---|---|---|---|")
    en = read_lines(args.english)
    cut = int(len(en) * 0.9)
    run("English corpus.txt", en[:cut], en[cut:], args.english_vocab, True, args.min_frequency, scores)
    ko = read_lines(args.korean)[: args.korean_lines]
    run("Korean NSMC", ko, read_lines(args.korean_test), args.korean_vocab, False, args.min_frequency,
        scores)


if __name__ == "__main__":
    main()
