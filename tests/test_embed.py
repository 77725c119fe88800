"""Embeddings of the real all-MiniLM-L6-v2 against sentence-transformers and transformers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import bertkit
from bertkit.errors import InputError

SENTS = ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby.",
         "A man is riding a horse.", "Two men pushed carts through the woods.", "", "   ",
         "Héllo wörld — naïve café 😀", "short", "a much longer sentence " * 12]


@pytest.fixture(scope="module")
def enc(minilm_path):
    return bertkit.load(minilm_path)


@pytest.fixture(scope="module")
def hf(minilm_path):
    from transformers import AutoModel, AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path), AutoModel.from_pretrained(minilm_path).eval()


def test_default_is_bundled_minilm(enc):
    assert bertkit.load().name == "all-MiniLM-L6-v2" and enc.dim == 384
    np.testing.assert_array_equal(bertkit.load().embed(["same model"]), enc.embed(["same model"]))


def test_mean_normalized_matches_sentence_transformers(enc, minilm_path):
    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(minilm_path), device="cpu").encode(SENTS, normalize_embeddings=True)
    got = enc.embed(SENTS, pooling="mean", normalize=True, batch_size=4)
    assert got.dtype == np.float32 and got.shape == (len(SENTS), 384)
    cos = (ref * got).sum(1)
    assert cos.min() >= 0.99999, cos


def test_default_follows_the_folders_modules_like_sentence_transformers(enc, minilm_path, tmp_path):
    """modules.json ends with Normalize: embed() without `normalize` gives what SentenceTransformer.encode gives
    (unit vectors); an explicit normalize=False still gives the raw mean-pooled vectors."""
    import json
    import shutil

    from sentence_transformers import SentenceTransformer

    ref = SentenceTransformer(str(minilm_path), device="cpu").encode(SENTS[:5])
    got = enc.embed(SENTS[:5])
    assert enc.normalize is True
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)
    raw = enc.embed(SENTS[:5], normalize=False)
    assert np.linalg.norm(raw, axis=1).min() > 2.0
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), got, atol=1e-6)
    # the same folder without the Normalize module: raw vectors by default
    plain = tmp_path / "plain"
    shutil.copytree(minilm_path, plain)
    modules = json.loads((plain / "modules.json").read_text())
    (plain / "modules.json").write_text(json.dumps([m for m in modules if not m["type"].endswith("Normalize")]))
    other = bertkit.load(plain)
    assert other.normalize is False
    np.testing.assert_allclose(other.embed(SENTS[:5]), raw, atol=1e-6)


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_other_poolings_match_manual_transformers(enc, hf, pooling):
    tok, model = hf
    batch = tok(SENTS[:5], padding=True, return_tensors="pt")
    with torch.no_grad():
        h = model(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).bool()
    ref = h[:, 0] if pooling == "cls" else h.masked_fill(~m, -1e9).amax(1)
    got = enc.embed(SENTS[:5], pooling=pooling, normalize=False)
    np.testing.assert_allclose(got, ref.numpy(), atol=2e-5, rtol=1e-4)


def test_layers_and_combine_match_hidden_states(enc, hf):
    tok, model = hf
    batch = tok(SENTS[:3], padding=True, return_tensors="pt")
    with torch.no_grad():
        hs = model(**batch, output_hidden_states=True).hidden_states
    m = batch["attention_mask"].unsqueeze(-1).float()
    mean = lambda h: ((h * m).sum(1) / m.sum(1)).numpy()  # noqa: E731
    four = [-4, -3, -2, -1]
    cat = enc.embed(SENTS[:3], layers=four, combine="concat", normalize=False)
    summed = enc.embed(SENTS[:3], layers=four, combine="sum", normalize=False)
    assert cat.shape == (3, 4 * 384)
    np.testing.assert_allclose(cat, np.concatenate([mean(hs[i]) for i in four], 1), atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(summed, mean(sum(hs[i] for i in four)), atol=5e-5, rtol=1e-4)
    np.testing.assert_allclose(enc.embed(SENTS[:3], layers=0, normalize=False), mean(hs[0]), atol=2e-5, rtol=1e-4)


def test_features_give_every_layer_per_token(enc, hf):
    tok, model = hf
    f = enc.features(["I love Paris", "unaffable"])
    assert f[0].tokens == ["[CLS]", "i", "love", "paris", "[SEP]"]
    assert f[0].layers.shape == (7, 5, 384)
    ids = tok(["unaffable"], return_tensors="pt")
    with torch.no_grad():
        hs = model(**ids, output_hidden_states=True).hidden_states
    np.testing.assert_allclose(f[1].layers, torch.stack(hs)[:, 0].numpy(), atol=2e-5, rtol=1e-4)


def test_empty_and_whitespace_texts_are_embedded(enc):
    v = enc.embed(["", "  \t "], normalize=True)
    assert np.isfinite(v).all() and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert enc.embed([]).shape == (0, 384)


def test_long_text_truncated_once_with_warning_or_error(enc):
    long = "word " * 2000
    with pytest.warns(UserWarning, match="truncated"):
        v = enc.embed([long, long])
    assert v.shape == (2, 384)
    with pytest.raises(InputError, match="2002 tokens, more than the model's 256"):
        enc.embed([long], truncate=False)


def test_window_mode_averages_overlapping_windows(enc, hf):
    text = " ".join(f"w{i}" for i in range(400))  # ~1200 tokens, several windows
    ids = enc.tokenizer([text], truncation=False, padding=False)["input_ids"][0]
    rows, owner = enc._encode([text, "short"], "window")
    assert len(rows) > 2 and owner.tolist() == [0] * (len(rows) - 1) + [1]
    assert all(len(r) <= enc.max_length for r in rows)
    body = [t for r in rows[:-1] for t in r[1:-1]]
    assert set(body) == set(ids[1:-1])  # every token is covered by some window
    with torch.no_grad():  # reference: transformers on each window's ids, mean-pooled, then averaged
        want = torch.stack([hf[1](torch.tensor([r])).last_hidden_state[0].mean(0) for r in rows[:-1]]).mean(0).numpy()
    got = enc.embed([text, "short"], truncate="window", normalize=False)
    np.testing.assert_allclose(got[0], want, atol=1e-4)
    np.testing.assert_allclose(got[1], enc.embed(["short"], normalize=False)[0], atol=1e-5)


def test_precisions(enc):
    from bertkit.embed.precision import bf16_supported

    ref = enc.embed(SENTS, normalize=True)
    cos = lambda a: (a * ref).sum(1)  # noqa: E731
    bf16 = enc.embed(SENTS, normalize=True, precision="bf16")
    assert cos(bf16).min() >= 0.999 and not np.array_equal(bf16, ref)
    int8 = enc.embed(SENTS, normalize=True, precision="int8")
    assert 0.8 < cos(int8).min() < 0.99999  # lossy, measured in benchmarks/embed_speed.py
    auto = enc.embed(SENTS, normalize=True, precision="auto")
    assert enc._auto == ("bf16" if bf16_supported() else "fp32")
    assert cos(auto).min() >= 0.999
    with pytest.raises(InputError, match="unknown precision 'fp16'"):
        enc.embed(["x"], precision="fp16")


def test_parallel_batches_give_the_serial_vectors_in_order(enc, minilm_path):
    texts = [f"sentence number {i} " + "word " * (i % 23) for i in range(150)]  # many lengths, many batches
    serial = bertkit.load(minilm_path, workers=1)
    parallel = bertkit.load(minilm_path, workers=2)
    for precision in ("fp32", "bf16"):
        one = serial.embed(texts, normalize=True, batch_size=8, precision=precision)
        two = parallel.embed(texts, normalize=True, batch_size=8, precision=precision)
        assert (one * two).sum(1).min() > 0.9999  # rows land where they belong
    assert parallel._workers_for(parallel._model_for("bf16", [])) == 2
    assert enc._workers_for(enc._model_for("fp32", [])) == 1  # fp32 gains nothing from it (measured)
    with pytest.raises(InputError, match="workers must be >= 1"):
        bertkit.load(minilm_path, workers=0)


def test_bad_arguments(enc):
    with pytest.raises(InputError, match="list of texts"):
        enc.embed("just a string")
    with pytest.raises(InputError, match="unknown pooling 'sum'"):
        enc.embed(["x"], pooling="sum")
    with pytest.raises(InputError, match="layer 9 out of range"):
        enc.embed(["x"], layers=9)
    with pytest.raises(InputError, match="text 1 is int"):
        enc.embed(["x", 3])
    with pytest.raises(InputError, match="last layer only"):
        enc.embed(["x"], pooling="pooler", layers=[-2, -1])


def test_pooler_output_matches_transformers(enc, hf):
    tok, model = hf
    with torch.no_grad():
        ref = model(**tok(SENTS[:4], padding=True, return_tensors="pt")).pooler_output
    np.testing.assert_allclose(enc.embed(SENTS[:4], pooling="pooler", normalize=False), ref.numpy(), atol=2e-5, rtol=1e-4)


def test_order_is_preserved_across_length_sorted_batches(enc):
    texts = ["a", "b c d e f g h i j k", "hello", "x y z"]
    one_by_one = np.stack([enc.embed([t])[0] for t in texts])
    np.testing.assert_allclose(enc.embed(texts, batch_size=2), one_by_one, atol=1e-5)
