"""VideoBERT's three objectives over `[CLS] text [>] video [SEP]` and their weighted sum.

- text cloze: BERT's masked LM on the text tokens of aligned pairs, predicted among the text ids only;
- video cloze: masked LM on the visual tokens, predicted among the V visual ids only (random replacements are
  visual words too);
- linguistic-visual alignment: the 2-way [CLS] head (BERT's NSP head) says whether the caption belongs to the
  video; class 0 = aligned, 1 = a caption paired with another video's tokens (NSP's convention: 1 = "random").

Masking is `masking.mask_tokens` twice, with a `Vocab` that makes everything outside the segment "special", so each
call chooses, replaces and samples only within its own id range.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import InputError
from bertkit.models.videobert import VideoLayout
from bertkit.objectives.masking import IGNORE, MaskingConfig, Vocab, mask_tokens
from bertkit.objectives.mlm import masked_cross_entropy

DEFAULT_MASKING = MaskingConfig()
LOSS_NAMES = ("text_cloze_loss", "video_cloze_loss", "align_loss")


def segment_vocabs(layout: VideoLayout, text_specials: tuple[int, ...]) -> tuple[Vocab, Vocab]:
    """(text Vocab, video Vocab) for mask_tokens: the text one may touch text ids except specials, the video one
    visual ids only. Both use the text [MASK]."""
    n, total = layout.text_vocab_size, layout.vocab_size
    text = Vocab(layout.mask_id, total, tuple(sorted(set(text_specials) | {layout.pad_id})) + tuple(range(n, total)))
    video = Vocab(layout.mask_id, total, tuple(range(layout.visual_offset)))
    return text, video


def mask_text_and_video(input_ids: torch.Tensor, text_vocab: Vocab, video_vocab: Vocab, gen: torch.Generator,
                        text_cfg: MaskingConfig = DEFAULT_MASKING, video_cfg: MaskingConfig = DEFAULT_MASKING
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, T) joint ids -> (corrupted ids, text labels, video labels): -100 outside the chosen positions."""
    t_ids, t_labels = mask_tokens(input_ids, text_vocab, gen, text_cfg)
    v_ids, v_labels = mask_tokens(input_ids, video_vocab, gen, video_cfg)
    out = torch.where(t_labels != IGNORE, t_ids, input_ids)
    out = torch.where(v_labels != IGNORE, v_ids, out)
    return out, t_labels, v_labels


def parse_weights(text: str | tuple[float, ...] | list[float]) -> tuple[float, float, float]:
    """"1,1,0.5" or a 3-sequence -> (text cloze, video cloze, alignment) weights, each >= 0, not all 0."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        w = tuple(float(p) for p in parts)
    except ValueError:
        raise InputError(f"--weights takes three numbers text,video,align, got {text!r}") from None
    if len(w) != 3 or any(not x >= 0 or x == float("inf") for x in w) or sum(w) == 0:
        raise InputError(f"--weights takes three finite numbers >= 0 (text,video,align), not all 0, got {text!r}")
    return w  # type: ignore[return-value]


class VideoBertObjective(nn.Module):
    """L = w_text L_text + w_video L_video + w_align L_align.

    batch (data/video_text.VideoBertCollator): the cloze view `input_ids`, `attention_mask`, `token_type_ids`,
    `text_labels`, `video_labels` (aligned pairs, masked); the alignment view `align_input_ids`,
    `align_attention_mask`, `align_token_type_ids` (unmasked, half the captions swapped) and `align_label` (B,).
    L_text / L_video: mean cross entropy over the masked text / visual positions, the logits cut to the text /
    visual id range; L_align: cross entropy of the [CLS] head. Each part is returned under its name
    (`text_cloze_loss`, `video_cloze_loss`, `align_loss`, and `align_acc`). Needs a VideoBERT (task pretraining).
    """

    def __init__(self, layout: VideoLayout, weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> None:
        super().__init__()
        self.layout, self.weights = layout, parse_weights(weights)

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        lay = self.layout
        tl, vl = batch["text_labels"], batch["video_labels"]
        pos = (tl != IGNORE) | (vl != IGNORE)
        out = model(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"),
                    masked_positions=pos)
        logits = out.prediction_logits                           # (M, V_total), rows in pos's row-major order
        t, v = tl[pos], vl[pos]                                  # (M,) each; one of the two is -100 per row
        is_t, is_v = t != IGNORE, v != IGNORE
        text = masked_cross_entropy(logits[is_t, :lay.text_vocab_size], t[is_t])
        video = masked_cross_entropy(logits[is_v, lay.visual_offset:], v[is_v] - lay.visual_offset)
        aout = model(batch["align_input_ids"], batch.get("align_attention_mask"), batch.get("align_token_type_ids"))
        pair = aout.seq_relationship_logits.float()              # (B, 2)
        align = F.cross_entropy(pair, batch["align_label"])
        wt, wv, wa = self.weights
        total = wt * text + wv * video + wa * align
        acc = (pair.argmax(-1) == batch["align_label"]).float().mean()
        return {"loss": total, "text_cloze_loss": text, "video_cloze_loss": video, "align_loss": align,
                "align_acc": acc.detach()}
