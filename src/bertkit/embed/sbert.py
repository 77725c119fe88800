"""Sentence-BERT fine-tuning on the shared Trainer: a siamese bi-encoder with one of four objectives.

    train_sbert("base-folder", "stsb-en-train.csv", "runs/sbert", objective="regression",
                config=TrainConfig(out_dir="runs/sbert", epochs=1, batch_size=16, lr=2e-5),
                dev_file="stsb-en-dev.csv")

Every side of an example (sentence a, b, and for triplets c) goes through the same encoder weights and is
pooled (mean / cls / max) into one vector; the objective's loss module (embed/losses.py) compares them. The
result is a checkpoint folder in the sentence-transformers layout (modules.json, 1_Pooling), loadable by
`bertkit.load` and by sentence-transformers alike.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from bertkit.embed.losses import (OBJECTIVES, CosineRegressionLoss, MultipleNegativesRankingLoss, SoftmaxLoss,
                                  TripletLoss)
from bertkit.errors import InputError
from bertkit.nn.pooling import pool

NLI_LABELS = {"contradiction": 0, "entailment": 1, "neutral": 2}  # the SBERT paper's label ids
SBERT_POOLINGS = ("mean", "cls", "max")


@dataclass
class Example:
    """One training example: 2 or 3 texts and, for softmax/regression, a label (class id or score in [0, 1])."""

    texts: tuple[str, ...]
    label: float | int | None = None


# ---- reading training files ----------------------------------------------------------------------------
def _tsv_rows(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not valid UTF-8 (byte {e.start})") from None
    rows = csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [r for r in rows if r and any(c.strip() for c in r)]


def read_examples(path: str | Path, objective: str, score_scale: float = 5.0) -> list[Example]:
    """Training examples for `objective` from a file:

    - regression: any STS file `read_sts` reads (stsb csv, KorSTS tsv, ...); scores divided by `score_scale`;
    - softmax: tsv `sentence1<TAB>sentence2<TAB>label` (header with sentence1/sentence2/gold_label or label
      allowed); labels entailment/neutral/contradiction or integers;
    - triplet: tsv `anchor<TAB>positive<TAB>negative`;
    - mnrl: tsv `anchor<TAB>positive[<TAB>hard negative]`.
    """
    from bertkit.embed.evaluate import read_sts

    path = Path(path)
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    if not path.is_file():
        raise InputError(f"training file not found: {path}")
    if objective == "regression":
        d = read_sts(path)
        if score_scale <= 0:
            raise InputError(f"score_scale must be > 0, got {score_scale}")
        return [Example((a, b), s / score_scale) for a, b, s in zip(d.sentences1, d.sentences2, d.scores)]
    rows = _tsv_rows(path)
    if not rows:
        raise InputError(f"{path} holds no rows")
    header = [c.strip().lower() for c in rows[0]]
    cols: list[int] = list(range(len(rows[0])))
    body, first = rows, 1
    if "sentence1" in header and "sentence2" in header:
        label_col = next((header.index(n) for n in ("gold_label", "label") if n in header), None)
        cols = [header.index("sentence1"), header.index("sentence2")] + ([label_col] if label_col is not None else [])
        body, first = rows[1:], 2
    elif header[:2] == ["anchor", "positive"]:
        body, first = rows[1:], 2
    need = 3 if objective in ("softmax", "triplet") else 2
    out: list[Example] = []
    for n, r in enumerate(body, first):
        vals = [r[c] if c < len(r) else "" for c in cols]
        if len(r) < need or len(vals) < need:
            raise InputError(f"{path}: row {n} has {len(r)} columns; the {objective} objective needs {need}")
        if objective == "softmax":
            lab = vals[2].strip().lower()
            if lab in NLI_LABELS:
                label = NLI_LABELS[lab]
            elif lab.isdigit():
                label = int(lab)
            else:
                raise InputError(f"{path}: row {n}: label {vals[2]!r} is neither an NLI label "
                                 f"{sorted(NLI_LABELS)} nor an integer")
            out.append(Example((vals[0], vals[1]), label))
        elif objective == "triplet":
            out.append(Example((vals[0], vals[1], vals[2])))
        else:
            out.append(Example(tuple(vals[:3]) if len(vals) >= 3 and vals[2] else (vals[0], vals[1])))
    if objective == "mnrl" and len({len(e.texts) for e in out}) > 1:
        raise InputError(f"{path}: mnrl rows must all have a hard negative or none")
    return out


# ---- batches --------------------------------------------------------------------------------------------
SIDE_KEYS = (("input_ids", "attention_mask"), ("input_ids_b", "attention_mask_b"),
             ("input_ids_c", "attention_mask_c"))


@dataclass
class SbertCollator:
    """Tokenises each side of a list of Examples into padded tensors (side a under the plain names)."""

    tokenizer: object
    max_length: int = 128

    def __call__(self, examples: list[Example]) -> dict[str, torch.Tensor]:
        n_sides = len(examples[0].texts)
        batch: dict[str, torch.Tensor] = {}
        for s in range(n_sides):
            enc = self.tokenizer([e.texts[s] for e in examples], max_length=self.max_length, truncation=True,
                                 padding=True, return_tensors="pt")
            ids_key, mask_key = SIDE_KEYS[s]
            batch[ids_key], batch[mask_key] = enc["input_ids"], enc["attention_mask"]
        if examples[0].label is not None:
            dtype = torch.long if isinstance(examples[0].label, int) else torch.float32
            batch["labels"] = torch.tensor([e.label for e in examples], dtype=dtype)
        return batch


# ---- the objective --------------------------------------------------------------------------------------
def build_loss(objective: str, dim: int, num_labels: int = 3, mnrl_scale: float = 20.0,
               triplet_margin: float = 1.0) -> nn.Module:
    """The loss module of an objective name (see embed/losses.py for each formula)."""
    if objective == "softmax":
        return SoftmaxLoss(dim, num_labels)
    if objective == "regression":
        return CosineRegressionLoss()
    if objective == "triplet":
        return TripletLoss(triplet_margin)
    if objective == "mnrl":
        return MultipleNegativesRankingLoss(mnrl_scale)
    raise InputError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")


class SbertObjective(nn.Module):
    """objective(model, batch) -> {"loss"}: embeds every side with the one shared model, then applies the loss.

    An nn.Module so that the Trainer optimises the loss's own weights (the softmax classifier W) too.
    """

    def __init__(self, loss: nn.Module, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in SBERT_POOLINGS:
            raise InputError(f"unknown pooling {pooling!r} for SBERT; expected one of {SBERT_POOLINGS}")
        self.loss, self.pooling = loss, pooling

    def embed(self, model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return pool(model(ids, mask).last_hidden_state, mask, self.pooling)  # (B, H)

    def forward(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        sides = [self.embed(model, batch[i], batch[m]) for i, m in SIDE_KEYS if i in batch]
        if isinstance(self.loss, (SoftmaxLoss, CosineRegressionLoss)):
            return {"loss": self.loss(sides[0], sides[1], batch["labels"])}
        return {"loss": self.loss(*sides)}


# ---- saving and training --------------------------------------------------------------------------------
@dataclass
class SbertSaver:
    """save_fn for the Trainer: HF checkpoint + tokenizer + sentence-transformers files (pooling, max length)."""

    tokenizer: object
    pooling: str
    max_length: int
    normalize: bool = False

    def __call__(self, model: nn.Module, path: Path) -> None:
        from bertkit.embed.st_folder import write_st_files
        from bertkit.hub import save_pretrained

        save_pretrained(model, path, tokenizer=self.tokenizer)
        write_st_files(path, self.pooling, model.config.hidden_size, self.max_length, normalize=self.normalize)


@dataclass
class SbertRun:
    """What train_sbert did: the trainer's final metrics and, with a dev file, STS dev figures before training and
    of the model written (`dev_after`: the best dev Spearman of every evaluation, the starting model's included);
    `best_step` is the step that model comes from (0: the starting model) and `dev_last` the last step's figures
    when they are not the ones kept."""

    metrics: dict
    dev_before: dict | None = None
    dev_after: dict | None = None
    out_dir: Path = field(default_factory=Path)
    best_step: int | None = None
    dev_last: dict | None = None


def train_sbert(model: str | Path | None, train_file: str | Path, objective: str, config, *,
                pooling: str | None = None, dev_file: str | Path | None = None, max_length: int = 128,
                score_scale: float = 5.0, num_labels: int | None = None, mnrl_scale: float = 20.0,
                triplet_margin: float = 1.0, resume: bool = False,
                train_examples: Sequence[Example] | None = None) -> SbertRun:
    """Fine-tune `model` (a checkpoint folder; None = bundled MiniLM) as a Sentence-BERT bi-encoder.

    config: a training.TrainConfig (out_dir, epochs/max_steps, batch_size, lr, ...). With `dev_file` (an STS
    file) the STS dev Spearman is measured before training, every `config.eval_every` steps (default: once per
    epoch) and at the end; the best state so far is kept under out_dir/best, and config.out_dir receives the
    best of them all, as `finetune` keeps its best epoch (the starting model, with a warning, when training only
    lowered it). Without a dev file the last state is written. Returns an SbertRun.
    """
    from bertkit.embed import load
    from bertkit.embed.encoder import TextEncoder
    from bertkit.embed.evaluate import evaluate_sts, read_sts
    from bertkit.training import Trainer

    enc = load(model)
    pooling = pooling or enc.pooling
    if pooling not in SBERT_POOLINGS:
        raise InputError(f"unknown pooling {pooling!r} for SBERT; expected one of {SBERT_POOLINGS}")
    max_length = min(max_length, enc.model.max_tokens)
    examples = list(train_examples) if train_examples is not None else read_examples(train_file, objective,
                                                                                    score_scale)
    if objective == "softmax":
        labels = {int(e.label) for e in examples}  # type: ignore[arg-type]
        num_labels = num_labels or max(max(labels) + 1, 3)
    loss = build_loss(objective, enc.dim, num_labels or 3, mnrl_scale, triplet_margin)
    torch.manual_seed(config.seed)
    if objective == "softmax":
        nn.init.normal_(loss.classifier.weight, std=0.02)
        nn.init.zeros_(loss.classifier.bias)
    obj = SbertObjective(loss, pooling)
    dev = read_sts(dev_file) if dev_file is not None else None

    def eval_fn(m: nn.Module) -> dict[str, float]:
        r = evaluate_sts(TextEncoder(m, enc.tokenizer, max_length, name=enc.name, pooling=pooling,
                                     normalize=enc.normalize), dev, show_progress=False)
        return {"sts_pearson": r["pearson"], "sts_spearman": r["spearman"]}

    if dev is not None:
        if config.best_metric is None:
            config.best_metric, config.greater_is_better = "sts_spearman", True
        config.eval_at_start = True  # the starting model's score: "before", and the first candidate for best
        if config.eval_every is None:  # once per epoch, as `finetune` scores each epoch
            config.eval_every = max(1, len(examples) // (config.batch_size * config.grad_accum))
    trainer = Trainer(enc.model, obj, examples, config=config, collate_fn=SbertCollator(enc.tokenizer, max_length),
                      eval_fn=eval_fn if dev is not None else None,
                      save_fn=SbertSaver(enc.tokenizer, pooling, max_length, normalize=enc.normalize))
    metrics = trainer.fit(resume=resume)
    before = {k[8:]: v for k, v in metrics.items() if k.startswith("initial_sts_")} or None
    if dev is None or metrics.get("interrupted"):
        return SbertRun(metrics, before, None, Path(config.out_dir))
    last = {k: metrics[k] for k in ("sts_pearson", "sts_spearman") if k in metrics}
    best_step = trainer.best_step
    kept_last = best_step is None or best_step == trainer.step
    if not kept_last:
        _publish_best(trainer, enc.model, Path(config.out_dir))
    enc.model.eval()
    with torch.no_grad():
        after = eval_fn(enc.model)
    if best_step == 0:
        from bertkit.errors import warn

        warn(f"training lowered the dev Spearman ({after['sts_spearman']:.4f} before, "
             f"{last.get('sts_spearman', float('nan')):.4f} at step {trainer.step}): {config.out_dir} keeps the "
             "starting model's weights; try a lower learning rate, other data or more steps")
    return SbertRun(metrics, before, after, Path(config.out_dir), best_step, None if kept_last else last)


def _publish_best(trainer, model: nn.Module, out_dir: Path) -> None:
    """Load out_dir/best (the best dev state) into `model` and write it at out_dir's root, as the trainer writes
    its final model (each file replaced atomically)."""
    import shutil
    import tempfile

    from bertkit.hub import from_pretrained
    from bertkit.training.checkpoint import publish_files

    best = from_pretrained(out_dir / "best", task=model.task)
    model.load_state_dict(best.state_dict())
    tmp = Path(tempfile.mkdtemp(prefix=".best.", dir=out_dir))
    try:
        trainer.save_fn(model, tmp / "model")
        publish_files(tmp / "model", out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
