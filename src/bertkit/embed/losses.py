"""Sentence-BERT objectives (Reimers & Gurevych 2019), each a small module over sentence embeddings.

Every loss takes already pooled sentence vectors, so it is independent of the encoder: the siamese
structure (one shared encoder for every side) lives in `embed.sbert.SbertObjective`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SoftmaxLoss(nn.Module):
    """Classification objective for labelled pairs (NLI: entailment / neutral / contradiction).

    Inputs: u, v (B, D) embeddings of the two sentences; labels (B,) int64 class ids.
    Formula: o = softmax(W [u; v; |u - v|]), W of shape (num_labels, 3D); loss = cross-entropy(o, labels).
    Use: the original SBERT recipe on SNLI + MultiNLI. W is discarded after training.
    """

    def __init__(self, dim: int, num_labels: int = 3) -> None:
        super().__init__()
        self.classifier = nn.Linear(3 * dim, num_labels)

    def logits(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.cat([u, v, (u - v).abs()], dim=-1))  # (B, num_labels)

    def forward(self, u: torch.Tensor, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(u, v).float(), labels)


class CosineRegressionLoss(nn.Module):
    """Regression objective for pairs with a graded similarity (STS-B).

    Inputs: u, v (B, D); scores (B,) float gold similarity scaled to [0, 1] (STS-B's 0..5 divided by 5).
    Formula: loss = mean((cos(u, v) - score)^2).
    Use: fine-tuning on STS data, where the target is a similarity, not a class.
    """

    def forward(self, u: torch.Tensor, v: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cos = F.cosine_similarity(u.float(), v.float(), dim=-1)
        return F.mse_loss(cos, scores.float())


class TripletLoss(nn.Module):
    """Triplet objective: an anchor should be closer to its positive than to its negative by a margin.

    Inputs: a, p, n (B, D) embeddings of anchor, positive and negative sentences.
    Formula: loss = mean(max(||a - p|| - ||a - n|| + eps, 0)), Euclidean distance, eps = 1 (the paper's).
    Use: data with explicit (anchor, positive, negative) triples, e.g. sentences of the same / another section.
    """

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, a: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d_ap = (a.float() - p.float()).norm(dim=-1)
        d_an = (a.float() - n.float()).norm(dim=-1)
        return F.relu(d_ap - d_an + self.margin).mean()


class MultipleNegativesRankingLoss(nn.Module):
    """In-batch negatives (multiple-negatives ranking): each anchor must pick its own positive.

    Inputs: a, p (B, D); optional n (B, D) hard negatives, one per anchor.
    Formula: S = scale * cos(a_i, c_j) over candidates c = [p; n] (B, B or 2B);
    loss = cross-entropy(S, target i for row i) — every other positive in the batch is a negative.
    Use: the modern default when only positive pairs exist (question/answer, translation, paraphrase);
    larger batches give more negatives. scale = 20 (temperature 0.05).
    """

    def __init__(self, scale: float = 20.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, a: torch.Tensor, p: torch.Tensor, n: torch.Tensor | None = None) -> torch.Tensor:
        cands = p if n is None else torch.cat([p, n], dim=0)
        sims = F.normalize(a.float(), dim=-1) @ F.normalize(cands.float(), dim=-1).T  # (B, B[+B])
        target = torch.arange(a.shape[0], device=a.device)
        return F.cross_entropy(self.scale * sims, target)


class DistillationMSELoss(nn.Module):
    """Multilingual knowledge distillation (Reimers & Gurevych 2020).

    Inputs: s_src, s_tgt (B, D) student embeddings of a source sentence and its translation;
    t_src (B, D) the teacher's embedding of the source sentence (a fixed target, no gradient).
    Formula: loss = MSE(s_src, t_src) + MSE(s_tgt, t_src), MSE averaged over all B * D entries.
    Use: teaching a student to map translations to the teacher's vector space.
    """

    def forward(self, s_src: torch.Tensor, s_tgt: torch.Tensor, t_src: torch.Tensor) -> torch.Tensor:
        t = t_src.detach().float()
        return F.mse_loss(s_src.float(), t) + F.mse_loss(s_tgt.float(), t)


OBJECTIVES = ("softmax", "regression", "triplet", "mnrl")
