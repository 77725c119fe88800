"""VideoBERT pretraining on captioned visual-token examples, on the one Trainer.

    pretrain_videobert(examples, out="runs/vb", visual_vocab=12**2, tokenizer="tok/", steps=1000)

`examples` are dicts {"video", "caption", "visual_tokens"} (the tokens JSONL's lines, or what the video pipeline
returns in memory). `bertkit pretrain --arch videobert --tokens FILE` reads them from a JSONL.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.data.video_text import VideoBertCollator, check_examples, encode_examples
from bertkit.errors import InputError
from bertkit.models.videobert import VideoLayout, build_videobert, save_videobert, videobert_from_bert
from bertkit.objectives.videobert import VideoBertObjective, parse_weights
from bertkit.training.trainer import TrainConfig, Trainer


def pretrain_videobert(examples: Sequence[dict[str, Any]], *, out: str | Path, visual_vocab: int,
                       tokenizer: str | Path | None = None, init: str | Path | None = None,
                       size: str | dict[str, int] = "tiny", weights: Any = (1.0, 1.0, 1.0),
                       eval_examples: Sequence[dict[str, Any]] | None = None, max_length: int = 128,
                       mask_prob: float = 0.15, steps: int = 1000, batch_size: int = 32, grad_accum: int = 1,
                       lr: float = 1e-4, warmup: int = 0, weight_decay: float = 0.01, clip_norm: float = 1.0,
                       precision: str = "auto", eval_every: int | None = None, eval_at_start: bool = False,
                       save_every: int | None = None, log_every: int = 10, seed: int = 0, resume: bool = False,
                       progress: bool = True, num_workers: int = 0) -> dict[str, Any]:
    """Train VideoBERT (text cloze + video cloze + alignment, weighted) and save it under `out` as a
    BertForPreTraining folder with `videobert.json`. From scratch (`tokenizer`: a WordPiece folder; `size`) or
    from a BERT folder (`init`, whose tokenizer is used). Returns the trainer's final metrics."""
    from bertkit.tokenizers import Tokenizer

    if visual_vocab < 1:
        raise InputError(f"--visual-vocab must be >= 1, got {visual_vocab}")
    w = parse_weights(weights)
    train_ex = check_examples(examples, visual_vocab, "training data")
    dev_ex = check_examples(eval_examples, visual_vocab, "eval data") if eval_examples else None
    if init is not None and tokenizer is not None:
        raise InputError("VideoBERT from --init uses the checkpoint's own tokenizer; leave out --tokenizer")
    if init is None and tokenizer is None:
        raise InputError("VideoBERT from scratch needs --tokenizer (a WordPiece folder), or --init a BERT folder")
    if init is not None and Path(init).resolve() == Path(out).resolve():
        raise InputError(f"--out {out} is the --init checkpoint; write to another folder so the starting model is kept")
    torch.manual_seed(seed)
    if init is not None:
        model, layout, tok = videobert_from_bert(init, visual_vocab, seed=seed)
        if max_length > model.max_tokens:
            raise InputError(f"--max-length {max_length} exceeds the --init model's {model.max_tokens} positions")
    else:
        tok = Tokenizer.from_pretrained(tokenizer)
        layout = VideoLayout.from_tokenizer(tok, visual_vocab)
        model = build_videobert(layout, size, max_positions=max_length, seed=seed).train()
    specials = tuple(tok.all_special_ids)
    train = encode_examples(train_ex, tok)
    dev = encode_examples(dev_ex, tok) if dev_ex else None
    collate = VideoBertCollator(train, layout, specials, max_length, mask_prob, mask_prob)
    eval_collate = VideoBertCollator(dev, layout, specials, max_length, mask_prob, mask_prob) if dev else None
    cfg = TrainConfig(out_dir=out, lr=lr, warmup_steps=warmup, max_steps=steps, batch_size=batch_size,
                      grad_accum=grad_accum, clip_norm=clip_norm, weight_decay=weight_decay, precision=precision,
                      eval_every=eval_every, eval_at_start=eval_at_start, save_every=save_every, log_every=log_every,
                      seed=seed, num_workers=num_workers, progress=progress)
    trainer = Trainer(model, VideoBertObjective(layout, w), train, config=cfg, collate_fn=collate, eval_data=dev,
                      eval_collate_fn=eval_collate,
                      save_fn=lambda m, p: save_videobert(m, layout, p, tokenizer=tok))
    metrics = trainer.fit(resume=resume)
    metrics["train_examples"] = len(train)
    return metrics
