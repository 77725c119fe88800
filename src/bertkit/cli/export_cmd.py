"""`bertkit export MODEL --onnx out.onnx [--precision fp32|bf16]`: an encoder or classifier as ONNX (see
bertkit/export_onnx.py; bf16 stores the weights in bf16 and computes in fp32)."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export an encoder or classifier to ONNX (for onnxruntime)")
    p.add_argument("model", help="checkpoint folder ('default': the bundled MiniLM)")
    p.add_argument("--onnx", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=positive_int, default=17)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="fp32 (default), or bf16: weights stored in bf16 (half the file), cast to fp32 where "
                        "used; onnxruntime's CPU kernels compute in fp32 either way")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.export_onnx import export_onnx

    res = export_onnx(None if args.model == "default" else args.model, args.onnx, opset=args.opset,
                      precision=args.precision)
    if res["max_abs_diff"] is None:
        check = "onnxruntime not installed: not checked"
    elif res["precision"] == "bf16":
        check = (f"onnxruntime vs PyTorch with the same bf16-rounded weights max |diff| {res['max_abs_diff']:.2e}, "
                 f"vs the fp32 model {res['max_abs_diff_fp32']:.2e}")
    else:
        check = f"onnxruntime vs PyTorch max |diff| {res['max_abs_diff']:.2e}"
    print(f"wrote {res['path']} ({res['precision']} weights, {res['bytes'] / 1e6:.1f} MB; output {res['output']}; "
          f"{check})")
    return 0
