"""The sentence-transformers folder layout: modules.json, 1_Pooling/config.json, sentence_bert_config.json.

A bertkit sentence model is a Hugging Face checkpoint folder plus these small JSON files, which record
how token vectors become one sentence vector. sentence-transformers reads the same folder unchanged.
"""
from __future__ import annotations

import json
from pathlib import Path

from bertkit.errors import CheckpointError, warn

ST_POOLING_KEYS = {"mean": "pooling_mode_mean_tokens", "cls": "pooling_mode_cls_token",
                   "max": "pooling_mode_max_tokens"}
_OTHER_KEYS = ("pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")


ST_FILES = ("modules.json", "sentence_bert_config.json", "config_sentence_transformers.json")


def _modules(folder: Path) -> list[dict] | None:
    """The entries of the folder's modules.json (the sentence-transformers pipeline), None without one."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return None
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{modules} is not valid JSON: {e}") from None
    return [m for m in entries if isinstance(m, dict)] if isinstance(entries, list) else []


def _pooling_dir(folder: Path) -> Path | None:
    for m in _modules(folder) or []:
        if str(m.get("type", "")).endswith("Pooling"):
            return folder / str(m.get("path", "1_Pooling"))
    return folder / "1_Pooling" if (folder / "1_Pooling").is_dir() else None


def read_normalize(folder: str | Path) -> bool:
    """Whether the folder's sentence-transformers pipeline ends its vectors with a Normalize module (unit
    length), as all-MiniLM-L6-v2's does; False for folders without modules.json."""
    return any(str(m.get("type", "")).endswith("Normalize") for m in _modules(Path(folder)) or [])


def copy_st_files(src: str | Path, dst: str | Path) -> bool:
    """Copy the sentence-transformers files of `src` (modules.json, each module's folder such as 1_Pooling and
    2_Normalize, sentence_bert_config.json) into `dst`, so a re-saved checkpoint pools and normalizes as
    before. False (nothing copied) when `src` has no modules.json."""
    import shutil

    src, dst = Path(src), Path(dst)
    modules = _modules(src)
    if modules is None:
        return False
    for name in ST_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    for m in modules:
        sub = str(m.get("path", ""))
        if sub and (src / sub).is_dir() and not Path(sub).is_absolute() and ".." not in Path(sub).parts:
            shutil.copytree(src / sub, dst / sub, dirs_exist_ok=True)
    return True


def read_pooling(folder: str | Path, default: str = "mean") -> str:
    """The pooling mode ("mean" | "cls" | "max") a sentence-transformers folder was trained with.

    Folders without a pooling module give `default`; modes bertkit lacks (sqrt-len, weighted mean,
    several at once) give `default` with a warning.
    """
    d = _pooling_dir(Path(folder))
    if d is None or not (d / "config.json").is_file():
        return default
    try:
        cfg = json.loads((d / "config.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{d / 'config.json'} is not valid JSON: {e}") from None
    if "pooling_mode" in cfg and isinstance(cfg["pooling_mode"], str):  # newer shorthand
        mode = {"mean": "mean", "cls": "cls", "max": "max"}.get(cfg["pooling_mode"])
        on = [mode] if mode else []
    else:
        on = [name for name, key in ST_POOLING_KEYS.items() if cfg.get(key)]
    if len(on) == 1 and not any(cfg.get(k) for k in _OTHER_KEYS):
        return on[0]
    warn(f"{d / 'config.json'} asks for a pooling bertkit does not implement; using {default!r}")
    return default


def write_st_files(folder: str | Path, pooling: str, dim: int, max_seq_length: int,
                   normalize: bool = False, do_lower_case: bool = False) -> None:
    """Write modules.json, 1_Pooling/config.json and sentence_bert_config.json into a checkpoint folder."""
    if pooling not in ST_POOLING_KEYS:
        raise CheckpointError(f"pooling {pooling!r} cannot be saved for sentence-transformers; "
                              f"expected one of {tuple(ST_POOLING_KEYS)}")
    folder = Path(folder)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    if normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
        (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "modules.json").write_text(json.dumps(modules, indent=2) + "\n")
    (folder / "1_Pooling").mkdir(exist_ok=True)
    cfg = {"word_embedding_dimension": dim, **{key: name == pooling for name, key in ST_POOLING_KEYS.items()},
           **{k: False for k in _OTHER_KEYS}, "include_prompt": True}
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": max_seq_length, "do_lower_case": do_lower_case}, indent=2) + "\n")
