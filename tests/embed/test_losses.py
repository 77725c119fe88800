"""Each SBERT loss against a hand computation of its formula."""
from __future__ import annotations

import math

import pytest
import torch

from bertkit.embed.losses import (CosineRegressionLoss, DistillationMSELoss, MultipleNegativesRankingLoss, SoftmaxLoss,
                                  TripletLoss)


def test_softmax_loss_is_cross_entropy_of_w_uv_absdiff():
    torch.manual_seed(0)
    loss = SoftmaxLoss(dim=2, num_labels=3)
    with torch.no_grad():
        loss.classifier.weight.copy_(torch.arange(18, dtype=torch.float).view(3, 6) / 10)
        loss.classifier.bias.copy_(torch.tensor([0.1, -0.2, 0.0]))
    u, v = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.5, 1.0]])
    feats = [1.0, -2.0, 0.5, 1.0, 0.5, 3.0]  # [u; v; |u - v|]
    w = loss.classifier.weight.tolist()
    b = [0.1, -0.2, 0.0]
    logits = [sum(wi * f for wi, f in zip(w[c], feats)) + b[c] for c in range(3)]
    lse = math.log(sum(math.exp(z) for z in logits))
    for label in range(3):
        assert loss(u, v, torch.tensor([label])).item() == pytest.approx(lse - logits[label], rel=1e-5)


def test_cosine_regression_loss_by_hand():
    u = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    v = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    gold = torch.tensor([0.4, 0.8])  # cosines are 0 and 1
    assert CosineRegressionLoss()(u, v, gold).item() == pytest.approx(((0 - 0.4) ** 2 + (1 - 0.8) ** 2) / 2)


def test_triplet_loss_euclidean_margin_one():
    a = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    p = torch.tensor([[3.0, 4.0], [1.0, 0.0]])   # distances 5 and 1
    n = torch.tensor([[0.0, 2.0], [0.0, 10.0]])  # distances 2 and 10
    # max(5 - 2 + 1, 0) = 4 ; max(1 - 10 + 1, 0) = 0
    assert TripletLoss()(a, p, n).item() == pytest.approx(2.0)
    assert TripletLoss(margin=0.0)(a, p, n).item() == pytest.approx(1.5)


def test_mnrl_is_cross_entropy_over_in_batch_candidates():
    torch.manual_seed(0)
    a, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    cos = lambda x, y: (x @ y) / (x.norm() * y.norm())  # noqa: E731
    for neg in (None, n):
        cands = list(p) + ([] if neg is None else list(neg))
        total = 0.0
        for i in range(4):
            z = [20 * cos(a[i], c).item() for c in cands]
            total += math.log(sum(math.exp(x) for x in z)) - z[i]
        assert MultipleNegativesRankingLoss()(a, p, neg).item() == pytest.approx(total / 4, rel=1e-5)


def test_mnrl_is_small_when_pairs_match():
    e = torch.eye(6)
    assert MultipleNegativesRankingLoss()(e, e).item() < 1e-6


def test_distillation_mse_two_terms_and_teacher_fixed():
    s1 = torch.tensor([[1.0, 2.0]], requires_grad=True)
    s2 = torch.tensor([[0.0, 0.0]], requires_grad=True)
    t = torch.tensor([[1.0, 0.0]], requires_grad=True)
    out = DistillationMSELoss()(s1, s2, t)
    assert out.item() == pytest.approx((0 + 4) / 2 + (1 + 0) / 2)
    out.backward()
    assert t.grad is None and s1.grad is not None
