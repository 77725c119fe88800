"""Exact cosine nearest neighbours over a matrix of embeddings."""
from __future__ import annotations

import numpy as np


def cosine_top_k(queries: np.ndarray, corpus: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(Q, D) and (N, D) -> (scores (Q, k'), indices (Q, k')) sorted best first, k' = min(k, N)."""
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    c = corpus / np.maximum(np.linalg.norm(corpus, axis=1, keepdims=True), 1e-12)
    sims = q @ c.T  # (Q, N)
    k = min(k, c.shape[0])
    idx = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part = np.take_along_axis(sims, idx, axis=1)
    order = np.argsort(-part, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(idx, order, axis=1)
