"""`distill_bilstm`: a fine-tuned BERT classifier taught to a BiLSTM (Tang et al. 2019), on the one Trainer.

    student = distill_bilstm("sst2-bert/", "train.tsv", "sst2-bilstm/", dev="dev.tsv", tagger="tagger.json")
    bertkit.Predictor.load("sst2-bilstm/").predict(["a gorgeous film"])

Steps: read train/dev (and check every argument) before any heavy work; augment the training texts with Tang's
rules (streamed to out/augmented.tsv); compute the teacher's logits once for train + augmented rows (batched,
bf16 where bertkit.hardware says it is native) and cache them in out/teacher_logits.safetensors; train the
BiLSTM with `BiLstmDistillObjective` on training.Trainer (dev accuracy each epoch, the best epoch kept);
write the student folder (bertkit.distill.bilstm) and out/metrics.json. `resume=True` reuses both caches and
continues the trainer's checkpoint under out/training. alpha=None is the labels-only twin: cross-entropy on
gold labels, no teacher logits, no augmentation (a teacher is then only needed for embeddings="teacher").
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bertkit.distill.bilstm import BiLSTMClassifier, WordVocab, encode_ids, load_bilstm, pad_ids, save_bilstm
from bertkit.errors import CheckpointError, InputError

EMBEDDINGS = ("teacher", "trained")


def load_teacher(teacher: str | Path) -> Any:
    """The teacher as a Predictor (classify or pair, single-label), or a one-line InputError."""
    from bertkit.hub import from_pretrained
    from bertkit.tasks.predictor import TASK_FILE, Predictor
    from bertkit.tokenizers import Tokenizer

    path = Path(teacher)
    if not (path / "config.json").is_file():
        raise InputError(f"teacher {teacher} is not a model folder (no config.json)")
    if (path / TASK_FILE).is_file():
        pred = Predictor.load(path)
        if pred.task not in ("classify", "pair") or pred.settings.get("kind", "single_label") != "single_label":
            raise InputError(f"teacher {teacher} is a {pred.task} model ({pred.settings.get('kind')}); BiLSTM "
                             "distillation needs a single-label classifier from `bertkit finetune classify`")
        return pred
    try:
        model = from_pretrained(path, task="classification", require_heads=True)
    except CheckpointError as e:
        raise InputError(f"teacher {teacher} has no classification head; give a folder from `bertkit finetune "
                         f"classify` ({str(e).splitlines()[0]})") from None
    return Predictor("classify", model, Tokenizer.from_pretrained(path), {"labels": None, "max_length": 128})


def _texts(data: Any) -> list[Any]:
    return list(zip(data.inputs, data.pairs)) if data.pairs is not None else list(data.inputs)


def _teacher_logits(teacher: Any, texts: list[Any], progress: bool) -> np.ndarray:
    """(N, C) float32 logits of the teacher, in batches, bf16 where the hardware runs it natively."""
    from bertkit import hardware
    from bertkit.tasks import classification as C
    from bertkit.tasks.batching import run_model

    device = next(teacher.model.parameters()).device
    prec = hardware.resolve_precision("auto", device, "teacher logits")
    pair = bool(texts) and isinstance(texts[0], tuple)
    a = [t[0] for t in texts] if pair else texts
    b = [t[1] for t in texts] if pair else None
    feats, _ = C.encode_texts(teacher.tokenizer, a, b, int(teacher.settings.get("max_length", 128)))
    outs = run_model(teacher.model, feats, teacher.tokenizer.pad_token_id or 0, ("logits",), 64, False, prec,
                     progress)
    return np.stack([o["logits"] for o in outs]).astype(np.float32)


def _collate(pad_id: int):
    def collate(rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids, mask = pad_ids([r["input_ids"] for r in rows], pad_id)
        batch = {"input_ids": ids, "attention_mask": mask,
                 "labels": torch.as_tensor([r["labels"] for r in rows], dtype=torch.long)}
        if "input_ids2" in rows[0]:
            batch["input_ids2"], batch["attention_mask2"] = pad_ids([r["input_ids2"] for r in rows], pad_id)
        if "teacher_logits" in rows[0]:
            batch["teacher_logits"] = torch.as_tensor(np.stack([r["teacher_logits"] for r in rows]))
        return batch
    return collate


def _features(tok: Any, texts: list[Any], max_length: int) -> list[dict[str, Any]]:
    pair = bool(texts) and isinstance(texts[0], tuple)
    a = encode_ids(tok, [t[0] for t in texts] if pair else texts, max_length)
    feats: list[dict[str, Any]] = [{"input_ids": x} for x in a]
    if pair:
        for f, x in zip(feats, encode_ids(tok, [t[1] for t in texts], max_length)):
            f["input_ids2"] = x
    return feats


def accuracy(model: BiLSTMClassifier, tok: Any, texts: list[Any], gold: list[int], batch_size: int = 256) -> float:
    """Share of `texts` whose argmax class is the gold class id."""
    feats = _features(tok, texts, model.config["max_length"])
    collate = _collate(model.config["pad_id"])
    right = 0
    was = model.training
    model.eval()
    with torch.no_grad():
        for s in range(0, len(feats), batch_size):
            batch = collate([{**f, "labels": 0} for f in feats[s:s + batch_size]])
            logits = model(batch["input_ids"], batch["attention_mask"], batch.get("input_ids2"),
                           batch.get("attention_mask2"))
            right += int((logits.argmax(-1) == torch.as_tensor(gold[s:s + batch_size])).sum())
    model.train(was)
    return right / max(len(gold), 1)


def distill_bilstm(teacher: str | Path | None, train: str | Path, out: str | Path, dev: str | Path | None = None, *,
                   text_col: str | None = None, text2_col: str | None = None, label_col: str | None = None,
                   tagger: Any = None, augment: bool = True, n_iter: int = 20, p_mask: float = 0.1,
                   p_pos: float = 0.1, p_ng: float = 0.25, alpha: float | None = 0.0, embeddings: str = "teacher",
                   hidden: int = 150, fc: int = 200, embedding_dim: int = 300, max_length: int = 128,
                   epochs: float = 3, time_budget_min: float | None = None, lr: float = 1e-3,
                   batch_size: int = 64, seed: int = 0, resume: bool = False,
                   progress: bool = True) -> BiLSTMClassifier:
    """Distil `teacher` (a classification folder) into a BiLSTM saved at `out`; returns the student.

    alpha: weight of CE on gold labels (augmented rows have none); 1 - alpha goes to MSE on the teacher's logits.
    alpha=None: labels only (no teacher signal, no augmentation). tagger: a PosTagger or its JSON path, needed
    for p_pos > 0. embeddings: "teacher" (its WordPiece vocabulary, its input embeddings as the start) or
    "trained" (a word vocabulary of the training texts, embedding_dim wide, learned from scratch).
    time_budget_min: minutes of training after which the trainer stops, saves and is resumable."""
    from bertkit.distill.tang import tang_augment_file
    from bertkit.objectives.distill_bilstm import BiLstmDistillObjective
    from bertkit.tasks import classification as C
    from bertkit.tasks.files import read_task_file
    from bertkit.tasks.pos_tagger import PosTagger
    from bertkit.training import TrainConfig, Trainer

    t_start = time.perf_counter()
    labels_only = alpha is None
    if embeddings not in EMBEDDINGS:
        raise InputError(f"embeddings must be one of {', '.join(EMBEDDINGS)}, got {embeddings!r}")
    if alpha is not None and not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1] (or None for labels only), got {alpha}")
    if teacher is None and not (labels_only and embeddings == "trained"):
        raise InputError("a teacher is needed (only labels-only training with embeddings='trained' runs without)")
    augment = augment and not labels_only
    if augment and p_pos > 0 and tagger is None:
        raise InputError("p_pos > 0 needs a POS tagger: train one with `bertkit train-pos-tagger` and pass "
                         "tagger=PATH (or set p_pos=0)")
    task = "pair" if text2_col else "classify"
    tr, _ = read_task_file(task, train, text_col=text_col, text2_col=text2_col, label_col=label_col)
    dv = read_task_file(task, dev, text_col=text_col, text2_col=text2_col, label_col=label_col)[0] if dev else None
    t = load_teacher(teacher) if teacher is not None else None
    labels = t.labels if t is not None and t.labels else C.label_list(tr.gold)
    if t is not None and not labels_only:
        n_out = t.model.config.num_labels
        if len(labels) != n_out:
            raise InputError(f"{train} has {len(labels)} labels ({', '.join(labels)}) but the teacher predicts "
                             f"{n_out} classes")
    C.check_known(labels, tr.gold, tr.lines, str(train), "the teacher's labels" if t and t.labels else str(train))
    if dv is not None:
        C.check_known(labels, dv.gold, dv.lines, str(dev), str(train))
    tag = PosTagger.load(tagger) if isinstance(tagger, (str, Path)) else tagger

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    aug_file, logit_file = out / "augmented.tsv", out / "teacher_logits.safetensors"
    if not resume:
        for f in (aug_file, logit_file):
            f.unlink(missing_ok=True)
        shutil.rmtree(out / "training", ignore_errors=True)
    texts = _texts(tr)
    index = {k: i for i, k in enumerate(labels)}
    gold = [index[g] for g in tr.gold]
    aug = tang_augment_file(texts, aug_file, tag, n_iter, p_mask, p_pos, p_ng, seed, progress) if augment else []
    rows = texts + [x for _, x in aug]
    targets = gold + [-100] * len(aug)
    logits = None
    if not labels_only:
        from safetensors.numpy import load_file, save_file

        if logit_file.is_file() and load_file(str(logit_file))["logits"].shape[0] == len(rows):
            logits = load_file(str(logit_file))["logits"]
        else:
            logits = _teacher_logits(t, rows, progress)
            save_file({"logits": logits}, str(logit_file))

    if embeddings == "teacher":
        from bertkit.nn.embeddings import Embeddings

        tok: Any = t.tokenizer
        table = next(m for m in t.model.modules() if isinstance(m, Embeddings)).word.weight.detach()
        student = BiLSTMClassifier(table.shape[0], table.shape[1], hidden, fc, len(labels), tr.pairs is not None,
                                   tok.pad_token_id or 0, labels, "wordpiece", max_length)
        student.embed.weight.data.copy_(table.float())
    else:
        tok = WordVocab.build([s for r in texts for s in (r if isinstance(r, tuple) else (r,))])
        torch.manual_seed(seed)
        student = BiLSTMClassifier(len(tok.words), embedding_dim, hidden, fc, len(labels), tr.pairs is not None,
                                   0, labels, "words", max_length)
    student.tokenizer = tok
    feats = _features(tok, rows, max_length)
    for k, f in enumerate(feats):
        f["labels"] = targets[k]
        if logits is not None:
            f["teacher_logits"] = logits[k]

    dev_texts = _texts(dv) if dv is not None else None
    dev_gold = [index[g] for g in dv.gold] if dv is not None else None
    per_epoch = max(1, len(feats) // batch_size)
    cfg = TrainConfig(out_dir=out / "training", lr=lr, epochs=epochs, batch_size=batch_size, seed=seed,
                      max_time_s=time_budget_min * 60 if time_budget_min else None, precision="fp32",
                      warmup_steps=0, weight_decay=0.0, clip_norm=5.0, progress=progress,
                      eval_every=per_epoch if dv is not None else None,
                      best_metric="accuracy" if dv is not None else None, greater_is_better=True,
                      log_every=max(1, min(50, per_epoch)), save_final=False, checkpoint_at_end=False)
    trainer = Trainer(student, BiLstmDistillObjective(1.0 if labels_only else alpha), feats, config=cfg,
                      collate_fn=_collate(student.config["pad_id"]),
                      eval_fn=(lambda m: {"accuracy": accuracy(m, tok, dev_texts, dev_gold)}) if dv is not None
                      else None,
                      save_fn=lambda m, p: save_bilstm(m, p, tok))
    fit = trainer.fit(resume=resume)
    if (out / "training" / "best" / "config.json").is_file():
        student = load_bilstm(out / "training" / "best")
    save_bilstm(student, out, tok)
    metrics: dict[str, Any] = {
        "train_rows": len(texts), "augmented_rows": len(aug), "embeddings": embeddings,
        "mode": "labels_only" if labels_only else "distill", "alpha": alpha, "hidden": hidden,
        "params": sum(p.numel() for p in student.parameters()), "steps": fit.get("step"),
        "final_loss": fit.get("loss"), "seconds": round(time.perf_counter() - t_start, 1)}
    if dv is not None:
        metrics["dev_accuracy"] = accuracy(student, tok, dev_texts, dev_gold)
        if t is not None:
            metrics["teacher_dev_accuracy"] = float(np.mean(_teacher_logits(t, dev_texts, False).argmax(-1)
                                                            == np.asarray(dev_gold)))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return student.eval()
