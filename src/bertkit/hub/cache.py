"""Offline lookup of a model id ("org/name", "name", "org/name@revision") in the Hugging Face hub cache.

The layout is the one huggingface_hub writes: `<cache>/models--org--name/refs/<branch>` holds a commit hash and
`<cache>/models--org--name/snapshots/<hash>/` holds the files (symlinks into `blobs/`, which the file system
follows for us). Nothing is ever downloaded: an id that is not in the cache is an error naming where we looked.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from bertkit.errors import InputError

# An id is one or two path-free segments, optionally "@revision"; anything else (./x, /abs, a/b/c, ~/x) is a path.
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
_ID = re.compile(rf"^(?P<repo>{_SEGMENT}(?:/{_SEGMENT})?)(?:@(?P<rev>[A-Za-z0-9_.\-]+))?$")


def hub_cache_dir() -> Path:
    """The hub cache folder, as huggingface_hub picks it: $HF_HUB_CACHE, else $HF_HOME/hub, else
    $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def parse_model_id(name: str) -> tuple[str, str] | None:
    """("org/name", revision) when `name` reads as a hub model id ("main" when no @revision), else None."""
    m = _ID.match(name)
    if m is None or m.group("repo") in (".", ".."):
        return None
    return m.group("repo"), m.group("rev") or "main"


def _snapshot(repo_dir: Path, revision: str, looked: list[str]) -> Path | None:
    """The snapshot folder of `revision` (a branch or tag under refs/, or a commit hash) in one repo folder."""
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / revision
    looked.append(str(ref))
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        looked.append(str(snapshots / commit))
        return snapshots / commit if (snapshots / commit).is_dir() else None
    # a revision that names no ref may be a commit hash itself (what "org/name@<hash>" pins)
    looked.append(str(snapshots / revision))
    if (snapshots / revision).is_dir():
        return snapshots / revision
    # refs/main can be missing from a cache copied by hand; one snapshot is then unambiguous
    if revision == "main" and snapshots.is_dir() and not (repo_dir / "refs").exists():
        found = [p for p in snapshots.iterdir() if p.is_dir()]
        if len(found) == 1:
            return found[0]
    return None


def find_in_cache(name: str) -> Path:
    """The snapshot folder of model id `name` ("org/name" or "org/name@revision") in the hub cache.

    Raises InputError naming every path looked at when the model (or that revision) is not cached.
    """
    parsed = parse_model_id(name)
    if parsed is None:
        raise InputError(f"{name!r} is not a model id: expected 'org/name' or 'org/name@revision'")
    repo, revision = parsed
    cache = hub_cache_dir()
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    looked = [str(Path(name).absolute())]
    snap = _snapshot(repo_dir, revision, looked) if repo_dir.is_dir() else None
    if snap is None:
        if not repo_dir.is_dir():
            looked.append(str(repo_dir))
        raise InputError(f"model {name!r} is neither a local folder nor in the Hugging Face cache "
                         f"(looked for: {', '.join(looked)}); bertkit never downloads, so fetch it first "
                         "(e.g. `huggingface-cli download " + repo + "`) or pass a checkpoint folder")
    return snap


def resolve_model_name(path: str | Path) -> Path:
    """A local path as given when it exists (a local folder always wins); else a hub id's cached snapshot; else
    the path unchanged, so the caller reports the missing folder in its own words."""
    local = Path(path)
    if local.exists():
        return local
    text = str(path)
    if isinstance(path, str) and parse_model_id(text) is not None:
        return find_in_cache(text)
    return local


def model_label(path: str | Path, folder: Path) -> str:
    """A short name for a loaded model: the id for one found in the cache (its folder is a commit hash), else
    the folder's name."""
    if isinstance(path, str) and folder != Path(path) and parse_model_id(path) is not None:
        return path
    return folder.name
