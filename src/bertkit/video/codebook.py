"""Hierarchical k-means visual vocabulary (VideoBERT): k clusters at the top level, k sub-clusters inside each,
`depth` levels deep, so k ** depth visual words (the paper: k = 12, depth = 4, 20736 words). A feature's word is
the path of nearest centroids from the root, read as a base-k number.

    cb = Codebook.fit(features, k=12, depth=4, seed=0)
    cb.save("codebook.safetensors")            # + codebook.json beside it
    ids = Codebook.load("codebook.safetensors").assign(features)   # int64 in [0, k ** depth)
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from tqdm.auto import tqdm

from bertkit.errors import CheckpointError, InputError


def kmeans(x: torch.Tensor, k: int, *, generator: torch.Generator, iters: int = 50, restarts: int = 3) -> torch.Tensor:
    """(N, D) -> (k, D) centroids: k-means++ seeding then Lloyd iterations, best of `restarts` by inertia. With
    fewer than k distinct points the extra centroids repeat existing ones (assign() picks the first)."""
    n = x.shape[0]
    if n <= k:
        return torch.cat([x, x[:1].expand(k - n, -1)]) if n < k else x.clone()
    best, best_inertia = None, float("inf")
    for _ in range(restarts):
        c = x[torch.randint(n, (1,), generator=generator)]
        for _ in range(1, k):  # k-means++: the next centre drawn with probability ~ squared distance
            d = torch.cdist(x, c).min(1).values.pow(2)
            if d.sum() <= 0:
                c = torch.cat([c, c[:1]])
                continue
            c = torch.cat([c, x[torch.multinomial(d / d.sum(), 1, generator=generator)]])
        for _ in range(iters):
            a = torch.cdist(x, c).argmin(1)
            sums = torch.zeros_like(c).index_add_(0, a, x)
            counts = torch.bincount(a, minlength=k).unsqueeze(1).to(x.dtype)
            new = torch.where(counts > 0, sums / counts.clamp(min=1), c)  # an empty cluster keeps its centre
            if torch.equal(new, c):
                break
            c = new
        inertia = torch.cdist(x, c).min(1).values.pow(2).sum().item()
        if inertia < best_inertia:
            best, best_inertia = c, inertia
    return best


class Codebook:
    """centroids[l]: (k ** l, k, D), the k child centres of every node at level l."""

    def __init__(self, centroids: list[torch.Tensor], k: int) -> None:
        self.centroids, self.k = centroids, k

    @property
    def depth(self) -> int:
        return len(self.centroids)

    @property
    def size(self) -> int:
        return self.k ** self.depth

    @classmethod
    def fit(cls, features: torch.Tensor, *, k: int = 12, depth: int = 4, seed: int = 0, iters: int = 50,
            progress: bool = True) -> Codebook:
        """Cluster float (N, D) features top-down; seeded (the same features and seed give the same codebook)."""
        if k < 2 or depth < 1:
            raise InputError(f"hierarchical k-means needs k >= 2 and depth >= 1, got k={k}, depth={depth}")
        if features.ndim != 2 or features.shape[0] == 0:
            raise InputError(f"features must be a non-empty (N, D) matrix, got shape {tuple(features.shape)}")
        x = features.detach().float().cpu()
        g = torch.Generator().manual_seed(seed)
        node = torch.zeros(x.shape[0], dtype=torch.long)  # each point's node at the current level
        centroids = []
        bar = tqdm(total=sum(k ** lvl for lvl in range(depth)), desc="k-means", disable=not progress,
                   dynamic_ncols=True)
        for level in range(depth):
            cents = torch.empty(k ** level, k, x.shape[1])
            for n in range(k ** level):
                members = x[node == n]
                if members.shape[0] == 0:  # an empty branch: its children sit on the parent centre
                    parent = centroids[-1].view(-1, x.shape[1])[n] if centroids else x.mean(0)
                    cents[n] = parent.expand(k, -1)
                else:
                    cents[n] = kmeans(members, k, generator=g, iters=iters)
                bar.update(1)
            centroids.append(cents)
            node = node * k + torch.cdist(x.unsqueeze(1), cents[node]).squeeze(1).argmin(1)
        bar.close()
        return cls(centroids, k)

    def assign(self, features: torch.Tensor) -> torch.Tensor:
        """float (N, D) -> int64 (N,) visual word ids in [0, k ** depth)."""
        x = features.detach().float().cpu()
        if x.ndim != 2 or x.shape[1] != self.centroids[0].shape[-1]:
            raise InputError(f"features must be (N, {self.centroids[0].shape[-1]}), got {tuple(x.shape)}")
        node = torch.zeros(x.shape[0], dtype=torch.long)
        for cents in self.centroids:
            node = node * self.k + torch.cdist(x.unsqueeze(1), cents[node]).squeeze(1).argmin(1)
        return node

    def save(self, path: str | Path) -> None:
        """path (safetensors: level_0 .. level_{depth-1}) and path with suffix .json ({"k", "depth", "dim"})."""
        from safetensors.torch import save_file

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({f"level_{i}": c.contiguous() for i, c in enumerate(self.centroids)}, str(path))
        path.with_suffix(".json").write_text(json.dumps(
            {"k": self.k, "depth": self.depth, "dim": self.centroids[0].shape[-1], "vocab_size": self.size},
            indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Codebook:
        from safetensors.torch import load_file

        path = Path(path)
        meta = path.with_suffix(".json")
        if not path.is_file() or not meta.is_file():
            raise CheckpointError(f"codebook {path} needs the file and {meta.name} beside it "
                                  "(make them with `bertkit video codebook`)")
        info = json.loads(meta.read_text(encoding="utf-8"))
        tensors = load_file(str(path))
        return cls([tensors[f"level_{i}"] for i in range(info["depth"])], info["k"])
