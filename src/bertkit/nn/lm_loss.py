"""The language-model head and its cross-entropy in one pass, a slice of rows at a time.

For a small model with a large vocabulary (GPT-2 pretraining, KoGPT2: hidden 128, 8,000 tokens) the LM head is
most of a training step, and most of that is memory traffic, not arithmetic: the (N, V) logits are written, read by
log_softmax, its (N, V) output written and read again, a zero-filled (N, V) gradient written, read by the backward
of log_softmax, and its output read by the two gradient products. `linear_cross_entropy` never holds the (N, V)
logits: for each slice of rows it multiplies h W^T, exponentiates the shifted logits in place, takes the loss, and at
once the gradient G = softmax - onehot, as the two products dL/dh = G W and dL/dW += G^T h (the softmax's 1/sum is
applied to the products' small operands, the onehot part as a gather and a scatter of rows). Backward
only scales the stored dL/dh and dL/dW by the incoming gradient. The loss and the gradients are those of
F.cross_entropy(h @ W.T + b, labels, reduction="sum") (tests/test_nn.py checks them to 1e-5).

Under CPU/GPU autocast the products run in the autocast dtype (bf16) and the softmax in fp32, as F.linear +
F.cross_entropy do under autocast.
"""
from __future__ import annotations

import torch

IGNORE = -100
CHUNK_ELEMENTS = 1 << 22  # logits per slice (16 MB in fp32): stays in cache on the CPUs we measured


def _autocast_dtype(device: torch.device) -> torch.dtype | None:
    kind = device.type
    if torch.is_autocast_enabled(kind):
        return torch.get_autocast_dtype(kind)
    return None


class _LinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, labels: torch.Tensor,
                ignore_index: int, chunk_rows: int, mm_dtype: torch.dtype | None) -> torch.Tensor:
        n, v = h.shape[0], weight.shape[0]
        want_h, want_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        want_b = bias is not None and ctx.needs_input_grad[2]
        dtype = mm_dtype or h.dtype
        acc = torch.promote_types(dtype, torch.float32)  # softmax and sums: fp32 (fp64 stays fp64)
        hc, wc = h.to(dtype), weight.to(dtype)
        total = torch.zeros((), dtype=acc, device=h.device)
        grad_h = torch.empty_like(h) if want_h else None
        grad_w = torch.zeros(weight.shape, dtype=acc, device=h.device) if want_w else None
        grad_b = torch.zeros(v, dtype=acc, device=h.device) if want_b else None
        for i in range(0, n, chunk_rows):
            rows = slice(i, min(n, i + chunk_rows))
            gold = labels[rows]
            keep = gold != ignore_index
            safe = gold.masked_fill(~keep, 0)
            e = (hc[rows] @ wc.T).to(acc)  # (r, V) logits
            if bias is not None:
                e += bias.to(acc)
            e.sub_(e.amax(dim=-1, keepdim=True))  # shifted logits z - max
            picked = e.gather(1, safe[:, None]).squeeze(1)
            e.exp_()  # E = exp(z - max), in place: one (r, V) buffer for the whole slice
            norm = e.sum(dim=-1)  # softmax = E / norm; log-sum-exp - z_gold = log(norm) - (z_gold - max)
            total += ((norm.log() - picked) * keep).sum()
            if not (want_h or want_w or want_b):
                continue
            # dL/dz = E / norm - onehot(gold) on kept rows. The 1/norm is folded into the products' small operands
            # and the onehot part is a gather / scatter of rows, so nothing else walks over the (r, V) slice.
            inv = keep.to(acc) / norm  # (r,), 0 on ignored rows
            ed = e.to(dtype)
            if want_h:
                gh = (ed @ wc).to(acc) * inv[:, None] - weight[safe].to(acc) * keep[:, None]
                grad_h[rows] = gh.to(h.dtype)
            if want_w:
                hr = hc[rows]
                scaled = (hr.to(acc) * inv[:, None]).to(dtype)
                if dtype == acc:
                    grad_w.addmm_(ed.T, scaled)  # accumulate in place, no (V, C) temporary
                else:
                    grad_w += (ed.T @ scaled).to(acc)
                grad_w.index_add_(0, safe[keep], -hr[keep].to(acc))
            if want_b:
                grad_b += (ed.T.to(acc) @ inv)
                grad_b.index_add_(0, safe[keep], -torch.ones_like(inv[keep]))
        ctx.save_for_backward(grad_h, grad_w, grad_b)
        ctx.dtypes = (weight.dtype, None if bias is None else bias.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total: torch.Tensor):
        grad_h, grad_w, grad_b = ctx.saved_tensors
        wd, bd = ctx.dtypes
        dh = None if grad_h is None else grad_h * grad_total.to(grad_h.dtype)
        dw = None if grad_w is None else (grad_w * grad_total).to(wd)
        db = None if grad_b is None else (grad_b * grad_total).to(bd)
        return dh, dw, db, None, None, None, None


def linear_cross_entropy(h: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor,
                         bias: torch.Tensor | None = None, ignore_index: int = IGNORE,
                         chunk_elements: int = CHUNK_ELEMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed cross-entropy of the logits h W^T + b against labels, and the count of predicted positions.

    h: (..., C) hidden states; weight: (V, C) (the tied embedding matrix); labels: h's leading shape, ignore_index
    where nothing is predicted. Returns (fp32 scalar sum, int count): the mean loss is sum / count, and both equal
    what F.cross_entropy gives on the full logits, without ever holding them (see the module docstring).
    """
    h2, gold = h.reshape(-1, h.shape[-1]), labels.reshape(-1)
    if gold.shape[0] != h2.shape[0]:
        raise ValueError(f"labels of shape {tuple(labels.shape)} do not match hidden states {tuple(h.shape)}")
    rows = max(1, chunk_elements // weight.shape[0])
    total = _LinearCrossEntropy.apply(h2, weight, bias, gold, ignore_index, rows, _autocast_dtype(h.device))
    return total, (gold != ignore_index).sum()
