"""M-BERT studies of chapter 7 on a controlled second language (issue #21): vocabulary overlap against zero-shot
transfer, code-switched and transliterated input, and word order.

    python benchmarks/mbert_studies.py --data ../shared/data --out runs/mbert_studies [--steps 1500]

No second language with labels ships here in the amounts a 2-core budget can pretrain on, so the second language
is "Fake-English" (bertkit.data.fake_language, after K et al. 2020): English with the letters of each word moved to
the Cyrillic block, so it shares grammar and meaning with English and, when every word is ciphered, not one word
piece. Each setting is one pretraining of a small BERT (MLM) from scratch on a corpus whose even lines are English
and odd lines are the fake language (never the same sentence in both), with its own WordPiece vocabulary; the model
is then fine-tuned on English SST-2 only and evaluated on SST-2 dev in English, in the fake language (zero-shot
transfer), and code-switched (each word in the fake language with probability 0.5). Settings:

- english-only: pretrained on English alone; the fake-language dev is then a script it never saw (the analogue of
  Pires et al.'s transliterated Hindi, which M-BERT, pretrained on Devanagari Hindi only, transfers to badly);
- shared-0 / shared-50: the fake language keeps 0 % / 50 % of the word types as they are (vocabulary overlap);
- reversed-0: no shared words and the fake language's word order reversed (word order).

Every step is a `bertkit` command, printed before it runs; folders that hold their result are reused. Results go to
OUT/results.json and a table is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {  # name: (fake language shared fraction, word order); None: English only
    "english-only": None,
    "shared-0": (0.0, "same"),
    "shared-50": (0.5, "same"),
    "reversed-0": (0.0, "reversed"),
}


def bertkit(*args: str) -> None:
    print("$", "bertkit", " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run([sys.executable, "-m", "bertkit.cli", *args], check=True)


def read_sst2(path: Path) -> tuple[list[str], list[str]]:
    from bertkit.tasks.files import read_task_file  # the reader `bertkit finetune classify` uses

    data = read_task_file("classify", path)[0]
    return [str(t) for t in data.inputs], [str(y) for y in data.gold]


def write_tsv(path: Path, texts: list[str], labels: list[str]) -> None:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)), encoding="utf-8")


def english_text(data: Path) -> list[str]:
    """The pretraining text: SST-2 train sentences (deduplicated) and the Multi30k English captions."""
    texts, _ = read_sst2(data / "sst2" / "train.tsv")
    texts += (data / "multi30k_en_de" / "train.en.txt").read_text(encoding="utf-8").splitlines()
    seen, out = set(), []
    for t in texts:
        t = " ".join(t.split())
        if len(t.split()) >= 3 and t.lower() not in seen:
            seen.add(t.lower())
            out.append(t)
    random.Random(0).shuffle(out)
    return out


def main() -> None:
    import torch

    from bertkit import Predictor
    from bertkit.data.fake_language import FakeLanguage, code_switch, piece_overlap
    from bertkit.tokenizers import Tokenizer
    from bertkit.translation.train import cpu_name

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the folder holding sst2/ and multi30k_en_de/")
    ap.add_argument("--out", default="runs/mbert_studies")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--size", default="mini")
    ap.add_argument("--steps", type=int, default=1500, help="pretraining steps of each setting")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--train-rows", type=int, default=20000, help="English SST-2 rows to fine-tune on")
    ap.add_argument("--ft-lr", type=float, default=5e-4, help="fine-tuning peak learning rate")
    ap.add_argument("--ft-epochs", type=float, default=1.0)
    args = ap.parse_args()
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = [s.strip() for s in args.settings.split(",") if s.strip()]
    unknown = sorted(set(names) - set(SETTINGS))
    if unknown:
        ap.error(f"unknown settings {unknown}; choose from {', '.join(SETTINGS)}")

    english = english_text(data)
    tr_x, tr_y = read_sst2(data / "sst2" / "train.tsv")
    train = out / "sst2_train_en.tsv"
    write_tsv(train, tr_x[:args.train_rows], tr_y[:args.train_rows])
    dev_x, dev_y = read_sst2(data / "sst2" / "dev_from_train.tsv")
    dev_en = out / "sst2_dev_en.tsv"
    write_tsv(dev_en, dev_x, dev_y)
    res_file = out / "results.json"
    results = json.loads(res_file.read_text()) if res_file.is_file() else {}
    results["_run"] = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "size": args.size,
                       "steps": args.steps, "batch_size": args.batch_size, "vocab_size": args.vocab_size,
                       "pretraining_lines": len(english), "train_rows": min(args.train_rows, len(tr_x)),
                       "ft_lr": args.ft_lr, "ft_epochs": args.ft_epochs,
                       "dev_rows": len(dev_x)}

    for name in names:
        spec = SETTINGS[name]
        lang = FakeLanguage(*spec) if spec else FakeLanguage(0.0, "same")  # english-only: tested on shared-0 text
        folder = out / name
        folder.mkdir(exist_ok=True)
        corpus = folder / "corpus.txt"
        if not corpus.is_file():
            lines = english if spec is None else [t if i % 2 == 0 else lang(t) for i, t in enumerate(english)]
            corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
        t0 = time.perf_counter()
        if not (folder / "tok" / "vocab.txt").is_file():
            bertkit("tokenizer", "train", "--algo", "wordpiece", "--vocab-size", str(args.vocab_size), "-i",
                    str(corpus), "-o", str(folder / "tok"))
        if not (folder / "pretrained" / "config.json").is_file():
            bertkit("pretrain", "--arch", "bert", "--size", args.size, "--objective", "mlm", "--tokenizer",
                    str(folder / "tok"), "--corpus", str(corpus), "--max-length", "64", "--steps", str(args.steps),
                    "--batch-size", str(args.batch_size), "--lr", "1e-3", "--warmup", str(args.steps // 10),
                    "--precision", "fp32", "--log-every", "100", "--no-progress", "--out", str(folder / "pretrained"))
        if not (folder / "classifier" / "metrics.json").is_file():
            bertkit("finetune", "classify", "--model", str(folder / "pretrained"), "--train", str(train), "--dev",
                    str(dev_en), "--epochs", str(args.ft_epochs), "--max-length", "64", "--batch-size", "32", "--lr", str(args.ft_lr),
                    "--quiet", "--out", str(folder / "classifier"))
        seconds = time.perf_counter() - t0

        p = Predictor.load(folder / "classifier")
        variants = {"English": dev_x, lang.describe(): [lang(t) for t in dev_x],
                    "code-switched (p = 0.5)": [code_switch(t, 0.5, lang=lang) for t in dev_x]}
        tok = Tokenizer.from_pretrained(folder / "tok")
        row = {"fake_language": lang.describe(), "seconds": round(seconds, 1), "dev": {}}
        for vname, texts in variants.items():
            acc = p.score(p.encode(texts, gold=dev_y))["accuracy"]
            overlap = piece_overlap(tok, english[::2][:20000], texts)
            unk = sum(x == tok.unk_token for t in texts for x in tok.tokenize(t)) / max(
                1, sum(len(tok.tokenize(t)) for t in texts))
            row["dev"][vname] = {"accuracy": acc, "piece_overlap_with_english": overlap, "unk_rate": unk}
            print(f"{name:13s} {vname:55s} acc {acc:.4f}  overlap {overlap:.3f}  [UNK] {unk:.3f}", flush=True)
        results[name] = row
        res_file.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print_table(results)


def print_table(results: dict) -> None:
    r = results["_run"]
    print(f"\nSST-2 dev_from_train ({r['dev_rows']} rows), fine-tuned on {r['train_rows']} English rows; BERT "
          f"{r['size']} pretrained {r['steps']} steps x {r['batch_size']} (MLM) per setting; {r['cpu']}, "
          f"{r['threads']} threads, fp32; chance 0.5")
    print("| setting | test input | piece overlap with English | [UNK] rate | accuracy |")
    print("|---|---|---:|---:|---:|")
    for name in SETTINGS:
        if name not in results:
            continue
        for vname, v in results[name]["dev"].items():
            print(f"| {name} | {vname} | {v['piece_overlap_with_english']:.3f} | {v['unk_rate']:.3f} | "
                  f"{v['accuracy']:.4f} |")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
