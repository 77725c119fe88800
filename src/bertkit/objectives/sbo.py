"""SpanBERT's span boundary objective (Joshi et al. 2020)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bertkit.objectives.mlm import masked_cross_entropy, masked_forward


class SpanBoundaryHead(nn.Module):
    """y_i = f(x_{s-1}, x_{e+1}, p_{i-s+1}): a 2-layer feed-forward network with GeLU and LayerNorm over the
    two boundary representations and a relative position embedding, then the (tied) vocabulary projection.

    Inputs: hidden (B, T, H), left/right boundary positions and relative positions (N,) of N span tokens.
    Output: logits (N, V)."""

    def __init__(self, hidden: int, vocab_size: int, max_span_tokens: int = 64, eps: float = 1e-12) -> None:
        super().__init__()
        self.position = nn.Embedding(max_span_tokens, hidden)
        self.mlp = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=eps),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=eps))
        self.bias = nn.Parameter(torch.zeros(vocab_size))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, hidden: torch.Tensor, rows: torch.Tensor, left: torch.Tensor, right: torch.Tensor,
                rel: torch.Tensor, decoder_weight: torch.Tensor) -> torch.Tensor:
        rel = rel.clamp(max=self.position.num_embeddings - 1)
        h = torch.cat([hidden[rows, left], hidden[rows, right], self.position(rel)], dim=-1)  # (N, 3H)
        return nn.functional.linear(self.mlp(h), decoder_weight, self.bias)


class SpanBertObjective(nn.Module):
    """L = L_MLM + L_SBO over the tokens of masked spans (batch from PretrainCollator(strategy="span")).
    SpanBERT drops NSP and trains on single sequences. The head is trained with the encoder and saved as
    `sbo_head.safetensors` next to the BERT checkpoint (the encoder itself is a plain BERT)."""

    def __init__(self, hidden: int, vocab_size: int) -> None:
        super().__init__()
        self.head = SpanBoundaryHead(hidden, vocab_size)

    def forward(self, model: nn.Module, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        labels = batch["labels"]
        out, mlm = masked_forward(model, batch)
        rows, span_pos = batch["sbo_row"], batch["sbo_pos"]
        sbo_logits = self.head(out.last_hidden_state, rows, batch["sbo_left"], batch["sbo_right"], batch["sbo_rel"],
                               model.input_embeddings().weight)
        sbo = masked_cross_entropy(sbo_logits, labels[rows, span_pos])
        return {"loss": mlm + sbo, "mlm_loss": mlm, "sbo_loss": sbo}

    def save(self, folder: str | Path) -> None:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in self.head.state_dict().items()}, str(Path(folder) / "sbo_head.safetensors"))
