"""Features -> padded batches: dynamic padding, length-grouped batches, and batched inference.

A feature is a dict of python lists/numbers: input_ids, token_type_ids and, when training, the task's
targets (`labels`, or `start_positions`/`end_positions`). Padding is per batch (dynamic), so a batch of
short sentences costs short-sentence time.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from bertkit.data.collate import pad_token_labels, pad_tokens
from bertkit.objectives.masking import IGNORE  # noqa: F401  (re-exported: target value the token losses skip)


def pad_batch(features: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad to the longest feature. Token-level labels are padded with -100; float labels stay float."""
    batch = pad_tokens(features, pad_id)
    first = features[0]
    if "labels" in first:
        lab = first["labels"]
        if isinstance(lab, list) and first.get("token_level"):
            batch["labels"] = pad_token_labels(features, batch["input_ids"].shape[1])
        else:
            batch["labels"] = torch.as_tensor([f["labels"] for f in features],
                                              dtype=torch.float32 if _is_float(lab) else torch.long)
    for key in ("start_positions", "end_positions"):
        if key in first:
            batch[key] = torch.as_tensor([f[key] for f in features], dtype=torch.long)
    if "langs" in first:  # XLM: one language id per feature, on every position (padding is masked anyway)
        ids = batch["input_ids"]
        batch["langs"] = torch.as_tensor([f["langs"] for f in features], dtype=torch.long)[:, None].expand_as(ids)
    return batch


def _is_float(x: Any) -> bool:
    return isinstance(x, float) or (isinstance(x, list) and bool(x) and isinstance(x[0], float))


class GroupedBatches(Sequence):
    """Batches of features of similar length, for the trainer to shuffle (it sees one batch per item).

    The features are shuffled with `seed`, cut into chunks of `batch_size * group` and sorted by length inside
    each chunk, then batched: padding waste drops sharply while batch order stays random. The last, smaller
    batch is kept.
    """

    def __init__(self, features: Sequence[dict[str, Any]], batch_size: int, seed: int = 0, group: int = 50) -> None:
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(features))
        chunk = batch_size * group
        self.batches: list[list[dict[str, Any]]] = []
        for s in range(0, len(order), chunk):
            part = sorted(order[s:s + chunk].tolist(), key=lambda i: len(features[i]["input_ids"]))
            self.batches += [[features[i] for i in part[k:k + batch_size]] for k in range(0, len(part), batch_size)]
        self.num_features = len(features)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> list[dict[str, Any]]:  # type: ignore[override]
        return self.batches[k]


def grouped_collate(pad_id: int):
    """collate_fn for a trainer reading GroupedBatches with batch_size=1: [batch] -> padded tensors."""
    def collate(items: list[list[dict[str, Any]]]) -> dict[str, torch.Tensor]:
        return pad_batch([f for group in items for f in group], pad_id)
    return collate


@torch.no_grad()
def run_model(model: torch.nn.Module, features: Sequence[dict[str, Any]], pad_id: int, keys: Sequence[str],
              batch_size: int = 64, token_level: bool = False, precision: str = "fp32",
              progress: bool = False, cache: dict | None = None) -> list[dict[str, np.ndarray]]:
    """Model outputs per feature, in input order: for each feature {key: float32 array}; token-level
    outputs are cut to the feature's own length. Batches are formed from length-sorted features.

    bf16 on CPU runs a bf16 copy with fused inference blocks (nn/fused.py) and, like embed, several
    single-threaded batches at once (bertkit/parallel.py); elsewhere (a GPU, or a CPU whose oneDNN cannot pack
    bf16) bf16 is autocast, with a warning where it is emulated (bertkit.hardware). With `cache` (a dict the
    caller keeps), the copy is reused across calls until any weight of `model` changes (an optimizer step, a
    load): see nn.fused.weights_key."""
    from contextlib import nullcontext

    from tqdm.auto import tqdm

    from bertkit import hardware
    from bertkit.nn.fused import fused_twin, weights_key
    from bertkit.parallel import default_workers, parallel_map

    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    out: list[dict[str, np.ndarray]] = [{} for _ in features]
    device = next(model.parameters()).device
    was = model.training
    model.eval()
    runner, autocast = model, precision == "bf16"
    if autocast and not hardware.bf16_native(device):
        hardware.warn_emulated_bf16(device, "prediction")
    if autocast and (len(features) > batch_size or cache):  # a new copy pays off beyond one batch
        key = weights_key(model)
        if cache is not None and cache.get("key") == key:
            twin = cache["twin"]
        else:
            twin = fused_twin(model, torch.bfloat16)
            if cache is not None:
                cache.update(key=key, twin=twin)
        if twin is not None:
            runner, autocast = twin, False

    def one(s: int) -> None:
        idx = order[s:s + batch_size]
        batch = pad_batch([{k: features[i][k] for k in ("input_ids", "token_type_ids", "langs") if k in features[i]}
                           for i in idx], pad_id)
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if autocast else nullcontext()
        extra = {"langs": batch["langs"].to(device)} if "langs" in batch else {}
        with torch.inference_mode(), ctx:
            res = runner(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                         batch["token_type_ids"].to(device), **extra)
            for key in keys:
                val = res[key].float().cpu().numpy()
                for row, i in enumerate(idx):
                    out[i][key] = val[row, :len(features[i]["input_ids"])] if token_level else val[row]

    starts = range(0, len(order), batch_size)
    bar = tqdm(total=len(starts), desc="predict", disable=not progress, dynamic_ncols=True)
    with bar:
        for _ in parallel_map(one, starts, min(default_workers(runner), len(starts))):
            bar.update(1)
    model.train(was)
    return out
