"""CPU feature marks and fakes for tests that hold on every machine (AVX2-only, AVX-512, AMX, Arm).

A test of a fast path that needs a feature is skipped, with the reason, where the feature is absent; its fallback
is tested everywhere by faking the capability through bertkit.hardware (`fake_cpu`)."""
from __future__ import annotations

import dataclasses

import pytest

from bertkit import hardware

AVX2 = frozenset({"avx2", "fma"})
AVX512 = AVX2 | {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}
ZEN4 = AVX512 | {"avx512_bf16", "avx_vnni"}
SAPPHIRE_RAPIDS = ZEN4 | {"avx512_fp16", "amx_tile", "amx_bf16", "amx_int8"}

requires_bf16_packing = pytest.mark.skipif(
    not hardware.cpu().bf16_packable,
    reason=f"oneDNN cannot pack bf16 weights on this CPU ({hardware.cpu().describe()})")


def fake_cpu(monkeypatch: pytest.MonkeyPatch, flags: frozenset[str], **fields) -> hardware.CPU:
    """Make bertkit.hardware report a CPU with `flags` (oneDNN bf16 on where the flags allow it, as on real
    chips: AVX512 BW/VL/DQ or AVX-NE-CONVERT); `fields` override the rest. Returns the fake."""
    onednn_bf16 = {"avx512bw", "avx512vl", "avx512dq"} <= flags or "avx_ne_convert" in flags
    fake = dataclasses.replace(hardware.cpu(), name="Fake CPU", arch="x86_64", flags=frozenset(flags),
                               kernel_level="AVX512" if "avx512f" in flags else "AVX2", onednn=True,
                               onednn_bf16=onednn_bf16, isa_cap=None)
    fake = dataclasses.replace(fake, **fields)
    monkeypatch.setattr(hardware, "cpu", lambda: fake)
    return fake
