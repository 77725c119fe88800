"""VideoBERT downstream: next visual token prediction, text -> video retrieval, zero-shot caption classification.

All three read a trained VideoBERT (models/videobert.py) without further training:
- `next_visual_tokens`: `[CLS] text [>] prefix [MASK] [SEP]`, the MLM logits at [MASK] ranked among the visual ids;
- `video_cloze`: every clip of every video masked in turn, the other clips and the caption visible: top-k accuracy;
- `alignment_scores`: p(aligned) of the [CLS] head for (caption, video) pairs;
- `retrieve_videos`: every caption scored against every video, ranks of the true video;
- `classify_captions`: the candidate caption with the highest alignment score for each video.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bertkit.data.video_text import pad_rows
from bertkit.errors import InputError
from bertkit.models.model import Model
from bertkit.models.videobert import VideoLayout, encode_pair


def _text_ids(tok: Any, texts: Sequence[str]) -> list[list[int]]:
    return tok(list(texts), add_special_tokens=False, padding=False, truncation=False)["input_ids"]


def _check_visual(tokens: Sequence[int], layout: VideoLayout) -> None:
    for t in tokens:
        if not 0 <= int(t) < layout.visual_vocab_size:
            raise InputError(f"visual token {t} is outside the visual vocabulary [0, {layout.visual_vocab_size})")


@torch.no_grad()
def next_visual_tokens(model: Model, layout: VideoLayout, tok: Any, text: str, prefix: Sequence[int],
                       k: int = 3) -> tuple[list[int], list[float]]:
    """The k most likely next visual words (0..V-1) after `prefix` given `text`, and their probabilities
    (softmax over the visual ids only)."""
    _check_visual(prefix, layout)
    k = min(k, layout.visual_vocab_size)
    ids, seg = encode_pair(_text_ids(tok, [text])[0], list(prefix), layout)
    ids.insert(len(ids) - 1, layout.mask_id)   # [CLS] text [>] prefix [MASK] [SEP]
    seg.insert(len(seg) - 1, 1)
    x = torch.tensor([ids])
    pos = torch.zeros_like(x, dtype=torch.bool)
    pos[0, len(ids) - 2] = True
    model.eval()
    logits = model(x, torch.ones_like(x), torch.tensor([seg]), masked_positions=pos).prediction_logits[0]
    probs = logits[layout.visual_offset:].float().softmax(-1)
    p, i = probs.topk(k)
    return i.tolist(), p.tolist()


@torch.no_grad()
def video_cloze(model: Model, layout: VideoLayout, tok: Any, captions: Sequence[str],
                videos: Sequence[Sequence[int]], k: int = 3, batch_size: int = 64,
                progress: bool = False) -> dict[str, Any]:
    """Video-only cloze on held-out pairs: clip j of video i replaced by [MASK] (one clip per row, every (i, j)),
    the caption and the other clips visible; {"top{k}": share of masked clips whose word is among the k most
    likely visual words, "top1", "predictions": rows, "topk": (rows, k) predicted words, "truth": (rows,)}."""
    from tqdm.auto import tqdm

    if len(captions) != len(videos):
        raise InputError(f"{len(captions)} captions but {len(videos)} videos; pass one video per caption")
    k = min(k, layout.visual_vocab_size)
    texts = _text_ids(tok, captions)
    rows, where, truth = [], [], []
    for t, v in zip(texts, videos):
        _check_visual(v, layout)
        ids, seg = encode_pair(t, v, layout)
        first = len(t) + 2                                  # [CLS] text [>] -> the first clip's position
        for j, w in enumerate(v):
            masked = list(ids)
            masked[first + j] = layout.mask_id
            rows.append((masked, seg))
            where.append(first + j)
            truth.append(int(w))
    model.eval()
    preds = []
    for s in tqdm(range(0, len(rows), batch_size), desc="video cloze", unit="batch", disable=not progress):
        b = pad_rows(rows[s:s + batch_size], layout.pad_id)
        pos = torch.zeros_like(b["input_ids"], dtype=torch.bool)
        pos[torch.arange(len(pos)), torch.tensor(where[s:s + batch_size])] = True
        logits = model(b["input_ids"], b["attention_mask"], b["token_type_ids"], masked_positions=pos).prediction_logits
        vis = logits[:, layout.visual_offset:layout.visual_offset + layout.visual_vocab_size].float()
        preds.append(vis.topk(k, dim=-1).indices)
    topk = torch.cat(preds) if preds else torch.zeros(0, k, dtype=torch.long)
    gold = torch.tensor(truth, dtype=torch.long)
    n = max(len(truth), 1)
    return {f"top{k}": float((topk == gold[:, None]).any(1).sum()) / n, "top1": float((topk[:, 0] == gold).sum()) / n,
            "predictions": len(truth), "topk": topk, "truth": gold}


@torch.no_grad()
def alignment_scores(model: Model, layout: VideoLayout, tok: Any, captions: Sequence[str],
                     videos: Sequence[Sequence[int]], batch_size: int = 64, max_length: int | None = None,
                     progress: bool = False) -> torch.Tensor:
    """p(caption i belongs to video i) for each pair, (N,). captions and videos are parallel lists."""
    from tqdm.auto import tqdm

    if len(captions) != len(videos):
        raise InputError(f"{len(captions)} captions but {len(videos)} videos; pass one video per caption")
    for v in videos:
        _check_visual(v, layout)
    texts = _text_ids(tok, captions)
    model.eval()
    out = []
    for s in tqdm(range(0, len(texts), batch_size), desc="align", unit="batch", disable=not progress):
        rows = [encode_pair(t, v, layout, max_length) for t, v in zip(texts[s:s + batch_size], videos[s:s + batch_size])]
        b = pad_rows(rows, layout.pad_id)
        logits = model(b["input_ids"], b["attention_mask"], b["token_type_ids"]).seq_relationship_logits
        out.append(logits.float().softmax(-1)[:, 0])  # class 0 = aligned
    return torch.cat(out) if out else torch.zeros(0)


def score_matrix(model: Model, layout: VideoLayout, tok: Any, captions: Sequence[str],
                 videos: Sequence[Sequence[int]], batch_size: int = 64, progress: bool = False) -> torch.Tensor:
    """(C, N) alignment probability of every caption with every video (C * N forward rows; `progress` shows a bar)."""
    caps = [c for c in captions for _ in videos]
    vids = [v for _ in captions for v in videos]
    return alignment_scores(model, layout, tok, caps, vids, batch_size,
                            progress=progress).view(len(captions), len(videos))


def retrieve_videos(model: Model, layout: VideoLayout, tok: Any, captions: Sequence[str],
                    videos: Sequence[Sequence[int]], batch_size: int = 64, progress: bool = False) -> dict[str, Any]:
    """Text -> video retrieval where caption i belongs to video i: {"ranks": rank of the true video per caption
    (1 = best), "recall@1", "recall@5", "chance@1" (1/N), "scores": (C, N)}.

    Ties are broken uniformly at random, in expectation: a true video tied with t others behind g better ones
    has rank g + 1 + t / 2 (the mean of the positions it may take) and counts min(1, max(0, (k - g) / (t + 1)))
    towards recall@k. So a scorer that gives every video the same score gets chance, not a perfect recall."""
    if len(captions) != len(videos):
        raise InputError(f"retrieval pairs caption i with video i: got {len(captions)} captions and "
                         f"{len(videos)} videos")
    s = score_matrix(model, layout, tok, captions, videos, batch_size, progress)
    return {**rank_metrics(s), "scores": s}


def rank_metrics(scores: torch.Tensor, ks: Sequence[int] = (1, 5)) -> dict[str, Any]:
    """Ranks and recall@k of the diagonal of a (N, N) score matrix (row i: query i, its match is column i), ties
    broken at random in expectation (see retrieve_videos)."""
    true = scores.diagonal()[:, None]
    better = (scores > true).sum(1).double()                 # (N,) videos scored above the true one
    tied = (scores == true).sum(1).double() - 1              # (N,) other videos with exactly its score
    n = scores.shape[1]
    out: dict[str, Any] = {"ranks": (better + 1 + tied / 2).tolist(), "chance@1": 1.0 / n}
    for k in ks:
        out[f"recall@{k}"] = float(((k - better) / (tied + 1)).clamp(0, 1).mean())
    return out


def classify_captions(model: Model, layout: VideoLayout, tok: Any, videos: Sequence[Sequence[int]],
                      candidates: Sequence[str], batch_size: int = 64, progress: bool = False
                      ) -> tuple[list[int], torch.Tensor]:
    """Zero-shot: for each video the index of the candidate caption with the highest alignment score, and the
    (N, K) scores."""
    if not candidates:
        raise InputError("zero-shot classification needs at least one candidate caption")
    s = score_matrix(model, layout, tok, candidates, videos, batch_size, progress).T   # (N, K)
    return s.argmax(1).tolist(), s
