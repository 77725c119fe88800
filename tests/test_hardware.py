"""bertkit.hardware: what each kind of CPU multiplies natively, and every path that asks it.

Detection is checked against what torch really does on the machine running the suite; the choices made from
it are checked on faked CPUs (AVX2 only, Zen 4, Sapphire Rapids, a capped oneDNN, Arm), so the fallbacks are
tested on every machine."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import bertkit
from bertkit import hardware
from bertkit.errors import BertkitWarning, InputError
from tests.cpu_features import AVX2, AVX512, SAPPHIRE_RAPIDS, ZEN4, fake_cpu


def _emulated_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, BertkitWarning) and "emulated" in str(w.message)]


def test_detection_agrees_with_what_onednn_really_does_here():
    cpu = hardware.cpu()
    try:
        torch.ops.mkldnn._reorder_linear_weight(torch.randn(16, 16, dtype=torch.bfloat16), None)
        packs = True
    except RuntimeError as e:
        packs = False
        assert "bf16 path needs" in str(e)
    assert cpu.bf16_packable == packs
    if cpu.bf16_native:
        assert cpu.bf16_packable or cpu.arch in ("aarch64", "arm64")
    line = hardware.describe()
    assert cpu.name in line and cpu.kernel_level in line and "native: fp32" in line


@pytest.mark.parametrize("flags, native, packable, dtypes", [
    (AVX2, False, False, ["fp32"]),
    (AVX2 | {"avx_vnni", "avx_ne_convert"}, False, True, ["fp32", "int8"]),   # Arrow Lake / Sierra Forest
    (AVX512, False, True, ["fp32", "int8"]),                                  # Skylake-X .. Ice Lake
    (ZEN4, True, True, ["fp32", "bf16", "int8"]),
    (SAPPHIRE_RAPIDS, True, True, ["fp32", "bf16", "fp16", "int8"]),
])
def test_kinds_of_x86_cpu(monkeypatch, flags, native, packable, dtypes):
    cpu = fake_cpu(monkeypatch, flags)
    assert (cpu.bf16_native, cpu.bf16_packable, cpu.native_dtypes()) == (native, packable, dtypes)
    assert hardware.bf16_native("cpu") is native


def test_a_oneDNN_cap_below_bf16_makes_bf16_emulated(monkeypatch):
    cpu = fake_cpu(monkeypatch, ZEN4, isa_cap="AVX2", onednn_bf16=False)
    assert not cpu.bf16_native and not cpu.bf16_packable
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in cpu.missing_bf16() and "ONEDNN_MAX_CPU_ISA=AVX2" in cpu.describe()
    assert fake_cpu(monkeypatch, SAPPHIRE_RAPIDS, isa_cap="avx512_core_amx").bf16_native  # a cap that keeps AMX


def test_arm():
    base = {"name": "Neoverse-V1", "arch": "aarch64", "kernel_level": "DEFAULT"}
    assert hardware.CPU(flags=frozenset({"asimd", "bf16", "i8mm"}), onednn_bf16=True, **base).bf16_native
    plain = hardware.CPU(flags=frozenset({"asimd"}), onednn_bf16=False, **base)
    assert not plain.bf16_native and not plain.bf16_packable and plain.native_dtypes() == ["fp32"]
    assert "Arm BF16" in plain.missing_bf16()


def test_resolve_precision(monkeypatch):
    fake_cpu(monkeypatch, AVX2)
    assert hardware.resolve_precision("auto") == "fp32"
    assert hardware.resolve_precision("fp32") == "fp32"
    with pytest.warns(BertkitWarning, match=r"bf16 is emulated on this machine \(Fake CPU: no AMX-BF16 or "
                                            r"AVX512-BF16\): training runs correctly but slower than fp32; use "
                                            r"precision fp32"):
        assert hardware.resolve_precision("bf16") == "bf16"
    with pytest.raises(InputError, match="precision must be one of auto, fp32, bf16; got 'fp16'"):
        hardware.resolve_precision("fp16")
    fake_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hardware.resolve_precision("auto") == "bf16" and hardware.resolve_precision("bf16") == "bf16"


def test_fused_twin_on_avx2_keeps_fp32_blocks_and_declines_bf16(monkeypatch):
    from bertkit.nn.fused import FusedBlock, fused_twin

    fake_cpu(monkeypatch, AVX2)
    cfg = bertkit.ModelConfig(vocab_size=60, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=64,
                              max_positions=32)
    model = bertkit.build_model(cfg, "base").eval()
    assert fused_twin(model, torch.bfloat16) is None  # packing would raise on such a CPU
    fp32 = fused_twin(model, torch.float32)
    assert sum(isinstance(m, FusedBlock) for m in fp32.modules()) == 2


def test_embed_in_bf16_on_an_avx2_cpu_runs_plain_bf16_with_a_warning(monkeypatch, tiny_encoder):
    from bertkit.nn.fused import FusedBlock

    fake_cpu(monkeypatch, AVX2)
    enc = tiny_encoder
    texts = ["a cat sat on the mat", "the dog barked", "hello"]
    ref = enc.embed(texts, normalize=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = enc.embed(texts, normalize=True, precision="bf16")
    assert any("embedding runs correctly but slower than fp32" in m for m in _emulated_warnings(caught))
    variant = enc._model_for("bf16", [])
    assert next(variant.parameters()).dtype == torch.bfloat16
    assert not any(isinstance(m, FusedBlock) for m in variant.modules())
    assert (got * ref).sum(1).min() > 0.99 and not np.array_equal(got, ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = enc.embed(texts, normalize=True, precision="auto")
    assert enc._auto == "fp32" and not _emulated_warnings(caught)
    np.testing.assert_array_equal(auto, ref)


@pytest.fixture
def tiny_encoder(tmp_path, minilm_path):
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=30522, hidden_size=32, num_layers=2, num_heads=4, intermediate_size=37,
                              max_positions=64)
    bertkit.save_pretrained(bertkit.build_model(cfg, "base"), tmp_path,
                            tokenizer=bertkit.Tokenizer.from_pretrained(minilm_path))
    return bertkit.load(tmp_path)


@pytest.mark.parametrize("flags, want", [(AVX2, "fp32"), (SAPPHIRE_RAPIDS, "bf16")])
def test_trainer_auto_precision_follows_the_cpu(monkeypatch, tmp_path, flags, want):
    from bertkit.training.trainer import TrainConfig, Trainer

    fake_cpu(monkeypatch, flags)
    model = torch.nn.Linear(4, 1)
    data = [{"x": torch.randn(4), "y": torch.randn(1)} for _ in range(8)]
    trainer = Trainer(model, lambda m, b: {"loss": (m(b["x"]) - b["y"]).square().mean()}, data,
                      config=TrainConfig(out_dir=tmp_path, max_steps=1, batch_size=4, precision="auto",
                                         progress=False))
    assert trainer.precision == want


def test_finetune_bf16_on_avx2_warns_once_per_job_and_auto_is_fp32(monkeypatch):
    from bertkit.tasks.finetune import resolve_precision

    fake_cpu(monkeypatch, AVX2)
    assert resolve_precision("auto") == "fp32"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert resolve_precision("bf16") == "bf16"
    assert not _emulated_warnings(caught)  # the trainer warns, once, when it starts
    with pytest.raises(InputError, match="got 'half'"):
        resolve_precision("half")



def test_a_predictor_trained_in_bf16_predicts_in_fp32_where_bf16_is_emulated(monkeypatch):
    from bertkit.tasks.predictor import Predictor

    cfg = bertkit.ModelConfig(vocab_size=60, hidden_size=32, num_layers=1, num_heads=4, intermediate_size=64,
                              max_positions=32, num_labels=2)
    pred = Predictor("classify", bertkit.build_model(cfg, "classification"), None, {"precision": "bf16"})
    fake_cpu(monkeypatch, SAPPHIRE_RAPIDS)
    assert pred.precision == "bf16"
    fake_cpu(monkeypatch, AVX2)
    assert pred.precision == "fp32"


def test_cli_embed_in_bf16_on_an_avx2_cpu_says_so_in_one_line_and_writes_the_vectors(monkeypatch, tmp_path, capsys,
                                                                                    tiny_encoder):
    from bertkit.cli.main import main

    fake_cpu(monkeypatch, AVX2)
    (tmp_path / "in.txt").write_text("a cat sat\nthe dog barked\n")
    assert main(["embed", "--model", str(tiny_encoder.path), "-i", str(tmp_path / "in.txt"), "-o",
                 str(tmp_path / "v.npy"), "--precision", "bf16"]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "emulated" in ln]
    assert len(lines) == 1 and lines[0].startswith("bertkit: warning: bf16 is emulated on this machine (Fake CPU")
    assert "Traceback" not in err and np.load(tmp_path / "v.npy").shape == (2, 32)


@pytest.mark.parametrize("argv", [
    ["pretrain", "--arch", "bert", "--tokenizer", "t", "--corpus", "c", "--steps", "1", "--out", "o"],
    ["finetune", "classify", "--train", "t.csv", "--out", "o"],
    ["finetune-sbert", "--train", "t.tsv", "--objective", "mnrl", "--out", "o"],  # `finetune sbert`
    ["distill-multilingual", "--src", "s.txt", "--tgt", "t.txt", "-o", "o"],
])
def test_every_training_command_defaults_to_auto_precision(argv):
    from bertkit.cli.main import build_parser

    args = build_parser().parse_args(argv)
    assert args.precision == "auto"
    assert build_parser().parse_args([*argv, "--precision", "fp32"]).precision == "fp32"
