"""Hierarchical k-means: exact recovery of well-separated nested clusters; save/load keeps assign()."""
from __future__ import annotations

import pytest
import torch

from bertkit.errors import InputError
from bertkit.video.codebook import Codebook


def _nested(k: int = 3, per: int = 15, dim: int = 6, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    top = torch.randn(k, dim, generator=g) * 100
    sub = torch.randn(k, k, dim, generator=g) * 10
    centres = (top[:, None] + sub).reshape(k * k, dim)
    labels = torch.arange(k * k).repeat_interleave(per)
    return centres[labels] + torch.randn(labels.numel(), dim, generator=g) * 0.1, labels


def test_recovers_nested_clusters_exactly():
    x, labels = _nested()
    cb = Codebook.fit(x, k=3, depth=2, seed=0, progress=False)
    ids = cb.assign(x)
    assert cb.size == 9 and ids.min() >= 0 and ids.max() < 9
    pairs = set(zip(labels.tolist(), ids.tolist()))
    assert len(pairs) == 9                                   # each true cluster -> one word, all words distinct
    assert len({i for _, i in pairs}) == 9
    # the top level is the coarse cluster: words of one super-cluster share id // k
    for lab, word in pairs:
        assert word // 3 == next(w for lab2, w in pairs if lab2 == 3 * (lab // 3)) // 3


def test_seeded_and_reload_consistent(tmp_path):
    x, _ = _nested(seed=2)
    a = Codebook.fit(x, k=3, depth=2, seed=5, progress=False)
    b = Codebook.fit(x, k=3, depth=2, seed=5, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.centroids, b.centroids))
    a.save(tmp_path / "cb.safetensors")
    assert (tmp_path / "cb.json").is_file()
    loaded = Codebook.load(tmp_path / "cb.safetensors")
    assert (loaded.k, loaded.depth) == (3, 2)
    fresh = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(9))
    assert torch.equal(loaded.assign(fresh), a.assign(fresh))


def test_deeper_than_data_still_gives_valid_ids():
    x = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    cb = Codebook.fit(x, k=2, depth=3, seed=0, progress=False)
    ids = cb.assign(x)
    assert len(set(ids.tolist())) == 3 and int(ids.max()) < 8


def test_bad_arguments():
    with pytest.raises(InputError, match="k >= 2 and depth >= 1, got k=1, depth=2"):
        Codebook.fit(torch.zeros(4, 2), k=1, depth=2)
    cb = Codebook.fit(torch.randn(10, 3), k=2, depth=1, progress=False)
    with pytest.raises(InputError, match=r"features must be \(N, 3\), got \(4, 2\)"):
        cb.assign(torch.zeros(4, 2))
