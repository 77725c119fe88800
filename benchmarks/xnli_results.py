"""XNLI's four cross-lingual protocols on the shared German and Korean XNLI dev slices (chapter 7).

    flock /work/cpu.lock python benchmarks/xnli_results.py --data ../shared/data --out /work/runs/xnli --threads 2

There is no English NLI training set in ../shared/data, so German is the training language: xnli.dev.de.tsv is split
(seeded) into 2,000 German training rows and 489 held-out German test rows. Korean (xnli.dev.ko.tsv, all 2,490 rows)
is the transfer language. The two files are not row-aligned (the German one is XGLUE's order, premises split), so
the Korean rows cannot be matched to the German split; both translate the same English XNLI dev set, so the
Korean test set holds translations of the German training rows' content (stated in the docs).

Translators (the chapter-1 Transformer, `bertkit.translation.train_translation`) pivot through English, the only
language with parallel data to both: ko->en and en->ko on parallel_en_ko (3,720 pairs: korean-english-park dev +
test, jhe-koen-dev), en->de and de->en on multi30k_en_de (29,000 pairs), each within --translator-minutes of
training. translate-test chains ko->en->de; translate-train and translate-train-all chain de->en->ko.

Stages: `--stage translators` trains the four translators only (kept under OUT/translators; a finished one is not
trained again); `--stage all` (default) then runs the four protocols with `bertkit.tasks.xnli.evaluate_xnli` and
prints the table. Every stage prints its wall time, so the CPU time of the whole benchmark can be added up.
"""
from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

# name: (source lang, target lang, corpus folder, training file stems, validation (stem, first n lines))
TRANSLATORS = {
    "ko-en": ("ko", "en", "parallel_en_ko", ["korean-english-park.dev", "korean-english-park.test", "jhe-koen-dev"],
              ("jhe-koen-eval", 200)),
    "en-ko": ("en", "ko", "parallel_en_ko", ["korean-english-park.dev", "korean-english-park.test", "jhe-koen-dev"],
              ("jhe-koen-eval", 200)),
    "en-de": ("en", "de", "multi30k_en_de", ["train"], ("val", 200)),
    "de-en": ("de", "en", "multi30k_en_de", ["train"], ("val", 200)),
}


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def split_german(data: Path, out: Path, n_train: int, seed: int) -> tuple[Path, Path]:
    """xnli.dev.de.tsv -> OUT/data/de.train.tsv (n_train rows) and de.test.tsv (the rest), rows drawn with `seed`."""
    with open(data / "xnli" / "xnli.dev.de.tsv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    idx = list(range(len(body)))
    random.Random(seed).shuffle(idx)
    train, test = sorted(idx[:n_train]), sorted(idx[n_train:])
    paths = []
    for name, part in (("de.train.tsv", train), ("de.test.tsv", test)):
        paths.append(_write(out / "data" / name, ["\t".join(header)] + ["\t".join(body[i]) for i in part]))
    return paths[0], paths[1]


def train_translators(data: Path, out: Path, minutes: float, threads: int,
                       precision: str = "fp32") -> dict[str, dict]:
    """Train (or reuse) the four pivot translators; returns their results.json reports by name."""
    from bertkit.translation import TranslationSpec, train_translation

    reports = {}
    for name, (src, tgt, corpus, stems, (val_stem, n_val)) in TRANSLATORS.items():
        folder = out / "translators" / name
        if (folder / "results.json").is_file():
            reports[name] = json.loads((folder / "results.json").read_text())
            print(f"translator {name}: reusing {folder}")
            continue
        d = data / corpus
        src_lines = [x for s in stems for x in _lines(d / f"{s}.{src}.txt")]
        tgt_lines = [x for s in stems for x in _lines(d / f"{s}.{tgt}.txt")]
        keep = [i for i, (a, b) in enumerate(zip(src_lines, tgt_lines)) if a.strip() and b.strip()]
        work = out / "translator_data" / name
        s = _write(work / f"train.{src}", [src_lines[i] for i in keep])
        t = _write(work / f"train.{tgt}", [tgt_lines[i] for i in keep])
        vs = _write(work / f"val.{src}", _lines(d / f"{val_stem}.{src}.txt")[:n_val])
        vt = _write(work / f"val.{tgt}", _lines(d / f"{val_stem}.{tgt}.txt")[:n_val])
        t0 = time.perf_counter()
        torch.set_num_threads(threads)
        rep = train_translation(TranslationSpec(
            src=s, tgt=t, out=folder, val_src=vs, val_tgt=vt, source_lang=src, target_lang=tgt, vocab_size=8000,
            time_budget_min=minutes, epochs=30, warmup=500, lr=0.4, beams=1, precision=precision, progress=False))
        print(f"translator {name}: {len(keep)} pairs, {rep['steps']} steps ({rep['epochs']} epochs), best val BLEU "
              f"(greedy, {n_val} lines of {val_stem}) {rep['best_val_bleu']}, {time.perf_counter() - t0:.0f} s")
        reports[name] = rep
    return reports


def translator_dir(out: Path, name: str) -> Path:
    folder = out / "translators" / name
    return folder / "best" if (folder / "best" / "config.json").is_file() else folder


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=Path("/work/runs/xnli"))
    p.add_argument("--stage", choices=["translators", "all"], default="all")
    p.add_argument("--protocols", default="zero-shot,translate-test,translate-train,translate-train-all")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--train-rows", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--translator-minutes", type=float, default=3.5)
    p.add_argument("--model", default=None, help="the encoder to fine-tune (default: the bundled MiniLM); an XLM "
                                                 "reads every input with its language id")
    p.add_argument("--reuse-translations", type=Path, default=None, metavar="RUN",
                   help="take translate-test's and translate-train's translations from an earlier run's --out (the "
                        "same translators' output, checked row by row) instead of translating again")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                   help="training precision of the translators and classifiers (auto: bf16 where the CPU multiplies "
                        "it natively)")
    p.add_argument("--epochs", type=float, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--max-length", type=int, default=128)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from bertkit.translation.train import cpu_name

    print(f"CPU: {cpu_name()}, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    t0 = time.perf_counter()
    de_train, de_test = split_german(args.data, args.out, args.train_rows, args.seed)
    ko = args.data / "xnli" / "xnli.dev.ko.tsv"
    translators = train_translators(args.data, args.out, args.translator_minutes, args.threads, args.precision)
    print(f"translators ready after {time.perf_counter() - t0:.0f} s")
    if args.stage == "translators":
        return 0
    from bertkit.tasks.xnli import evaluate_xnli

    pivots = {"translate-test": ["ko-en", "en-de"], "translate-train": ["de-en", "en-ko"],
              "translate-train-all": ["de-en", "en-ko"]}
    results = {}
    for protocol in args.protocols.split(","):
        t1 = time.perf_counter()
        chain = pivots.get(protocol)
        # translate-test and translate-train score the zero-shot run's German model (the same fine-tuning)
        zs_model = args.out / "zero-shot" / "model-de"
        reuse = protocol in ("translate-test", "translate-train") and (zs_model / "config.json").is_file()
        # translate-train-all takes translate-train's translation of the German rows (the same translators' output)
        made = args.out / "translate-train" / "translations" / "train.de-ko.tsv"
        given = {"ko": made} if protocol == "translate-train-all" and made.is_file() else None
        if args.reuse_translations is not None and chain:
            name = "translate-test/translations/test.ko-de.tsv" if protocol == "translate-test" else \
                "translate-train/translations/train.de-ko.tsv"
            given = {"ko": args.reuse_translations / name}
        m = evaluate_xnli(
            protocol, train=de_train, train_lang="de", evals={"de": de_test, "ko": ko}, translated=given,
            translators={"ko": [translator_dir(args.out, n) for n in chain]} if chain and not given else None,
            classifier=zs_model if reuse else None, model=args.model, out=args.out / protocol, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, max_length=args.max_length, seed=args.seed,
            precision=args.precision, translate_batch_size=64, progress=False)
        m["wall_s"] = round(time.perf_counter() - t1, 1)
        results[protocol] = m
        print(f"{protocol}: " + ", ".join(f"{lang} {r['accuracy']:.4f} (n={r['n']})"
                                          for lang, r in m["languages"].items()) + f"; {m['wall_s']} s", flush=True)
    old = args.out / "summary.json"  # protocols run by earlier invocations (--protocols) are kept
    if old.is_file():
        results = {**json.loads(old.read_text())["protocols"], **results}
    summary = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "total_s": round(time.perf_counter() - t0, 1),
               "translators": {k: {x: v.get(x) for x in ("steps", "epochs", "train_pairs", "parameters",
                                                         "best_val_bleu", "train_wall_s")}
                               for k, v in translators.items()},
               "protocols": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print("\n| protocol | ko model: fine-tuned on | ko inputs | de (held-out) | ko | wall s |\n|---|---|---|---:|---:|---:|")
    for protocol, m in results.items():
        ko_r = m["languages"]["ko"]
        trained = m["models"][ko_r["model"]]
        rows = "the zero-shot model" if trained.get("reused") else f"{trained['train_rows']} rows"
        cells = [f"{m['languages'][lang]['accuracy']:.4f}" for lang in ("de", "ko")]
        print(f"| {protocol} | {rows} | {ko_r['inputs']} | " + " | ".join(cells) + f" | {m['wall_s']} |")
    print(f"total {summary['total_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
