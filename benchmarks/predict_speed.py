"""Classifier inference: bertkit `Predictor.predict` vs transformers on the same fine-tuned checkpoint.

A classifier is fine-tuned from the bundled MiniLM for a few steps on the first rows of a labelled file (its
accuracy is beside the point: both contenders load the very same folder, config.json + model.safetensors).
Then every text of `--texts` is classified by
- bertkit: `Predictor.predict(texts)` (precision auto: bf16 fused blocks, one batch per core, on AMX CPUs),
- transformers: `AutoModelForSequenceClassification` in batches of `--batch-size`, fp32 and bf16 autocast,
  texts in file order, padded per batch (what a user's loop does); the `pipeline` wrapper is slower still.
Rounds alternate between contenders; medians are compared. Agreement: share of identical predicted labels
and the largest probability difference against transformers fp32.

    python benchmarks/predict_speed.py --train ../shared/data/sst2/train.tsv --texts ../shared/data/sst2/dev_from_train.tsv \
        [--text-col sentence] [--label-col label] [--rounds 3] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", required=True, type=Path, help="labelled CSV/TSV: a few rows make the checkpoint")
    ap.add_argument("--texts", required=True, type=Path, help="CSV/TSV whose text column is classified")
    ap.add_argument("--text-col", default="sentence")
    ap.add_argument("--label-col", default="label")
    ap.add_argument("--model", default=None, help="base checkpoint (default: the bundled MiniLM)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    a = ap.parse_args()

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import bertkit
    from bertkit.tasks.files import read_task_file

    texts = read_task_file("classify", a.texts, kind="single_label", text_col=a.text_col,
                           label_col=a.label_col)[0].inputs
    with tempfile.TemporaryDirectory() as d:
        small = Path(d) / "train.tsv"
        lines = a.train.read_text(encoding="utf-8").splitlines()
        small.write_text("\n".join(lines[:513]) + "\n", encoding="utf-8")
        bertkit.finetune("classify", train=small, model=a.model, text_col=a.text_col, label_col=a.label_col,
                                max_steps=16, batch_size=32, max_length=a.max_length, out=Path(d) / "clf",
                                progress=False)
        pred = bertkit.Predictor.load(Path(d) / "clf")
        hf_tok = AutoTokenizer.from_pretrained(Path(d) / "clf")
        hf = AutoModelForSequenceClassification.from_pretrained(Path(d) / "clf").eval()

        def run_hf(bf16: bool) -> np.ndarray:
            out = []
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                for i in range(0, len(texts), a.batch_size):
                    enc = hf_tok(texts[i:i + a.batch_size], padding=True, truncation=True,
                                 max_length=a.max_length, return_tensors="pt")
                    out.append(torch.softmax(hf(**enc).logits.float(), -1).numpy())
            return np.concatenate(out)

        def run_bertkit() -> np.ndarray:
            res = pred.predict(texts)
            return np.array([[r["probabilities"][k] for k in pred.labels] for r in res])

        runs = {"transformers fp32": lambda: run_hf(False), "transformers bf16": lambda: run_hf(True),
                "bertkit auto": run_bertkit}
        times: dict[str, list[float]] = {k: [] for k in runs}
        probs: dict[str, np.ndarray] = {}
        for name, fn in runs.items():  # warm-up (oneDNN kernels, bertkit's fused copy)
            probs[name] = fn()
        for _ in range(a.rounds):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    ref = probs["transformers fp32"]
    print(f"{len(texts)} texts from {a.texts}, batch {a.batch_size}, max length {a.max_length}, "
          f"{torch.get_num_threads()} threads, {a.rounds} rounds (median)")
    rate = {k: len(texts) / statistics.median(v) for k, v in times.items()}
    for name in runs:
        same = float((probs[name].argmax(1) == ref.argmax(1)).mean())
        diff = float(np.abs(probs[name] - ref).max())
        print(f"{name:<18} {rate[name]:8.1f} texts/s   same label as transformers fp32: {same:.4f}   "
              f"max |p - p_fp32| {diff:.2e}")
    print(f"bertkit auto / transformers fp32: {rate['bertkit auto'] / rate['transformers fp32']:.2f}x; "
          f"/ transformers bf16: {rate['bertkit auto'] / rate['transformers bf16']:.2f}x")


if __name__ == "__main__":
    main()
