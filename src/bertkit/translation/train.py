"""Training the Transformer of chapter 1 on a parallel corpus, as one library call:

    report = train_translation(TranslationSpec(src="train.en.txt", tgt="train.de.txt", val_src=..., val_tgt=...,
                                               test_src=..., test_tgt=..., out="runs/en-de", time_budget_min=50))

The recipe: a subword vocabulary trained on the training files (one shared, or one per side), the base Transformer's
architecture at a chosen size (models/marian.py), batches of about max_tokens tokens from sentences of similar
length, label-smoothed cross-entropy, Adam (0.9, 0.98, 1e-9) with the paper's warm-up schedule, all on the one
Trainer; after each epoch the validation BLEU (greedy by default) decides which model is kept in OUT/best, and at
the end the test set is translated by beam search and scored by sacrebleu.
"""
from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError, warn
from bertkit.translation.data import (
    BatchedPairs,
    PairCollator,
    collate_pairs,
    encode_pairs,
    read_parallel,
    token_batches,
)
from bertkit.translation.translator import TARGET_TOKENIZER, Translator, bleu, settings_from

TOKENIZER_ALGOS = ("bytebpe", "unigram", "spbpe")
RUN_FILE = "run.json"
RESULTS_FILE = "results.json"


@dataclass
class TranslationSpec:
    """Everything `bertkit train-translation` takes."""

    src: str | Path
    tgt: str | Path
    out: str | Path
    val_src: str | Path | None = None
    val_tgt: str | Path | None = None
    test_src: str | Path | None = None
    test_tgt: str | Path | None = None
    source_lang: str | None = None
    target_lang: str | None = None
    tokenizer: str | Path | None = None   # a tokenizer folder to use (with target_tokenizer/ for two vocabularies)
    separate_vocab: bool = False          # train one vocabulary per side instead of one shared
    vocab_size: int = 8000
    tokenizer_algo: str = "bytebpe"
    d_model: int = 256
    layers: int = 3
    decoder_layers: int | None = None
    heads: int = 4
    ffn: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation: str = "relu"
    label_smoothing: float = 0.1
    max_tokens: int = 4096                # per batch: rows x (longest source + longest target)
    max_length: int = 128                 # longer training pairs are left out (with a warning)
    epochs: float | None = 10.0
    steps: int | None = None              # optimizer steps instead of epochs
    time_budget_min: float | None = None  # stop training after this many minutes of wall-clock time
    lr: float = 1.0                       # the scale of the warm-up schedule (the paper: 1)
    warmup: int = 4000
    adam_betas: tuple[float, float] = (0.9, 0.98)
    adam_eps: float = 1e-9
    clip_norm: float | None = None
    weight_decay: float = 0.0
    grad_accum: int = 1
    precision: str = "fp32"
    eval_beams: int = 1                   # decoding for the per-epoch validation BLEU (1: greedy, fast)
    eval_every: int | None = None         # optimizer steps between evaluations (None: every epoch)
    beams: int = 5                        # decoding for the test BLEU and the saved model's default
    length_penalty: float = 1.0
    batch_size: int = 64                  # sentences per batch when translating validation and test sets
    seed: int = 0
    log_every: int = 10
    resume: bool = False
    progress: bool = True


def check_spec(spec: TranslationSpec) -> None:
    """Raise InputError naming the first value out of range."""
    if spec.tokenizer_algo not in TOKENIZER_ALGOS:
        raise InputError(f"--tokenizer-algo must be one of {', '.join(TOKENIZER_ALGOS)}, got {spec.tokenizer_algo!r}")
    for name in ("vocab_size", "d_model", "layers", "heads", "ffn", "max_tokens", "max_length", "warmup",
                 "eval_beams", "beams", "batch_size", "grad_accum"):
        v = getattr(spec, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name} must be an integer >= 1, got {v!r}")
    if spec.d_model % spec.heads:
        raise InputError(f"d_model {spec.d_model} is not divisible by heads {spec.heads}")
    if (spec.val_src is None) != (spec.val_tgt is None) or (spec.test_src is None) != (spec.test_tgt is None):
        raise InputError("give validation and test sets as pairs of files: --val-src with --val-tgt, --test-src "
                         "with --test-tgt")
    if spec.steps is None and spec.epochs is None:
        raise InputError("give epochs or steps")
    if spec.time_budget_min is not None and not spec.time_budget_min > 0:
        raise InputError(f"time_budget_min must be > 0, got {spec.time_budget_min}")
    if not 0.0 <= spec.dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {spec.dropout}")


def _run_args(spec: TranslationSpec) -> dict[str, Any]:
    """The arguments a resumed run must repeat (not the time budget, progress bars or resume itself)."""
    d = asdict(spec)
    for k in ("resume", "progress", "time_budget_min", "log_every", "batch_size", "out"):
        d.pop(k)
    return json.loads(json.dumps(d, default=str))


def _tokenizers(spec: TranslationSpec, folder: Path, resume: bool):
    """(source tokenizer, target tokenizer or None when shared): the given folder's, a resumed run's, or new ones
    trained on the training files; kept in `folder` so a resumed run encodes exactly as before."""
    from bertkit.tokenizers import Tokenizer
    from bertkit.tokenizers.train import train_tokenizer

    def load(path: Path):
        src = Tokenizer.from_pretrained(path)
        tgt = Tokenizer.from_pretrained(path / TARGET_TOKENIZER) if (path / TARGET_TOKENIZER).is_dir() else None
        return src, tgt

    if resume and folder.is_dir():
        return load(folder)
    if spec.tokenizer is not None:
        src, tgt = load(Path(spec.tokenizer))
    elif spec.separate_vocab:
        src = train_tokenizer([spec.src], spec.tokenizer_algo, spec.vocab_size)
        tgt = train_tokenizer([spec.tgt], spec.tokenizer_algo, spec.vocab_size)
    else:
        src, tgt = train_tokenizer([spec.src, spec.tgt], spec.tokenizer_algo, spec.vocab_size), None
    shutil.rmtree(folder, ignore_errors=True)
    src.save_pretrained(folder)
    if tgt is not None:
        tgt.save_pretrained(folder / TARGET_TOKENIZER)
    return src, tgt


def build_model(spec: TranslationSpec, src_tok, tgt_tok, settings):
    """A new Transformer at spec's sizes for these vocabularies, with the Transformer's initialisation."""
    from bertkit.models.marian import init_transformer_weights, transformer_config
    from bertkit.models.seq2seq import TRANSFORMER_LAYOUT, Seq2SeqLM

    tgt = tgt_tok or src_tok
    pad = src_tok.pad_token_id
    if pad is None or tgt.pad_token_id != pad:
        raise InputError(f"source and target tokenizers need the same padding id, got {pad} and {tgt.pad_token_id}")
    start = tgt.bos_token_id if tgt.bos_token_id is not None else pad
    cfg = transformer_config(src_tok.vocab_size, decoder_vocab_size=None if tgt_tok is None else tgt_tok.vocab_size,
                             d_model=spec.d_model, layers=spec.layers, decoder_layers=spec.decoder_layers,
                             heads=spec.heads, ffn=spec.ffn, dropout=spec.dropout,
                             attention_dropout=spec.attention_dropout, max_positions=max(256, 2 * spec.max_length + 16),
                             activation=spec.activation, pad_token_id=pad, eos_token_id=settings.eos_token_id,
                             decoder_start_token_id=start, bos_token_id=tgt.bos_token_id)
    torch.manual_seed(spec.seed)
    model = Seq2SeqLM(cfg, "lm", TRANSFORMER_LAYOUT)
    init_transformer_weights(model)
    return model


def corpus_nll(model, data: BatchedPairs, pad_id: int) -> float:
    """Mean negative log-likelihood per target token (nats) over every pair of `data` (teacher forcing)."""
    from bertkit.objectives.seq2seq import label_smoothed_nll

    total, n = 0.0, 0
    with torch.no_grad():
        for k in range(len(data)):
            batch = collate_pairs(data[k], pad_id)
            logits = model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"]).logits
            total += float(label_smoothed_nll(logits.flatten(0, 1), batch["labels"].flatten(), 0.0)[1])
            n += int(batch["num_items"])
    return total / max(n, 1)


def _start(out: Path, run: dict[str, Any], resume: bool) -> None:
    from bertkit.resumable import differences
    from bertkit.training.checkpoint import latest_checkpoint

    if resume:
        if latest_checkpoint(out) is None:
            raise InputError(f"{out} has no checkpoint to resume; start without --resume")
        try:
            before = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{out / RUN_FILE} is missing or unreadable: cannot check that the run to resume had "
                             "the same arguments") from None
        diff = differences(before, run)
        if diff:
            raise InputError("--resume continues a run with the same arguments; these differ: " + "; ".join(diff))
        return
    if latest_checkpoint(out) is not None:
        warn(f"{out} holds an earlier run ({latest_checkpoint(out).name}); starting over. Pass --resume to "
             "continue it instead")
    for name in ("checkpoints", "best", "tokenizer", "log.jsonl"):
        p = out / name
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / RUN_FILE).write_text(json.dumps(run, indent=2) + "\n", encoding="utf-8")


def cpu_name() -> str:
    """The CPU's model name (lscpu's), for reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _curve(log: Path, per_epoch: int) -> list[dict[str, float]]:
    rows = []
    if log.is_file():
        for line in log.read_text().splitlines():
            r = json.loads(line)
            if "val_bleu" in r:
                rows.append({"step": r["step"], "epoch": round(r["step"] / per_epoch, 3), "val_bleu": r["val_bleu"],
                             "val_nll": r.get("val_nll"), "wall_s": r.get("wall_s")})
    return rows


def train_translation(spec: TranslationSpec) -> dict[str, Any]:
    """Train, keep the best model by validation BLEU in OUT/best (the final one in OUT), translate the test set with
    beam search and score it. Returns the report also written to OUT/results.json."""
    from bertkit.objectives.seq2seq import LabelSmoothedCrossEntropy
    from bertkit.training.trainer import TrainConfig, Trainer

    check_spec(spec)
    t_start = time.perf_counter()
    out = Path(spec.out)
    train_pairs = read_parallel(spec.src, spec.tgt)
    val_pairs = read_parallel(spec.val_src, spec.val_tgt) if spec.val_src is not None else None
    test_pairs = read_parallel(spec.test_src, spec.test_tgt) if spec.test_src is not None else None
    if val_pairs is not None or test_pairs is not None:
        from bertkit.translation.translator import _sacrebleu

        _sacrebleu()  # fail before training, not after it
    run = _run_args(spec)
    _start(out, run, spec.resume)
    src_tok, tgt_tok = _tokenizers(spec, out / "tokenizer", spec.resume)
    settings = settings_from(tgt_tok or src_tok, source_lang=spec.source_lang, target_lang=spec.target_lang,
                             num_beams=spec.beams, length_penalty=spec.length_penalty, max_length=spec.max_length)
    model = build_model(spec, src_tok, tgt_tok, settings)
    translator = Translator(model, src_tok, tgt_tok, settings)
    pad = model.config.pad_token_id
    train = encode_pairs(train_pairs, src_tok, tgt_tok or src_tok, settings.eos_token_id, spec.max_length)
    data = BatchedPairs(train, token_batches(train, spec.max_tokens, spec.seed))
    per_epoch = max(1, len(data) // spec.grad_accum)

    eval_fn = None
    if val_pairs is not None:
        val = encode_pairs(val_pairs, src_tok, tgt_tok or src_tok, settings.eos_token_id, 10 ** 9, "validation")
        val_data = BatchedPairs(val, token_batches(val, spec.max_tokens))
        val_src, val_ref = [p[0] for p in val_pairs], [p[1] for p in val_pairs]

        def eval_fn(m) -> dict[str, float]:
            hyps = translator.translate(val_src, num_beams=spec.eval_beams, batch_size=spec.batch_size)
            return {"val_bleu": bleu(hyps, val_ref)[0], "val_nll": corpus_nll(m, val_data, pad),
                    "wall_s": time.perf_counter() - t_start}

    cfg = TrainConfig(out_dir=out, lr=spec.lr, warmup_steps=spec.warmup, schedule="noam",
                      schedule_d_model=spec.d_model, max_steps=spec.steps, epochs=None if spec.steps else spec.epochs,
                      max_time_s=None if spec.time_budget_min is None else 60.0 * spec.time_budget_min,
                      batch_size=1, grad_accum=spec.grad_accum, clip_norm=spec.clip_norm,
                      weight_decay=spec.weight_decay, adam_betas=spec.adam_betas, adam_eps=spec.adam_eps,
                      precision=spec.precision, eval_every=(spec.eval_every or per_epoch) if eval_fn else None,
                      save_every=spec.eval_every or per_epoch, log_every=spec.log_every,
                      best_metric="val_bleu" if eval_fn else None, greater_is_better=True, seed=spec.seed,
                      progress=spec.progress)
    trainer = Trainer(model, LabelSmoothedCrossEntropy(spec.label_smoothing), data, config=cfg,
                      collate_fn=PairCollator(pad), eval_fn=eval_fn, save_fn=lambda m, p: translator.save(p))
    fit = trainer.fit(resume=spec.resume)
    t_train = time.perf_counter() - t_start
    report: dict[str, Any] = {
        "steps": fit["step"], "epochs": round(fit["step"] / per_epoch, 3), "train_pairs": len(train),
        "batches_per_epoch": per_epoch, "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "out_of_time": fit.get("out_of_time", False), "interrupted": fit.get("interrupted", False),
        "train_wall_s": round(t_train, 1), "cpu": cpu_name(), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "curve": _curve(out / "log.jsonl", per_epoch),
        "best_val_bleu": fit.get("best_val_bleu"), "tokenizer_vocab": [src_tok.vocab_size] +
        ([tgt_tok.vocab_size] if tgt_tok is not None else []),
    }
    if test_pairs is not None and not fit.get("interrupted"):
        folder = out / "best" if (out / "best" / "config.json").is_file() else out
        best = Translator.load(folder)
        t0 = time.perf_counter()
        hyps = best.translate([p[0] for p in test_pairs], num_beams=spec.beams, length_penalty=spec.length_penalty,
                              batch_size=spec.batch_size, progress=spec.progress)
        score, signature = bleu(hyps, [p[1] for p in test_pairs])
        (out / "test.hyp.txt").write_text("\n".join(hyps) + "\n", encoding="utf-8")
        report.update(test_bleu=score, test_model=str(folder), test_beams=spec.beams,
                      test_length_penalty=spec.length_penalty, bleu_signature=signature,
                      test_translate_s=round(time.perf_counter() - t0, 1))
    (out / RESULTS_FILE).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report
