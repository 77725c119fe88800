"""The three steps from a folder of videos to VideoBERT's input, each usable from Python and behind
`bertkit video train-extractor | codebook | tokenize`:

    train_extractor("videos/", "videos/captions.jsonl", "runs/extractor")
    build_codebook("videos/", "videos/captions.jsonl", "runs/extractor", "runs/codebook.safetensors", k=12, depth=4)
    tokenize_corpus("videos/", "videos/captions.jsonl", "runs/extractor", "runs/codebook.safetensors", "tokens.jsonl")

tokens.jsonl, one line per caption record: {"video": "<path relative to the videos folder>", "caption": "<text>",
"visual_tokens": [one visual word id per 1.5 s clip, in order]}.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from tqdm.auto import tqdm

from bertkit.errors import InputError
from bertkit.video.codebook import Codebook
from bertkit.video.features import (ClipAutoencoder, ClipDataset, ClipEncoder, extract_features, load_extractor,
                                    save_extractor)
from bertkit.video.io import read_clips


def read_captions(captions: str | Path, videos: str | Path) -> list[dict]:
    """The {"video", "caption"} records of a JSONL file; every named video must exist under `videos`
    (else one InputError listing the first missing ones)."""
    captions, videos = Path(captions), Path(videos)
    if not captions.is_file():
        raise InputError(f"caption file {captions} does not exist")
    if not videos.is_dir():
        raise InputError(f"videos folder {videos} does not exist")
    records = []
    for n, line in enumerate(captions.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            raise InputError(f"{captions} line {n} is not JSON") from None
        if not isinstance(r, dict) or not isinstance(r.get("video"), str) or not isinstance(r.get("caption"), str):
            raise InputError(f"{captions} line {n} needs string fields \"video\" and \"caption\"")
        records.append({"video": r["video"], "caption": r["caption"]})
    if not records:
        raise InputError(f"caption file {captions} has no records")
    missing = [r["video"] for r in records if not (videos / r["video"]).is_file()]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"{captions} names {len(missing)} video(s) missing under {videos}: {shown}")
    return records


def iter_clips(records: list[dict], videos: str | Path, size: int, progress: bool = True,
               desc: str = "decode") -> Iterator[torch.Tensor]:
    """uint8 (N_i, 30, 3, size, size) per record, in order."""
    for r in tqdm(records, desc=desc, disable=not progress, dynamic_ncols=True):
        yield read_clips(Path(videos) / r["video"], size=size)


def _clips(records: list[dict], videos: str | Path, size: int, max_clips: int | None, seed: int,
           progress: bool) -> torch.Tensor:
    clips = torch.cat(list(iter_clips(records, videos, size, progress)))
    if max_clips is not None and clips.shape[0] > max_clips:
        clips = clips[torch.randperm(clips.shape[0], generator=torch.Generator().manual_seed(seed))[:max_clips]]
    return clips


def train_extractor(videos: str | Path, captions: str | Path, out: str | Path, *, steps: int = 500,
                    batch_size: int = 32, lr: float = 3e-3, dim: int = 64, size: int = 32, width: int = 16,
                    seed: int = 0, max_clips: int | None = None, resume: bool = False,
                    progress: bool = True) -> dict:
    """Train a ClipEncoder with the ClipAutoencoder objective on the ONE Trainer; the folder `out` becomes the
    extractor (extractor_config.json + model.safetensors, plus the Trainer's log and checkpoints, so an
    interrupted run continues with resume=True). Returns the Trainer's final metrics."""
    from bertkit.training.trainer import TrainConfig, Trainer

    records = read_captions(captions, videos)
    clips = _clips(records, videos, size, max_clips, seed, progress)
    torch.manual_seed(seed)
    model = ClipEncoder(dim=dim, size=size, width=width)
    objective = ClipAutoencoder(dim, size=size)
    cfg = TrainConfig(out_dir=out, max_steps=steps, batch_size=min(batch_size, clips.shape[0]), lr=lr,
                      warmup_steps=min(20, steps // 10), weight_decay=0.0, seed=seed, log_every=max(1, steps // 20),
                      progress=progress, save_every=max(50, steps // 5))
    return Trainer(model, objective, ClipDataset(clips), config=cfg, save_fn=save_extractor).fit(resume=resume)


def corpus_features(records: list[dict], videos: str | Path, extractor: torch.nn.Module, size: int,
                    batch_size: int = 64, progress: bool = True) -> list[torch.Tensor]:
    """One float (N_i, D) feature matrix per record."""
    return [extract_features(extractor, c, batch_size) for c in iter_clips(records, videos, size, progress)]


def _extractor_size(extractor: torch.nn.Module, size: int | None) -> int:
    size = size or getattr(extractor, "size", None)
    if size is None:
        raise InputError("give the frame size for a plugged-in extractor (it has no .size)")
    return size


def build_codebook(videos: str | Path, captions: str | Path, extractor: str | Path | torch.nn.Module,
                   out: str | Path, *, k: int = 12, depth: int = 4, seed: int = 0, size: int | None = None,
                   progress: bool = True) -> Codebook:
    """Hierarchical k-means over the features of every clip of the corpus; saved at `out` (+ .json)."""
    if k < 2 or depth < 1:
        raise InputError(f"hierarchical k-means needs k >= 2 and depth >= 1, got k={k}, depth={depth}")
    records = read_captions(captions, videos)
    ext = load_extractor(extractor) if isinstance(extractor, (str, Path)) else extractor
    feats = torch.cat(corpus_features(records, videos, ext, _extractor_size(ext, size), progress=progress))
    if feats.shape[0] < k:
        raise InputError(f"{feats.shape[0]} clips cannot make {k} clusters; use a smaller k or more video")
    cb = Codebook.fit(feats, k=k, depth=depth, seed=seed, progress=progress)
    cb.save(out)
    return cb


def tokenize_corpus(videos: str | Path, captions: str | Path, extractor: str | Path | torch.nn.Module,
                    codebook: str | Path | Codebook, out: str | Path, *, size: int | None = None,
                    progress: bool = True) -> int:
    """Write the interface JSONL (see the module docstring) atomically at `out`; returns the number of lines."""
    records = read_captions(captions, videos)
    ext = load_extractor(extractor) if isinstance(extractor, (str, Path)) else extractor
    cb = Codebook.load(codebook) if isinstance(codebook, (str, Path)) else codebook
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r, feats in zip(records, corpus_features(records, videos, ext, _extractor_size(ext, size),
                                                     progress=progress)):
            f.write(json.dumps({**r, "visual_tokens": cb.assign(feats).tolist()}) + "\n")
    os.replace(tmp, out)
    return len(records)
