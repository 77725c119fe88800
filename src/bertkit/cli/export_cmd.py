"""`bertkit export MODEL --onnx out.onnx`: an encoder or classifier as ONNX (see bertkit/export_onnx.py)."""
from __future__ import annotations

import argparse

from bertkit.cli.options import positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export an encoder or classifier to ONNX (for onnxruntime)")
    p.add_argument("model", help="checkpoint folder ('default': the bundled MiniLM)")
    p.add_argument("--onnx", required=True, help="the .onnx file to write")
    p.add_argument("--opset", type=positive_int, default=17)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.export_onnx import export_onnx

    res = export_onnx(None if args.model == "default" else args.model, args.onnx, opset=args.opset)
    check = ("onnxruntime not installed: not checked" if res["max_abs_diff"] is None
             else f"onnxruntime vs PyTorch max |diff| {res['max_abs_diff']:.2e}")
    print(f"wrote {res['path']} (output {res['output']}; {check})")
    return 0
