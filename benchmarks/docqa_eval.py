"""Questions over documents, end to end on SQuAD: every paragraph of a SQuAD v1.1 file is written out as documents
(one file per article, paragraphs separated by blank lines), indexed by `DocumentQA.build`, and the questions of the
held-out articles are asked without saying which paragraph holds the answer.

    python benchmarks/docqa_eval.py ../shared/data/squad/dev_part_a.json --qa-model runs/ft-squad --skip-first 8

Prints retrieval recall@1 / @k (the gold paragraph among the k retrieved), end-to-end exact match / F1 of the best
answer, and the QA model's EM / F1 when handed the gold paragraph (the reader's upper bound). --skip-first N asks
only the articles after the first N (those `benchmarks/finetune_results.py squad` did not train on); every
article's paragraphs are in the index either way.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bertkit import hardware
from bertkit.tasks.docqa import DocumentQA
from bertkit.tasks.metrics import squad_scores
from bertkit.tasks.predictor import Predictor
from bertkit.tasks.qa import QAExample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("squad", type=Path)
    ap.add_argument("--qa-model", required=True)
    ap.add_argument("--embed-model", help="default: the bundled MiniLM")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--skip-first", type=int, default=0, help="ask only the articles after the first N")
    ap.add_argument("--limit", type=int, help="ask at most this many questions")
    ap.add_argument("--max-chars", type=int, default=1500, help="paragraphs longer than this are indexed in pieces")
    args = ap.parse_args()
    print(f"machine: {hardware.describe()}")
    articles = json.loads(args.squad.read_text(encoding="utf-8"))["data"]
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        docs.mkdir()
        gold_para: dict[str, tuple[str, str]] = {}  # qid -> (file, paragraph text)
        asked: list[tuple[str, str, list[str]]] = []
        for n, art in enumerate(articles):
            name = f"{n:02d}_{art['title']}.txt"
            paras = [" ".join(p["context"].split()) for p in art["paragraphs"]]
            (docs / name).write_text("\n\n".join(paras) + "\n", encoding="utf-8")
            if n < args.skip_first:
                continue
            for p, text in zip(art["paragraphs"], paras):
                for q in p["qas"]:
                    gold_para[q["id"]] = (name, text)
                    asked.append((q["id"], q["question"], [a["text"] for a in q["answers"]]))
        asked = asked[:args.limit] if args.limit else asked
        t0 = time.perf_counter()
        DocumentQA.build(docs, Path(tmp) / "index", model=args.embed_model, max_chars=args.max_chars, progress=False)
        build_s = time.perf_counter() - t0
        qa = DocumentQA.load(Path(tmp) / "index", Predictor.load(args.qa_model))
        pieces: dict[tuple[str, str], set[int]] = {}  # (file, article paragraph) -> indexed pieces of it
        by_file: dict[str, list[str]] = {}
        for f, t in gold_para.values():
            by_file.setdefault(f, [])
            if t not in by_file[f]:
                by_file[f].append(t)
        for i, p in enumerate(qa.paragraphs):  # a paragraph over 1,500 chars is indexed as several pieces
            piece = " ".join(p["text"].split())
            for t in by_file.get(p["file"], []):
                if piece in t:
                    pieces.setdefault((p["file"], t), set()).add(i)
        t0 = time.perf_counter()
        hits = qa.retrieve([q for _, q, _ in asked], args.k)
        r1 = sum(h[0][0] in pieces[gold_para[qid]] for (qid, _, _), h in zip(asked, hits)) / len(asked)
        rk = sum(bool(pieces[gold_para[qid]] & {i for i, _ in h}) for (qid, _, _), h in zip(asked, hits)) / len(asked)
        answers = qa.ask_many([q for _, q, _ in asked], k=args.k, n_answers=1)
        ask_s = time.perf_counter() - t0
        gold = {qid: ans for qid, _, ans in asked}
        e2e = squad_scores({qid: (a[0]["answer"] if a else "") for (qid, _, _), a in zip(asked, answers)}, gold)
        ex = [QAExample(qid, q, gold_para[qid][1], ans) for qid, q, ans in asked]
        oracle_pred = qa.predictor.decode(qa.predictor.encode(ex))
        oracle = squad_scores({e.qid: p["answer"] for e, p in zip(ex, oracle_pred)}, gold)
    print(f"{len(articles)} articles, {len(qa.paragraphs)} paragraphs indexed in {build_s:.0f} s; {len(asked)} "
          f"questions from articles {args.skip_first + 1}-{len(articles)}, answered in {ask_s:.0f} s (k={args.k})")
    print("| measure | value |")
    print("|---|---:|")
    print(f"| retrieval recall@1 | {100 * r1:.2f} |")
    print(f"| retrieval recall@{args.k} | {100 * rk:.2f} |")
    print(f"| end-to-end exact match / F1 | {e2e['exact_match']:.2f} / {e2e['f1']:.2f} |")
    print(f"| reader alone on the gold paragraph, EM / F1 | {oracle['exact_match']:.2f} / {oracle['f1']:.2f} |")


if __name__ == "__main__":
    main()
