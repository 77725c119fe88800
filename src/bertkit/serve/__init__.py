"""The embedding server (FastAPI + uvicorn, optional extra `serve`) and its standard-library client.

The client needs nothing beyond the standard library; the server parts are imported on first use so
that `import bertkit` works without FastAPI installed.
"""
from __future__ import annotations

from typing import Any

from bertkit.serve.client import Client, ServerError

__all__ = ["Client", "ServerError", "ServeConfig", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("ServeConfig", "create_app", "serve"):
        from bertkit.serve import app

        return getattr(app, name)
    raise AttributeError(f"module 'bertkit.serve' has no attribute {name!r}")
