"""Knowledge distillation on SST-2 (issue #18, chapter 5): the teacher, a DistilBERT-style, a TinyBERT-style and a
BiLSTM student, each beside its twin trained on the labels alone, with parameters, sentences/s and dev accuracy.

    python benchmarks/distill_results.py --data ../shared/data --out runs/distill \
        [--systems teacher,mlm,augment,distilbert,distilbert_labels,tinybert,tinybert_labels,bilstm,bilstm_labels,speed]

Every step is a `bertkit` command (printed before it runs) whose folder is reused when it already holds a finished
model (a metrics.json not marked interrupted), so a later run with other --systems adds to the table instead of
redoing it:
- teacher: `bertkit finetune classify` of the bundled MiniLM on sst2/train.tsv (--teacher-epochs, max length 64);
- mlm: the MLM that TinyBERT's augmentation asks for. The bundled MiniLM ships without its MLM head, so the head
  is learned by continued MLM pretraining of MiniLM on the SST-2 training sentences (`bertkit pretrain --init`);
- augment: `bertkit augment --method tinybert` (K=15, p=0.4, N copies) on the first --augment-rows training rows;
- distilbert: 3 blocks (0, 2, 4) of the teacher, soft targets + hard labels; tinybert: 4 layers of width 312
  (layer map 0,2,3,5,6), intermediate layers then prediction layer on train + augmented rows; bilstm: Tang et
  al.'s BiLSTM with their augmentation (POS tagger trained on conll2003/train.txt); each *_labels row is the same
  student trained on the gold labels only, inheriting nothing from the teacher: distilbert_labels starts from
  blocks 0, 2, 4 of the bundled MiniLM as shipped (the teacher before its fine-tuning, a fresh head), the
  tinybert and bilstm twins from the same random initialisation as their distilled students;
- speed: every folder loaded with bertkit.Predictor, the 1,000 dev sentences predicted at one batch size and one
  precision (tokenisation included), median of --rounds;
- paired: each distilled student against its twin and against the teacher on the dev sentences: how many only
  the one or only the other gets right, and the two-sided exact sign test on those (McNemar's exact test).
Dev accuracy is on sst2/dev_from_train.tsv. Results go to OUT/results.json as each step finishes.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

STUDENTS = ("distilbert", "distilbert_labels", "tinybert", "tinybert_labels", "bilstm", "bilstm_labels")
ALL = ("teacher", "mlm", "augment", *STUDENTS, "speed", "paired")
LABELS = {"teacher": "teacher (MiniLM-L6, fine-tuned)", "distilbert": "DistilBERT-style student (3 layers)",
          "tinybert": "TinyBERT-style student (4 layers, width 312)", "bilstm": "BiLSTM student",
          "distilbert_labels": "  3 layers of the pretrained MiniLM, labels only", "tinybert_labels": "  the same TinyBERT, labels only",
          "bilstm_labels": "  the same BiLSTM, labels only"}


def bertkit(*args: str) -> None:
    cmd = [sys.executable, "-m", "bertkit.cli", *args]
    print("$", "bertkit", " ".join(shlex.quote(a) for a in args), flush=True)
    subprocess.run(cmd, check=True)


def done(folder: Path) -> bool:
    """The step's folder holds a finished model (an interrupted run leaves a metrics.json that says so)."""
    if not (folder / "metrics.json").is_file() or not (folder / "config.json").is_file():
        return False
    m = metrics(folder)
    return not (m.get("interrupted") or m.get("out_of_time") or m.get("stopped_by_time_budget"))


def metrics(folder: Path) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def dev_accuracy(m: dict) -> float | None:
    for key in ("dev_accuracy", "accuracy"):
        if isinstance(m.get(key), (int, float)):
            return float(m[key])
    for key in ("dev", "best", "dev_metrics", "best_dev"):
        v = m.get(key)
        for inner in ("accuracy", "eval_accuracy"):
            if isinstance(v, dict) and isinstance(v.get(inner), (int, float)):
                return float(v[inner])
    return None


def sst2_texts(path: Path) -> list[str]:
    from bertkit.tasks.files import read_task_file  # the reader `bertkit finetune classify` uses

    return [str(t) for t in read_task_file("classify", path)[0].inputs]


def predictor_speed(folder: Path, texts: list[str], batch_size: int, precision: str, rounds: int) -> dict:
    import torch

    from bertkit import Predictor

    p = Predictor.load(folder)
    if hasattr(p, "settings"):
        p.settings["batch_size"] = batch_size
        p.settings["precision"] = precision
    model = getattr(p, "model", None)
    params = sum(t.numel() for t in model.parameters()) if model is not None else None
    p.predict(texts[:batch_size])  # warm-up
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        with torch.inference_mode():
            p.predict(texts)
        times.append(time.perf_counter() - t0)
    return {"sent_per_s": len(texts) / statistics.median(times), "parameters": params}


def correct(folder: Path, texts: list[str], gold: list[str]) -> list[bool]:
    from bertkit import Predictor

    out = Predictor.load(folder).predict(texts)
    return [str(o["label"] if isinstance(o, dict) else o) == g for o, g in zip(out, gold)]


def sign_test(a: list[bool], b: list[bool]) -> dict:
    """Sentences only `a` / only `b` gets right, and the two-sided exact binomial p of that split at 1/2."""
    from math import comb

    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    n = only_a + only_b
    p = min(1.0, 2 * sum(comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2 ** n) if n else 1.0
    return {"only_first": only_a, "only_second": only_b, "p": p}


def main() -> None:
    import torch

    from bertkit.translation.train import cpu_name

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the folder holding sst2/ and conll2003/")
    ap.add_argument("--out", default="runs/distill")
    ap.add_argument("--systems", default=",".join(ALL))
    ap.add_argument("--teacher", default=None, help="a classification folder to use as the teacher (skips training)")
    ap.add_argument("--teacher-epochs", type=float, default=3.0,
                    help="epochs of the teacher's fine-tuning (its best epoch on dev is kept)")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--augment-rows", type=int, default=4000, help="training rows TinyBERT's augmentation copies")
    ap.add_argument("--augment-n", type=int, default=20)
    ap.add_argument("--mlm-steps", type=int, default=300)
    ap.add_argument("--epochs", type=float, default=1.0, help="epochs of each transformer student (and stage)")
    ap.add_argument("--bilstm-epochs", type=float, default=3.0)
    ap.add_argument("--bilstm-n-iter", type=int, default=2,
                    help="Tang augmentation copies per training row (the paper's 20 makes 1.3M rows for the teacher)")
    ap.add_argument("--bilstm-alpha", type=float, default=0.0,
                    help="the BiLSTM's weight on cross entropy with the gold labels (Tang et al.: 0, logits MSE only)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every student's training (not the teacher's)")
    ap.add_argument("--time-budget-min", type=float, default=None, help="cap on each student's training")
    ap.add_argument("--batch-size", type=int, default=32, help="speed: the batch size of every model")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="speed: one precision for all")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--train-rows", type=int, default=None,
                    help="train every model on the first N rows only: a speed-only run (the models have their real "
                         "shapes, and speed does not depend on the weights; the accuracies mean nothing)")
    args = ap.parse_args()

    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, dev = data / "sst2" / "train.tsv", data / "sst2" / "dev_from_train.tsv"
    if args.train_rows:
        head = out / f"train_first{args.train_rows}.tsv"
        head.write_text("".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[:args.train_rows + 1]),
                        encoding="utf-8")
        train = head
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(systems) - set(ALL))
    if unknown:
        ap.error(f"unknown systems {unknown}; choose from {', '.join(ALL)}")
    res_file = out / "results.json"
    results = json.loads(res_file.read_text()) if res_file.is_file() else {}

    def keep(name: str, row: dict) -> None:
        results.setdefault(name, {}).update(row)
        res_file.write_text(json.dumps(results, indent=1) + "\n")

    teacher = Path(args.teacher) if args.teacher else out / "teacher"
    L = str(args.max_length)
    budget = ["--time-budget", str(args.time_budget_min)] if args.time_budget_min else []  # minutes
    if "teacher" in systems and not done(teacher):
        bertkit("finetune", "classify", "--train", str(train), "--dev", str(dev), "--out", str(teacher),
                "--epochs", str(args.teacher_epochs), "--max-length", L, "--batch-size", "32",
                "--quiet")
    mlm = out / "mlm"
    if "mlm" in systems and not (mlm / "config.json").is_file():
        import bertkit as bk

        text = out / "sst2_sentences.txt"
        text.write_text("".join(t.strip() + "\n" for t in sst2_texts(train) if t.strip()), encoding="utf-8")
        m = str(bk.default_model_path())
        steps = args.mlm_steps
        bertkit("pretrain", "--arch", "bert", "--objective", "mlm", "--packing", "single", "--init", m,
                "--tokenizer", m, "--corpus", str(text), "--max-length", L, "--batch-size", "64", "--steps",
                str(steps), "--lr", "3e-4", "--warmup", str(steps // 10), "--log-every", "50", "--out", str(mlm))
    augmented = out / "augmented.tsv"
    if "augment" in systems and not augmented.is_file():
        head = out / f"train_first{args.augment_rows}.tsv"
        lines = train.read_text(encoding="utf-8").splitlines(keepends=True)
        head.write_text("".join(lines[:args.augment_rows + 1]), encoding="utf-8")
        bertkit("augment", "--method", "tinybert", "--mlm", str(mlm), "--input", str(head), "--out",
                str(augmented), "-n", str(args.augment_n), "-k", "15", "-p", "0.4", "--max-length", L, "--quiet")
    common = ["--teacher", str(teacher), "--train", str(train), "--dev", str(dev), "--max-length", L, "--quiet",
              "--seed", str(args.seed), *budget]
    ep = str(args.epochs)
    import bertkit as bk

    pretrained = bk.default_model_path()  # the teacher before fine-tuning
    recipes = {
        "distilbert": ["--method", "distilbert", "--layers", "0,2,4", "--epochs", ep],
        "distilbert_labels": ["--method", "labels", "--twin-of", "distilbert", "--layers", "0,2,4", "--student-init",
                              str(pretrained), "--epochs", ep],
        "tinybert": ["--method", "tinybert", "--student-layers", "4", "--hidden", "312", "--ffn", "1200",
                     "--augmented", str(augmented), "--intermediate-epochs", ep, "--prediction-epochs", ep],
        "tinybert_labels": ["--method", "labels", "--twin-of", "tinybert", "--student-layers", "4", "--hidden", "312",
                            "--ffn", "1200", "--epochs", ep],
        "bilstm": ["--method", "bilstm", "--tagger", str(out / "pos_tagger.json"), "--epochs",
                   str(args.bilstm_epochs), "--n-iter", str(args.bilstm_n_iter), "--alpha", str(args.bilstm_alpha)],
        "bilstm_labels": ["--method", "bilstm", "--labels-only", "--epochs", str(args.bilstm_epochs)],
    }
    for name in STUDENTS:
        if name not in systems:
            continue
        folder = out / name
        if name == "bilstm" and not (out / "pos_tagger.json").is_file():
            bertkit("train-pos-tagger", "--train", str(data / "conll2003" / "train.txt"), "--dev",
                    str(data / "conll2003" / "valid.txt"), "--out", str(out / "pos_tagger.json"))
        if not done(folder):
            t0 = time.perf_counter()
            bertkit("distill", *recipes[name], *common, "--out", str(folder))
            keep(name, {"train_seconds": round(time.perf_counter() - t0, 1)})
    for name in ("teacher", *STUDENTS):
        folder = teacher if name == "teacher" else out / name
        if done(folder):
            keep(name, {"dev_accuracy": dev_accuracy(metrics(folder)), "folder": str(folder)})

    if "speed" in systems:
        texts = sst2_texts(dev)
        for name in ("teacher", *STUDENTS):
            folder = teacher if name == "teacher" else out / name
            if done(folder):
                keep(name, predictor_speed(folder, texts, args.batch_size, args.precision, args.rounds))
        keep("_speed", {"cpu": cpu_name(), "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                        "precision": args.precision, "texts": len(texts), "rounds": args.rounds,
                        "train_rows": args.train_rows})

    if "paired" in systems:
        from bertkit.tasks.files import read_task_file

        d = read_task_file("classify", dev)[0]
        texts, gold = [str(t) for t in d.inputs], [str(g) for g in d.gold]
        folders = {n: teacher if n == "teacher" else out / n for n in ("teacher", *STUDENTS)}
        right = {n: correct(f, texts, gold) for n, f in folders.items() if done(f)}
        for name in ("distilbert", "tinybert", "bilstm"):
            for other in (f"{name}_labels", "teacher"):
                if name in right and other in right:
                    r = sign_test(right[name], right[other])
                    keep("_paired", {f"{name} vs {other}": r})
                    print(f"{name} vs {other}: only {name} right {r['only_first']}, only {other} right "
                          f"{r['only_second']}, sign test p = {r['p']:.2g}")

    print_table(results)


def print_table(results: dict) -> None:
    t = results.get("teacher", {})
    sp = results.get("_speed", {})
    print(f"\nSST-2, dev_from_train.tsv (1,000 sentences); speed: {sp.get('cpu', '?')}, {sp.get('threads', '?')} "
          f"threads, batch {sp.get('batch_size', '?')}, {sp.get('precision', '?')}, tokenisation included, median "
          f"of {sp.get('rounds', '?')}")
    if sp.get("train_rows"):
        print(f"speed-only run: every model trained on {sp['train_rows']} rows, so the accuracies mean nothing")
    print("| model | params | sent/s | x teacher | dev accuracy | % of teacher |")
    print("|---|---|---|---|---|---|")
    for name in ("teacher", *STUDENTS):
        r = results.get(name)
        if not r:
            continue
        p = f"{r['parameters'] / 1e6:.1f}M" if r.get("parameters") else ""
        s = f"{r['sent_per_s']:.0f}" if r.get("sent_per_s") else ""
        x = f"{r['sent_per_s'] / t['sent_per_s']:.2f}x" if r.get("sent_per_s") and t.get("sent_per_s") else ""
        a = r.get("dev_accuracy")
        acc = f"{100 * a:.2f}" if a is not None else ""
        rel = f"{100 * a / t['dev_accuracy']:.1f}%" if a is not None and t.get("dev_accuracy") else ""
        print(f"| {LABELS[name]} | {p} | {s} | {x} | {acc} | {rel} |")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
