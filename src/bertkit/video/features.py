"""Clip features: any torch module mapping float clips (B, 30, 3, H, W) in [0, 1] to (B, D) is an extractor.
The default is ClipEncoder, a tiny 3D CNN bertkit trains itself with ClipAutoencoder (self-supervised).

Why a clip autoencoder: to rebuild a coarse copy of all 30 frames from one vector, the vector must hold the
pixel colour, the silhouette (shape and size) and where the silhouette is at each moment (motion), which are
exactly what captions talk about. Temporal-order prediction would learn motion but not colour; a
frame-averaged 2D CNN cannot tell "moves left" from "moves right" (the average of both is the same streak), so
the encoder is 3D (time is a convolution axis).

    enc = ClipEncoder(dim=64, size=32)
    trainer = Trainer(enc, ClipAutoencoder(enc.dim, size=32), ClipDataset(clips), config=...)
    feats = extract_features(load_extractor("runs/extractor"), clips)    # (N, 64)
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import CheckpointError
from bertkit.video.io import CLIP_FRAMES

_CONFIG = "extractor_config.json"
_WEIGHTS = "model.safetensors"


class ClipEncoder(nn.Module):
    """(B, T, 3, size, size) float in [0, 1] -> (B, dim). Three stride-2 3D convolutions, global average pool,
    then a linear layer."""

    def __init__(self, dim: int = 64, size: int = 32, width: int = 16, frames: int = CLIP_FRAMES) -> None:
        super().__init__()
        self.dim, self.size, self.width, self.frames = dim, size, width, frames
        w = width
        self.convs = nn.Sequential(
            nn.Conv3d(3, w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv3d(w, 2 * w, 3, stride=2, padding=1), nn.GELU(),
            nn.Conv3d(2 * w, 4 * w, 3, stride=2, padding=1), nn.GELU())
        self.proj = nn.Linear(4 * w * 2 * 2, dim)

    def config(self) -> dict:
        return {"arch": "clip_encoder_3d", "dim": self.dim, "size": self.size, "width": self.width,
                "frames": self.frames}

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        x = clips.transpose(1, 2) * 2 - 1                       # (B, 3, T, H, W) in [-1, 1]
        x = self.convs(x)                                       # (B, 4w, T/8, H/8, W/8)
        x = F.adaptive_avg_pool3d(x, (1, 2, 2)).flatten(1)      # keep a 2x2 layout: where the shape is matters
        return self.proj(x)                                     # (B, dim)


def coarse_target(clips: torch.Tensor, time_pool: int = 5, space_pool: int = 4) -> torch.Tensor:
    """(B, T, 3, H, W) -> (B, T/time_pool, 3, H/space_pool, W/space_pool): the average-pooled clip the
    autoencoder rebuilds."""
    x = F.avg_pool3d(clips.transpose(1, 2), (time_pool, space_pool, space_pool))
    return x.transpose(1, 2)


class ClipAutoencoder(nn.Module):
    """Objective: rebuild coarse_target(clip) from encoder(clip) with a linear decoder.

    Input batch {"clips": uint8 (B, T, 3, H, W)}; loss = mean squared error over the coarse target's pixels
    (values in [0, 1]). Returns {"loss"}."""

    def __init__(self, dim: int, size: int = 32, frames: int = CLIP_FRAMES, time_pool: int = 5,
                 space_pool: int = 4) -> None:
        super().__init__()
        self.time_pool, self.space_pool = time_pool, space_pool
        self.shape = (frames // time_pool, 3, size // space_pool, size // space_pool)
        self.decoder = nn.Linear(dim, int(torch.tensor(self.shape).prod()))

    def forward(self, model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
        clips = batch["clips"].float() / 255
        target = coarse_target(clips, self.time_pool, self.space_pool)
        pred = self.decoder(model(clips)).view(clips.shape[0], *self.shape)
        return {"loss": F.mse_loss(pred, target)}


class ClipDataset(torch.utils.data.Dataset):
    """uint8 clips (N, T, 3, H, W) as the Trainer's examples {"clips": (T, 3, H, W)}."""

    def __init__(self, clips: torch.Tensor) -> None:
        self.clips = clips

    def __len__(self) -> int:
        return self.clips.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"clips": self.clips[i]}


def save_extractor(model: ClipEncoder, path: str | Path) -> None:
    """Write path/extractor_config.json and path/model.safetensors (the Trainer's save_fn)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(path / _WEIGHTS))
    (path / _CONFIG).write_text(json.dumps(model.config(), indent=2) + "\n", encoding="utf-8")


def load_extractor(path: str | Path) -> ClipEncoder:
    """The ClipEncoder saved in folder `path` (eval mode)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / _CONFIG).is_file() or not (path / _WEIGHTS).is_file():
        raise CheckpointError(f"{path} is not a clip extractor folder (needs {_CONFIG} and {_WEIGHTS}; "
                              "make one with `bertkit video train-extractor`)")
    cfg = json.loads((path / _CONFIG).read_text(encoding="utf-8"))
    if cfg.pop("arch", None) != "clip_encoder_3d":
        raise CheckpointError(f"{path / _CONFIG}: unknown extractor arch (expected clip_encoder_3d)")
    model = ClipEncoder(**cfg)
    model.load_state_dict(load_file(str(path / _WEIGHTS)))
    return model.eval()


@torch.inference_mode()
def extract_features(extractor: nn.Module, clips: torch.Tensor | Iterable[torch.Tensor],
                     batch_size: int = 64) -> torch.Tensor:
    """float (N, D) features of uint8 clips (N, T, 3, H, W) (or an iterable of such tensors), batch by batch,
    with any extractor mapping float (B, T, 3, H, W) in [0, 1] to (B, D)."""
    extractor.eval()
    device = next(extractor.parameters(), torch.empty(0)).device
    parts = [clips] if isinstance(clips, torch.Tensor) else list(clips)
    out = []
    for part in parts:
        for i in range(0, part.shape[0], batch_size):
            out.append(extractor(part[i:i + batch_size].to(device).float() / 255).float().cpu())
    return torch.cat(out) if out else torch.empty(0, 0)
