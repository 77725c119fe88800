"""bertkit.metrics.rouge vs Google's rouge-score on real text, and the speed of both.

Usage: python benchmarks/rouge_parity.py [--data ../shared/data/bbc_summary/train.jsonl] [--pairs 1000]
1. Porter stems of every distinct word of the data (article, summary, title) against nltk's PorterStemmer.
2. rouge1/2/L/Lsum, with and without stemming, of the article's lead (its first three sentences, one per line)
   against the summary (sentences split at ". " onto lines): the largest difference of P, R or F.
3. Seconds for --pairs pairs of 400-token texts: our bit-parallel LCS alone, our four default types, and
   rouge_score's on a tenth of the pairs (its table LCS is quadratic in pure Python), scaled up.
Needs rouge-score and nltk (the test extras); bertkit itself never imports them.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import time

from nltk.stem.porter import PorterStemmer
from rouge_score import rouge_scorer

from bertkit.metrics import rouge, score, stem, tokenize
from bertkit.metrics.lcs import lcs_length

TYPES = ["rouge1", "rouge2", "rougeL", "rougeLsum"]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/bbc_summary/train.jsonl")
    ap.add_argument("--pairs", type=int, default=1000)
    args = ap.parse_args()
    with open(args.data, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]

    words = sorted({w for r in rows for f in ("article", "summary", "title") for w in tokenize(r[f])})
    nltk = PorterStemmer()
    wrong = [w for w in words if stem(w) != nltk.stem(w)]
    print(f"stemmer: {len(words)} distinct words, {len(wrong)} differ from nltk {wrong[:10]}")

    preds = ["\n".join(sentences(r["article"])[:3]) for r in rows]
    refs = ["\n".join(sentences(r["summary"])) for r in rows]
    for stemmer in (False, True):
        scorer = rouge_scorer.RougeScorer(TYPES, use_stemmer=stemmer)
        worst = 0.0
        for p, r in zip(preds, refs):
            ours, theirs = score(p, r, TYPES, stemmer), scorer.score(r, p)
            worst = max(worst, *(abs(getattr(ours[t], f) - getattr(theirs[t], f))
                                 for t in TYPES for f in ("precision", "recall", "fmeasure")))
        print(f"rouge (stemmer={stemmer}): {len(rows)} pairs, largest difference {worst:.2e}")

    rng = random.Random(0)
    vocab = words[:3000]
    texts = [" ".join(rng.choice(vocab[:rng.choice([300, 3000])]) for _ in range(400)) for _ in range(2 * args.pairs)]
    a, b = texts[:args.pairs], texts[args.pairs:]
    ta, tb = [tokenize(x) for x in a], [tokenize(x) for x in b]
    t0 = time.perf_counter()
    for x, y in zip(ta, tb):
        lcs_length(x, y)
    t_lcs = time.perf_counter() - t0
    t0 = time.perf_counter()
    rouge(a, b, ["rougeL"])
    t_l = time.perf_counter() - t0
    t0 = time.perf_counter()
    rouge(a, b, TYPES)
    t_all = time.perf_counter() - t0
    k = max(1, args.pairs // 10)
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    t0 = time.perf_counter()
    for x, y in zip(a[:k], b[:k]):
        scorer.score(y, x)
    t_ref = (time.perf_counter() - t0) * args.pairs / k
    print(f"\n{args.pairs} pairs of 400 tokens            seconds")
    print(f"bertkit lcs_length (bit-parallel)     {t_lcs:7.2f}")
    print(f"bertkit rouge(['rougeL'])             {t_l:7.2f}")
    print(f"bertkit rouge(rouge1,2,L,Lsum)        {t_all:7.2f}")
    print(f"rouge_score rougeL ({k} pairs, scaled) {t_ref:7.2f}")


if __name__ == "__main__":
    main()
