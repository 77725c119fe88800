"""`bertkit.load()`: a tokenizer and an encoder together, turning texts into vectors."""
from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from bertkit.embed.precision import PRECISIONS, choose_precision, model_variant
from bertkit.errors import InputError, warn
from bertkit.hub.checkpoint import from_pretrained
from bertkit.hub.default import resolve_model_path
from bertkit.models.model import Model
from bertkit.nn.fused import weights_key
from bertkit.nn.pooling import POOLINGS, pool
from bertkit.parallel import default_workers, parallel_map

COMBINE = ("concat", "sum", "mean")


def _max_length_from_folder(path: Path, model: Model) -> int:
    """sentence-transformers' max_seq_length when the folder has one, else the position window."""
    limit = model.max_tokens
    st = path / "sentence_bert_config.json"
    if st.is_file():
        try:
            limit = min(limit, int(json.loads(st.read_text())["max_seq_length"]))
        except (KeyError, ValueError, json.JSONDecodeError):
            pass
    return limit


def _check_texts(texts: Sequence[str] | str) -> list[str]:
    if isinstance(texts, str):
        raise InputError("embed() takes a list of texts; wrap a single text in a list")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise InputError(f"text {i} is {type(t).__name__}, expected str")
    return texts


@dataclass
class Features:
    """Per-token hidden states of one text: `layers[l]` is h_l (h_0 = embeddings), shape (L+1, T, H)."""

    tokens: list[str]
    layers: np.ndarray


class TextEncoder:
    """Tokenizer + encoder. `embed` gives one vector per text, `features` every layer per token."""

    def __init__(self, model: Model, tokenizer, max_length: int | None = None, name: str = "model",
                 compile: bool = False, pooling: str = "mean", path: Path | None = None,
                 workers: int | None = None, normalize: bool = False) -> None:
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.path = path  # the checkpoint folder, when loaded from one
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        self.pooling = pooling  # the default of embed(); load() reads it from the folder's 1_Pooling
        self.normalize = bool(normalize)  # embed()'s default; load(): True when modules.json has a Normalize step
        self.max_length = min(max_length or model.max_tokens, model.max_tokens)
        self._warned = False
        # how the truncation warning says to embed long texts whole; the command line names its own flag
        self.window_hint = "truncate='window'"
        self._variants: dict[str, Any] = {}  # precision -> model copy, and "weights" -> the key they were made at
        self._auto: str | None = None
        self.compile = compile
        self.workers = workers  # batches run at once on CPU; None: chosen per precision (see _workers_for)

    @property
    def dim(self) -> int:
        return self.model.config.hidden_size

    # -- batching ---------------------------------------------------------------------------------
    def _encode(self, texts: list[str], truncate: bool | str) -> tuple[list[list[int]], np.ndarray]:
        """Token ids per row and, per row, the index of the text it belongs to.

        truncate=True cuts at max_length (one warning); False raises on an over-long text;
        "window" splits it into overlapping windows (stride = max_length // 4) whose vectors are averaged.
        """
        if truncate not in (True, False, "window"):
            raise InputError(f"truncate must be True, False or 'window', got {truncate!r}")
        if truncate is True:
            enc = self.tokenizer(texts, max_length=self.max_length, truncation=True, padding=False)
            self._warn_truncation(int(getattr(enc, "num_truncated", 0) or 0))
            ids = enc["input_ids"]
            return ids, np.arange(len(ids))
        ids = self.tokenizer(texts, truncation=False, padding=False)["input_ids"]
        longest = max((len(x) for x in ids), default=0)
        if truncate is False:
            if longest > self.max_length:
                raise InputError(f"a text has {longest} tokens, more than the model's {self.max_length}; "
                                 "allow truncation, embed by windows (truncate='window') or shorten it")
            return ids, np.arange(len(ids))
        rows, owner = [], []
        width = self.max_length - 2
        step = width - self.max_length // 4
        for i, row in enumerate(ids):
            if len(row) <= self.max_length:
                rows.append(row)
                owner.append(i)
                continue
            first, body, last = row[0], row[1:-1], row[-1]
            for s in range(0, max(len(body) - width, 0) + step, step):
                rows.append([first, *body[s:s + width], last])
                owner.append(i)
                if s + width >= len(body):
                    break
        return rows, np.asarray(owner)

    def _warn_truncation(self, n: int) -> None:
        if n and not self._warned:
            warn(f"{n} text(s) longer than {self.max_length} tokens were truncated "
                 f"(this warning is shown once; {self.window_hint} embeds them whole)")
            self._warned = True

    def _batches(self, ids: list[list[int]], batch_size: int) -> Iterator[tuple[np.ndarray, torch.Tensor, torch.Tensor]]:
        """Length-sorted batches padded to their own longest row: (original indices, ids, mask)."""
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")
        pad = self.tokenizer.pad_token_id or 0
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            width = int(lengths[idx[0]])
            batch = np.full((len(idx), width), pad, dtype=np.int64)
            for r, i in enumerate(idx):
                batch[r, :lengths[i]] = ids[i]
            mask = (np.arange(width)[None, :] < lengths[idx][:, None]).astype(np.int64)
            yield idx, torch.from_numpy(batch), torch.from_numpy(mask)

    def _model_for(self, precision: str, probe: list[list[int]]) -> Model:
        """The model variant that runs `precision`; 'auto' is resolved once per encoder on a probe batch."""
        if precision not in PRECISIONS:
            raise InputError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
        key = weights_key(self.model)
        if self._variants.get("weights") != key:  # copies of older weights (the model was trained in place)
            self._variants.clear()
            self._variants["weights"] = key
        if precision == "auto":
            if self._auto is None:
                self._auto = choose_precision(self, probe)  # builds its variants into the cache above
            precision = self._auto
        model = model_variant(self.model, precision, self._variants, fused=not self.compile)
        if self.compile:
            key = f"compiled-{precision}"
            if key not in self._variants:
                self._variants[key] = torch.compile(model, dynamic=True)
            model = self._variants[key]
        return model

    # -- public API --------------------------------------------------------------------------------
    @torch.inference_mode()
    def embed(self, texts: Sequence[str], pooling: str | None = None, layers: int | Sequence[int] = -1,
              combine: str = "concat", normalize: bool | None = None, batch_size: int = 32, precision: str = "fp32",
              truncate: bool | str = True, show_progress: bool | None = None,
              lang: str | int | None = None) -> np.ndarray:
        """Texts -> float32 array (N, D). D = H, or H * len(layers) with combine="concat".

        pooling: mean | cls | max | pooler (the model's trained tanh layer, last layer only); None uses
        the encoder's own (`self.pooling`: the folder's sentence-transformers setting, else mean).
        normalize: unit-length vectors; None follows the encoder's own (`self.normalize`: True when the folder's
        modules.json ends with a Normalize module, as sentence-transformers does), True/False override it.
        layers: -1 (last), or indices into h_0..h_L (negative counts from the end); several are combined
        token-wise by `combine` before pooling. Texts longer than the window are truncated with one
        warning; truncate=False raises instead, truncate="window" averages overlapping windows.
        precision: fp32 | bf16 (a bf16 copy of the weights) | int8 (dynamic quantization, opt-in, lossy)
        | auto (bf16 when the CPU/GPU has native bf16 and a probe batch keeps cosine >= 0.999, else fp32).
        lang: an XLM model's language of every text, by name (config lang2id, e.g. "de") or id; each token then
        carries that language's embedding, as in pretraining. None adds no language vector (transformers' default).
        """
        texts = _check_texts(texts)
        lang_id = self.lang_id(lang)
        pooling = self.pooling if pooling is None else pooling
        if pooling not in POOLINGS:
            raise InputError(f"unknown pooling {pooling!r}; expected one of {POOLINGS}")
        if combine not in COMBINE:
            raise InputError(f"unknown combine {combine!r}; expected one of {COMBINE}")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        layer_list = [layers] if isinstance(layers, int) else list(layers)
        n_states = self.model.config.num_layers + 1
        for layer in layer_list:
            if not -n_states <= layer < n_states:
                raise InputError(f"layer {layer} out of range: the model has h_0..h_{n_states - 1}")
        if pooling == "pooler":
            if self.model.backbone.pooler is None:
                raise InputError("this model has no pooler layer; use pooling='mean', 'cls' or 'max'")
            if layer_list != [-1]:
                raise InputError("pooling='pooler' works on the last layer only")
        width = self.dim * (len(layer_list) if combine == "concat" else 1)
        if not texts:
            return np.zeros((0, width), dtype=np.float32)
        ids, owner = self._encode(texts, truncate)
        model = self._model_for(precision, ids[:64])
        rows = self._run(model, ids, pooling, layer_list, combine, batch_size, show_progress, lang_id)
        if len(ids) == len(texts):
            out = rows
        else:  # windows of long texts: mean of their vectors
            out = np.zeros((len(texts), width), dtype=np.float32)
            np.add.at(out, owner, rows)
            out /= np.bincount(owner, minlength=len(texts))[:, None]
        if self.normalize if normalize is None else normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out

    def lang_id(self, lang: str | int | None) -> int | None:
        """The language id of `lang` (a name in config lang2id, or an id) for an XLM model; None stays None."""
        return self.model.lang_id(lang)

    def _workers_for(self, model: Model) -> int:
        """Batches run at once (bertkit/parallel.py): the encoder's `workers`, else one per thread in bf16/int8
        on CPU; compiled models run one batch at a time."""
        if self.workers is not None:
            return self.workers
        return 1 if self.compile else default_workers(model)

    def _run(self, model: Model, ids: list[list[int]], pooling: str, layer_list: list[int], combine: str,
             batch_size: int, show_progress: bool | None, lang_id: int | None = None) -> np.ndarray:
        """Pooled vectors of token-id rows, one forward per length-sorted batch: (len(ids), width).

        With several workers, each runs whole batches single-threaded (batches are independent)."""
        width = self.dim * (len(layer_list) if combine == "concat" else 1)
        out = np.zeros((len(ids), width), dtype=np.float32)
        need_all = layer_list != [-1]
        n_batches = (len(ids) + batch_size - 1) // batch_size
        device = next(self.model.parameters()).device

        def one(item: tuple[np.ndarray, torch.Tensor, torch.Tensor]) -> int:
            idx, batch, mask = item
            with torch.inference_mode():
                batch, mask = batch.to(device, non_blocking=True), mask.to(device, non_blocking=True)
                extra = {} if lang_id is None else {"langs": torch.full_like(batch, lang_id)}
                o = model(batch, mask, output_hidden_states=need_all, **extra)
                if pooling == "pooler":
                    vec = o.pooler_output
                else:
                    states = [o.hidden_states[layer] for layer in layer_list] if need_all else [o.last_hidden_state]
                    if combine == "concat":
                        vec = torch.cat([pool(s.float(), mask, pooling) for s in states], dim=-1)
                    else:
                        h = torch.stack([s.float() for s in states]).sum(0)
                        if combine == "mean":
                            h = h / len(states)
                        vec = pool(h, mask, pooling)
                out[idx] = vec.float().cpu().numpy()
            return len(idx)

        bar = tqdm(total=len(ids), desc="embed", unit="text",
                   disable=not (show_progress if show_progress is not None else n_batches > 1))
        workers = min(self._workers_for(model), n_batches)
        with bar:
            for n in parallel_map(one, self._batches(ids, batch_size), workers):
                bar.update(n)
        return out

    @torch.inference_mode()
    def features(self, texts: Sequence[str], batch_size: int = 32, truncate: bool = True) -> list[Features]:
        """Per-token hidden states of every layer h_0..h_L for each text (special tokens included)."""
        texts = _check_texts(texts)
        if truncate == "window":
            raise InputError("features() needs one sequence per text: use truncate=True or False")
        ids, _ = self._encode(texts, truncate)
        result: list[Features | None] = [None] * len(texts)
        device = next(self.model.parameters()).device
        for idx, batch, mask in self._batches(ids, batch_size):
            o = self.model(batch.to(device), mask.to(device), output_hidden_states=True)
            states = torch.stack(o.hidden_states, dim=1).float().cpu()  # (B, L+1, T, H)
            for r, i in enumerate(idx):
                n = int(mask[r].sum())
                result[i] = Features(self.tokenizer.convert_ids_to_tokens(ids[i]), states[r, :, :n].numpy().copy())
        return result  # type: ignore[return-value]


def load(path: str | Path | None = None, max_length: int | None = None, dtype: torch.dtype | None = None,
         device: str | torch.device | None = None, threads: int | None = None, compile: bool = False,
         workers: int | None = None) -> TextEncoder:
    """Tokenizer + encoder from a checkpoint folder; None loads the bundled all-MiniLM-L6-v2.

    The folder's sentence-transformers modules become embed()'s defaults: its pooling (1_Pooling/config.json)
    and, when modules.json lists a Normalize module, unit-length vectors.
    device: "cpu" (default) or "cuda"; threads: intra-op CPU threads (default: torch's choice, one per core);
    compile: run the model through torch.compile (dynamic shapes; the first batches pay the compile time);
    workers: batches embedded at once on CPU, each on one thread (default: one per thread in bf16/int8, else 1).
    """
    from bertkit.embed.st_folder import read_normalize, read_pooling
    from bertkit.tokenizers import Tokenizer

    if threads is not None:
        if threads < 1:
            raise InputError(f"threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    if workers is not None and workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    folder = resolve_model_path(path)
    model = from_pretrained(folder, task="base", dtype=dtype)
    if device is not None:
        model = model.to(device)
    tok = Tokenizer.from_pretrained(folder)
    limit = max_length or _max_length_from_folder(folder, model)
    from bertkit.hub.cache import model_label
    from bertkit.hub.default import DEFAULT_MODEL_NAME

    return TextEncoder(model, tok, limit, name=DEFAULT_MODEL_NAME if path is None else model_label(path, folder),
                       compile=compile, pooling=read_pooling(folder), path=folder, workers=workers,
                       normalize=read_normalize(folder))
