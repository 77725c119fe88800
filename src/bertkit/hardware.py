"""What this machine multiplies natively: the one place every precision and kernel choice asks.

    from bertkit import hardware
    hardware.cpu().bf16_native      # AMX-BF16 / AVX512-BF16 (x86) or BF16 (Arm) usable by oneDNN here
    hardware.cpu().bf16_packable    # oneDNN can reorder bf16 weights (nn/fused.py's bf16 blocks)
    hardware.describe()             # one line: processor, the flags that matter, torch's kernel level

Why not just /proc/cpuinfo: torch and oneDNN can be capped below what the processor has (ATEN_CPU_CAPABILITY,
ONEDNN_MAX_CPU_ISA, a build without oneDNN), and what counts is what the kernels will really run. So the flags
say what the chip has, and torch's own checks (`torch.ops.mkldnn._is_mkldnn_bf16_supported()`, which honours
the oneDNN cap) say what its kernels may use. bf16 that is not native is emulated: correct, but on an AVX2-capped
EPYC one feed-forward product ran 5x and a training step 16x slower than fp32 (benchmarks/hardware_probe.py,
docs/results.md), so `auto` never picks it there and an explicit bf16 warns.

Tests fake a machine with `monkeypatch.setattr(hardware, "cpu", lambda: hardware.CPU(...))`: callers always go
through `hardware.cpu()`, never a cached copy of its answer.
"""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from dataclasses import dataclass, field

import torch

# x86 /proc/cpuinfo flags (and Arm "Features") that decide a kernel or a precision
X86_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_bf16", "avx512_fp16",
             "avx512_vnni", "avx_vnni", "avx_ne_convert", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
ARM_FLAGS = ("asimd", "asimddp", "bf16", "i8mm", "sve", "sve2")
# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which bf16 products still run on bf16 hardware
_BF16_ISA_CAPS = ("ALL", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                  "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512", "AVX10_2_512_AMX_2")


@dataclass(frozen=True)
class CPU:
    """The processor as bertkit's kernels see it.

    name: the model name; arch: platform.machine(); flags: the relevant features the chip reports (X86_FLAGS /
    ARM_FLAGS); kernel_level: torch's ATen dispatch level ("AVX512", "AVX2", "DEFAULT", ...); onednn: torch has
    oneDNN; onednn_bf16: oneDNN may use bf16 here (its reorders and products; honours ONEDNN_MAX_CPU_ISA);
    isa_cap: the ONEDNN_MAX_CPU_ISA value in force, if any.
    """

    name: str = "unknown CPU"
    arch: str = "x86_64"
    flags: frozenset[str] = field(default_factory=frozenset)
    kernel_level: str = "DEFAULT"
    onednn: bool = True
    onednn_bf16: bool = False
    isa_cap: str | None = None

    def has(self, *flags: str) -> bool:
        return all(f in self.flags for f in flags)

    @property
    def _cap_allows_bf16(self) -> bool:
        return self.isa_cap is None or self.isa_cap.upper() in _BF16_ISA_CAPS

    @property
    def bf16_native(self) -> bool:
        """bf16 matrix products run on bf16 hardware (AMX-BF16 or AVX512-BF16 on x86, BF16 on Arm) through
        oneDNN: the cases where bf16 inference and autocast training are faster than fp32."""
        if self.arch in ("aarch64", "arm64"):
            return self.has("bf16") and self.onednn_bf16
        return (self.has("amx_bf16") or self.has("avx512_bf16")) and self.onednn_bf16 and self._cap_allows_bf16

    @property
    def bf16_packable(self) -> bool:
        """oneDNN can reorder bf16 weights into its blocked layout (x86: AVX512 BW/VL/DQ or AVX-NE-CONVERT);
        nn/fused.py's bf16 blocks need it. Without it `mkldnn._reorder_linear_weight` raises."""
        return self.onednn and self.onednn_bf16 and self.arch not in ("aarch64", "arm64")

    @property
    def int8_native(self) -> bool:
        """int8 dot-product instructions (VNNI, AMX-INT8, Arm I8MM/dot product) for dynamic quantization."""
        return bool(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8", "i8mm", "asimddp"})

    @property
    def fp16_native(self) -> bool:
        return self.has("avx512_fp16") or self.has("amx_fp16")

    def native_dtypes(self) -> list[str]:
        """Names of the types the CPU multiplies natively, fp32 first."""
        out = ["fp32"]
        if self.bf16_native:
            out.append("bf16")
        if self.fp16_native:
            out.append("fp16")
        if self.int8_native:
            out.append("int8")
        return out

    def missing_bf16(self) -> str:
        """Why bf16 is not native here, in words for an error or a warning."""
        if self.isa_cap is not None and not self._cap_allows_bf16 and (self.has("amx_bf16") or self.has("avx512_bf16")):
            return f"ONEDNN_MAX_CPU_ISA={self.isa_cap} keeps oneDNN off its bf16 instructions"
        if self.arch in ("aarch64", "arm64"):
            return "no Arm BF16 extension"
        return "no AMX-BF16 or AVX512-BF16"

    def describe(self) -> str:
        """One line naming the processor, the flags that matter and torch's kernel level."""
        shown = [f for f in (*X86_FLAGS, *ARM_FLAGS) if f in self.flags and f not in ("fma", "asimd")]
        cap = f", ONEDNN_MAX_CPU_ISA={self.isa_cap}" if self.isa_cap else ""
        return (f"{self.name} ({self.arch}; {' '.join(shown) or 'no vector extensions listed'}; torch kernels "
                f"{self.kernel_level}{cap}; native: {', '.join(self.native_dtypes())})")


def _cpuinfo() -> tuple[str, frozenset[str]]:
    """Model name and relevant flags from /proc/cpuinfo (Linux), sysctl (macOS), else platform."""
    name, flags = platform.processor() or "unknown CPU", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and name in ("unknown CPU", "", platform.machine()):
            name = value.strip() or name
        elif key in ("flags", "features"):
            flags.update(value.split())
    if not text and platform.system() == "Darwin":  # Apple silicon: every M-series core has dot product
        try:
            out = subprocess.run(["sysctl", "-a"], capture_output=True, text=True, timeout=5, check=False).stdout
            name = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                         if ln.startswith("machdep.cpu.brand_string")), name)
            for feat, flag in (("FEAT_BF16", "bf16"), ("FEAT_I8MM", "i8mm"), ("FEAT_DotProd", "asimddp")):
                if f"hw.optional.arm.{feat}: 1" in out:
                    flags.add(flag)
        except (OSError, subprocess.SubprocessError):
            pass
    return name, frozenset(flags & set(X86_FLAGS + ARM_FLAGS))


@functools.lru_cache(maxsize=1)
def _detect() -> CPU:
    name, flags = _cpuinfo()
    onednn = torch.backends.mkldnn.is_available()
    try:
        onednn_bf16 = onednn and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn_bf16 = False
    try:
        level = torch.backends.cpu.get_cpu_capability()
    except (AttributeError, RuntimeError):
        level = "DEFAULT"
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA") or None
    return CPU(name=name, arch=platform.machine(), flags=flags, kernel_level=level, onednn=onednn,
               onednn_bf16=onednn_bf16, isa_cap=cap)


def cpu() -> CPU:
    """This machine's CPU, detected once per process."""
    return _detect()


@dataclass(frozen=True)
class GPU:
    name: str
    capability: tuple[int, int]
    bf16: bool
    memory_gb: float


def gpu(index: int = 0) -> GPU | None:
    """The CUDA device `index`, or None without one."""
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        return None
    p = torch.cuda.get_device_properties(index)
    return GPU(p.name, (p.major, p.minor), bool(torch.cuda.is_bf16_supported()), p.total_memory / 2**30)


def bf16_native(device: str | torch.device = "cpu") -> bool:
    """True when `device` multiplies bf16 matrices natively (a CUDA GPU with bf16, or `cpu().bf16_native`)."""
    kind = torch.device(device).type
    if kind == "cuda":
        g = gpu()
        return g is not None and g.bf16
    return kind == "cpu" and cpu().bf16_native


def describe() -> str:
    """The machine in one line (the CPU, and the GPU when there is one): for benchmarks, logs and bug reports."""
    g = gpu()
    extra = f"; GPU {g.name} (sm_{g.capability[0]}{g.capability[1]}, bf16 {'yes' if g.bf16 else 'no'})" if g else ""
    return cpu().describe() + extra


def resolve_precision(precision: str, device: str | torch.device = "cpu", what: str = "training",
                      allowed: tuple[str, ...] = ("auto", "fp32", "bf16"), warn: bool = True) -> str:
    """`auto` -> bf16 where `device` runs it natively, else fp32; an explicit bf16 where it would be emulated
    runs (correct, slower) with a warning naming the missing feature and suggesting fp32 (unless warn=False:
    a caller that hands the value on to code that warns); other values pass. `what` names the job in that
    warning ("training", "embedding", ...)."""
    if precision not in allowed:
        raise_choice(precision, allowed)
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    if precision == "bf16" and warn and not bf16_native(device):
        warn_emulated_bf16(device, what)
    return precision


def warn_emulated_bf16(device: str | torch.device = "cpu", what: str = "this job") -> None:
    """Warn that bf16 is emulated on `device` (it runs correctly, but slower than fp32). Python's warning filter
    shows it once per calling line of the user's code."""
    from bertkit.errors import warn

    kind = torch.device(device).type
    why = "the GPU has no bf16" if kind == "cuda" else f"{cpu().name}: {cpu().missing_bf16()}"
    warn(f"bf16 is emulated on this machine ({why}): {what} runs correctly but slower than fp32; "
         "use precision fp32 (--precision fp32) or auto")


def raise_choice(value: str, allowed: tuple[str, ...]) -> None:
    from bertkit.errors import InputError

    raise InputError(f"precision must be one of {', '.join(allowed)}; got {value!r}")
