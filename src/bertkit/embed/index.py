"""A semantic search index on disk: unit embeddings (memory-mapped .npy) with the texts alongside.

Folder layout:
    index.json       format, model, pooling, dim, count, dtype
    embeddings.npy   (N, D) float32 or float16, L2-normalised rows, opened with mmap
    texts.txt        one text per line (UTF-8), and offsets.npy (N + 1,) int64 byte offsets into it

Building streams the input in chunks, so neither texts nor embeddings need to fit in memory; search scans
the matrix in blocks and keeps a running top-k (exact cosine). With backend="faiss" (when faiss is
installed) an exact inner-product faiss index over the same vectors answers instead.
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bertkit.errors import InputError

FORMAT = "bertkit-index"
DTYPES = ("float32", "float16")
BACKENDS = ("auto", "numpy", "faiss")


@dataclass
class Hit:
    """One search result: corpus id, cosine score and the text."""

    id: int
    score: float
    text: str


def _faiss():
    try:
        import faiss  # type: ignore[import-not-found]
    except ImportError:
        return None
    return faiss


def _count_lines(path: Path) -> int:
    n = 0
    with path.open("rb") as f:
        for _ in f:
            n += 1
    return n


def build_index(texts: str | Path | Sequence[str], out_dir: str | Path, encoder=None, model: str | Path | None = None,
                dtype: str = "float32", chunk_size: int = 4096, batch_size: int = 32, pooling: str | None = None,
                show_progress: bool | None = None, resume: bool = False) -> Index:
    """Embed `texts` (a file with one text per line, or a list) into an index folder at `out_dir`.

    encoder: a TextEncoder (default: `bertkit.load(model)`). dtype: float32 | float16 storage.
    Texts are embedded `chunk_size` at a time and written straight to the memory-mapped file; the
    folder appears only when complete (built in `.NAME.partial` beside it, then renamed). An interrupted build
    (Ctrl-C, SIGTERM, a crash) keeps that folder and the count of finished chunks: `resume=True` with the same
    arguments continues after the last one and gives the index an uninterrupted build gives.
    """
    from bertkit.embed import load
    from bertkit.errors import warn
    from bertkit.resumable import Progress, input_signature
    from bertkit.textio import iter_lines

    if dtype not in DTYPES:
        raise InputError(f"unknown dtype {dtype!r}; expected one of {DTYPES}")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    if isinstance(texts, (str, Path)):
        src = Path(texts)
        if not src.is_file():
            raise InputError(f"corpus file not found: {src}")
        count = _count_lines(src)
        stream: Iterable[str] = iter_lines(src)
    else:
        if isinstance(texts, str):
            raise InputError("texts must be a file path or a list of texts")
        count, stream = len(texts), iter(texts)
    if count == 0:
        raise InputError("the corpus is empty: nothing to index")
    enc = encoder if encoder is not None else load(model)
    pool = pooling or enc.pooling
    dim = enc.embed(["x"], pooling=pool).shape[1]  # validates pooling before any work
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial"
    progress = Progress(tmp / "progress.json", {
        **input_signature(texts), "model": enc.name, "model_path": _model_path(enc, model), "pooling": pool,
        "dim": int(dim), "count": int(count), "dtype": dtype, "chunk_size": chunk_size, "batch_size": batch_size})
    row = pos = 0
    if resume:
        state = progress.resume("index build")
        row, pos = state["rows"], state["pos"]
    elif tmp.exists():
        if (tmp / "progress.json").exists():
            warn(f"{tmp} holds an interrupted build; starting over (resume=True, or --resume, continues it)")
        shutil.rmtree(tmp)
    tmp.mkdir(exist_ok=True)
    mode = "r+" if resume else "w+"
    try:
        emb = np.lib.format.open_memmap(tmp / "embeddings.npy", mode=mode, dtype=np.dtype(dtype), shape=(count, dim))
        offsets = np.lib.format.open_memmap(tmp / "offsets.npy", mode=mode, dtype=np.int64, shape=(count + 1,))
    except (OSError, ValueError) as e:
        raise InputError(f"{tmp} cannot be resumed: {e}; build again without resume") from None
    if emb.shape != (count, dim) or offsets.shape != (count + 1,):
        raise InputError(f"{tmp} holds arrays of other shapes than this build's; build again without resume")
    progress.commit(row, pos=pos)
    stream = itertools.islice(stream, row, None)  # skip what is done (a file is read again from its start)
    show = show_progress if show_progress is not None else count - row > batch_size
    # a build of one chunk would move the bar once, at the end: there the embedding's own bar shows its batches
    within_chunk = show and count - row <= chunk_size
    bar = tqdm(total=count, initial=row, desc="index", unit="text", disable=not show or within_chunk)
    try:
        with (tmp / "texts.txt").open("r+b" if resume else "wb") as tf, bar:
            tf.seek(pos)
            tf.truncate()
            for chunk in _chunks(stream, chunk_size):
                vecs = enc.embed(chunk, pooling=pool, normalize=True, batch_size=batch_size,
                                 show_progress=within_chunk)
                emb[row:row + len(chunk)] = vecs.astype(dtype)
                for t in chunk:
                    b = t.replace("\r", " ").replace("\n", " ").encode("utf-8") + b"\n"
                    offsets[row] = pos
                    tf.write(b)
                    pos += len(b)
                    row += 1
                emb.flush()
                offsets.flush()
                tf.flush()
                os.fsync(tf.fileno())
                progress.commit(row, pos=pos)  # only once the chunk is on disk: a crash in between redoes it
                bar.update(len(chunk))
    except InputError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except BaseException:  # Ctrl-C or a failure: keep the finished chunks for resume (as SIGTERM or a kill do)
        if not row:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        offsets[count] = pos
        if row != count:
            raise InputError(f"expected {count} texts but read {row}; was the corpus changed while indexing?")
        emb.flush()
        offsets.flush()
        del emb, offsets
        meta = {"format": FORMAT, "version": 1, "model": enc.name,
                "model_path": _model_path(enc, model),
                "pooling": pool, "dim": int(dim), "count": int(count), "dtype": dtype, "normalized": True,
                "max_length": int(enc.max_length)}
        (tmp / "index.json").write_text(json.dumps(meta, indent=2) + "\n")
        progress.remove()
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Index.load(out, encoder=enc)


def _model_path(enc, model: str | Path | None) -> str | None:
    """Where queries' model comes from: the given folder, the encoder's own folder, or None (bundled)."""
    from bertkit.hub.default import default_model_path, resolve_model_path

    # a hub id is stored as its snapshot folder, which loads without the cache settings of this run
    src = resolve_model_path(model) if model is not None else getattr(enc, "path", None)
    if src is None:
        return None
    src = Path(src).resolve()
    return None if src == default_model_path().resolve() else str(src)


def _chunks(it: Iterable[str], size: int) -> Iterable[list[str]]:
    """Lazily yield lists of up to `size` items."""
    buf: list[str] = []
    for x in it:
        buf.append(x)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


class Index:
    """A loaded index: `search(queries, k)` -> per query a list of Hit, best first."""

    def __init__(self, path: Path, meta: dict, embeddings: np.ndarray, offsets: np.ndarray, encoder=None) -> None:
        self.path, self.meta, self.embeddings, self.offsets = path, meta, embeddings, offsets
        self._encoder = encoder
        self._faiss_index = None

    @classmethod
    def load(cls, path: str | Path, encoder=None) -> Index:
        """Open an index folder (embeddings memory-mapped). The encoder is loaded lazily on first text query."""
        path = Path(path)
        meta_file = path / "index.json"
        if not meta_file.is_file():
            raise InputError(f"not an index folder (no index.json): {path}")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{meta_file} is not valid JSON: {e}") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{meta_file} is not a bertkit index (format {meta.get('format')!r})")
        emb = np.load(path / "embeddings.npy", mmap_mode="r")
        offsets = np.load(path / "offsets.npy", mmap_mode="r")
        if emb.shape != (meta["count"], meta["dim"]) or len(offsets) != meta["count"] + 1:
            raise InputError(f"index {path} is inconsistent: embeddings {emb.shape}, {len(offsets) - 1} texts, "
                             f"index.json says {meta['count']} x {meta['dim']}")
        return cls(path, meta, emb, offsets, encoder)

    def __len__(self) -> int:
        return int(self.meta["count"])

    @property
    def encoder(self):
        if self._encoder is None:
            from bertkit.embed import load

            self._encoder = load(self.meta.get("model_path"))
        return self._encoder

    def text(self, i: int) -> str:
        """The i-th indexed text, read from disk (only the bytes of that line)."""
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        with (self.path / "texts.txt").open("rb") as f:
            f.seek(a)
            return f.read(b - a).decode("utf-8").rstrip("\n")

    def embed_queries(self, queries: Sequence[str]) -> np.ndarray:
        enc = self.encoder
        if enc.dim != self.meta["dim"]:
            raise InputError(f"the query model gives {enc.dim}-d vectors but the index holds {self.meta['dim']}-d")
        return enc.embed(list(queries), pooling=self.meta["pooling"], normalize=True, show_progress=False)

    def search_vectors(self, q: np.ndarray, k: int = 5, backend: str = "auto",
                       block: int = 65536) -> tuple[np.ndarray, np.ndarray]:
        """(Q, D) query vectors -> (scores (Q, k'), ids (Q, k')) by exact cosine, best first."""
        if backend not in BACKENDS:
            raise InputError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        q = np.asarray(q, dtype=np.float32)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
        k = min(k, len(self))
        faiss = _faiss()
        if backend == "faiss" and faiss is None:
            raise InputError("backend='faiss' needs the faiss package (pip install faiss-cpu)")
        if backend == "faiss" or (backend == "auto" and faiss is not None):
            if self._faiss_index is None:
                idx = faiss.IndexFlatIP(self.meta["dim"])
                for s in range(0, len(self), block):
                    idx.add(np.ascontiguousarray(self.embeddings[s:s + block], dtype=np.float32))
                self._faiss_index = idx
            scores, ids = self._faiss_index.search(np.ascontiguousarray(q), k)
            return scores, ids.astype(np.int64)
        best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(q), 0), dtype=np.int64)
        for s in range(0, len(self), block):  # running top-k over blocks: memory stays O(Q * block)
            sims = q @ np.asarray(self.embeddings[s:s + block], dtype=np.float32).T  # (Q, b)
            kk = min(k, sims.shape[1])
            part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            cand_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], 1)
            cand_i = np.concatenate([best_i, part + s], 1)
            order = np.lexsort((cand_i, -cand_s), axis=1)[:, :k]  # score desc, then lower id first
            best_s, best_i = np.take_along_axis(cand_s, order, 1), np.take_along_axis(cand_i, order, 1)
        return best_s, best_i

    def search(self, queries: str | Sequence[str], k: int = 5, backend: str = "auto") -> list[list[Hit]]:
        """Text queries -> per query the k nearest indexed texts (exact cosine), best first."""
        if isinstance(queries, str):
            queries = [queries]
        scores, ids = self.search_vectors(self.embed_queries(queries), k, backend)
        return [[Hit(int(i), float(s), self.text(int(i))) for s, i in zip(srow, irow)]
                for srow, irow in zip(scores, ids)]


def load_index(path: str | Path, model: str | Path | None = None) -> Index:
    """Open an index; `model` overrides the folder the index was built with (for queries)."""
    from bertkit.embed import load

    return Index.load(path, encoder=None if model is None else load(model))
