"""TLM's gain (chapter 7, XLM): two small XLMs on the same text, one with MLM only, one with MLM+TLM.

    python benchmarks/multilingual_results.py --data ../shared/data --out /work/runs/tlm/results \
        [--hidden 256 --layers 4 --heads 4] [--steps 700] [--batch-size 64] [--max-length 64] [--vocab 12000] [--lr 1e-3]

One run: a WordPiece vocabulary for en, de and ko trained on an exponentially smoothed sample (alpha = 0.5) of the
training text; then `bertkit pretrain --arch xlm` twice with the same size, steps, batch, learning rate and seed:

- MLM:      --objective mlm      on the monolingual streams en, de, ko;
- MLM+TLM:  --objective mlm+tlm  on the same streams plus the en-de and en-ko pairs they were cut from.

Training text: Multi30k train (29k en-de pairs) and the en-ko pairs of korean-english-park dev + test and
jhe-koen-dev (3.7k). The monolingual streams are the two sides of exactly these pairs, so both models see the same
sentences; TLM only adds which sentence translates which. Nothing below is trained on: Multi30k val (layer choice),
Multi30k test 2016 flickr, JHE eval and STS-B dev (the figures).

Sentence vector: mean of one layer's token states, every token tagged with the sentence's language
(`TextEncoder.embed(lang=...)`). The layer is chosen per model as the best mean de<->en retrieval@1 on Multi30k val,
never on a test set. Figures: retrieval@1 (the translation ranked first among all candidates by cosine) en->ko,
ko->en on JHE eval (720), de->en, en->de on Multi30k test 2016 (1000), and cross-lingual STS en-de (Spearman of the
cosine of English sentence1 and German sentence2 against the gold score, STS-B dev of stsb-multi-mt).
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import bertkit
from bertkit.embed.distill_multilingual import read_parallel
from bertkit.embed.evaluate import cross_lingual, paired_cosine, read_sts, retrieval_metrics, spearman
from bertkit.embed.search import cosine_top_k
from bertkit.hardware import resolve_precision
from bertkit.tokenizers.multilingual import train_multilingual
from bertkit.training.pretrain import PretrainSpec, pretrain

LANGS = ["en", "de", "ko"]
ENKO_TRAIN = ["korean-english-park.dev", "korean-english-park.test", "jhe-koen-dev"]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def write_training_text(data: Path, out: Path, enko_repeat: int = 1) -> dict[str, Path]:
    """The training pairs as files: en-de (Multi30k train), en-ko (the three sets joined, `enko_repeat` times) and
    one monolingual file per language holding exactly those sentences' sides."""
    out.mkdir(parents=True, exist_ok=True)
    m30k = read_parallel(data / "multi30k_en_de" / "train.en.txt", data / "multi30k_en_de" / "train.de.txt")
    enko = [p for name in ENKO_TRAIN for p in read_parallel(data / "parallel_en_ko" / f"{name}.en.txt",
                                                              data / "parallel_en_ko" / f"{name}.ko.txt")]
    enko = enko * enko_repeat  # the small pair upsampled for both models alike (XLM's smoothed sampling)
    files = {"para_ende.en": [e for e, _ in m30k], "para_ende.de": [d for _, d in m30k],
             "para_enko.en": [e for e, _ in enko], "para_enko.ko": [k for _, k in enko]}
    files["mono.en"] = files["para_ende.en"] + files["para_enko.en"]
    files["mono.de"] = files["para_ende.de"]
    files["mono.ko"] = files["para_enko.ko"]
    paths = {}
    for name, lines in files.items():
        paths[name] = out / name
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"training text: {len(m30k)} en-de pairs, {len(enko)} en-ko pairs; monolingual en {len(files['mono.en'])}, "
          f"de {len(files['mono.de'])}, ko {len(files['mono.ko'])} sentences", flush=True)
    return paths


def embed_layers(enc, texts: list[str], lang: str) -> np.ndarray:
    """Mean-pooled vectors of every layer h_0..h_L: (L+1, N, H)."""
    n = enc.model.config.num_layers + 1
    flat = enc.embed(texts, pooling="mean", layers=list(range(n)), combine="concat", batch_size=64, lang=lang,
                     show_progress=False)
    return flat.reshape(len(texts), n, -1).transpose(1, 0, 2)


def retrieval_at_1(q: np.ndarray, c: np.ndarray) -> float:
    """Row i of q should find row i of c first."""
    _, idx = cosine_top_k(q, c, 1)
    return retrieval_metrics(idx, [{i} for i in range(len(q))], ks=(1,))["recall@1"]


def evaluate(model_dir: Path, data: Path) -> dict:
    enc = bertkit.load(model_dir)
    val = read_parallel(data / "multi30k_en_de" / "val.de.txt", data / "multi30k_en_de" / "val.en.txt")
    v_de, v_en = embed_layers(enc, [d for d, _ in val], "de"), embed_layers(enc, [e for _, e in val], "en")
    scan = [{"layer": layer, "de->en": retrieval_at_1(v_de[layer], v_en[layer]),
             "en->de": retrieval_at_1(v_en[layer], v_de[layer])} for layer in range(len(v_de))]
    best = max(scan, key=lambda r: (r["de->en"] + r["en->de"]) / 2)["layer"]
    print(f"{model_dir.name}: Multi30k val retrieval@1 per layer (de->en / en->de): "
          + ", ".join(f"h{r['layer']} {r['de->en']:.3f}/{r['en->de']:.3f}" for r in scan) + f"; chosen h{best}",
          flush=True)
    figs: dict[str, float] = {}
    jhe = read_parallel(data / "parallel_en_ko" / "jhe-koen-eval.en.txt", data / "parallel_en_ko" / "jhe-koen-eval.ko.txt")
    en, ko = embed_layers(enc, [e for e, _ in jhe], "en")[best], embed_layers(enc, [k for _, k in jhe], "ko")[best]
    figs["retrieval@1 en->ko (JHE eval, 720)"] = retrieval_at_1(en, ko)
    figs["retrieval@1 ko->en (JHE eval, 720)"] = retrieval_at_1(ko, en)
    m30k = read_parallel(data / "multi30k_en_de" / "test_2016_flickr.de.txt",
                         data / "multi30k_en_de" / "test_2016_flickr.en.txt")
    de, en = embed_layers(enc, [d for d, _ in m30k], "de")[best], embed_layers(enc, [e for _, e in m30k], "en")[best]
    figs["retrieval@1 de->en (Multi30k test 2016, 1000)"] = retrieval_at_1(de, en)
    figs["retrieval@1 en->de (Multi30k test 2016, 1000)"] = retrieval_at_1(en, de)
    sts = cross_lingual(read_sts(data / "stsb" / "stsb-en-dev.csv"), read_sts(data / "stsb" / "stsb-de-dev.csv"))
    a = embed_layers(enc, sts.sentences1, "en")[best]
    b = embed_layers(enc, sts.sentences2, "de")[best]
    figs[f"STS en-de cross-lingual (Spearman, STS-B dev, {len(sts)})"] = spearman(paired_cosine(a, b), sts.scores)
    return {"layer": best, "val_scan": scan, "figures": figs,
            "chance": {"retrieval@1 en->ko (JHE eval, 720)": 1 / len(jhe),
                       "retrieval@1 ko->en (JHE eval, 720)": 1 / len(jhe),
                       "retrieval@1 de->en (Multi30k test 2016, 1000)": 1 / len(m30k),
                       "retrieval@1 en->de (Multi30k test 2016, 1000)": 1 / len(m30k),
                       f"STS en-de cross-lingual (Spearman, STS-B dev, {len(sts)})": 0.0}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("/work/runs/tlm/results"))
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=12000)
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=70)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"],
                    help="training precision of both arms (auto: bf16 where the CPU multiplies it natively)")
    ap.add_argument("--enko-repeat", type=int, default=1,
                    help="repeat the 3.7k en-ko pairs (and so their monolingual sides) this many times, for both "
                         "models: 3 gives the en-ko pairs about the share alpha = 0.5 sampling of the two pairs would")
    ap.add_argument("--arms", default="mlm,mlm+tlm", help="objectives to train (default both)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    paths = write_training_text(a.data, a.out / "text", a.enko_repeat)
    tok, sample = train_multilingual({x: paths[f"mono.{x}"] for x in LANGS}, "wordpiece", a.vocab, alpha=0.5,
                                     seed=a.seed)
    print(sample.format(), flush=True)
    tok.save_pretrained(a.out / "tokenizer")
    tok_s = time.time() - t0
    size = a.out / "size.json"
    size.write_text(json.dumps({"hidden_size": a.hidden, "num_layers": a.layers, "num_heads": a.heads}))
    corpus = [f"{x}={paths[f'mono.{x}']}" for x in LANGS]
    parallel = [paths["para_ende.en"], paths["para_ende.de"], paths["para_enko.en"], paths["para_enko.ko"]]
    results: dict = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(a).items()}, "tokenizer_s": tok_s,
        "sampling": {"alpha": sample.alpha, "p": sample.p, "q": sample.q, "sampled": sample.sampled}, "arms": {},
        "precision": resolve_precision(a.precision, warn=False)}  # pretrain() warns where bf16 is emulated
    for arm in a.arms.split(","):
        out = a.out / arm.replace("+", "_")
        spec = PretrainSpec(arch="xlm", objective=arm, langs=LANGS, tokenizer=a.out / "tokenizer", corpus=corpus,
                            parallel=parallel if "tlm" in arm else None, size=str(size), max_length=a.max_length,
                            steps=a.steps, batch_size=a.batch_size, lr=a.lr, warmup=a.warmup, precision=a.precision,
                            seed=a.seed, out=out, log_every=50, progress=not a.no_progress)
        t = time.time()
        metrics = pretrain(spec)
        train_s = time.time() - t
        print(f"{arm}: {metrics['train_examples']} examples, {a.steps} steps in {train_s:.0f} s, "
              f"final loss {metrics['loss']:.3f}", flush=True)
        t = time.time()
        ev = evaluate(out, a.data)
        results["arms"][arm] = {"train_s": train_s, "eval_s": time.time() - t, "train_examples":
                                metrics["train_examples"], "final_loss": metrics["loss"], **ev}
        (a.out / "results.json").write_text(json.dumps(results, indent=1))
    if {"mlm", "mlm+tlm"} <= set(results["arms"]):
        m, t = results["arms"]["mlm"], results["arms"]["mlm+tlm"]
        lines = [(f"CPU: {results['cpu']}, {results['torch_threads']} threads, {results['precision']}; "
                 f"XLM {a.layers} layers x {a.hidden} hidden, {a.heads} heads, vocab {tok.vocab_size}; "
                 f"{a.steps} steps x batch {a.batch_size}, max length {a.max_length}, lr {a.lr}, "
                 f"seed {a.seed}"),
                 (f"layer (chosen on Multi30k val): MLM h{m['layer']}, MLM+TLM h{t['layer']}; training "
                 f"{m['train_s'] / 60:.1f} / {t['train_s'] / 60:.1f} min"), "",
                 "| figure | chance | MLM | MLM+TLM | gain |", "|---|---:|---:|---:|---:|"]
        for name, mv in m["figures"].items():
            tv = t["figures"][name]
            lines.append(f"| {name} | {m['chance'][name]:.4f} | {mv:.4f} | {tv:.4f} | {tv - mv:+.4f} |")
        table = "\n".join(lines)
        print("\n" + table)
        (a.out / "table.md").write_text(table + "\n")
        results["tlm_beats_mlm_everywhere"] = all(t["figures"][k] > v for k, v in m["figures"].items())
    results["total_s"] = time.time() - t0
    (a.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
