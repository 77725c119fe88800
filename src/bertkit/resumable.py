"""Resuming long jobs: what a resumed run must repeat, and the progress record of chunked outputs.

`bertkit embed` and `bertkit index build` write their rows chunk by chunk into a partial output, and after each
chunk record how many rows are done in a small JSON file beside it (replaced atomically). An interrupted run
(Ctrl-C, SIGTERM, a crash, a killed machine) leaves both behind; the same call with resume continues after the
last recorded chunk, and its output is the one an uninterrupted run writes. The record also holds the run's
arguments and the input's size and modification time: a resume with other arguments or a changed input is
refused, with the differences named (`differences`, which `bertkit finetune --resume` uses too).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bertkit.errors import InputError


def input_signature(texts: str | Path | Sequence[str]) -> dict[str, Any]:
    """What identifies the input: a file's resolved path, size and modification time, or a list's content hash."""
    if isinstance(texts, (str, Path)):
        p = Path(texts)
        st = p.stat()
        return {"input": str(p.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass") + b"\n")
    return {"input_sha256": h.hexdigest(), "count": len(texts)}


def differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """'key: old then, new now' for every argument that differs between a recorded run and this one."""
    return [f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in sorted(set(before) | set(now))
            if before.get(k) != now.get(k)]


class Progress:
    """The progress record of one run at `path`: {"run": arguments, "rows": rows done, **extra}."""

    def __init__(self, path: Path, run: dict[str, Any]) -> None:
        self.path = Path(path)
        self.run = json.loads(json.dumps(run, default=str))

    def commit(self, rows: int, **extra: Any) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"run": self.run, "rows": rows, **extra}) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def resume(self, what: str) -> dict[str, Any]:
        """The recorded state, after checking it belongs to a run with the same arguments and input."""
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            before = state["run"]
        except FileNotFoundError:
            raise InputError(f"nothing to resume: no interrupted {what} ({self.path} not found); run without "
                             "resume to start") from None
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{self.path} is unreadable: cannot resume; run without resume to start over") from None
        diff = differences(before, self.run)
        if diff:
            raise InputError(f"resume continues a {what} with the same arguments and input; these differ: "
                             + "; ".join(diff))
        return state

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
