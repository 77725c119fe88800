"""The embedding server (bert-as-service, chapter 9) as a FastAPI app on uvicorn.

    POST /embed       {"texts": [...] or "one text", "pooling": "mean", "normalize": true}
                      (pooling and normalize default to the model's own: its 1_Pooling and Normalize modules)
                      -> {"embeddings": [[...]], "dim": D, "model": NAME}
    POST /similarity  {"a": [...], "b": [...], "pooling": "mean"} -> {"scores": [[cos(a_i, b_j)]], "model": NAME}
                      (a single string in "texts", "a" or "b" counts as a list of one: the rows stay a list)
    GET  /health      -> {"status": "ok", "model", "dim", "pooling", "batching", "batches", "requests"}

Every error is JSON {"error": message, "status": code}: 413 for too many texts, too long a text or too
large a body; 400 for malformed JSON; 422 for wrong types or values; 404/405 for unknown routes. A
failure inside the model answers 500 and the server keeps running.
"""
from __future__ import annotations

import json
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from bertkit.nn.pooling import POOLINGS
from bertkit.serve.batcher import MicroBatcher


@dataclass
class ServeConfig:
    """Server limits and batching policy."""

    max_texts: int = 256           # texts per request (413 beyond)
    max_chars: int = 20_000        # characters per text (413 beyond)
    max_body_bytes: int = 8 << 20  # request body (413 beyond)
    max_batch: int = 64            # texts per micro-batch
    max_wait_ms: float = 5.0       # how long the first request of a batch waits for company
    batching: bool = True
    precision: str = "fp32"        # fp32 | bf16 | int8 | auto: embed()'s precision (bertkit.hardware decides auto)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _json(payload: dict, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status_code=status, media_type="application/json")


def _error(status: int, message: str) -> Response:
    return _json({"error": message, "status": status}, status)


def _texts(body: dict, key: str, cfg: ServeConfig) -> list[str]:
    """The texts of field `key`: a list of strings, or one string (answered as a list of one)."""
    if key not in body:
        raise ApiError(422, f"missing field {key!r}: a string or a list of strings")
    texts = body[key]
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list):
        raise ApiError(422, f"{key!r} must be a string or a list of strings, got {type(texts).__name__}")
    if len(texts) > cfg.max_texts:
        raise ApiError(413, f"{len(texts)} texts in {key!r}; at most {cfg.max_texts} per request")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ApiError(422, f"{key}[{i}] is {type(t).__name__}, expected a string")
        if len(t) > cfg.max_chars:
            raise ApiError(413, f"{key}[{i}] has {len(t)} characters; at most {cfg.max_chars} per text")
    return texts


def _options(body: dict, allowed: set[str], default_pooling: str, default_normalize: bool = False) -> tuple[str, bool]:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(422, f"unknown field(s) {unknown}; expected {sorted(allowed)}")
    pooling = body.get("pooling", default_pooling)
    if pooling is None:
        pooling = default_pooling
    if not isinstance(pooling, str) or pooling not in POOLINGS:
        raise ApiError(422, f"pooling must be one of {list(POOLINGS)}, got {pooling!r}")
    normalize = body.get("normalize", default_normalize)
    if normalize is None:
        normalize = default_normalize
    if not isinstance(normalize, bool):
        raise ApiError(422, f"normalize must be true or false, got {normalize!r}")
    return pooling, normalize


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def create_app(encoder, config: ServeConfig | None = None) -> FastAPI:
    """A FastAPI app serving `encoder` (a TextEncoder). Its batcher starts and stops with the app's lifespan."""
    cfg = config or ServeConfig()
    batcher = MicroBatcher(encoder, max_batch=cfg.max_batch, max_wait_ms=cfg.max_wait_ms, enabled=cfg.batching,
                           precision=cfg.precision)

    @asynccontextmanager
    async def lifespan(app):
        batcher.start()
        try:
            yield
        finally:
            batcher.stop()  # uvicorn has already let requests in flight finish

    app = FastAPI(title="bertkit embedding server", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.batcher, app.state.config, app.state.encoder = batcher, cfg, encoder

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        return _error(500, f"internal error: {type(exc).__name__}: {exc}")

    async def read_body(request: Request) -> dict:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cfg.max_body_bytes:
            raise ApiError(413, f"request body of {declared} bytes; at most {cfg.max_body_bytes}")
        raw = b""
        async for part in request.stream():
            raw += part
            if len(raw) > cfg.max_body_bytes:
                raise ApiError(413, f"request body over {cfg.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ApiError(400, f"malformed JSON: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(422, f"the body must be a JSON object, got {type(body).__name__}")
        return body

    async def embed_texts(texts: list[str], pooling: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, encoder.dim), dtype=np.float32)
        try:
            return await batcher.embed(texts, pooling)
        except Exception as e:
            from bertkit.errors import InputError

            if isinstance(e, InputError):  # e.g. pooler on a model without one
                raise ApiError(422, str(e)) from None
            raise

    @app.get("/health")
    async def health():
        s = batcher.stats
        return _json({"status": "ok", "model": encoder.name, "dim": encoder.dim, "pooling": encoder.pooling,
                      "normalize": encoder.normalize,
                      "batching": cfg.batching, "max_batch": cfg.max_batch, "max_wait_ms": cfg.max_wait_ms,
                      "batches": s.batches, "requests": s.requests, "texts": s.texts})

    @app.post("/embed")
    async def embed(request: Request):
        try:
            body = await read_body(request)
            texts = _texts(body, "texts", cfg)
            pooling, normalize = _options(body, {"texts", "pooling", "normalize"}, encoder.pooling,
                                          encoder.normalize)
            vecs = await embed_texts(texts, pooling)
        except ApiError as e:
            return _error(e.status, e.message)
        if normalize:
            vecs = _unit(vecs)
        return _json({"embeddings": vecs.tolist(), "dim": int(vecs.shape[1]), "model": encoder.name})

    @app.post("/similarity")
    async def similarity(request: Request):
        try:
            body = await read_body(request)
            a, b = _texts(body, "a", cfg), _texts(body, "b", cfg)
            if len(a) + len(b) > cfg.max_texts:
                raise ApiError(413, f"{len(a) + len(b)} texts in 'a' and 'b'; at most {cfg.max_texts} per request")
            pooling, _ = _options(body, {"a", "b", "pooling"}, encoder.pooling)
            vecs = await embed_texts(a + b, pooling)
        except ApiError as e:
            return _error(e.status, e.message)
        u = _unit(vecs.astype(np.float64))
        scores = u[:len(a)] @ u[len(a):].T
        return _json({"scores": scores.tolist(), "model": encoder.name})

    return app


def serve(encoder, host: str = "127.0.0.1", port: int = 8080, config: ServeConfig | None = None,
          log_level: str = "info", graceful_timeout: float = 30.0) -> None:
    """Run the server until SIGINT/SIGTERM; requests in flight then finish and serve() returns normally."""
    import signal
    import threading

    import uvicorn

    app = create_app(encoder, config)
    main = threading.current_thread() is threading.main_thread()
    # uvicorn handles the signal itself (graceful stop) and re-raises it afterwards for the previous handler;
    # a no-op handler there turns a completed graceful stop into a normal return (exit status 0).
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=graceful_timeout,
                    access_log=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
