"""Write a domain corpus for continued pretraining from the BBC News jsonl: one paragraph per line, a blank
line between articles; the last `--held-out` articles (by id) go to a separate evaluation file.

    python examples/domain_corpus.py ../shared/data/bbc_summary/train.jsonl --categories tech business \
        --train runs/bbc/train.txt --dev runs/bbc/dev.txt --held-out 30
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--categories", nargs="+", default=["tech", "business"])
    p.add_argument("--train", required=True)
    p.add_argument("--dev", required=True)
    p.add_argument("--held-out", type=int, default=30)
    a = p.parse_args()
    rows = [json.loads(line) for line in Path(a.jsonl).read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = sorted((r for r in rows if r["category"] in a.categories), key=lambda r: r["id"])
    docs = ["\n".join(par.strip() for par in r["article"].split("\n") if par.strip()) for r in rows]
    cut = len(docs) - a.held_out
    for path, part in ((a.train, docs[:cut]), (a.dev, docs[cut:])):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text("\n\n".join(part) + "\n", encoding="utf-8")
        print(f"{path}: {len(part)} articles")


if __name__ == "__main__":
    main()
