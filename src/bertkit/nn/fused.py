"""An inference-only encoder block for CPUs: the same arithmetic as `Block` (post-LN), fewer and faster kernels.

What it changes, each measured on the bundled MiniLM with `benchmarks/embed_speed.py` (bf16, AMX CPU):
- the weights are reordered once into oneDNN's blocked layout (`mkldnn._reorder_linear_weight`), so no
  matrix product re-packs its weight on every call;
- Q, K and V are one product (3C wide) instead of three;
- GELU/ReLU run inside the first feed-forward product and the residual additions inside the output
  projections (oneDNN post-ops), so those activations never make an extra pass over memory;
- the attention length is padded to a multiple of 16 inside attention only: torch's CPU flash-attention
  kernel is about 2x faster on such lengths (T=28: 1.97 ms vs T=32: 0.95 ms for 32x12 heads, one thread).
  Padded keys are masked out and padded queries dropped, so the result is unchanged.
- the matrix products see a bucketed number of rows (`row_bucket`: B*T rounded up, 16 buckets per octave, at
  most 6.25% extra rows). oneDNN compiles and caches one kernel per row count, ~0.5 MB each: with raw B*T
  every new batch shape added kernels, and a server answering mixed requests grew by ~2 MB per new shape
  until the 4,096-entry cache was full (benchmarks/serve_soak.py: 1.45 GB -> 5.6 GB in 14 minutes). With
  buckets there are at most 16 row counts per doubling, so the cache stops growing once they have been seen.

`fuse_for_inference(model)` swaps every eligible block of a model (in place) and says how many it swapped.
Training, pre-LN, causal and cross-attention blocks are left as they are.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from bertkit import hardware
from bertkit.nn.attention import attention_scores
from bertkit.nn.block import Block
from bertkit.nn.feedforward import ACTIVATIONS

ATTENTION_MULTIPLE = 16
ROW_MULTIPLE = 16       # row counts below 256 round up to a multiple of this; above, 16 buckets per doubling
# activation function -> oneDNN post-op (attr, algorithm)
_POST_OPS = {
    id(ACTIVATIONS["gelu"]): ("gelu", "none"),       # exact (erf) GELU
    id(ACTIVATIONS["gelu_new"]): ("gelu", "tanh"),
    id(ACTIVATIONS["relu"]): ("relu", ""),
}


def row_bucket(m: int) -> int:
    """The row count >= m the fused products run at: a multiple of 16 up to 256, then of 2**(floor(log2 m) - 4)."""
    step = max(ROW_MULTIPLE, 1 << max(0, m.bit_length() - 5))
    return -(-m // step) * step


def _pack(w: torch.Tensor) -> torch.Tensor:
    return torch.ops.mkldnn._reorder_linear_weight(w.detach().contiguous(), None)


def fusable(block: nn.Module) -> bool:
    """True for a post-LN, non-causal self-attention block on CPU (fp32; bf16 where `packable`) with GELU,
    tanh-GELU or ReLU."""
    if not isinstance(block, Block) or block.pre_ln or block.cross is not None or block.attn.causal:
        return False
    a, f = block.attn, block.ff
    w = a.q.weight
    return (w.device.type == "cpu" and packable(w.dtype) and id(f.act) in _POST_OPS
            and a.k.in_features == a.q.in_features)


def packable(dtype: torch.dtype) -> bool:
    """oneDNN can reorder weights of `dtype` here: fp32 wherever torch has oneDNN; bf16 only where the CPU
    has what oneDNN's bf16 reorder needs (bertkit.hardware: AVX512 BW/VL/DQ or AVX-NE-CONVERT; not AVX2 alone)."""
    cpu = hardware.cpu()
    if dtype == torch.float32:
        return cpu.onednn
    return dtype == torch.bfloat16 and cpu.bf16_packable


class FusedBlock(nn.Module):
    """Inference twin of a post-LN `Block`: forward(x, bias, ...) -> (x, probs or None), no autograd."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        a, f = block.attn, block.ff
        self.num_heads, self.head_dim = a.num_heads, a.head_dim

        def bias_of(*layers: nn.Linear) -> torch.Tensor | None:
            if all(layer.bias is None for layer in layers):
                return None
            return torch.cat([layer.bias.detach() if layer.bias is not None
                              else layer.weight.new_zeros(layer.out_features) for layer in layers])

        # packed weights are plain attributes: opaque oneDNN tensors, never saved, moved or trained
        self.w_qkv, self.b_qkv = _pack(torch.cat([a.q.weight, a.k.weight, a.v.weight])), bias_of(a.q, a.k, a.v)
        self.w_o, self.b_o = _pack(a.o.weight), bias_of(a.o)
        self.w_1, self.b_1 = _pack(f.fc1.weight), bias_of(f.fc1)
        self.w_2, self.b_2 = _pack(f.fc2.weight), bias_of(f.fc2)
        self.act, self.act_algo = _POST_OPS[id(f.act)]
        self.norm1, self.norm2 = block.norm1, block.norm2

    def forward(self, x: torch.Tensor, bias: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_bias: torch.Tensor | None = None,
                output_attentions: bool | str = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if torch.is_grad_enabled():
            raise RuntimeError("FusedBlock is inference-only: run it under torch.inference_mode() or no_grad()")
        linear = torch.ops.mkldnn._linear_pointwise
        b, t, c = x.shape
        h, d = self.num_heads, self.head_dim
        m = b * t
        rows = row_bucket(m)  # every product below runs on `rows` rows; rows past m are zeros, then dropped
        xf = x.reshape(m, c)
        if rows != m:
            xf = F.pad(xf, (0, 0, 0, rows - m))
        qkv = linear(xf, self.w_qkv, self.b_qkv, "none", [], "")[:m].view(b, t, 3 * c)  # (B, T, 3C)
        probs = None
        if output_attentions:
            q, k, v = qkv.view(b, t, 3, h, d).permute(2, 0, 3, 1, 4)
            scores = attention_scores(q, k, None if bias is None else bias.to(q.dtype))
            probs = scores.softmax(dim=-1)
            out = probs @ v
            if output_attentions == "scores":
                probs = scores
        else:
            tp = -(-t // ATTENTION_MULTIPLE) * ATTENTION_MULTIPLE
            if bias is not None:
                bias = bias.to(qkv.dtype)
            if tp != t:
                qkv = F.pad(qkv, (0, 0, 0, tp - t))
                if bias is None:
                    bias = torch.zeros(1, 1, 1, t, dtype=qkv.dtype)
                low = torch.finfo(qkv.dtype).min
                bias = F.pad(bias, (0, tp - t) if bias.shape[-2] == 1 else (0, tp - t, 0, tp - t), value=low)
            q, k, v = qkv.view(b, tp, 3, h, d).permute(2, 0, 3, 1, 4)
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)[:, :, :t]
        out = out.transpose(1, 2).reshape(m, c)
        if rows != m:
            out = F.pad(out, (0, 0, 0, rows - m))
        xf = self.norm1(linear.binary(out, xf, self.w_o, self.b_o, "add"))  # LN(x + W_o a + b_o)
        y = linear(xf, self.w_1, self.b_1, self.act, [], self.act_algo)  # act(W_1 x + b_1)
        return self.norm2(linear.binary(y, xf, self.w_2, self.b_2, "add"))[:m].view(b, t, c), probs


def fuse_for_inference(model: nn.Module) -> int:
    """Replace (in place) every fusable block under `model` by its FusedBlock; returns how many."""
    model.eval()
    n = 0
    for module in list(model.modules()):
        blocks = getattr(module, "blocks", None)
        if isinstance(blocks, nn.ModuleList):
            for i, blk in enumerate(blocks):
                if fusable(blk):
                    blocks[i] = FusedBlock(blk)
                    n += 1
    return n


def weights_key(model: torch.nn.Module) -> tuple:
    """A key that changes when the weights of `model` change: the parameters' version counters (in-place ops,
    load_state_dict), their storage, and, because fused optimizer kernels (AdamW(fused=True), the trainer's
    default) update weights without bumping those counters, each parameter's middle element (an optimizer step
    moves it: Adam's update or weight decay). ~0.3 ms for MiniLM's 103 tensors."""
    params = list(model.parameters())
    with torch.no_grad():
        mids = torch.stack([p.detach().reshape(-1)[p.numel() // 2].float() for p in params]).tolist() if params else []
    return (id(model), tuple(p._version for p in params), tuple(p.data_ptr() for p in params), tuple(mids))


def fused_twin(model: nn.Module, dtype: torch.dtype) -> nn.Module | None:
    """An eval copy of a CPU model in `dtype` with its blocks fused, or None when no block can be fused. Parameters
    and buffers already in `dtype` outside the fused blocks are the model's own tensors, shared, not copied."""
    p = next(model.parameters(), None)
    if p is None or p.device.type != "cpu" or not packable(dtype) or not any(
            fusable(m) for m in model.modules()):
        return None
    # tensors already in `dtype` are shared, not copied: the fused blocks pack their own weights, so what the twin
    # would otherwise duplicate is everything else (embeddings, heads, norms: half of MiniLM's weights in fp32)
    memo = {id(t): t for t in (*model.parameters(), *model.buffers()) if t.dtype == dtype}
    twin = copy.deepcopy(model, memo).to(dtype).eval()
    try:  # a oneDNN build that cannot run these kernels here falls back to the plain model, with a warning
        fuse_for_inference(twin)
        block = next(m for m in twin.modules() if isinstance(m, FusedBlock))
        with torch.inference_mode():
            block(torch.zeros(1, 3, block.num_heads * block.head_dim, dtype=dtype))
    except RuntimeError as e:
        from bertkit.errors import warn

        warn(f"fused CPU kernels unavailable ({e}); running the unfused model")
        return None
    return twin
