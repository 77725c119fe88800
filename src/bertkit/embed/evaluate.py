"""Evaluating sentence embeddings: STS correlation (Pearson, Spearman) and retrieval (recall@k, MRR).

Both evaluators take any `TextEncoder` and plain lists, so they work the same for the bundled model,
a fine-tuned SBERT folder, or a multilingual student.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertkit.errors import InputError


# ---- correlation ----------------------------------------------------------------------------------------
def pearson(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Pearson's r of two equally long vectors (float64 throughout)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        raise InputError(f"pearson needs two 1-d arrays of the same length >= 2, got {x.shape} and {y.shape}")
    xc, yc = x - x.mean(), y - y.mean()
    den = np.sqrt((xc * xc).sum() * (yc * yc).sum())
    return float((xc * yc).sum() / den) if den > 0 else float("nan")


def rankdata(x: Sequence[float] | np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing the average of the ranks they span (the convention of Spearman's rho)."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    # start index of each run of equal values, in sorted order
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(len(x), dtype=np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman's rho: Pearson's r of the (tie-averaged) ranks."""
    return pearson(rankdata(x), rankdata(y))


# ---- STS data -------------------------------------------------------------------------------------------
@dataclass
class StsData:
    """Sentence pairs with gold similarity scores (as in the file, usually 0..5)."""

    sentences1: list[str]
    sentences2: list[str]
    scores: list[float]

    def __len__(self) -> int:
        return len(self.scores)


def _score(value: str, path: Path, line: int) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{path}: row {line}: score {value!r} is not a number") from None


def read_sts(path: str | Path) -> StsData:
    """Read an STS file. Formats, told apart by extension and header:

    - `.csv` without header, `sentence1,sentence2,score` (stsb-multi-mt; quoted fields are honoured);
    - `.tsv`/`.txt` with a header naming `sentence1`, `sentence2` and `score` (KorSTS, GLUE STS-B);
    - `.tsv`/`.csv` of the original STS benchmark, no header: genre, file, year, id, score, s1, s2 (tab-separated);
    - three tab-separated columns `s1<TAB>s2<TAB>score` without header.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"STS file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not valid UTF-8 (byte {e.start})") from None
    first = text.split("\n", 1)[0]
    tab = "\t" in first
    if tab:  # KorSTS and STS-B contain bare quotes: never interpret them
        rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    else:
        rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"{path} holds no rows")
    header = [c.strip().lower() for c in rows[0]]
    s1: list[str] = []
    s2: list[str] = []
    scores: list[float] = []
    if "sentence1" in header and "sentence2" in header:
        score_col = next((header.index(n) for n in ("score", "similarity_score", "label") if n in header), None)
        if score_col is None:
            raise InputError(f"{path}: header {rows[0]} has no score column (score / similarity_score / label)")
        cols = (header.index("sentence1"), header.index("sentence2"), score_col)
        body, offset = rows[1:], 2
    else:
        width = len(rows[0])
        if width == 3:
            cols = (0, 1, 2)
        elif width >= 7 and tab:
            cols = (5, 6, 4)
        else:
            raise InputError(f"{path}: cannot tell the columns of a {width}-column row without a header; "
                             "expected s1,s2,score or the STS benchmark's 7 tab-separated columns")
        body, offset = rows, 1
    need = max(cols) + 1
    for n, r in enumerate(body, offset):
        if len(r) < need:
            raise InputError(f"{path}: row {n} has {len(r)} columns, expected at least {need}")
        s1.append(r[cols[0]])
        s2.append(r[cols[1]])
        scores.append(_score(r[cols[2]], path, n))
    return StsData(s1, s2, scores)


# ---- evaluators -----------------------------------------------------------------------------------------
def paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (N, D) arrays -> (N,) float64."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    den = np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    return (a * b).sum(1) / den


def evaluate_sts(encoder, data: StsData, pooling: str | None = None, batch_size: int = 32,
                 show_progress: bool | None = None) -> dict[str, float]:
    """Cosine of the two sentences' embeddings against the gold score: {"pearson", "spearman", "n"}.

    `pooling=None` uses the encoder's own pooling (the folder's 1_Pooling setting).
    """
    if len(data) < 2:
        raise InputError(f"STS evaluation needs at least 2 pairs, got {len(data)}")
    kw = {} if pooling is None else {"pooling": pooling}
    # embed the unique sentences once, in one pass (also what sentence-transformers' evaluator does)
    uniq = list(dict.fromkeys(data.sentences1 + data.sentences2))
    pos = {s: i for i, s in enumerate(uniq)}
    emb = encoder.embed(uniq, batch_size=batch_size, show_progress=show_progress, **kw)
    a = emb[[pos[s] for s in data.sentences1]]
    b = emb[[pos[s] for s in data.sentences2]]
    cos = paired_cosine(a, b)
    return {"pearson": pearson(cos, data.scores), "spearman": spearman(cos, data.scores), "n": float(len(data))}


def retrieval_metrics(ranked: np.ndarray, relevant: Sequence[set[int] | Sequence[int]],
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Metrics of ranked result lists. ranked: (Q, K) corpus ids best first; relevant: per query, the right ids.

    recall@k = |relevant ∩ top k| / |relevant|, averaged over queries; mrr@K = mean of 1/rank of the
    first relevant hit within the K ranked ids (0 when none).
    """
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or len(ranked) != len(relevant):
        raise InputError(f"ranked must be (Q, K) with Q = {len(relevant)} queries, got {ranked.shape}")
    out: dict[str, float] = {}
    rel = [set(int(i) for i in r) for r in relevant]
    if any(not r for r in rel):
        raise InputError("every query needs at least one relevant corpus id")
    for k in ks:
        out[f"recall@{k}"] = float(np.mean([len(r & set(row[:k].tolist())) / len(r) for r, row in zip(rel, ranked)]))
    rr = []
    for r, row in zip(rel, ranked):
        hit = next((i for i, c in enumerate(row.tolist()) if c in r), None)
        rr.append(0.0 if hit is None else 1.0 / (hit + 1))
    out[f"mrr@{ranked.shape[1]}"] = float(np.mean(rr))
    return out


def evaluate_retrieval(encoder, queries: Sequence[str], corpus: Sequence[str],
                       relevant: Sequence[set[int] | Sequence[int]], ks: Sequence[int] = (1, 5, 10),
                       mrr_at: int = 10, pooling: str | None = None, batch_size: int = 32) -> dict[str, float]:
    """Embed queries and corpus, rank the corpus by cosine per query, return recall@k and MRR@mrr_at."""
    from bertkit.embed.search import cosine_top_k

    if len(queries) != len(relevant):
        raise InputError(f"{len(queries)} queries but {len(relevant)} relevance sets")
    kw = {} if pooling is None else {"pooling": pooling}
    q = encoder.embed(list(queries), batch_size=batch_size, **kw)
    c = encoder.embed(list(corpus), batch_size=batch_size, **kw)
    depth = max(max(ks), mrr_at)
    _, idx = cosine_top_k(q, c, depth)
    full = retrieval_metrics(idx, relevant, ks)
    mrr = retrieval_metrics(idx[:, :mrr_at], relevant, ks=())
    full.pop(f"mrr@{idx.shape[1]}", None)
    full[f"mrr@{mrr_at}"] = mrr[f"mrr@{min(mrr_at, idx.shape[1])}"]
    return full


def cross_lingual(first: StsData, second: StsData) -> StsData:
    """Pairs (sentence1 of `first`, sentence2 of `second`): e.g. English s1 against German s2 of the same STS-B row.

    The two files must be translations of one another row by row (stsb-multi-mt is), so the scores agree.
    """
    if len(first) != len(second) or not np.allclose(first.scores, second.scores):
        raise InputError("the two STS files are not row-aligned translations (lengths or scores differ)")
    return StsData(list(first.sentences1), list(second.sentences2), list(first.scores))
