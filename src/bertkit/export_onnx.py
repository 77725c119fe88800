"""`bertkit export MODEL --onnx out.onnx`: an encoder or classifier as an ONNX graph for onnxruntime.

Inputs input_ids, attention_mask, token_type_ids (int64, (batch, sequence), both axes dynamic); output
last_hidden_state (batch, sequence, hidden) for an encoder folder, logits (batch, labels) for a sequence
classifier. The graph is fp32 (onnxruntime's CPU kernels have no bf16 matrix products to gain from). After
writing, the graph is run once in onnxruntime, when it is installed, against the PyTorch model on a padded batch.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from bertkit.errors import InputError

OPSET = 17


class _Graph(torch.nn.Module):
    """The model with plain tensor outputs (ONNX has no dataclasses)."""

    def __init__(self, model: torch.nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, input_ids, attention_mask, token_type_ids):
        return getattr(self.model(input_ids, attention_mask, token_type_ids=token_type_ids), self.output)


def export_onnx(model_dir: str | Path | None, out: str | Path, opset: int = OPSET, check: bool = True) -> dict:
    """Write `out` (.onnx) from the checkpoint at model_dir (None: the bundled MiniLM); returns {"path", "output",
    "max_abs_diff" (onnxruntime vs PyTorch on a padded test batch, or None without onnxruntime)}."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.checkpoint import read_config
    from bertkit.hub.default import resolve_model_path
    from bertkit.models.family import resolve_architecture

    path = resolve_model_path(model_dir)
    _, task = resolve_architecture(read_config(path))
    if task not in ("base", "classification", "mlm", "pretraining"):
        raise InputError(f"ONNX export covers encoders and sequence classifiers; {path} is a {task!r} model")
    task = "classification" if task == "classification" else "base"
    model = from_pretrained(path, task=task).float().eval()
    output = "logits" if task == "classification" else "last_hidden_state"
    graph = _Graph(model, output).eval()  # the exporter restores this mode afterwards: eval, so dropout stays off
    g = torch.Generator().manual_seed(0)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab - 1), vocab, (2, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    types = torch.zeros_like(ids)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
            "token_type_ids": {0: "batch", 1: "sequence"},
            output: {0: "batch"} if output == "logits" else {0: "batch", 1: "sequence"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the length check is traced at the example's size
        torch.onnx.export(graph, (ids, mask, types), str(out), input_names=["input_ids", "attention_mask",
                          "token_type_ids"], output_names=[output], dynamic_axes=axes, opset_version=opset,
                          dynamo=False)
    graph.eval()
    diff = None
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None:
            test = torch.randint(min(1000, vocab - 1), vocab, (3, 21), generator=g)
            tm = torch.ones_like(test)
            tm[2, 13:] = 0
            feeds = {"input_ids": test.numpy(), "attention_mask": tm.numpy(), "token_type_ids": np.zeros_like(tm.numpy())}
            got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
            with torch.no_grad():
                want = graph(test, tm, torch.zeros_like(tm)).numpy()
            keep = tm.numpy().astype(bool) if output == "last_hidden_state" else slice(None)
            diff = float(np.abs(got - want)[keep].max())
    return {"path": out, "output": output, "max_abs_diff": diff}
