"""Encoding and training speed: bertkit vs Hugging Face `tokenizers` (Rust), side by side in one run.

Usage: python benchmarks/tokenizer_speed.py --corpus ../shared/checks/corpus.txt \
           --nsmc ../shared/data/nsmc/nsmc_rawderived_train.txt [--model DIR] [--mb 10] [--vocab 30000]
1. Batch encoding of every corpus line with the MiniLM vocabulary (bertkit starts with an empty cache;
   best of --repeats runs each). 2. Training on --mb megabytes built at run time from NSMC reviews and the
   corpus (written to a temporary file, never kept).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hf_train, read_lines  # noqa: E402

from bertkit.tokenizers import Tokenizer  # noqa: E402
from bertkit.tokenizers.train import train_tokenizer  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def encoding(corpus: list[str], model: str, repeats: int) -> None:
    from tokenizers import Tokenizer as RustTokenizer

    rust = RustTokenizer.from_file(str(Path(model) / "tokenizer.json"))
    rust.no_truncation()
    rust.no_padding()
    n_tok = sum(len(e.ids) for e in rust.encode_batch(corpus))
    cold = best(lambda: Tokenizer.from_pretrained(model)(corpus, truncation=False, padding=False), repeats) \
        - best(lambda: Tokenizer.from_pretrained(model), repeats)
    ours = Tokenizer.from_pretrained(model)
    ours(corpus, truncation=False, padding=False)
    warm = best(lambda: ours(corpus, truncation=False, padding=False), repeats)
    ref = best(lambda: rust.encode_batch(corpus), repeats)
    print(f"\n## Batch encoding, {len(corpus)} lines, {n_tok} tokens, vocabulary {model}")
    print("| tokenizer | seconds | tokens/s | throughput vs tokenizers |")
    print("|---|---|---|---|")
    print(f"| HF tokenizers (Rust) encode_batch | {ref:.4f} | {n_tok / ref:,.0f} | 1.00 |")
    print(f"| bertkit, empty cache | {cold:.4f} | {n_tok / cold:,.0f} | {ref / cold:.2f} |")
    print(f"| bertkit, warm cache | {warm:.4f} | {n_tok / warm:,.0f} | {ref / warm:.2f} |")


def training(corpus: list[str], nsmc: list[str], mb: float, vocab: int, algos: list[str]) -> None:
    target = int(mb * 1_000_000)
    parts, size, i = [], 0, 0
    sources = nsmc + corpus
    while size < target:
        line = sources[i % len(sources)]
        parts.append(line)
        size += len(line.encode("utf-8")) + 1
        i += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text("\n".join(parts) + "\n", encoding="utf-8")
        print(f"\n## Training, {path.stat().st_size / 1e6:.1f} MB "
              f"({len(parts)} lines: NSMC reviews + corpus.txt), vocabulary {vocab}, min frequency 2")
        print("| algo | bertkit s | tokenizers s | time ratio bertkit/tokenizers | vocab bertkit / HF "
              "| under 120 s |")
        print("|---|---|---|---|---|---|")
        for algo in algos:
            t0 = time.perf_counter()
            ours = train_tokenizer([path], algo, vocab, min_frequency=2)
            t1 = time.perf_counter()
            ref = hf_train(algo, [str(path)], vocab, False, 2)
            t2 = time.perf_counter()
            a, b = t1 - t0, t2 - t1
            print(f"| {algo} | {a:.1f} | {b:.1f} | {a / b:.1f} | {ours.vocab_size} / {ref.get_vocab_size()} "
                  f"| {'yes' if a < 120 else 'NO'} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--nsmc", required=True)
    ap.add_argument("--model", default=None, help="WordPiece folder (default: bundled all-MiniLM-L6-v2)")
    ap.add_argument("--mb", type=float, default=10.0)
    ap.add_argument("--vocab", type=int, default=30000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--algos", default="bpe,bytebpe,wordpiece,unigram")
    ap.add_argument("--skip-training", action="store_true")
    args = ap.parse_args()
    if args.model is None:
        from bertkit.hub.default import default_model_path

        args.model = str(default_model_path())
    corpus = read_lines(args.corpus)
    encoding(corpus, args.model, args.repeats)
    if not args.skip_training:
        training(corpus, read_lines(args.nsmc), args.mb, args.vocab, args.algos.split(","))


if __name__ == "__main__":
    main()
