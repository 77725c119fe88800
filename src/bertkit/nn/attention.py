"""Scaled dot-product attention and multi-head attention (self and cross, optionally causal)."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.nn.dropout import dropout as drop


def additive_mask(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """(B, T) 1/0 keep-mask -> (B, 1, 1, T) additive bias: 0 where kept, dtype-min where padded.

    The minimum finite value (not -inf) keeps fully padded rows finite, as transformers does.
    """
    if attention_mask is None:
        return None
    if attention_mask.dim() == 4:  # already a bias
        return attention_mask.to(dtype)
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


def causal_bias(t_q: int, t_k: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(1, 1, Tq, Tk) bias that forbids attending to later positions (queries aligned to the end)."""
    i = torch.arange(t_q, device=device)[:, None] + (t_k - t_q)
    j = torch.arange(t_k, device=device)[None, :]
    return torch.zeros(t_q, t_k, device=device, dtype=dtype).masked_fill_(j > i, torch.finfo(dtype).min)[None, None]


def attention_scores(q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The unnormalised scores q k^T / sqrt(d) + bias -> (B, H, Tq, Tk): what the softmax is taken of (TinyBERT's
    attention loss reads them). Masked keys hold the bias (dtype-min), not a score."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, Tq, Tk)
    return scores if bias is None else scores + bias


def attention_probs(q: torch.Tensor, k: torch.Tensor, bias: torch.Tensor | None,
                    dropout: float = 0.0, training: bool = False) -> torch.Tensor:
    """Explicit softmax(q k^T / sqrt(d) + bias) -> (B, H, Tq, Tk); the path that can return probabilities."""
    probs = attention_scores(q, k, bias).softmax(dim=-1)
    return drop(probs, p=dropout, training=training)


ATTENTION_OUTPUTS = (False, True, "scores")  # output_attentions: none, probabilities, pre-softmax scores


def check_output_attentions(value: bool | str) -> None:
    """Raise ValueError unless `value` is one of ATTENTION_OUTPUTS."""
    if not any(value is v or (isinstance(v, str) and value == v) for v in ATTENTION_OUTPUTS):
        raise ValueError(f"output_attentions must be False, True (probabilities) or 'scores' (pre-softmax), "
                         f"got {value!r}")


# Training with attention dropout cannot use a fused SDPA kernel on CPU: the math path keeps the (B, H, Tq, Tk)
# scores, probabilities and dropout mask of every layer for backward (under bf16 autocast about 13 bytes an element
# saved, counted in tests/test_nn.py, ~27 judging by the peak memory;
# question answering at 384 tokens, batch 32, MiniLM: ~1.5 GB a layer, 7.4 GB peak for the run). Training
# attention with dropout therefore runs as DROPOUT_ATTENTION says:
#   "compact"   CompactDropoutAttention: stores the probabilities (bf16 under autocast) and a bool keep-mask,
#               ~3 bytes an element (default). Also the faster one at every size measured: AMD EPYC AVX2, 2
#               threads, fp32, (32, 2|4, 128, 128) forward + backward 21.9 | 58.0 ms against the math path's
#               24.2 | 72.7 (its bernoulli mask draw is the slow part); QA at 384 tokens 0.6x its time;
#   "recompute" torch.utils.checkpoint with the RNG state restored: stores nothing, recomputes the attention in
#               backward (the same dropout masks and gradients as "store"; QA steps 1.1-1.35x "store"'s time);
#   "store"     the math path as is.
# MultiHeadAttention.attention_memory = "compact" | "recompute" | "store" overrides it per module.
# benchmarks/finetune_memory.py measures all three.
DROPOUT_ATTENTION = "compact"
ATTENTION_MEMORY_MODES = ("store", "compact", "recompute")


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
          p: float) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)


_CHUNK_ELEMENTS = 1 << 23  # score elements per slice of the batch in compact attention (transients ~4 B each)


class CompactDropoutAttention(torch.autograd.Function):
    """softmax(q k^T / sqrt(d) + bias) with dropout, then @ v, storing for backward only the probabilities (in
    the inputs' dtype: 2 bytes an element under bf16) and the dropout keep-mask (1 byte), instead of the math
    path's scores, probabilities, mask and dropped probabilities (about 13 bytes). Scores come from a matmul in the
    inputs' dtype and the softmax runs in fp32, as in eager attention under autocast. Forward and backward walk
    the batch in slices so the fp32 transients stay small. The bias is a constant (a padding or causal mask)."""

    @staticmethod
    def forward(ctx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                p: float) -> torch.Tensor:
        b, h, t_q, _ = q.shape
        scale, inv_keep = 1.0 / math.sqrt(q.shape[-1]), 1.0 / (1.0 - p)
        step = max(1, _CHUNK_ELEMENTS // (h * t_q * k.shape[2]))
        probs = torch.empty(b, h, t_q, k.shape[2], dtype=q.dtype, device=q.device)
        keep = torch.empty(probs.shape if p > 0 else (0,), dtype=torch.bool, device=q.device)  # p = 0: no draws
        out = torch.empty(b, h, t_q, v.shape[-1], dtype=v.dtype, device=q.device)
        for i in range(0, b, step):
            j = slice(i, i + step)
            scores = (q[j] @ k[j].transpose(-1, -2)).float().mul_(scale)
            if bias is not None:
                scores += bias[j] if bias.shape[0] > 1 else bias
            pr = scores.softmax(dim=-1)
            probs[j] = pr
            if p > 0:
                keep[j] = kp = torch.rand_like(pr) >= p
                pr.mul_(kp).mul_(inv_keep)
            out[j] = pr.to(v.dtype) @ v[j]
        ctx.save_for_backward(q, k, v, probs, keep)
        ctx.scale, ctx.inv_keep, ctx.step = scale, inv_keep, step
        return out

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        q, k, v, probs, keep = ctx.saved_tensors
        dq, dk, dv = torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)
        g = grad_out.to(v.dtype)
        for i in range(0, q.shape[0], ctx.step):
            j = slice(i, i + ctx.step)
            pr = probs[j].float()
            dp = (g[j] @ v[j].transpose(-1, -2)).float()
            if keep.numel():
                kp = keep[j]
                dv[j] = (pr * kp).mul_(ctx.inv_keep).to(v.dtype).transpose(-1, -2) @ g[j]
                dp.mul_(kp).mul_(ctx.inv_keep)
            else:
                dv[j] = probs[j].to(v.dtype).transpose(-1, -2) @ g[j]
            ds = (pr * (dp - (dp * pr).sum(-1, keepdim=True))).mul_(ctx.scale).to(q.dtype)  # pr may be saved
            dq[j] = ds @ k[j]
            dk[j] = ds.transpose(-1, -2) @ q[j]
        return dq, dk, dv, None, None


def compact_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                      p: float) -> torch.Tensor:
    """Dropout attention for training that stores ~3 bytes a score element (see CompactDropoutAttention)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"attention dropout must be in [0, 1), got {p}")
    if bias is not None and bias.requires_grad:
        raise ValueError("compact attention takes a constant bias (a mask); use scaled_dot_product_attention")
    with torch.autocast(q.device.type, enabled=False):
        return CompactDropoutAttention.apply(q, k, v, bias, p)


class KVCache:
    """The keys and values one attention layer has computed so far, so that a decoding step projects only its
    new position: each generated token then costs one position, not the whole prefix again.

    Self-attention (static=False) appends every step's (B, H, T_new, D) to the (B, H, T_past, D) it holds.
    Cross-attention (static=True) attends to the encoder output, which does not change while decoding: its keys
    and values are computed at the first step and reused after.
    """

    def __init__(self, static: bool = False) -> None:
        self.static = static
        self.k: torch.Tensor | None = None  # (B, H, T, D)
        self.v: torch.Tensor | None = None

    def __len__(self) -> int:
        """Positions held (T)."""
        return 0 if self.k is None else self.k.shape[2]

    @property
    def ready(self) -> bool:
        """True for a cross-attention cache that already holds the encoder's keys and values."""
        return self.static and self.k is not None

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this step's (B, H, T_new, D) keys and values; returns all of them, (B, H, T_past + T_new, D)."""
        if self.k is not None and not self.static:
            k, v = torch.cat([self.k, k], dim=2), torch.cat([self.v, v], dim=2)
        elif self.static:  # read at every step: contiguous heads make each step's attention ~2x faster on CPU
            k, v = k.contiguous(), v.contiguous()
        self.k, self.v = k, v
        return k, v

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows `index` (N,) in that order: beam search continues some beams and drops others."""
        if self.k is not None:
            self.k, self.v = self.k.index_select(0, index), self.v.index_select(0, index)


class MultiHeadAttention(nn.Module):
    """Multi-head attention: project to H heads, attend, concatenate, project back.

    Self-attention when `context` is None, cross-attention otherwise (keys/values from `context`).
    Uses torch SDPA (fused kernels) unless attention probabilities are requested.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kv_dim: int | None = None, causal: bool = False) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by the number of heads {num_heads}")
        kv_dim = kv_dim or dim
        self.num_heads, self.head_dim, self.dropout, self.causal = num_heads, dim // num_heads, dropout, causal
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(kv_dim, dim, bias=bias)
        self.v = nn.Linear(kv_dim, dim, bias=bias)
        self.o = nn.Linear(dim, dim, bias=bias)

    attention_memory: str | None = None  # None: DROPOUT_ATTENTION while training with dropout (see above)
    fused_qkv: tuple[torch.Tensor, torch.Tensor | None] | None = None  # (in, 3 out) storage of q, k, v (nn/layout.py)

    def memory_mode(self, q: torch.Tensor, k: torch.Tensor, p: float) -> str:
        """How this call keeps what backward needs: "store", "compact" or "recompute" (see DROPOUT_ATTENTION)."""
        if not torch.is_grad_enabled() or not q.requires_grad:
            return "store"  # no backward: nothing is kept
        mode = self.attention_memory
        if mode is None:
            if p == 0.0:
                return "store"  # no dropout: SDPA's fused kernels already store almost nothing
            mode = DROPOUT_ATTENTION
        if mode not in ATTENTION_MEMORY_MODES:
            raise ValueError(f"attention memory mode {mode!r}; expected one of {ATTENTION_MEMORY_MODES}")
        return mode

    def _fused_live(self) -> bool:
        """True while fused_qkv is still the storage of q.weight (a .to(), cast or reassignment replaces it)."""
        f = self.fused_qkv
        return f is not None and self.q.weight.data_ptr() == f[0].data_ptr() and self.q.weight.dtype == f[0].dtype

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.head_dim).transpose(1, 2)  # (B, H, T, D)

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, context: torch.Tensor | None = None,
                output_attentions: bool | str = False,
                cache: KVCache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C); bias: additive (B|1, 1, Tq|1, Tk) or None. Returns ((B, T, C), probs or None).

        output_attentions: False (fused SDPA, nothing returned), True (the probabilities, after dropout) or
        "scores" (q k^T / sqrt(d) + bias, before the softmax; the output is the same as with True).

        With a `cache` (decoding), x holds only the new positions; keys and values of earlier ones come from the
        cache, so Tk = T_past + T and `bias` covers all Tk keys.
        """
        src = x if context is None else context
        if cache is not None and cache.ready:  # cross-attention while decoding: the encoder side is done
            q, k, v = self._heads(self.q(x)), cache.k, cache.v
        elif context is None and self._fused_live():  # after nn/layout.decode_layout: one product
            w, b = self.fused_qkv
            qkv = x @ w if b is None else torch.addmm(b, x.reshape(-1, x.shape[-1]), w).view(*x.shape[:-1], -1)
            q, k, v = (self._heads(t) for t in qkv.split(w.shape[1] // 3, dim=-1))
            if cache is not None:
                k, v = cache.update(k, v)
        else:
            q, k, v = self._heads(self.q(x)), self._heads(self.k(src)), self._heads(self.v(src))
            if cache is not None:
                k, v = cache.update(k, v)  # (B, H, T_past + T, D)
        if self.causal:
            cb = causal_bias(q.shape[2], k.shape[2], x.device, q.dtype)
            bias = cb if bias is None else bias.to(q.dtype) + cb
        p = self.dropout if self.training else 0.0
        probs = None
        if output_attentions:  # True: the (dropped-out) probabilities; "scores": the pre-softmax scores
            scores = attention_scores(q, k, bias)
            probs = drop(scores.softmax(dim=-1), p=p, training=self.training)
            out = probs @ v
            if output_attentions == "scores":
                probs = scores
        else:
            mask = None if bias is None else bias.to(q.dtype)
            mode = self.memory_mode(q, k, p)
            if mode == "compact":
                out = compact_attention(q, k, v, mask, p)
            elif mode == "recompute":
                from torch.utils.checkpoint import checkpoint

                out = checkpoint(_sdpa, q, k, v, mask, p, use_reentrant=False, preserve_rng_state=True)
            else:
                out = _sdpa(q, k, v, mask, p)
        b, h, t, d = out.shape
        return self.o(out.transpose(1, 2).reshape(b, t, h * d)), probs
