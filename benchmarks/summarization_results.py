"""Summarisation on BBC News (issue #19): Lead-3, the greedy oracle, BERTSUM with each of its three heads on the
bundled MiniLM, and an abstractive model, each scored by bertkit.metrics.rouge and checked against rouge-score.

    python benchmarks/summarization_results.py ../shared/data/bbc_summary/train.jsonl --out runs/summ \
        [--systems lead,oracle,linear,transformer,lstm,abstractive] [--epochs 2] [--k 3]

The split is by category: within each of the five categories the documents (sorted by id, then shuffled with
seed 0) give `--test-frac` to test and `--dev-frac` to dev, the rest to train. Dev picks each trained model's best
epoch; every figure printed is on test. References are the dataset's extractive summaries with its joined
sentences mended (extsum.fix_joined_sentences) and one sentence per line; system outputs are one sentence per line,
so rougeLsum is summary-level. Each system's scores are kept in OUT/results.json as soon as it finishes, so a
later run with other --systems adds to the table instead of redoing it. Training uses the cores of this machine
only; the CPU and thread count are printed with the table.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from collections import defaultdict
from pathlib import Path

TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
EXTRACTIVE = ("linear", "transformer", "lstm")


def split_by_category(docs, dev_frac: float, test_frac: float, seed: int = 0):
    by_cat = defaultdict(list)
    for d in docs:
        by_cat[d.record.get("category", d.id.split("/")[0])].append(d)
    train, dev, test = [], [], []
    for cat in sorted(by_cat):
        group = sorted(by_cat[cat], key=lambda d: d.id)
        random.Random(seed).shuffle(group)
        n_test, n_dev = round(test_frac * len(group)), round(dev_frac * len(group))
        test += group[:n_test]
        dev += group[n_test:n_test + n_dev]
        train += group[n_test + n_dev:]
    return train, dev, test


def score_system(preds: list[str], refs: list[str]) -> dict:
    """bertkit's corpus ROUGE (mean F x 100) and the largest P/R/F difference from rouge-score on these pairs."""
    from bertkit.metrics import rouge, score

    ours = rouge(preds, refs, TYPES)
    row = {t: round(100 * ours[t].fmeasure, 2) for t in TYPES}
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        row["max_diff_vs_rouge_score"] = None
        return row
    scorer = rouge_scorer.RougeScorer(list(TYPES), use_stemmer=False)
    worst = 0.0
    for p, r in zip(preds, refs):
        a, b = score(p, r, TYPES), scorer.score(r, p)
        worst = max(worst, *(abs(getattr(a[t], f) - getattr(b[t], f))
                             for t in TYPES for f in ("precision", "recall", "fmeasure")))
    row["max_diff_vs_rouge_score"] = worst
    return row


def main() -> None:
    import torch

    from bertkit.tasks.extsum import greedy_oracle, lead, read_documents, train_extsum
    from bertkit.translation.train import cpu_name

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data")
    ap.add_argument("--out", default="runs/summarization")
    ap.add_argument("--systems", default="lead,oracle,linear,transformer,lstm,abstractive")
    ap.add_argument("--k", type=int, default=3, help="sentences per extractive summary (Lead-k, oracle, BERTSUM)")
    ap.add_argument("--dev-frac", type=float, default=0.05)
    ap.add_argument("--test-frac", type=float, default=0.15)
    ap.add_argument("--epochs", type=float, default=2.0, help="BERTSUM fine-tuning epochs")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--model", default=None, help="encoder (default: the bundled MiniLM)")
    ap.add_argument("--abs-init", default=None, help="abstractive: a BART folder to fine-tune (default: BERTSUM-abs "
                    "on --model, a BERT encoder with a fresh decoder)")
    ap.add_argument("--abs-epochs", type=float, default=3.0)
    ap.add_argument("--abs-decoder-layers", type=int, default=3)
    ap.add_argument("--abs-max-source", type=int, default=512)
    ap.add_argument("--abs-max-target", type=int, default=256)
    ap.add_argument("--abs-time-budget-min", type=float, default=None)
    ap.add_argument("--beams", type=int, default=4)
    ap.add_argument("--min-new-tokens", type=int, default=50, help="abstractive decoding (PreSumm used 50)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N documents (a smoke run)")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res_file = out / "results.json"
    results = json.loads(res_file.read_text()) if res_file.is_file() else {}
    docs, skipped = read_documents(args.data, oracle_max=args.k, min_sentences=2, progress=True)
    if skipped.counts:
        print(f"skipped: {skipped}")
    if args.limit:
        docs = docs[:args.limit]
    train, dev, test = split_by_category(docs, args.dev_frac, args.test_frac)
    print(f"{len(docs)} documents: train {len(train)}, dev {len(dev)}, test {len(test)}; CPU {cpu_name()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    refs = [d.reference for d in test]

    def keep(name: str, preds: list[str], **extra) -> None:
        row = score_system(preds, refs)
        row.update(extra)
        results[name] = row
        res_file.write_text(json.dumps(results, indent=1) + "\n")
        (out / f"{name}.pred.jsonl").write_text("".join(json.dumps({"id": d.id, "summary": p}) + "\n"
                                                        for d, p in zip(test, preds)))
        print(f"{name}: " + ", ".join(f"{t} {row[t]:.2f}" for t in TYPES)
              + f" (largest difference from rouge-score {row['max_diff_vs_rouge_score']})")

    for system in [s.strip() for s in args.systems.split(",") if s.strip()]:
        t0 = time.perf_counter()
        if system == "lead":
            keep(f"lead{args.k}", [lead(d, args.k) for d in test])
        elif system == "oracle":
            keep(f"oracle{args.k}", ["\n".join(d.sentences[i] for i in sorted(greedy_oracle(d.sentences, d.reference,
                                                                                          args.k))) for d in test])
        elif system in EXTRACTIVE:
            summ = train_extsum(train, dev, model=args.model, head=system, out=out / f"bertsum-{system}",
                                epochs=args.epochs, batch_size=args.batch_size, top_k=args.k, oracle_max=args.k)
            t1 = time.perf_counter()
            res = summ.summarize_sentences([d.sentences for d in test], args.k)
            keep(f"bertsum-{system}", [r.text for r in res], train_s=summ.report["train_seconds"],
                 steps=summ.report["steps"], best=summ.report["best"],
                 test_docs_per_s=round(len(test) / (time.perf_counter() - t1), 2))
        elif system == "abstractive":
            from bertkit.tasks.abssum import train_abssum

            summ = train_abssum(train, dev, init=args.abs_init, encoder=args.model, out=out / "abstractive",
                                epochs=args.abs_epochs, decoder_layers=args.abs_decoder_layers,
                                max_source=args.abs_max_source, max_target=args.abs_max_target,
                                time_budget_min=args.abs_time_budget_min)
            t1 = time.perf_counter()
            preds = summ.summarize([d.record["article"] for d in test], num_beams=args.beams, progress=True,
                                   max_new_tokens=args.abs_max_target, min_new_tokens=args.min_new_tokens,
                                   no_repeat_ngram_size=3, length_penalty=1.0)
            from bertkit.tasks.extsum import split_sentences

            preds = ["\n".join(split_sentences(p)) for p in preds]
            keep("abstractive", preds, kind=summ.report["kind"], parameters=summ.report["parameters"],
                 train_s=summ.report["train_seconds"], steps=summ.report["steps"], epochs=summ.report["epochs"],
                 best=summ.report["best"], beams=args.beams, min_new_tokens=args.min_new_tokens,
                 test_docs_per_s=round(len(test) / (time.perf_counter() - t1), 3))
        else:
            raise SystemExit(f"unknown system {system!r}")
        print(f"  ({system}: {time.perf_counter() - t0:.0f} s)")

    print("\n| system | ROUGE-1 | ROUGE-2 | ROUGE-L | ROUGE-Lsum | max diff vs rouge-score |\n|---|---|---|---|---|---|")
    for name, row in results.items():
        print(f"| {name} | {row['rouge1']:.2f} | {row['rouge2']:.2f} | {row['rougeL']:.2f} | {row['rougeLsum']:.2f} | "
              f"{row['max_diff_vs_rouge_score']} |")
    lead_row = results.get(f"lead{args.k}")
    heads = [n for n in results if n.startswith("bertsum-")]
    if lead_row and heads:
        best = max(heads, key=lambda n: results[n]["rouge1"] + results[n]["rouge2"])
        d1, d2 = results[best]["rouge1"] - lead_row["rouge1"], results[best]["rouge2"] - lead_row["rouge2"]
        print(f"\nbest BERTSUM head {best}: ROUGE-1 {d1:+.2f}, ROUGE-2 {d2:+.2f} against Lead-{args.k} "
              f"(target: +1 on each): {'met' if d1 >= 1 and d2 >= 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
