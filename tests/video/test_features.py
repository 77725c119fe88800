"""The default clip extractor trains on the ONE Trainer (loss falls) and reloads to identical features; any
module plugs in."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.training.trainer import TrainConfig, Trainer
from bertkit.video.features import (ClipAutoencoder, ClipDataset, ClipEncoder, coarse_target, extract_features,
                                    load_extractor, save_extractor)
from bertkit.video.synthetic import Scene, render_scene


def _clips(n: int = 24, size: int = 16) -> torch.Tensor:
    scenes = [Scene(c, s, m) for c in ("red", "blue") for s in ("circle", "square") for m in ("moves left", "grows")]
    out = []
    for i in range(n):
        frames = render_scene(scenes[i % len(scenes)], frames=30, size=size,
                              rng=__import__("numpy").random.default_rng(i))
        out.append(torch.from_numpy(frames).permute(0, 3, 1, 2))
    return torch.stack(out)                                   # uint8 (n, 30, 3, size, size)


def test_coarse_target_is_a_block_mean():
    clips = torch.rand(2, 30, 3, 16, 16)
    t = coarse_target(clips)
    assert t.shape == (2, 6, 3, 4, 4)
    torch.testing.assert_close(t[1, 2, 0, 3, 1], clips[1, 10:15, 0, 12:16, 4:8].mean())


def test_extractor_trains_and_reloads_identically(tmp_path):
    clips = _clips()
    torch.manual_seed(0)
    enc = ClipEncoder(dim=16, size=16, width=4)
    cfg = TrainConfig(out_dir=tmp_path / "ext", max_steps=40, batch_size=8, lr=5e-3, weight_decay=0.0,
                      log_every=5, progress=False, save_every=None)
    Trainer(enc, ClipAutoencoder(16, size=16), ClipDataset(clips), config=cfg, save_fn=save_extractor).fit()
    losses = [json.loads(line)["loss"] for line in (tmp_path / "ext" / "log.jsonl").read_text().splitlines()]
    assert losses[-1] < 0.6 * losses[0]
    loaded = load_extractor(tmp_path / "ext")
    assert loaded.config() == {"arch": "clip_encoder_3d", "dim": 16, "size": 16, "width": 4, "frames": 30}
    for k, v in enc.state_dict().items():
        assert torch.equal(v.cpu(), loaded.state_dict()[k])
    a, b = extract_features(enc, clips, batch_size=5), extract_features(loaded, clips, batch_size=5)
    assert a.shape == (24, 16)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_any_module_plugs_in():
    class MeanColour(nn.Module):                             # (B, T, 3, H, W) -> (B, 3)
        def forward(self, x):
            return x.mean((1, 3, 4))

    clips = _clips(4)
    feats = extract_features(MeanColour(), [clips[:3], clips[3:]], batch_size=2)
    torch.testing.assert_close(feats, clips.float().div(255).mean((1, 3, 4)))


def test_not_an_extractor_folder(tmp_path):
    with pytest.raises(CheckpointError, match="is not a clip extractor folder"):
        load_extractor(tmp_path)
