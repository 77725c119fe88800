"""VideoBERT (Sun et al. 2019): BERT whose vocabulary is the text WordPiece vocabulary, then `[>]`, then V visual words.

The visual embeddings are rows of the same token table, after the text rows, so the model is a plain BERT
(BertForPreTraining: MLM head + the 2-way [CLS] head, here "does the text belong to this video?") with a larger
vocabulary; transformers loads the folder as it is. What is VideoBERT-specific is the id layout, saved beside the
weights as `videobert.json`:

    ids [0, text_vocab_size)                         text WordPiece tokens
    id  text_vocab_size                              `[>]`, the text/video separator
    ids [visual_offset, visual_offset + V)          visual words 0..V-1 (visual_offset = text_vocab_size + 1)

and an input is `[CLS] text [>] video [SEP]`, segment 0 up to and including `[>]`, segment 1 after it.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import CheckpointError, InputError
from bertkit.models.config import SIZES, ModelConfig
from bertkit.models.model import Model

LAYOUT_FILE = "videobert.json"
SEPARATOR = "[>]"


@dataclass(frozen=True)
class VideoLayout:
    """Where text, `[>]` and the visual words sit in the joint id space, and the text specials used to build inputs."""

    text_vocab_size: int
    visual_vocab_size: int          # V = k^d visual words of the codebook
    cls_id: int
    sep_id: int
    pad_id: int
    mask_id: int

    def __post_init__(self) -> None:
        if self.visual_vocab_size < 1:
            raise InputError(f"the visual vocabulary needs at least one word, got V={self.visual_vocab_size}")

    @property
    def video_sep_id(self) -> int:
        """The id of `[>]`."""
        return self.text_vocab_size

    @property
    def visual_offset(self) -> int:
        """The joint id of visual word 0."""
        return self.text_vocab_size + 1

    @property
    def vocab_size(self) -> int:
        return self.text_vocab_size + 1 + self.visual_vocab_size

    def visual_ids(self) -> torch.Tensor:
        """The joint ids of all visual words, (V,)."""
        return torch.arange(self.visual_offset, self.vocab_size)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "video_sep_id": self.video_sep_id, "visual_offset": self.visual_offset,
                "vocab_size": self.vocab_size, "separator": SEPARATOR}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoLayout:
        keys = ("text_vocab_size", "visual_vocab_size", "cls_id", "sep_id", "pad_id", "mask_id")
        return cls(**{k: int(d[k]) for k in keys})

    @classmethod
    def from_tokenizer(cls, tok: Any, visual_vocab_size: int) -> VideoLayout:
        """The layout of a WordPiece tokenizer's vocabulary followed by `[>]` and V visual words."""
        missing = [n for n, i in (("[CLS]", tok.cls_token_id), ("[SEP]", tok.sep_token_id),
                                  ("[MASK]", tok.mask_token_id)) if i is None]
        if missing:
            raise InputError(f"the tokenizer has no {', '.join(missing)} token; VideoBERT inputs need "
                             "[CLS], [SEP] and [MASK]")
        return cls(tok.vocab_size, int(visual_vocab_size), tok.cls_token_id, tok.sep_token_id,
                   tok.pad_token_id or 0, tok.mask_token_id)


def encode_pair(text_ids: Sequence[int], visual_tokens: Sequence[int], layout: VideoLayout,
                max_length: int | None = None) -> tuple[list[int], list[int]]:
    """`[CLS] text [>] video [SEP]` -> (joint ids, segment ids). visual_tokens are codebook words 0..V-1.

    Over max_length the longer part is cut first (text or video), one token at a time; the caller warns."""
    text, video = list(text_ids), [int(v) + layout.visual_offset for v in visual_tokens]
    if max_length is not None:
        room = max_length - 3
        if room < 2:
            raise InputError(f"max_length {max_length} leaves no room for text and video; it needs >= 5")
        while len(text) + len(video) > room:
            if len(video) >= len(text):
                video.pop()
            else:
                text.pop()
    ids = [layout.cls_id, *text, layout.video_sep_id, *video, layout.sep_id]
    segments = [0] * (len(text) + 2) + [1] * (len(video) + 1)
    return ids, segments


def _config(layout: VideoLayout, size: str | dict[str, int], max_positions: int) -> ModelConfig:
    if isinstance(size, str):
        if size in SIZES:
            size = SIZES[size]
        elif Path(size).is_file():
            size = json.loads(Path(size).read_text())
        else:
            raise InputError(f"--size must be one of {', '.join(SIZES)} or a JSON file of sizes, got {size!r}")
    known = {"hidden_size", "num_layers", "num_heads", "intermediate_size", "hidden_act", "dropout",
             "attention_dropout", "layer_norm_eps"}
    bad = sorted(set(size) - known)
    if bad:
        raise InputError(f"unknown size keys {bad}; VideoBERT sizes take {sorted(known)}")
    return ModelConfig(family="bert", vocab_size=layout.vocab_size, max_positions=max_positions,
                       pad_token_id=layout.pad_id, type_vocab_size=2, **size)


def build_videobert(layout: VideoLayout, size: str | dict[str, int] = "tiny", max_positions: int = 512,
                    seed: int | None = None) -> Model:
    """A fresh VideoBERT: a BERT pretraining model (MLM + [CLS] alignment head) over the joint vocabulary.

    size: a SIZES preset name or a dict of sizes (hidden_size, num_layers, num_heads, intermediate_size, ...)."""
    if seed is not None:
        torch.manual_seed(seed)
    return Model(_config(layout, size, max_positions), "pretraining")


def videobert_from_bert(path: str | Path | None, visual_vocab_size: int, seed: int | None = None
                        ) -> tuple[Model, VideoLayout, Any]:
    """VideoBERT initialised from a BERT folder (None: the bundled MiniLM): every encoder weight and its text token
    rows copied, the `[>]` and visual rows (and any head the folder lacks) initialised fresh. Returns (model, layout,
    the folder's tokenizer)."""
    import warnings

    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.tokenizers import Tokenizer

    path = resolve_model_path(path)
    with warnings.catch_warnings():  # a base checkpoint has no MLM/NSP heads: they start fresh, said below
        warnings.simplefilter("ignore")
        src = from_pretrained(path, task="pretraining")
    if src.family.name != "bert":
        raise InputError(f"--init for VideoBERT takes a BERT checkpoint, got a {src.family.name} model")
    tok = Tokenizer.from_pretrained(path)
    if tok.vocab_size != src.config.vocab_size:
        raise InputError(f"--init {path}: its tokenizer has {tok.vocab_size} tokens but the model "
                         f"{src.config.vocab_size}; VideoBERT appends its ids after the text vocabulary")
    layout = VideoLayout.from_tokenizer(tok, visual_vocab_size)
    if seed is not None:
        torch.manual_seed(seed)
    model = Model(src.config.replace(vocab_size=layout.vocab_size, extra={}), "pretraining")
    own = model.state_dict()
    n = layout.text_vocab_size
    for name, t in src.state_dict().items():
        if name in ("backbone.embeddings.word.weight", "heads.mlm.bias"):  # the text rows; new rows stay fresh
            own[name][:n] = t
        else:
            own[name] = t
    model.load_state_dict(own)
    return model.train(), layout, tok


def save_videobert(model: Model, layout: VideoLayout, path: str | Path, tokenizer: Any | None = None) -> Path:
    """A BertForPreTraining folder (config.json, model.safetensors, the text tokenizer) plus `videobert.json`."""
    from bertkit.hub import save_pretrained

    if model.config.vocab_size != layout.vocab_size:
        raise InputError(f"the model has {model.config.vocab_size} tokens but the layout {layout.vocab_size}")
    path = save_pretrained(model, path, tokenizer=tokenizer)
    (Path(path) / LAYOUT_FILE).write_text(json.dumps(layout.to_dict(), indent=2, sort_keys=True) + "\n")
    return Path(path)


def load_videobert(path: str | Path) -> tuple[Model, VideoLayout]:
    """(model, layout) of a folder written by save_videobert; the model in eval mode."""
    from bertkit.hub import from_pretrained

    f = Path(path) / LAYOUT_FILE
    if not f.is_file():
        raise CheckpointError(f"no {LAYOUT_FILE} in {path}: not a VideoBERT folder (save it with save_videobert)")
    try:
        layout = VideoLayout.from_dict(json.loads(f.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{f} is not a VideoBERT layout: {e}") from None
    model = from_pretrained(path, task="pretraining", require_heads=True)
    if model.config.vocab_size != layout.vocab_size:
        raise CheckpointError(f"{path}: config.json has {model.config.vocab_size} tokens but {LAYOUT_FILE} "
                              f"describes {layout.vocab_size}")
    return model, layout
