"""Cross-lingual STS and translation retrieval of one or more models (before/after multilingual distillation).

    python benchmarks/multilingual_eval.py --data ../shared/data [--model DIR ...]   (no --model: the bundled one)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import bertkit
from bertkit.embed.distill_multilingual import read_parallel
from bertkit.embed.evaluate import cross_lingual, evaluate_retrieval, evaluate_sts, read_sts


def tasks(root: Path) -> list[tuple[str, object]]:
    sts = root / "stsb"
    en = read_sts(sts / "stsb-en-dev.csv")
    out: list[tuple[str, object]] = [("STS en-en", en)]
    for lang in ("de", "es", "fr"):
        out.append((f"STS {lang}-{lang}", read_sts(sts / f"stsb-{lang}-dev.csv")))
    for lang in ("de", "es", "fr"):
        out.append((f"STS en-{lang} (cross)", cross_lingual(en, read_sts(sts / f"stsb-{lang}-dev.csv"))))
    out.append(("STS ko-ko (KorSTS)", read_sts(sts / "korsts-dev.tsv")))
    m30k = read_parallel(root / "multi30k_en_de" / "test_2016_flickr.de.txt", root / "multi30k_en_de" /
                         "test_2016_flickr.en.txt")
    out.append(("retrieval de->en Multi30k test (1000)", m30k))
    jhe = read_parallel(root / "parallel_en_ko" / "jhe-koen-eval.ko.txt", root / "parallel_en_ko" / "jhe-koen-eval.en.txt")
    out.append(("retrieval ko->en JHE eval (720)", jhe))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--model", action="append", default=None, help="model folder; repeat to compare (default: bundled)")
    args = ap.parse_args()
    models = args.model or [None]
    encs = [bertkit.load(m) for m in models]
    names = [e.name if m is None else str(m) for e, m in zip(encs, models)]
    rows = []
    for label, data in tasks(Path(args.data)):
        vals = []
        for enc in encs:
            if label.startswith("STS"):
                vals.append(evaluate_sts(enc, data, show_progress=False)["spearman"])
            else:
                q, c = [a for a, _ in data], [b for _, b in data]
                vals.append(evaluate_retrieval(enc, q, c, [{i} for i in range(len(q))], ks=(1,))["recall@1"])
        rows.append((label, vals))
        print(f"{label:40}" + "".join(f"{v:>12.4f}" for v in vals), flush=True)
    print()
    print("| task | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for label, vals in rows:
        metric = "Spearman" if label.startswith("STS") else "accuracy@1"
        print(f"| {label} ({metric}) | " + " | ".join(f"{v:.4f}" for v in vals) + " |")


if __name__ == "__main__":
    main()
