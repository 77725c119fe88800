"""Captioned visual-token examples for VideoBERT: the JSONL the video pipeline writes, encoding, and the collator.

One JSONL line per clip sequence: {"video": "<relative path>", "caption": "<text>", "visual_tokens": [int, ...]},
token ids in [0, V) (V = k^d words of the codebook).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError, warn
from bertkit.models.videobert import VideoLayout, encode_pair
from bertkit.objectives.masking import MaskingConfig
from bertkit.objectives.videobert import mask_text_and_video, segment_vocabs


def check_example(ex: Any, visual_vocab_size: int, where: str) -> dict[str, Any]:
    """One example dict, validated: `where` names it in the message (e.g. "tokens.jsonl line 3")."""
    if not isinstance(ex, dict):
        raise InputError(f"{where}: expected a JSON object with caption and visual_tokens, got {type(ex).__name__}")
    missing = [k for k in ("caption", "visual_tokens") if k not in ex]
    if missing:
        raise InputError(f"{where}: no {' or '.join(missing)} (each line needs video, caption and visual_tokens)")
    if not isinstance(ex["caption"], str) or not ex["caption"].strip():
        raise InputError(f"{where}: caption must be non-empty text, got {ex['caption']!r}")
    toks = ex["visual_tokens"]
    if not isinstance(toks, list) or not toks:
        raise InputError(f"{where}: visual_tokens must be a non-empty list of integers")
    for t in toks:
        if isinstance(t, bool) or not isinstance(t, int):
            raise InputError(f"{where}: visual token {t!r} is not an integer")
        if not 0 <= t < visual_vocab_size:
            raise InputError(f"{where}: visual token {t} is outside the visual vocabulary [0, {visual_vocab_size})")
    return ex


def check_examples(examples: Sequence[Any], visual_vocab_size: int, source: str = "examples") -> list[dict[str, Any]]:
    """Validate every example before any training starts; messages name the example (1-based)."""
    if not examples:
        raise InputError(f"{source}: no examples")
    return [check_example(e, visual_vocab_size, f"{source} example {i}") for i, e in enumerate(examples, 1)]


def read_token_jsonl(path: str | Path, visual_vocab_size: int) -> list[dict[str, Any]]:
    """The examples of a tokens JSONL, validated; an error names the file and line."""
    from bertkit.textio import iter_records

    path = Path(path)
    if not path.is_file():
        raise InputError(f"tokens file not found: {path}")
    out = [check_example(ex, visual_vocab_size, f"{path} line {n}") for n, ex in iter_records(path)]
    if not out:
        raise InputError(f"{path}: no examples")
    return out


@dataclass(frozen=True)
class VideoTextExample:
    video: str
    caption: str
    text_ids: tuple[int, ...]      # WordPiece ids, no specials
    visual: tuple[int, ...]        # codebook words 0..V-1


def encode_examples(examples: Sequence[dict[str, Any]], tok: Any) -> list[VideoTextExample]:
    """Tokenize the captions once."""
    caps = [e["caption"] for e in examples]
    ids = tok(caps, add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    return [VideoTextExample(str(e.get("video", i)), e["caption"], tuple(t), tuple(e["visual_tokens"]))
            for i, (e, t) in enumerate(zip(examples, ids))]


def pad_rows(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """[(ids, segments)] -> input_ids, attention_mask, token_type_ids, (B, T) padded to the longest row."""
    t = max(len(r[0]) for r in rows)
    ids = torch.full((len(rows), t), pad_id, dtype=torch.long)
    seg = torch.zeros((len(rows), t), dtype=torch.long)
    mask = torch.zeros((len(rows), t), dtype=torch.long)
    for i, (a, s) in enumerate(rows):
        ids[i, :len(a)], seg[i, :len(s)], mask[i, :len(a)] = torch.tensor(a), torch.tensor(s), 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": seg}


class VideoBertCollator:
    """Examples -> one batch with a cloze view and an alignment view (keys: objectives/videobert.VideoBertObjective).

    Cloze view: each aligned pair `[CLS] text [>] video [SEP]`, text and visual tokens masked separately (BERT's
    80/10/10 at `text_prob` / `video_prob`). Alignment view: the same pairs unmasked, where each row with
    probability `negative_rate` gets the visual tokens of another example of `pool` (another video, and a different
    caption where the pool has one), label 1; else label 0. All randomness from the batch generator."""

    def __init__(self, pool: Sequence[VideoTextExample], layout: VideoLayout, text_specials: tuple[int, ...],
                 max_length: int = 128, text_prob: float = 0.15, video_prob: float = 0.15,
                 negative_rate: float = 0.5) -> None:
        if len(pool) < 2:
            raise InputError("alignment needs at least two videos to draw mismatched pairs from")
        self.pool, self.layout, self.max_length = pool, layout, max_length
        self.text_vocab, self.video_vocab = segment_vocabs(layout, text_specials)
        self.text_cfg, self.video_cfg = MaskingConfig(prob=text_prob), MaskingConfig(prob=video_prob)
        self.negative_rate = negative_rate
        self._warned = False

    def _encode(self, text: Sequence[int], visual: Sequence[int]) -> tuple[list[int], list[int]]:
        ids, seg = encode_pair(text, visual, self.layout, self.max_length)
        if not self._warned and len(ids) < len(text) + len(visual) + 3:
            self._warned = True
            warn(f"a caption + video is longer than max_length {self.max_length}; the longer part is cut")
        return ids, seg

    def negative_for(self, ex: VideoTextExample, gen: torch.Generator, tries: int = 8) -> VideoTextExample:
        """Another example of the pool: a different video, with a different caption unless `tries` draws fail."""
        pick = ex
        for _ in range(tries):
            pick = self.pool[int(torch.randint(len(self.pool), (1,), generator=gen))]
            if pick.video != ex.video and pick.caption != ex.caption:
                return pick
        while pick.video == ex.video:
            pick = self.pool[int(torch.randint(len(self.pool), (1,), generator=gen))]
        return pick

    def __call__(self, examples: list[VideoTextExample], generator: torch.Generator | None = None
                 ) -> dict[str, torch.Tensor]:
        gen = generator or torch.Generator().manual_seed(0)
        cloze = pad_rows([self._encode(e.text_ids, e.visual) for e in examples], self.layout.pad_id)
        ids, tl, vl = mask_text_and_video(cloze["input_ids"], self.text_vocab, self.video_vocab, gen,
                                          self.text_cfg, self.video_cfg)
        neg = torch.rand(len(examples), generator=gen) < self.negative_rate
        rows = []
        for e, n in zip(examples, neg.tolist()):
            rows.append(self._encode(e.text_ids, self.negative_for(e, gen).visual if n else e.visual))
        align = pad_rows(rows, self.layout.pad_id)
        return {"input_ids": ids, "attention_mask": cloze["attention_mask"], "token_type_ids": cloze["token_type_ids"],
                "text_labels": tl, "video_labels": vl,
                **{f"align_{k}": v for k, v in align.items()}, "align_label": neg.long()}
