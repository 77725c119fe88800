"""Fine-tuning results on the shared datasets, starting from the bundled MiniLM; `report` rewrites the rows of
docs/results.md's fine-tuning table from the runs' metrics.json files (and nothing else in the file).

    python benchmarks/finetune_results.py sst2  --data ../shared/data      # one run per dataset
    python benchmarks/finetune_results.py conll --data ../shared/data
    python benchmarks/finetune_results.py squad --data ../shared/data
    python benchmarks/finetune_results.py stsb  --data ../shared/data
    python benchmarks/finetune_results.py report                          # -> docs/results.md

Each run prints its figures and leaves runs/ft-<name>/ (model, metrics.json, learning_curve.png).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import bertkit

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "runs"
# name -> (task, train, dev, finetune options, headline metric, target)
RUNS_SPEC = {
    "sst2": ("classify", "sst2/train.tsv", "sst2/dev_from_train.tsv",
             dict(text_col="sentence", label_col="label", epochs=1, max_steps=800, lr=5e-5, batch_size=32,
                  max_length=128),
             "accuracy", "accuracy >= 88%"),
    "conll": ("ner", "conll2003/train.txt", "conll2003/valid.txt",
              dict(epochs=2, lr=1e-4, batch_size=32, max_length=128), "f1", "entity F1 >= 82"),
    "squad": ("qa", None, None, dict(epochs=4, lr=1e-4, batch_size=32, max_length=192, doc_stride=64),
              "f1", "F1 >= 50"),
    "stsb": ("regress", "stsb/stsb-en-train.csv", "stsb/stsb-en-dev.csv",
             dict(text_col="0", text2_col="1", label_col="2", epochs=3, lr=5e-5, batch_size=32, max_length=128),
             "spearman", "report Spearman"),
}


def split_squad(src: Path, n_train: int, tmp: Path) -> tuple[Path, Path]:
    """The first n_train articles of a SQuAD file as train, the rest as dev (two files in tmp)."""
    data = json.loads(src.read_text(encoding="utf-8"))
    a, b = dict(data, data=data["data"][:n_train]), dict(data, data=data["data"][n_train:])
    (tmp / "train.json").write_text(json.dumps(a))
    (tmp / "dev.json").write_text(json.dumps(b))
    return tmp / "train.json", tmp / "dev.json"


def run(name: str, data: Path, overrides: dict) -> dict:
    task, train, dev, opts, metric, target = RUNS_SPEC[name]
    opts = {**opts, **overrides}
    out = RUNS / f"ft-{name}"
    with tempfile.TemporaryDirectory() as tmp:
        if name == "squad":
            train_p, dev_p = split_squad(data / "squad/dev_part_a.json", 8, Path(tmp))
        else:
            train_p, dev_p = data / train, data / dev
        t0 = time.perf_counter()
        pred = bertkit.finetune(task, train=train_p, dev=dev_p, out=out, **opts)
        wall = time.perf_counter() - t0
    rep = pred.report
    rep["wall_seconds"] = round(wall, 1)
    rep["command"] = "python benchmarks/finetune_results.py " + " ".join(sys.argv[1:])
    rep["budget_seconds"] = opts.get("time_budget")
    rep["target"] = target
    rep["headline"] = metric
    if name == "squad":
        rep["split"] = "train: first 8 articles of squad/dev_part_a.json; dev: the last 2"
    (out / "metrics.json").write_text(json.dumps(rep, indent=2) + "\n")
    best = rep["best"] or {}
    print(f"{name}: best epoch {best.get('epoch')}: " + ", ".join(f"{k[5:]}={v:.4f}" for k, v in best.items()
                                                                   if k.startswith("eval_")))
    print(f"{name}: {rep['train_examples']} train examples ({rep['train_skipped']} skipped), "
          f"{rep['steps']} steps, train {rep['train_seconds']} s, {rep['train_examples_per_s']} examples/s, "
          f"peak RSS {rep['peak_rss_mb']} MB, wall {wall:.0f} s")
    return rep


def rescore(name: str, data: Path) -> None:
    """Score a saved run on its dev split and record it as the last evaluation in its metrics.json (for a run
    stopped from outside, which then had no final evaluation)."""
    from bertkit.tasks.files import read_task_file

    out = RUNS / f"ft-{name}"
    pred = bertkit.Predictor.load(out)
    rep = json.loads((out / "metrics.json").read_text())
    s = pred.settings
    with tempfile.TemporaryDirectory() as tmp:
        dev = split_squad(data / "squad/dev_part_a.json", 8, Path(tmp))[1] if name == "squad" else data / RUNS_SPEC[
            name][2]
        d, _ = read_task_file(pred.task, dev, text_col=s.get("text_col"), text2_col=s.get("text2_col"),
                              label_col=s.get("label_col"), kind=s.get("kind", "single_label"))
        t0 = time.perf_counter()
        m = pred.score(pred.encode(d.inputs, d.pairs, gold=d.gold))
    ev = {"epoch": round(rep["steps"] / max(1, rep["train_features"] / rep["batch_size"]), 3),
          **{"eval_" + k: v for k, v in m.items()}}
    rep["history"].append(ev)
    rep["best"] = max(rep["history"], key=lambda h: h.get("eval_" + RUNS_SPEC[name][4], float("-inf")))
    rep["rescored"] = f"scored after training by `finetune_results.py rescore {name}` ({time.perf_counter() - t0:.0f} s)"
    (out / "metrics.json").write_text(json.dumps(rep, indent=2) + "\n")
    print(f"{name}: " + ", ".join(f"{k[5:]}={v:.4f}" for k, v in ev.items() if k.startswith("eval_")))


TABLE_START = "<!-- rows: python benchmarks/finetune_results.py report -->"
TABLE_END = "<!-- end of rows -->"
TABLE_HEAD = ["| run | task | train / dev examples | planned epochs (steps run) | best dev result | target | train time | "
              "examples/s | peak RSS |", "|---|---|---|---|---|---|---|---|---|"]


def _row(name: str, r: dict) -> str:
    best = r.get("best") or {}
    res = ", ".join(f"{k[5:]} {100 * v:.2f}" if r["task"] != "qa" and k != "eval_mse" else f"{k[5:]} {v:.2f}"
                    for k, v in best.items() if k.startswith("eval_") and not k.startswith("eval_f1_"))
    finished = "" if r.get("rescored") or r.get("stopped_by_time_budget") else ", all"
    return (f"| {name} | {r['task']} | {r['train_examples']} / {r['dev_examples']} | {r['epochs']:g} "
            f"({r['steps']}{finished}) | {res} (epoch {best.get('epoch')}) | {r['target']} | {r['train_seconds']} s | "
            f"{r['train_examples_per_s']} | {r['peak_rss_mb']} MB |")


def _command_note(name: str, r: dict) -> str:
    note = f"- {name}: `{r['command']}`" + (f" ({r['split']})" if r.get("split") else "")
    if r.get("rescored"):
        note += (f"; this run predates `--budget`: its training was stopped from outside with SIGTERM (the trainer's "
                 f"preemption path) after 19 minutes, at step {r['steps']}, then {r['rescored']}")
    elif r.get("stopped_by_time_budget"):
        note += f"; training stopped by the {r['budget_seconds']:.0f} s budget at step {r['steps']}, then scored"
    return note + "."


def report(path: Path) -> None:
    """Rewrite the rows of the fine-tuning table in docs/results.md (between TABLE_START and TABLE_END) from
    runs/ft-*/metrics.json. A run without a metrics.json here keeps the row already in the file, and the text
    around the table (prose, commands, the speed, memory and NSMC subsections) is never touched. The command
    of each run found is printed, for the commands list. A file without the markers gets a new section."""
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Results\n"
    old_rows = {}
    if TABLE_START in text and TABLE_END in text:
        a, b = text.index(TABLE_START), text.index(TABLE_END)
        for line in text[a:b].splitlines()[1:]:
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > 2 and cells[1] in RUNS_SPEC:
                old_rows[cells[1]] = line
    rows, notes = [], []
    for name in RUNS_SPEC:
        f = RUNS / f"ft-{name}" / "metrics.json"
        if f.is_file():
            r = json.loads(f.read_text())
            rows.append(_row(name, r))
            notes.append(_command_note(name, r))
        else:
            rows.append(old_rows.get(name) or f"| {name} | {RUNS_SPEC[name][0]} | not run | | | {RUNS_SPEC[name][5]} | | | |")
    block = "\n".join([TABLE_START, *TABLE_HEAD, *rows, TABLE_END])
    if TABLE_START in text and TABLE_END in text:
        a, b = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
        text = text[:a] + block + text[b:]
    else:
        text = (text.rstrip("\n") + "\n\n## Fine-tuning\n\nBundled all-MiniLM-L6-v2 fine-tuned on the shared datasets; "
                "metrics are on the dev split named, at the best evaluation (epoch = fraction of an epoch trained).\n\n"
                + block + "\n\nCommands:\n\n" + "\n".join(notes) + "\n")
    path.write_text(text, encoding="utf-8")
    print(block)
    if notes:
        print("\nCommands of the runs found:\n" + "\n".join(notes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", choices=list(RUNS_SPEC) + ["report", "rescore"])
    ap.add_argument("name", nargs="?", help="rescore: the run whose saved model to score on its dev split")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--epochs", type=float)
    ap.add_argument("--max-steps", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--budget", type=float, default=1140.0,
                    help="seconds of training, then stop and score (keeps each run under 20 minutes)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is 3-5x faster than 2 when the 2 cores are shared with other jobs")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.run == "report":
        report(ROOT / "docs" / "results.md")
        return
    if args.run == "rescore":
        rescore(args.name, args.data)
        return
    over = {k: v for k, v in (("epochs", args.epochs), ("max_steps", args.max_steps), ("batch_size", args.batch_size),
                              ("lr", args.lr)) if v is not None}
    over["time_budget"] = args.budget
    run(args.run, args.data, over)


if __name__ == "__main__":
    main()
