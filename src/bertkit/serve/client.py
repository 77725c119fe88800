"""`bertkit.Client(url)`: the embedding server from Python, standard library only (keep-alive HTTP/1.1).

One Client may be shared by threads: each thread keeps its own persistent connection.
"""
from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Sequence
from urllib.parse import urlsplit

import numpy as np

from bertkit.errors import BertkitError


class ServerError(BertkitError):
    """The server answered with an error status; `.status` holds it, the message is the server's."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"server answered {status}: {message}")
        self.status = status


class Client:
    """Client(url="http://127.0.0.1:8080"). embed(texts) -> float32 (N, D); similarity(a, b) -> (len a, len b)."""

    def __init__(self, url: str = "http://127.0.0.1:8080", timeout: float = 60.0) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise BertkitError(f"expected a URL like http://127.0.0.1:8080, got {url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()

    def _conn(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def request(self, method: str, path: str, payload: dict | None = None) -> dict:
        """Send one request and return the decoded JSON answer; error statuses raise ServerError."""
        body = None if payload is None else json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in (0, 1):  # a kept-alive connection the server closed meanwhile is reopened once
            conn = self._conn(fresh=attempt == 1)
            try:
                conn.request(method, self.base + path, body=body, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                conn.close()
                if attempt == 1:
                    raise
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            raise ServerError(resp.status, raw[:200].decode("utf-8", "replace")) from None
        if resp.status >= 400:
            raise ServerError(resp.status, data.get("error", str(data)) if isinstance(data, dict) else str(data))
        return data

    def health(self) -> dict:
        return self.request("GET", "/health")

    def embed(self, texts: Sequence[str] | str, pooling: str | None = None, normalize: bool | None = None) -> np.ndarray:
        """Texts -> float32 (N, D), computed by the server exactly as `TextEncoder.embed` would (pooling and
        normalize None: the served model's own). One string gives one row, (1, D)."""
        payload: dict = {"texts": [texts] if isinstance(texts, str) else list(texts)}
        if normalize is not None:
            payload["normalize"] = normalize
        if pooling is not None:
            payload["pooling"] = pooling
        data = self.request("POST", "/embed", payload)
        return np.asarray(data["embeddings"], dtype=np.float32).reshape(len(payload["texts"]), data["dim"])

    def similarity(self, a: Sequence[str] | str, b: Sequence[str] | str, pooling: str | None = None) -> np.ndarray:
        """Cosine similarity matrix (len(a), len(b)) as float64 (one string counts as a list of one)."""
        a, b = ([x] if isinstance(x, str) else list(x) for x in (a, b))
        payload: dict = {"a": a, "b": b}
        if pooling is not None:
            payload["pooling"] = pooling
        return np.asarray(self.request("POST", "/similarity", payload)["scores"], dtype=np.float64).reshape(len(a), len(b))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
