"""BLEU of the chapter-1 Transformer on Multi30k en->de (test_2016_flickr), trained on this CPU within a time budget.

    python benchmarks/translation_bleu.py --data ../shared/data/multi30k_en_de --out runs/multi30k \
        --time-budget 50 --threads 2

trains with `bertkit.translation.train_translation` (the code behind `bertkit train-translation`), then prints the
machine (CPU model name, threads), the budget, the per-epoch validation curve (greedy BLEU, nll) and the test BLEU
(beam search, sacrebleu's corpus BLEU on detokenized output). `--model FOLDER` skips training and scores a trained
folder on val and test. Extra options (`--d-model 512 ...`) go to the recipe as in `bertkit train-translation`.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def files(data: Path, split: str, src: str, tgt: str) -> tuple[Path, Path]:
    return data / f"{split}.{src}.txt", data / f"{split}.{tgt}.txt"


def score_folder(folder: Path, data: Path, src: str, tgt: str, beams: int, length_penalty: float) -> dict:
    from bertkit.textio import read_lines
    from bertkit.translation import Translator, bleu

    tr = Translator.load(folder)
    out = {}
    for split in ("val", "test_2016_flickr"):
        s, t = files(data, split, src, tgt)
        for b in sorted({1, beams}):
            t0 = time.perf_counter()
            hyps = tr.translate(read_lines(s), num_beams=b, length_penalty=length_penalty, batch_size=64)
            out[f"{split} beams={b}"] = (bleu(hyps, read_lines(t))[0], time.perf_counter() - t0)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="folder with {train,val,test_2016_flickr}.{en,de}.txt")
    p.add_argument("--src-lang", default="en")
    p.add_argument("--tgt-lang", default="de")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "multi30k")
    p.add_argument("--model", type=Path, help="score this trained folder instead of training")
    p.add_argument("--time-budget", type=float, default=50.0, metavar="MINUTES")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--beams", type=int, default=5)
    p.add_argument("--length-penalty", type=float, default=1.0)
    p.add_argument("--resume", action="store_true")
    args, extra = p.parse_known_args()
    torch.set_num_threads(args.threads)
    from bertkit.translation.train import cpu_name

    print(f"CPU: {cpu_name()}, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    if args.model is not None:
        for name, (score, secs) in score_folder(args.model, args.data, args.src_lang, args.tgt_lang, args.beams,
                                                args.length_penalty).items():
            print(f"{name:28s} BLEU {score:6.2f}   ({secs:.0f} s)")
        return 0

    from bertkit.cli.main import build_parser

    s, t = files(args.data, "train", args.src_lang, args.tgt_lang)
    vs, vt = files(args.data, "val", args.src_lang, args.tgt_lang)
    ts, tt = files(args.data, "test_2016_flickr", args.src_lang, args.tgt_lang)
    argv = ["train-translation", "--src", s, "--tgt", t, "--val-src", vs, "--val-tgt", vt, "--test-src", ts,
            "--test-tgt", tt, "--out", args.out, "--source-lang", args.src_lang, "--target-lang", args.tgt_lang,
            "--time-budget", args.time_budget, "--beams", args.beams, "--length-penalty", args.length_penalty,
            "--threads", args.threads, *(["--resume"] if args.resume else []), *extra]
    ns = build_parser().parse_args([str(a) for a in argv])
    print("command: bertkit " + " ".join(str(a) for a in argv), flush=True)
    t0 = time.perf_counter()
    ns.func(ns)
    report = json.loads((args.out / "results.json").read_text())
    print(f"\nbudget {args.time_budget:g} min of training; training took {report['train_wall_s'] / 60:.1f} min, "
          f"the whole run {(time.perf_counter() - t0) / 60:.1f} min; {report['steps']} steps = "
          f"{report['epochs']:g} epochs, {report['parameters'] / 1e6:.2f}M parameters")
    print("\n| epoch | step | val BLEU (greedy) | val nll | wall min |\n|---:|---:|---:|---:|---:|")
    for r in report["curve"]:
        print(f"| {r['epoch']:g} | {r['step']} | {r['val_bleu']:.2f} | {r['val_nll']:.3f} | {r['wall_s'] / 60:.1f} |")
    if "test_bleu" in report:
        print(f"\ntest_2016_flickr BLEU {report['test_bleu']:.2f} (beams {report['test_beams']}, length penalty "
              f"{report['test_length_penalty']}, {report['test_model']}; {report['bleu_signature']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
