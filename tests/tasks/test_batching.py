"""run_model: the fused bf16 CPU path and parallel batches give the fp32 outputs, in input order."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import bertkit
from bertkit import hardware
from bertkit.errors import BertkitWarning
from bertkit.nn.fused import fused_twin
from bertkit.tasks.batching import run_model
from tests.cpu_features import AVX2, fake_cpu, requires_bf16_packing


@pytest.mark.parametrize("cpu", ["this machine", "AVX2 only (faked)"])
def test_bf16_fused_parallel_outputs_match_fp32_in_order(cpu, monkeypatch):
    """On a CPU whose oneDNN packs bf16: fused bf16 blocks. On an AVX2-only one: no fused bf16 copy (packing would
    raise), emulated bf16 autocast, a warning that says so, and the same outputs."""
    if cpu != "this machine":
        fake_cpu(monkeypatch, AVX2)
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=200, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                              max_positions=64, num_labels=3)
    rng = np.random.default_rng(0)
    feats = [{"input_ids": [2, *rng.integers(5, 200, n).tolist(), 3], "token_type_ids": [0] * (n + 2)}
             for n in rng.integers(1, 40, 50)]
    for task, key, token_level in (("token_classification", "logits", True), ("qa", "start_logits", True),
                                   ("classification", "logits", False)):
        model = bertkit.build_model(cfg, task).eval()
        want = run_model(model, feats, 0, (key,), batch_size=8, token_level=token_level, precision="fp32")
        torch.set_num_threads(2)  # two workers in bf16
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = run_model(model, feats, 0, (key,), batch_size=8, token_level=token_level, precision="bf16")
        emulated = [w for w in caught if issubclass(w.category, BertkitWarning) and "emulated" in str(w.message)]
        assert bool(emulated) == (not hardware.cpu().bf16_native)
        assert model.training is False and all(p.dtype == torch.float32 for p in model.parameters())
        for w, g, f in zip(want, got, feats):
            if token_level:
                assert g[key].shape == (len(f["input_ids"]),) + w[key].shape[1:]
            np.testing.assert_allclose(g[key], w[key], atol=0.05, rtol=0.05)
        flat_w = np.concatenate([w[key].ravel() for w in want])
        flat_g = np.concatenate([g[key].ravel() for g in got])
        assert np.corrcoef(flat_w, flat_g)[0, 1] > 0.999  # same values at the same places, not just small ones
    # the bf16 path above ran fused blocks exactly where oneDNN can pack bf16
    assert (fused_twin(model, torch.bfloat16) is not None) == hardware.cpu().bf16_packable


@requires_bf16_packing
def test_fused_copy_is_reused_until_the_weights_change():
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=50, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                              max_positions=32, num_labels=2)
    model = bertkit.build_model(cfg, "classification").eval()
    feats = [{"input_ids": [2, 5 + i % 40, 3], "token_type_ids": [0, 0, 0]} for i in range(20)]
    cache: dict = {}
    first = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache=cache)
    twin = cache["twin"]
    again = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache=cache)
    assert cache["twin"] is twin  # no second copy for unchanged weights
    np.testing.assert_array_equal(np.stack([o["logits"] for o in first]), np.stack([o["logits"] for o in again]))
    with torch.no_grad():  # an optimizer step changes weights in place
        model.heads["classification"].out.bias.add_(10.0)
    moved = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache=cache)
    assert cache["twin"] is not twin
    np.testing.assert_allclose(np.stack([o["logits"] for o in moved]) - np.stack([o["logits"] for o in first]),
                               10.0, atol=0.1)


def test_fused_copy_is_rebuilt_after_a_fused_adamw_step():
    """The trainer's fused AdamW updates weights without bumping their version counters; evaluation during
    fine-tuning must still see the new weights (it once kept scoring the first epoch's copy)."""
    from bertkit.training.optim import build_optimizer

    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=50, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                              max_positions=32, num_labels=2)
    model = bertkit.build_model(cfg, "classification")
    feats = [{"input_ids": [2, 5 + i % 40, 3], "token_type_ids": [0, 0, 0]} for i in range(20)]
    cache: dict = {}
    first = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache=cache)
    opt = build_optimizer(model, lr=1e-2)
    versions = [p._version for p in model.parameters()]
    model.train()
    model(torch.tensor([[2, 7, 9, 3]])).logits.sum().backward()
    opt.step()
    if opt.defaults.get("fused"):
        assert [p._version for p in model.parameters()] == versions  # the case the key must catch
    moved = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache=cache)
    fresh = run_model(model, feats, 0, ("logits",), batch_size=8, precision="bf16", cache={})
    moved_l, fresh_l = (np.stack([o["logits"] for o in x]) for x in (moved, fresh))
    np.testing.assert_array_equal(moved_l, fresh_l)
    assert np.abs(moved_l - np.stack([o["logits"] for o in first])).max() > 1e-3
