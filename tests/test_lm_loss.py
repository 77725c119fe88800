"""nn/lm_loss.linear_cross_entropy: the LM head and its loss a slice at a time equal F.cross_entropy on full logits."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bertkit.nn.lm_loss import linear_cross_entropy


def _case(n=257, c=24, v=131, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(n, c, generator=g, dtype=dtype).requires_grad_()
    w = torch.randn(v, c, generator=g, dtype=dtype).requires_grad_()
    b = torch.randn(v, generator=g, dtype=dtype).requires_grad_()
    y = torch.randint(0, v, (n,), generator=g)
    y[::5] = -100
    return h, w, b, y


def _grads(*ts):
    out = [t.grad.clone() for t in ts]
    for t in ts:
        t.grad = None
    return out


@pytest.mark.parametrize("chunk", [131 * 7, 131 * 64, 131 * 1000])  # several slices with a short last one; one
def test_loss_and_gradients_equal_cross_entropy(chunk):
    h, w, b, y = _case()
    ref = F.cross_entropy(h @ w.T + b, y, reduction="sum")
    (3.0 * ref).backward()  # a non-unit upstream gradient reaches every input
    want = _grads(h, w, b)
    total, count = linear_cross_entropy(h, w, y, bias=b, chunk_elements=chunk)
    (3.0 * total).backward()
    got = _grads(h, w, b)
    assert count.item() == int((y != -100).sum())
    assert total.item() == pytest.approx(ref.item(), rel=1e-12)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-10, atol=1e-10)


def test_batched_shape_without_bias_and_mean_loss():
    h, w, _, y = _case(n=6 * 9, dtype=torch.float32)
    h3, y3 = h.detach().view(6, 9, -1).requires_grad_(), y.view(6, 9)
    ref = F.cross_entropy((h3 @ w.T).flatten(0, 1), y3.flatten())  # mean over the kept positions
    ref.backward()
    want = _grads(h3, w)
    total, count = linear_cross_entropy(h3, w, y3, chunk_elements=131 * 10)
    (total / count).backward()
    got = _grads(h3, w)
    assert (total / count).item() == pytest.approx(ref.item(), rel=1e-5)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_matches_autocast_reference():
    h, w, b, y = _case(dtype=torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = F.cross_entropy(F.linear(h, w, b), y, reduction="sum")
    ref.backward()
    want = _grads(h, w, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        total, _ = linear_cross_entropy(h, w, y, bias=b, chunk_elements=131 * 50)
    total.backward()
    got = _grads(h, w, b)
    assert total.dtype == torch.float32 and got[1].dtype == torch.float32
    assert total.item() == pytest.approx(ref.item(), rel=2e-3)
    for a, e in zip(got, want):
        assert F.cosine_similarity(a.flatten(), e.flatten(), dim=0) > 0.999


def test_all_ignored_and_no_grad():
    h, w, b, y = _case(dtype=torch.float32)
    total, count = linear_cross_entropy(h, w, torch.full_like(y, -100), bias=b)
    total.backward()
    assert total.item() == 0.0 and count.item() == 0
    assert h.grad.abs().max() == 0 and w.grad.abs().max() == 0 and b.grad.abs().max() == 0
    with torch.no_grad():
        loss, _ = linear_cross_entropy(h, w, y, bias=b)
    assert not loss.requires_grad
    assert loss.item() == pytest.approx(F.cross_entropy(h @ w.T + b, y, reduction="sum").item(), rel=1e-5)


def test_mismatched_labels_are_refused():
    h, w, _, y = _case(dtype=torch.float32)
    with pytest.raises(ValueError, match=r"labels of shape \(256,\) do not match hidden states \(257, 24\)"):
        linear_cross_entropy(h, w, y[:-1])


def test_causal_objective_gradients_equal_the_logits_path():
    """CausalLMObjective's one-pass head gives the same loss and weight gradients as cross-entropy on the logits."""
    from bertkit.models import get_family
    from bertkit.models.causal_lm import CausalLM
    from bertkit.objectives.clm import CausalLMObjective, next_token_loss

    torch.manual_seed(0)
    cfg = get_family("gpt2").config_from_hf({"model_type": "gpt2", "vocab_size": 97, "n_embd": 32, "n_layer": 2,
                                                 "n_head": 2, "n_positions": 16, "bos_token_id": 1, "eos_token_id": 1})
    model = CausalLM(cfg, "lm").eval()
    ids = torch.randint(0, 97, (3, 16))
    labels = ids.clone()
    labels[0, 10:] = -100
    loss = CausalLMObjective()(model, {"input_ids": ids, "labels": labels})["loss"]
    loss.backward()
    got = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    total, n = next_token_loss(model(ids).logits, labels)
    (total / n).backward()
    assert loss.item() == pytest.approx((total / n).item(), rel=1e-6)
    for k, p in model.named_parameters():
        torch.testing.assert_close(got[k], p.grad, rtol=1e-4, atol=1e-6, msg=k)
