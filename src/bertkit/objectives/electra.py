"""ELECTRA (Clark et al. 2020): a small generator fills masked positions, a discriminator spots replacements."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import InputError
from bertkit.models import Model, ModelConfig
from bertkit.objectives.masking import IGNORE
from bertkit.objectives.mlm import masked_cross_entropy


def electra_generator(disc: Model, generator_fraction: float = 0.25) -> Model:
    """A new generator (task "mlm", family "electra") for the discriminator `disc`, with `generator_fraction` of its
    width, heads and feed-forward size (ELECTRA's best setting is 1/4 to 1/2), sharing its embedding module
    (token, position, segment; the generator's MLM decoder is tied to it)."""
    cfg, g = disc.config, generator_fraction
    if not 0.0 < g <= 1.0:
        raise InputError(f"the generator fraction must be in (0, 1], got {g}")
    gen_cfg = cfg.replace(hidden_size=max(1, int(cfg.hidden_size * g)), num_heads=max(1, int(cfg.num_heads * g)),
                          intermediate_size=max(1, int(cfg.intermediate_size * g)))
    if gen_cfg.hidden_size % gen_cfg.num_heads:
        raise InputError(f"a generator {g} of the discriminator's size has width {gen_cfg.hidden_size} and "
                         f"{gen_cfg.num_heads} heads, which do not divide it; choose another fraction")
    gen = Model(gen_cfg, "mlm")
    gen.backbone.embeddings = disc.backbone.embeddings
    return gen


def build_electra_pair(disc_cfg: ModelConfig, generator_fraction: float = 0.25) -> tuple[Model, Model]:
    """Discriminator (task "rtd") and generator (task "mlm") of the same family "electra" with shared token,
    position and segment embeddings (see electra_generator)."""
    disc_cfg = disc_cfg.replace(family="electra")
    if disc_cfg.embedding_size is None:
        disc_cfg = disc_cfg.replace(embedding_size=disc_cfg.hidden_size)
    disc = Model(disc_cfg, "rtd")
    return disc, electra_generator(disc, generator_fraction)


class ElectraObjective(nn.Module):
    """L = L_MLM(generator) + rtd_weight * L_Disc, rtd_weight = 50.

    The generator predicts the masked tokens; its samples (not gradients: sampling is discrete) replace
    them; the discriminator classifies every real token as original or replaced (binary cross entropy,
    mean over non-padding tokens). A sampled token equal to the original counts as original.
    Inputs: a batch from PretrainCollator (labels at masked positions). `model` is the discriminator."""

    def __init__(self, generator: Model, rtd_weight: float = 50.0) -> None:
        super().__init__()
        self.generator, self.rtd_weight = generator, rtd_weight

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        ids, labels, att = batch["input_ids"], batch["labels"], batch.get("attention_mask")
        types = batch.get("token_type_ids")
        pos = labels != IGNORE
        gen_logits = self.generator(ids, att, types, masked_positions=pos).logits      # (M, V)
        targets = labels[pos]
        gen_loss = masked_cross_entropy(gen_logits, targets)
        with torch.no_grad():
            u = torch.rand(gen_logits.shape, device=gen_logits.device).clamp_(1e-9, 1 - 1e-9)
            sampled = (gen_logits.float() - torch.log(-torch.log(u))).argmax(-1)        # Gumbel-max sample
            corrupted = ids.clone()
            corrupted[pos] = sampled
            is_replaced = torch.zeros_like(ids, dtype=torch.float)
            is_replaced[pos] = (sampled != targets).float()
        disc_logits = model(corrupted, att, types).logits                               # (B, T)
        real = att.bool() if att is not None else torch.ones_like(ids, dtype=torch.bool)
        disc_loss = F.binary_cross_entropy_with_logits(disc_logits.float()[real], is_replaced[real])
        with torch.no_grad():
            acc = ((disc_logits.float()[real] > 0).float() == is_replaced[real]).float().mean()
        return {"loss": gen_loss + self.rtd_weight * disc_loss, "gen_loss": gen_loss, "disc_loss": disc_loss,
                "disc_accuracy": acc}
