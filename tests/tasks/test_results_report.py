"""benchmarks/finetune_results.py report: rewrites the table rows of the runs it finds and nothing else."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_script():
    spec = importlib.util.spec_from_file_location("finetune_results", ROOT / "benchmarks" / "finetune_results.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_rewrites_only_the_rows_of_runs_it_finds(tmp_path, monkeypatch, capsys):
    fr = _load_script()
    runs = tmp_path / "runs"
    (runs / "ft-stsb").mkdir(parents=True)
    metrics = {"task": "regress", "train_examples": 5749, "dev_examples": 1500, "epochs": 3.0, "steps": 540,
               "best": {"eval_pearson": 0.851, "eval_spearman": 0.8462, "eval_mse": 0.61, "epoch": 3},
               "target": "report Spearman", "train_seconds": 700.5, "train_examples_per_s": 24.6, "peak_rss_mb": 2100.0,
               "command": "python benchmarks/finetune_results.py stsb --data ../shared/data", "stopped_by_time_budget": False}
    (runs / "ft-stsb" / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setattr(fr, "RUNS", runs)
    kept = "| sst2 | classify | 66349 / 1000 | 1 (507) | accuracy 88.90 (epoch 0.245) | accuracy >= 88% | 1105.7 s | 14.7 | 1811.6 MB |"
    doc = "\n".join(["# Results", "", "## Fine-tuning", "", "Hand-written prose.", "", fr.TABLE_START, *fr.TABLE_HEAD,
                     kept, "| conll | ner | kept too |", "| squad | qa | and this |", "| stsb | regress | old row |",
                     fr.TABLE_END, "", "Commands:", "", "- by hand", "",
                     "### Fine-tuning speed against transformers' Trainer", "", "a speed table", "",
                     "### NSMC: does pretraining help?", "", "hand-written figures", "", "## Pretraining", "", "more", ""])
    path = tmp_path / "results.md"
    path.write_text(doc)
    fr.report(path)
    got = path.read_text()
    stsb = ("| stsb | regress | 5749 / 1500 | 3 (540, all) | pearson 85.10, spearman 84.62, mse 0.61 (epoch 3) | "
            "report Spearman | 700.5 s | 24.6 | 2100.0 MB |")
    assert got == doc.replace("| stsb | regress | old row |", stsb)  # everything else byte for byte
    assert "not run" not in got and kept in got
    assert "stsb --data ../shared/data" in capsys.readouterr().out  # the command, printed for the commands list


def test_report_starts_a_section_in_a_file_without_one(tmp_path, monkeypatch):
    fr = _load_script()
    monkeypatch.setattr(fr, "RUNS", tmp_path / "no-runs")
    path = tmp_path / "results.md"
    path.write_text("# Results\n\n## Other\n\ntext\n")
    fr.report(path)
    got = path.read_text()
    assert got.startswith("# Results\n\n## Other\n\ntext\n\n## Fine-tuning\n")
    assert fr.TABLE_START in got and "| conll | ner | not run |" in got
    fr.report(path)  # a second report finds its markers and changes nothing
    assert path.read_text() == got
