"""The book's attention heat maps: how much each token (row) attends to every other token (column), for one head of
one layer or for all heads of a layer on one figure.

    bertkit.attention_plot.attention_map(model_dir, "The cat sat on the mat", layer=5, head=2, png="att.png")

The probabilities are the model's own (softmax of q·k / sqrt(d) over the keys, rows sum to 1), read from its
forward with output_attentions=True.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from bertkit.errors import InputError
from bertkit.plotting import pyplot, save_png


@torch.inference_mode()
def attention_weights(model_dir: str | Path | None, text: str, pair: str | None = None
                      ) -> tuple[list[str], torch.Tensor]:
    """(tokens, (layers, heads, T, T) attention probabilities) of `text` (and `pair`) in the encoder at model_dir."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.tokenizers import Tokenizer

    if not isinstance(text, str) or not text.strip():
        raise InputError("give a non-empty text")
    path = resolve_model_path(model_dir)
    model = from_pretrained(path, task="base").eval()
    tok = Tokenizer.from_pretrained(path)
    enc = tok([text], None if pair is None else [pair], max_length=model.max_tokens, padding=False)
    ids = torch.tensor(enc["input_ids"])
    types = torch.tensor(enc["token_type_ids"]) if "token_type_ids" in enc else None
    out = model(ids, torch.ones_like(ids), token_type_ids=types, output_attentions=True)
    if not out.attentions:
        raise InputError(f"{path}: this model gives no attention probabilities")
    att = torch.stack([a[0].float() for a in out.attentions])  # (L, H, T, T)
    return tok.convert_ids_to_tokens(ids[0].tolist()), att


def attention_map(model_dir: str | Path | None, text: str, png: str | Path, layer: int = -1, head: int | None = None,
                  pair: str | None = None) -> Path:
    """Draw layer `layer`'s head `head` (None: every head, one panel each) as a heat map with the tokens on both axes;
    layer and head count from 0 (negative: from the end). Needs matplotlib."""
    plt = pyplot("an attention picture")
    tokens, att = attention_weights(model_dir, text, pair)
    n_layers, n_heads = att.shape[:2]
    if not -n_layers <= layer < n_layers:
        raise InputError(f"layer {layer} is out of range: the model has {n_layers} layers (0-{n_layers - 1})")
    if head is not None and not -n_heads <= head < n_heads:
        raise InputError(f"head {head} is out of range: each layer has {n_heads} heads (0-{n_heads - 1})")
    layer %= n_layers
    heads = list(range(n_heads)) if head is None else [head % n_heads]
    cols = min(4, len(heads))
    rows = math.ceil(len(heads) / cols)
    size = max(3.0, 0.28 * len(tokens) + 1.5)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows), dpi=100, squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= len(heads):
            ax.axis("off")
            continue
        ax.imshow(att[layer, heads[k]].numpy(), cmap="viridis", vmin=0, vmax=1)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=7)
        ax.set_title(f"layer {layer}, head {heads[k]}", fontsize=9)
    fig.suptitle("attention: row = query token, column = key token")
    png = save_png(fig, png)
    return png
