"""STS Pearson/Spearman of a model by bertkit and by sentence-transformers' own evaluator, same data.

    python benchmarks/sts_vs_st.py ../shared/data/stsb/stsb-en-dev.csv [--model DIR]
"""
from __future__ import annotations

import argparse
import time

import bertkit
from bertkit.embed.evaluate import evaluate_sts, read_sts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data")
    ap.add_argument("--model", default=None)
    args = ap.parse_args()
    data = read_sts(args.data)
    t = time.perf_counter()
    enc = bertkit.load(args.model)
    ours = evaluate_sts(enc, data, show_progress=False)
    t_ours = time.perf_counter() - t

    from sentence_transformers import SentenceTransformer
    from sentence_transformers.evaluation import EmbeddingSimilarityEvaluator

    t = time.perf_counter()
    st = SentenceTransformer(str(args.model or bertkit.default_model_path()), device="cpu")
    ev = EmbeddingSimilarityEvaluator(data.sentences1, data.sentences2, [s / 5.0 for s in data.scores],
                                      main_similarity="cosine", name="sts")
    ref = ev(st)
    t_st = time.perf_counter() - t
    sp = next(v for k, v in ref.items() if k.endswith("spearman_cosine"))
    pe = next(v for k, v in ref.items() if k.endswith("pearson_cosine"))
    print(f"data: {args.data} ({len(data)} pairs), model: {enc.name}")
    print(f"{'':24}{'Pearson':>10}{'Spearman':>10}{'seconds':>9}")
    print(f"{'bertkit':24}{ours['pearson']:>10.5f}{ours['spearman']:>10.5f}{t_ours:>9.1f}")
    print(f"{'sentence-transformers':24}{pe:>10.5f}{sp:>10.5f}{t_st:>9.1f}")
    print(f"equal to 3 decimals: {round(ours['spearman'], 3) == round(sp, 3)} "
          f"(|diff| = {abs(ours['spearman'] - sp):.2e})")


if __name__ == "__main__":
    main()
