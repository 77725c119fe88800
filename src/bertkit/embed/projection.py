"""A 2-D picture of sentence embeddings: PCA (or UMAP, when umap-learn is installed and asked for) of the texts'
vectors, one point a text, coloured by an optional label, annotated when there are few enough to read."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bertkit.errors import InputError
from bertkit.plotting import pyplot, save_png

METHODS = ("pca", "umap")


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2): the centred rows on the two leading principal axes (SVD), each axis's sign fixed so its
    largest loading is positive (the sign of a principal axis is arbitrary; this makes runs comparable)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise InputError(f"a projection needs at least 2 vectors, got shape {x.shape}")
    c = x - x.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])[:, None]
    return c @ axes.T


def project(texts: Sequence[str], png: str | Path, model: str | Path | None = None,
            labels: Sequence[str] | None = None, method: str = "pca", annotate: int = 40, seed: int = 0) -> np.ndarray:
    """Embed `texts` (the bundled MiniLM unless `model`), project to 2-D with `method`, draw `png`; returns the
    (N, 2) coordinates. Texts are written beside their points when there are at most `annotate` of them."""
    from bertkit.embed import load

    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    texts = [t for t in texts if t.strip()]
    if len(texts) < 2:
        raise InputError(f"a projection needs at least 2 non-empty texts, got {len(texts)}")
    if labels is not None and len(labels) != len(texts):
        raise InputError(f"got {len(texts)} texts but {len(labels)} labels")
    vecs = load(model).embed(texts, show_progress=len(texts) > 1000)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise InputError("method 'umap' needs umap-learn (pip install umap-learn); 'pca' needs nothing") from None
        xy = umap.UMAP(n_components=2, random_state=seed).fit_transform(vecs)
    else:
        xy = pca_2d(vecs)
    plt = pyplot("the projection picture")
    fig, ax = plt.subplots(figsize=(7, 6), dpi=110)
    groups = sorted(set(labels)) if labels is not None else [None]
    for g in groups:
        idx = [i for i in range(len(texts)) if labels is None or labels[i] == g]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=18, label=None if g is None else str(g), alpha=0.8)
    if len(texts) <= annotate:
        for (px, py), t in zip(xy, texts):
            ax.annotate(t if len(t) <= 30 else t[:29] + "…", (px, py), fontsize=7, alpha=0.8,
                        xytext=(3, 3), textcoords="offset points")
    if labels is not None:
        ax.legend(fontsize=8)
    ax.set_title(f"{method.upper()} of {len(texts)} sentence embeddings")
    ax.grid(alpha=0.3)
    png = save_png(fig, png)
    return xy
