"""Tokenize a corpus once into a memory-mapped token cache, then stream examples from it.

Corpus format (BERT's): one sentence (or line) per line, documents separated by blank lines. A `.tsv`
file with a `document` column (NSMC) is read as one document per row. The cache folder holds
    tokens.bin      every token id, uint16 or uint32, sentence after sentence (np.memmap)
    sentences.npy   int64 (S + 1,): start of each sentence in tokens.bin
    documents.npy   int64 (D + 1,): first sentence of each document
    meta.json       source files (size, mtime), vocabulary size, dtype: a changed input rebuilds the cache
Only the sentence offsets live in memory, so corpora much larger than RAM work.
"""
from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bertkit.errors import InputError


def read_documents(path: str | Path) -> Iterator[list[str]]:
    """Documents (lists of non-empty lines) of a text corpus or a TSV with a `document` column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"corpus file not found: {path}")
    with path.open(encoding="utf-8", errors="replace", newline="") as f:
        if path.suffix == ".tsv" or path.name.endswith((".tsv.txt",)) or _looks_tsv(path):
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            for row in reader:
                text = (row.get("document") or "").strip()
                if text:
                    yield [text]
            return
        doc: list[str] = []
        for line in f:
            line = line.strip()
            if line:
                doc.append(line)
            elif doc:
                yield doc
                doc = []
        if doc:
            yield doc


def _looks_tsv(path: Path) -> bool:
    with path.open(encoding="utf-8", errors="replace") as f:
        head = f.readline()
    return "\t" in head and "document" in head.lower().split("\t")


class TokenCache:
    """Read side of a cache folder: sentences and documents as slices of one memory-mapped array."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        self.folder, self.meta = folder, meta
        self.sent = np.load(folder / "sentences.npy")
        self.docs = np.load(folder / "documents.npy")
        n = int(self.sent[-1])
        self.tokens = (np.memmap(folder / "tokens.bin", dtype=meta["dtype"], mode="r", shape=(n,)) if n
                       else np.zeros(0, dtype=meta["dtype"]))

    @property
    def num_documents(self) -> int:
        return len(self.docs) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.sent[-1])

    def document_sentences(self, d: int) -> range:
        return range(int(self.docs[d]), int(self.docs[d + 1]))

    def sentence(self, s: int) -> np.ndarray:
        return self.tokens[self.sent[s]:self.sent[s + 1]]

    def span(self, s0: int, s1: int) -> np.ndarray:
        """Tokens of sentences s0 .. s1-1, contiguous."""
        return self.tokens[self.sent[s0]:self.sent[s1]]


def _source_stamp(files: Sequence[Path]) -> list[dict]:
    return [{"path": str(Path(f).resolve()), "size": Path(f).stat().st_size, "mtime": Path(f).stat().st_mtime}
            for f in files]


def build_token_cache(files: Sequence[str | Path], encode: Callable[[list[str]], list[list[int]]], vocab_size: int,
                      folder: str | Path, tokenizer_id: str = "", chunk: int = 2048,
                      progress: bool = True) -> TokenCache:
    """Tokenize `files` (see read_documents) into `folder`, or reuse it when sources and tokenizer are unchanged.

    encode: a batch of sentences -> their ids without special tokens (e.g. a Tokenizer's batch call)."""
    files = [Path(f) for f in files]
    folder = Path(folder)
    stamp = {"sources": _source_stamp(files), "vocab_size": vocab_size, "tokenizer": tokenizer_id}
    if (folder / "meta.json").is_file():
        old = json.loads((folder / "meta.json").read_text())
        if {k: old.get(k) for k in stamp} == stamp:
            return TokenCache(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dtype = "uint16" if vocab_size <= 65535 else "uint32"
    sent_offsets, doc_offsets = [0], [0]
    tmp_bin = folder / "tokens.bin.tmp"
    n_sent = 0
    bar = tqdm(desc="tokenizing", unit=" docs", disable=not progress)
    with tmp_bin.open("wb") as out:
        pending: list[str] = []
        pending_docs: list[int] = []  # sentence count of each document in `pending`

        def flush() -> None:
            nonlocal n_sent
            if not pending:
                return
            for ids in encode(pending):
                arr = np.asarray(ids, dtype=dtype)
                out.write(arr.tobytes())
                sent_offsets.append(sent_offsets[-1] + len(arr))
            for k in pending_docs:
                n_sent += k
                doc_offsets.append(n_sent)
            bar.update(len(pending_docs))
            pending.clear()
            pending_docs.clear()

        for f in files:
            for doc in read_documents(f):
                pending.extend(doc)
                pending_docs.append(len(doc))
                if len(pending) >= chunk:
                    flush()
        flush()
    bar.close()
    np.save(folder / "sentences.npy", np.asarray(sent_offsets, dtype=np.int64))
    np.save(folder / "documents.npy", np.asarray(doc_offsets, dtype=np.int64))
    os.replace(tmp_bin, folder / "tokens.bin")
    (folder / "meta.json").write_text(json.dumps({**stamp, "dtype": dtype}, indent=1))
    if len(doc_offsets) == 1:
        raise InputError(f"no text found in {', '.join(map(str, files))}")
    return TokenCache(folder)
