"""Hugging Face checkpoint folders both ways: config.json + safetensors (or a weights-only .bin).

Weights move through an explicit key map (models/family.py) with a shape check per tensor. Pickled
objects are never executed: .bin files are read with torch.load(weights_only=True) only.
"""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import torch

from bertkit.atomic import write_atomic_dir
from bertkit.errors import CheckpointError, warn
from bertkit.hub.default import resolve_model_path
from bertkit.models.family import Family, get_family, resolve_architecture
from bertkit.models.model import Model

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.json", "sentencepiece.bpe.model", "spiece.model", "added_tokens.json")


def read_config(path: str | Path) -> dict[str, Any]:
    """Read and validate `path/config.json`, with errors that name the problem."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint folder not found: {path}")
    if not path.is_dir():
        raise CheckpointError(f"expected a checkpoint folder, got a file: {path}")
    cfg_file = path / "config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"no config.json in {path} (is this a Hugging Face checkpoint folder?)")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"config.json in {path} is not valid JSON: {e}") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"config.json in {path} must hold a JSON object")
    _check_types(cfg, cfg_file)
    return cfg


# config.json sizes (every family's names) must be positive integers; rates and epsilons numbers
_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "max_position_embeddings", "embedding_size", "n_embd", "n_layer", "n_head", "n_positions", "d_model",
          "encoder_layers", "decoder_layers", "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
          "decoder_ffn_dim", "dim", "n_layers", "n_heads", "hidden_dim", "num_labels", "emb_dim", "n_langs")
_NUMBERS = ("layer_norm_eps", "hidden_dropout_prob", "attention_probs_dropout_prob", "layer_norm_epsilon",
            "dropout", "attention_dropout")


def _check_types(cfg: dict[str, Any], where: Path) -> None:
    for key in _SIZES:
        v = cfg.get(key)
        if key in cfg and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise CheckpointError(f"{where}: {key} must be a positive integer, got {v!r} ({type(v).__name__})")
    for key in _NUMBERS:
        v = cfg.get(key)
        if key in cfg and v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0):
            raise CheckpointError(f"{where}: {key} must be a number >= 0, got {v!r} ({type(v).__name__})")
    if "type_vocab_size" in cfg and (isinstance(cfg["type_vocab_size"], bool)
                                     or not isinstance(cfg["type_vocab_size"], int) or cfg["type_vocab_size"] < 0):
        raise CheckpointError(f"{where}: type_vocab_size must be an integer >= 0, got {cfg['type_vocab_size']!r}")
    labels = cfg.get("id2label")
    if labels is not None and not isinstance(labels, dict):
        raise CheckpointError(f"{where}: id2label must be an object {{id: label}}, got {type(labels).__name__}")
    if isinstance(labels, dict) and not all(str(k).lstrip("-").isdigit() for k in labels):
        raise CheckpointError(f"{where}: id2label keys must be integer ids, got {sorted(labels)[:5]}")


def _load_safetensors(file: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    try:
        return load_file(str(file))
    except Exception as e:  # SafetensorError, OSError on truncation
        raise CheckpointError(f"corrupt or truncated weights file {file}: {e}") from None


def _load_bin(file: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        first = str(e).strip().splitlines()[-1] if str(e).strip() else ""
        raise CheckpointError(f"refusing to load {file}: it holds pickled objects beyond plain tensors, which could run "
                              f"code ({first[:160]}); convert it to safetensors with a trusted tool") from None
    except Exception as e:
        raise CheckpointError(f"corrupt or truncated weights file {file}: {type(e).__name__}: {e}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{file} does not hold a mapping of names to tensors")
    return state


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint folder, preferring safetensors; sharded indexes are followed."""
    path = Path(path)
    for name in WEIGHT_FILES:
        f = path / name
        if not f.is_file():
            continue
        loader = _load_safetensors if "safetensors" in name else _load_bin
        if name.endswith(".index.json"):
            try:
                shards = sorted(set(json.loads(f.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError) as e:
                raise CheckpointError(f"corrupt shard index {f}: {e}") from None
            state: dict[str, torch.Tensor] = {}
            for s in shards:
                if not (path / s).is_file():
                    raise CheckpointError(f"shard {s} named in {f} is missing")
                state.update(loader(path / s))
            return state
        return loader(f)
    raise CheckpointError(f"no weights in {path}: expected one of {', '.join(WEIGHT_FILES)}")


def key_map(model: Model) -> dict[str, str]:
    """bertkit parameter name -> Hugging Face name, for every parameter of `model`."""
    fam, cfg = model.family, model.config
    prefixes: dict[str, str] = {}
    for hf, ours in fam.backbone_keys(cfg):
        prefixes["backbone." + ours] = fam.base_prefix + hf
    for head in model.heads:
        for hf, ours in fam.head_keys.get(head, []):
            prefixes["heads." + ours] = hf
    out = {}
    for name in model.state_dict():
        if name in prefixes:
            out[name] = prefixes[name]
            continue
        mod, leaf = name.rsplit(".", 1)
        if mod not in prefixes:
            raise AssertionError(f"no Hugging Face name for parameter {name}")  # a bug in a key map
        out[name] = f"{prefixes[mod]}.{leaf}"
    return out


def _candidates(hf: str, fam: Family) -> list[str]:
    names = [hf]
    if hf.startswith(fam.base_prefix):
        names.append(hf[len(fam.base_prefix):])  # a base-model checkpoint has no prefix
    legacy = [n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
              for n in names]  # TF-era names
    return names + [n for n in legacy if n not in names]


def load_state(model: Model, state: dict[str, torch.Tensor], source: str = "checkpoint") -> list[str]:
    """Copy `state` (HF names) into `model` with a shape check per tensor. Returns newly initialised names."""
    fam = model.family
    if fam.state_from_hf is not None:  # another layout in the file (GPT-2's Conv1D): to the key map's
        state = fam.state_from_hf(state)
    own = model.state_dict()
    # fixed tables the model computes itself (sinusoidal positions): a checkpoint may leave them out
    computed = {n for n, p in model.named_parameters(remove_duplicate=False) if not p.requires_grad}
    new_state, missing = {}, []
    for ours, hf in key_map(model).items():
        found = next((c for c in _candidates(hf, fam) if c in state), None)
        if found is None:
            if ours not in computed:
                missing.append(ours)
            continue
        t = state[found]
        if tuple(t.shape) != tuple(own[ours].shape):
            raise CheckpointError(f"weight {found} in {source} has shape {tuple(t.shape)}, but the config implies "
                                  f"{tuple(own[ours].shape)}")
        new_state[ours] = t.to(own[ours].dtype)
    essential = [m for m in missing if m.startswith("backbone.") and not m.startswith("backbone.pooler")
                 and not m.endswith("embeddings.position.weight") or m == "backbone.embeddings.word.weight"]
    if essential:
        raise CheckpointError(f"{source} lacks {len(essential)} encoder weights, e.g. {key_map(model)[essential[0]]}: "
                              "not a checkpoint of this architecture, or incomplete")
    model.load_state_dict(new_state, strict=False)
    return missing


def from_pretrained(path: str | Path | None = None, task: str | None = None, num_labels: int | None = None,
                    id2label: dict[int, str] | None = None, dtype: torch.dtype | None = None,
                    require_heads: bool = False) -> Model:
    """Load a Hugging Face checkpoint folder (None: the bundled all-MiniLM-L6-v2) as a bertkit Model.

    The architecture comes from config.json's `architectures` (else `model_type`); `task` overrides it, e.g.
    task="classification" on a base checkpoint adds a freshly initialised classifier (with a warning);
    require_heads=True makes missing head weights an error instead.
    """
    path = resolve_model_path(path)
    hf_cfg = read_config(path)
    fam, ckpt_task = resolve_architecture(hf_cfg)
    tasks = fam.tasks
    if task is not None and task not in tasks:
        if fam.build is not None:  # a generative family: encoder heads (classifier, QA, ...) are not built on it
            raise CheckpointError(f"{path} is a {fam.name} checkpoint, which bertkit builds for {', '.join(tasks)} "
                                  f"only, not {task!r}; fine-tuning and encoder tasks need an encoder (BERT family)")
        raise CheckpointError(f"unknown task {task!r}; expected one of {tasks}")
    cfg = fam.config_from_hf(hf_cfg)
    if id2label is not None:
        cfg = cfg.replace(id2label=dict(id2label), num_labels=len(id2label))
    elif num_labels is not None:
        cfg = cfg.replace(num_labels=num_labels, id2label=None if cfg.num_labels != num_labels else cfg.id2label)
    model = (fam.build or Model)(cfg, task or ckpt_task)
    missing = load_state(model, read_weights(path), source=str(path))
    if missing and require_heads:
        raise CheckpointError(f"{path} has no trained weights for the {model.task!r} head "
                              f"(missing e.g. {key_map(model)[missing[0]]})")
    if missing:
        warn(f"{len(missing)} weights not in {path} were newly initialised "
             f"({', '.join(sorted({m.split('.')[1] if m.startswith('heads.') else m for m in missing}))}); "
             "train before use")
    if dtype is not None:
        model = model.to(dtype)
    model.pretrained_path = path  # where its tokenizer lives: save_pretrained writes it along when given none
    return model.eval()


def hf_config(model: Model) -> dict[str, Any]:
    d = model.family.config_to_hf(model.config)
    d["architectures"] = [model.family.arch_name(model.task)]
    d["torch_dtype"] = str(next(model.parameters()).dtype).replace("torch.", "")
    return d


def save_pretrained(model: Model, path: str | Path, tokenizer: Any | None = None) -> Path:
    """Write `model` as a Hugging Face folder (config.json + model.safetensors) that transformers loads.

    With `tokenizer` (a bertkit Tokenizer) its files are written too; without one, a model loaded by
    from_pretrained brings its folder's tokenizer files along. Either way the folder loads as a unit in
    bertkit and in transformers (AutoModel and AutoTokenizer). Written to a temporary folder first and renamed,
    so an interruption never leaves a half-written checkpoint where a good one was.
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fam = model.family
    names = key_map(model)
    state = {}
    for ours, t in model.state_dict().items():
        hf = names[ours]
        if model.task == "base" and hf.startswith(fam.base_prefix):
            hf = hf[len(fam.base_prefix):]  # HF base models are saved without the prefix
        state[hf] = t.detach().contiguous().cpu()  # a table shared by several modules is written once
    if fam.state_to_hf is not None:
        state = fam.state_to_hf(state)
    source = getattr(model, "pretrained_path", None)
    source = Path(source) if source is not None and Path(source).is_dir() else None

    def fill(tmp: Path) -> None:
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(hf_config(model), indent=2, sort_keys=True) + "\n")
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        elif source is not None:
            for name in TOKENIZER_FILES:
                if (source / name).is_file():
                    shutil.copy2(source / name, tmp / name)
        if path.exists():  # keep files we do not write (README, tokenizer, 1_Pooling ...) from the old folder
            for f in path.iterdir():
                if not (tmp / f.name).exists() and f.name not in WEIGHT_FILES:
                    (shutil.copytree if f.is_dir() else shutil.copy2)(f, tmp / f.name)

    write_atomic_dir(path, fill)
    return path
