"""Precision variants of an encoder for inference: fp32, bf16 (native on AMX/AVX512-BF16 CPUs and GPUs, emulated
elsewhere), int8 dynamic quantization; and the `auto` choice between them. What the machine has is
bertkit.hardware's answer."""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch

from bertkit import hardware
from bertkit.nn.fused import fused_twin

if TYPE_CHECKING:
    from bertkit.models.model import Model

PRECISIONS = ("auto", "fp32", "bf16", "int8")
AUTO_MIN_COSINE = 0.999


def bf16_supported(device: str = "cpu") -> bool:
    """True when `device` multiplies bf16 matrices natively (hardware.bf16_native)."""
    return hardware.bf16_native(device)


def model_variant(model: Model, precision: str, cache: dict[str, Model], fused: bool = True) -> Model:
    """The model the embed path runs for `precision`, built once and cached.

    fp32 and bf16 on CPU: a copy with fused inference blocks (same arithmetic, fewer kernels; nn/fused.py)
    unless fused=False (torch.compile does its own fusion) or oneDNN cannot pack that type here (bf16 on an
    AVX2-only CPU); bf16 elsewhere: a plain bf16 copy; int8: dynamic quantization of the linear layers.
    bf16 on a device without native bf16 runs emulated, with one warning (hardware.warn_emulated_bf16).
    """
    if precision == "bf16":
        device = next(model.parameters()).device
        if not hardware.bf16_native(device):
            hardware.warn_emulated_bf16(device, "embedding")
    if precision in ("fp32", "bf16") and fused:
        key = f"{precision}-fused"
        if key not in cache:
            cache[key] = fused_twin(model, torch.float32 if precision == "fp32" else torch.bfloat16) \
                or model_variant(model, precision, cache, fused=False)
        return cache[key]
    if precision == "fp32":
        return model
    if precision not in cache:
        if precision == "bf16":
            cache[precision] = copy.deepcopy(model).to(torch.bfloat16).eval()
        elif precision == "int8":
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            if "onednn" in torch.backends.quantized.supported_engines:
                torch.backends.quantized.engine = "onednn"  # uses AMX/VNNI int8 kernels where present
            cache[precision] = quantize_dynamic(copy.deepcopy(model).float(), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                                dtype=torch.qint8).eval()
        else:
            raise ValueError(precision)
    return cache[precision]


def choose_precision(encoder, probe: list[list[int]]) -> str:
    """'bf16' when the hardware runs it natively and a probe batch of the user's texts keeps the minimum
    cosine to fp32 >= 0.999; otherwise 'fp32'. int8 is never chosen automatically (measured cost too high)."""
    device = next(encoder.model.parameters()).device.type
    if not probe or not bf16_supported(device):
        return "fp32"
    ref = encoder._run(encoder.model, probe, "mean", [-1], "concat", len(probe), False)
    fast = encoder._run(model_variant(encoder.model, "bf16", encoder._variants), probe, "mean", [-1], "concat",
                        len(probe), False)
    cos = (ref * fast).sum(1) / np.maximum(np.linalg.norm(ref, axis=1) * np.linalg.norm(fast, axis=1), 1e-12)
    return "bf16" if float(cos.min()) >= AUTO_MIN_COSINE else "fp32"
