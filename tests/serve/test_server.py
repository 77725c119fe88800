"""A real uvicorn server on a free loopback port: answers equal offline embed, micro-batching, JSON errors."""
from __future__ import annotations

import http.client
import json
import threading

import numpy as np
import pytest

import bertkit
from bertkit.serve import ServeConfig, ServerError, create_app
from tests.serve.conftest import ThreadServer

TEXTS = ["A man is eating food.", "A man is riding a horse.", "", "Héllo wörld — naïve café 😀",
         "a much longer sentence " * 20, "short"]


@pytest.fixture(scope="module")
def server(minilm):
    cfg = ServeConfig(max_texts=8, max_chars=1000, max_body_bytes=8192, max_batch=64, max_wait_ms=100.0)
    with ThreadServer(create_app(minilm, cfg)) as s:
        yield s


def raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, r.getheader("content-type"), json.loads(r.read())
    finally:
        conn.close()


def test_embed_equals_offline_embed(server, minilm):
    c = bertkit.Client(server.url)
    for pooling in ("mean", "cls", "max"):
        for normalize in (False, True):
            got = c.embed(TEXTS, pooling=pooling, normalize=normalize)
            ref = minilm.embed(TEXTS, pooling=pooling, normalize=normalize)
            assert got.dtype == np.float32 and got.shape == (len(TEXTS), 384)
            np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)
    status, ctype, body = raw(server, "POST", "/embed", json.dumps({"texts": ["x"]}).encode())
    assert status == 200 and ctype == "application/json" and body["dim"] == 384 and body["model"] == minilm.name
    assert c.embed([]).shape == (0, 384)
    h = c.health()
    assert h["status"] == "ok" and h["dim"] == 384 and h["pooling"] == "mean"


def test_embed_follows_the_models_normalize_module(server, minilm):
    """all-MiniLM-L6-v2 ends with Normalize: a request without "normalize" gets unit vectors, as
    sentence-transformers and the offline embed() give; "normalize": false still gets the raw ones."""
    c = bertkit.Client(server.url)
    got = c.embed(TEXTS[:2])
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, minilm.embed(TEXTS[:2]), atol=2e-5, rtol=1e-4)
    assert np.linalg.norm(c.embed(TEXTS[:2], normalize=False), axis=1).min() > 2.0
    assert c.health()["normalize"] is True


def test_a_single_string_is_a_list_of_one(server, minilm):
    status, _, body = raw(server, "POST", "/embed", json.dumps({"texts": "A man is eating food."}).encode())
    assert status == 200 and len(body["embeddings"]) == 1
    np.testing.assert_allclose(body["embeddings"], minilm.embed(["A man is eating food."]), atol=2e-5, rtol=1e-4)
    status, _, body = raw(server, "POST", "/similarity", json.dumps({"a": "a cat", "b": ["a cat", "stocks"]}).encode())
    assert status == 200 and np.asarray(body["scores"]).shape == (1, 2) and body["scores"][0][0] > 0.999
    assert bertkit.Client(server.url).embed("A man is eating food.").shape == (1, 384)


def test_similarity_is_cosine_of_offline_embeddings(server, minilm):
    a, b = TEXTS[:2], TEXTS[3:]
    got = bertkit.Client(server.url).similarity(a, b)
    u, v = minilm.embed(a, normalize=True), minilm.embed(b, normalize=True)
    np.testing.assert_allclose(got, u @ v.T, atol=2e-5)


def test_concurrent_requests_are_merged_and_each_gets_its_rows(server, minilm):
    c = bertkit.Client(server.url)
    before = c.health()
    n = 8
    go = threading.Barrier(n)
    results: dict[int, np.ndarray] = {}

    def worker(i: int) -> None:
        go.wait(10)
        results[i] = c.embed([f"request {i} asks about topic {i * 7}", TEXTS[i % len(TEXTS)]])

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    after = c.health()
    assert after["requests"] - before["requests"] == n
    assert after["batches"] - before["batches"] < n  # a 100 ms window merges simultaneous requests
    for i in range(n):
        ref = minilm.embed([f"request {i} asks about topic {i * 7}", TEXTS[i % len(TEXTS)]])
        np.testing.assert_allclose(results[i], ref, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("body, status, words", [
    ({"texts": ["x"] * 9}, 413, "at most 8"),
    ({"texts": ["x" * 1001]}, 413, "1001 characters"),
    ({"a": ["x"] * 5, "b": ["y"] * 5}, 413, "at most 8"),
    ({"texts": 3}, 422, "a string or a list of strings, got int"),
    ({"texts": ["ok", 3]}, 422, "texts[1] is int"),
    ({"texts": ["ok"], "pooling": "avg"}, 422, "pooling must be"),
    ({"texts": ["ok"], "normalize": "yes"}, 422, "normalize"),
    ({"texts": ["ok"], "colour": 1}, 422, "unknown field"),
    ({"text": ["ok"]}, 422, "missing field 'texts'"),
    ([1, 2], 422, "JSON object"),
    ({"texts": ["ok"], "pooling": "pooler", "normalize": 1}, 422, "normalize"),
])
def test_bad_requests_get_json_errors(server, body, status, words):
    path = "/similarity" if "a" in (body if isinstance(body, dict) else {}) else "/embed"
    got, ctype, data = raw(server, "POST", path, json.dumps(body).encode())
    assert (got, ctype) == (status, "application/json")
    assert data["status"] == status and words in data["error"]


def test_malformed_and_oversized_bodies_and_routes(server):
    assert raw(server, "POST", "/embed", b'{"texts": ["unterminated"')[0] == 400
    assert raw(server, "POST", "/embed", b"\xff\xfe not utf-8")[0] == 400
    status, _, data = raw(server, "POST", "/embed", json.dumps({"texts": ["y" * 900] * 10}).encode())
    assert status == 413 and "body" in data["error"]
    assert raw(server, "GET", "/nope")[0] == 404
    status, _, data = raw(server, "GET", "/embed")
    assert status == 405 and "error" in data
    with pytest.raises(ServerError) as e:
        bertkit.Client(server.url).embed(["x"] * 9)
    assert e.value.status == 413
    assert bertkit.Client(server.url).health()["status"] == "ok"  # still alive after all of the above


def test_the_server_embeds_in_the_precision_it_was_started_with(minilm):
    """ServeConfig.precision (`bertkit serve --precision`) reaches embed(): int8 vectors are int8's, not fp32's."""
    with ThreadServer(create_app(minilm, ServeConfig(precision="int8"))) as s:
        got = bertkit.Client(s.url).embed(TEXTS)
    want = minilm.embed(TEXTS, precision="int8")
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=1e-4)
    assert np.abs(got - minilm.embed(TEXTS)).max() > 1e-3
