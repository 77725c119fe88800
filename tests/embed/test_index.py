"""Index build/search: exact cosine top-k, float16 storage, chunked building, text lookup, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest

import bertkit
from bertkit.embed.index import Index, build_index
from bertkit.embed.search import cosine_top_k
from bertkit.errors import InputError

CORPUS = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
          "A man is riding a horse.", "A woman is playing violin.", "Two men pushed carts through the woods.",
          "A man is riding a white horse on an enclosed ground.", "A monkey is playing drums.",
          "Someone in a gorilla costume is playing a set of drums.", "Ünïcödé text — café ☕"]
QUERIES = ["A man is eating pasta.", "Someone is riding a horse.", "A cheetah chases prey.", "café"]


@pytest.fixture(scope="module")
def enc(minilm_path):
    return bertkit.load(minilm_path)


def test_index_matches_exact_cosine_top_k(enc, tmp_path):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    idx = build_index(src, tmp_path / "idx", encoder=enc, chunk_size=3)  # several chunks
    meta = json.loads((tmp_path / "idx" / "index.json").read_text())
    assert meta["count"] == len(CORPUS) and meta["dim"] == 384 and meta["pooling"] == "mean"
    emb = np.load(tmp_path / "idx" / "embeddings.npy", mmap_mode="r")
    assert isinstance(emb, np.memmap) and emb.dtype == np.float32
    full = enc.embed(CORPUS, normalize=True)
    np.testing.assert_allclose(emb, full, atol=1e-5)
    q = enc.embed(QUERIES)
    ref_s, ref_i = cosine_top_k(q, full, 4)
    hits = idx.search(QUERIES, k=4, backend="numpy")
    for row, rs, ri in zip(hits, ref_s, ref_i):
        assert [h.id for h in row] == ri.tolist()
        np.testing.assert_allclose([h.score for h in row], rs, atol=1e-5)
        assert [h.text for h in row] == [CORPUS[i] for i in ri]
    # block scanning with a tiny block gives the same answer as one block
    s_small, i_small = idx.search_vectors(q, 4, backend="numpy", block=2)
    np.testing.assert_array_equal(i_small, ref_i)
    np.testing.assert_allclose(s_small, ref_s, atol=1e-5)
    assert idx.search("A man is eating pasta.", k=1)[0][0].text == "A man is eating food."


def test_float16_index_and_reload(enc, tmp_path):
    idx = build_index(CORPUS, tmp_path / "i16", encoder=enc, dtype="float16")
    assert idx.embeddings.dtype == np.float16
    again = Index.load(tmp_path / "i16")  # lazily loads the bundled model for queries
    hits = again.search(QUERIES[:2], k=3, backend="numpy")
    ref = idx.search(QUERIES[:2], k=3, backend="numpy")
    assert [[h.id for h in r] for r in hits] == [[h.id for h in r] for r in ref]
    assert abs(hits[0][0].score - float(cosine_top_k(enc.embed(QUERIES[:1]), enc.embed(CORPUS), 1)[0][0, 0])) < 2e-3
    assert [again.text(i) for i in range(len(CORPUS))] == CORPUS


def test_index_errors(enc, tmp_path):
    with pytest.raises(InputError, match="empty"):
        build_index([], tmp_path / "e", encoder=enc)
    with pytest.raises(InputError, match="dtype"):
        build_index(CORPUS, tmp_path / "e", encoder=enc, dtype="int8")
    with pytest.raises(InputError, match="index.json"):
        Index.load(tmp_path)
    idx = build_index(CORPUS[:3], tmp_path / "ok", encoder=enc)
    with pytest.raises(InputError, match="k must be"):
        idx.search("x", k=0)
    assert len(idx.search("x", k=50)[0]) == 3


def test_faiss_backend_agrees_when_installed(enc, tmp_path):
    pytest.importorskip("faiss")
    idx = build_index(CORPUS, tmp_path / "f", encoder=enc)
    a = idx.search(QUERIES, k=5, backend="faiss")
    b = idx.search(QUERIES, k=5, backend="numpy")
    assert [[h.id for h in r] for r in a] == [[h.id for h in r] for r in b]


def test_cli_index_build_and_search(tmp_path, capsys):
    from bertkit.cli.main import main

    src = tmp_path / "c.txt"
    src.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    assert main(["index", "build", "-i", str(src), "-o", str(tmp_path / "idx"), "--float16", "--batch-size", "4"]) == 0
    assert "10/10" in capsys.readouterr().err  # a progress bar, though 10 texts are far below one 4096-text chunk
    assert main(["search", str(tmp_path / "idx"), "Someone is riding a horse.", "-k", "2"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and "horse" in out[0] and out[0].split("\t")[0].startswith("0.")
    assert main(["search", str(tmp_path / "nope"), "q"]) == 2
