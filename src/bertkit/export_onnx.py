"""`bertkit export MODEL --onnx out.onnx [--precision fp32|bf16]`: an encoder or classifier as an ONNX graph for
onnxruntime.

Inputs input_ids, attention_mask, token_type_ids (int64, (batch, sequence), both axes dynamic); output
last_hidden_state (batch, sequence, hidden) for an encoder folder, logits (batch, labels) for a sequence
classifier. After writing, the graph is run once in onnxruntime, when it is installed, against the PyTorch model
on a padded batch.

precision="fp32" (default): weights and arithmetic in fp32.

precision="bf16" is bf16 *storage*, fp32 arithmetic. onnxruntime's CPU provider (1.32) has no bf16 kernel for
MatMul, Gemm, Add, Mul, Div, Erf, Softmax or ReduceMean (a bf16 graph fails to load: NOT_IMPLEMENTED), so a
genuine bf16 graph cannot run there. Instead every weight is rounded to bf16 (round to nearest even, as torch's
`.to(torch.bfloat16)`) and stored as bf16; a Cast to fp32 sits before its use (embedding tables: after the
Gather, so only the looked-up rows are widened). Measured on the bundled all-MiniLM-L6-v2 (AMD EPYC, AVX512-BF16,
onnxruntime 1.32):
- file 45.3 MB against 90.4 MB for fp32 (0.50x);
- speed: that of fp32, no faster: onnxruntime folds the Casts of the matrices into fp32 weights when the
  session loads, so the compute is the fp32 graph's (benchmarks/embed_speed.py, 2 threads: 550 sentences/s
  against 569 for the fp32 graph and 512 for bertkit fp32); choose it for a smaller file, not for speed;
- memory: the embedding tables stay bf16 in the session (peak RSS after one batch 165 MB against 205 MB);
- accuracy: the graph gives the PyTorch model with the same bf16-rounded weights to 2.6e-6 (the check below,
  <= 1e-4 in the tests); against the fp32 model, hidden states differ by up to 2.2e-2 and mean-pooled
  sentence embeddings keep cosine >= 0.99995 on the 3,732-line check corpus (the loss is the weights'
  rounding: bf16 keeps 8 significant bits).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from bertkit.errors import InputError

OPSET = 17
PRECISIONS = ("fp32", "bf16")


class _Graph(torch.nn.Module):
    """The model with plain tensor outputs (ONNX has no dataclasses)."""

    def __init__(self, model: torch.nn.Module, output: str) -> None:
        super().__init__()
        self.model, self.output = model, output

    def forward(self, input_ids, attention_mask, token_type_ids):
        return getattr(self.model(input_ids, attention_mask, token_type_ids=token_type_ids), self.output)


def _store_bf16(path: Path) -> tuple[int, int]:
    """Rewrite the ONNX file at `path` with each fp32 initializer that bf16 holds exactly stored as bf16 and cast
    back to fp32 where it is used; returns (initializers converted, fp32 initializers kept). The model was
    exported with bf16-rounded weights, so the graph computes what it computed before, bit for bit."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path))
    graph = model.graph
    consumers: dict[str, list] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    outputs = {o.name for o in graph.output}
    head, converted, kept = [], 0, 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        w = torch.from_numpy(numpy_helper.to_array(init).copy())
        b = w.to(torch.bfloat16)
        if w.numel() < 2 or not torch.equal(b.float(), w) or init.name in outputs:
            kept += 1  # a scalar, or a value bf16 does not hold (it would change the arithmetic)
            continue
        name, stored = init.name, init.name + ".bf16"
        bits = b.view(torch.int16).numpy().astype("<i2").tobytes()
        init.CopyFrom(helper.make_tensor(stored, TensorProto.BFLOAT16, list(w.shape), bits, raw=True))
        widened = False
        for node, i in consumers.get(name, []):
            if node.op_type == "Gather" and i == 0:  # an embedding table: look up bf16 rows, then widen them
                rows = node.output[0] + ".bf16"
                head_cast = helper.make_node("Cast", [rows], [node.output[0]], to=TensorProto.FLOAT,
                                             name=node.name + "/to_fp32")
                node.output[0] = rows
                node.input[0] = stored
                graph.node.insert(list(graph.node).index(node) + 1, head_cast)
            else:
                widened = True
        if widened:
            head.append(helper.make_node("Cast", [stored], [name], to=TensorProto.FLOAT, name=name + "/to_fp32"))
        converted += 1
    for node in reversed(head):
        graph.node.insert(0, node)
    for i in reversed(range(len(graph.input))):  # initializers listed as inputs (older IRs): now produced by Casts
        if graph.input[i].name in {n.output[0] for n in head}:
            del graph.input[i]
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return converted, kept


def export_onnx(model_dir: str | Path | None, out: str | Path, opset: int = OPSET, check: bool = True,
                precision: str = "fp32") -> dict:
    """Write `out` (.onnx) from the checkpoint at model_dir (None: the bundled MiniLM) with fp32 or bf16-stored
    weights (see the module docstring); returns {"path", "output", "precision", "bytes" (the file's size),
    "max_abs_diff" (onnxruntime against the PyTorch model with the same weights, fp32 or bf16-rounded, on a padded
    test batch), "max_abs_diff_fp32" (against the fp32 PyTorch model; the same as max_abs_diff for fp32)}; the
    two diffs are None without onnxruntime or with check=False."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.checkpoint import read_config
    from bertkit.hub.default import resolve_model_path
    from bertkit.models.family import resolve_architecture

    if precision not in PRECISIONS:
        raise InputError(f"unknown ONNX precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    if precision == "bf16":
        try:
            import onnx  # noqa: F401
        except ImportError:
            raise InputError("ONNX export in bf16 needs the onnx package: pip install 'bertkit[onnx]'") from None
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
    test = torch.randint(min(1000, vocab - 1), vocab, (3, 21), generator=g)
    tm = torch.ones_like(test)
    tm[2, 13:] = 0
    ort = None
    if check:
        try:
            import onnxruntime as ort
        except ImportError:
            pass
    with torch.no_grad():
        want32 = graph(test, tm, torch.zeros_like(tm)).numpy() if ort is not None else None
        if precision == "bf16":
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).float())
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
    if precision == "bf16":
        _store_bf16(out)
    diff = diff32 = None
    if ort is not None:
        feeds = {"input_ids": test.numpy(), "attention_mask": tm.numpy(), "token_type_ids": np.zeros_like(tm.numpy())}
        got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        with torch.no_grad():
            want = graph(test, tm, torch.zeros_like(tm)).numpy() if precision == "bf16" else want32
        keep = tm.numpy().astype(bool) if output == "last_hidden_state" else slice(None)
        diff = float(np.abs(got - want)[keep].max())
        diff32 = float(np.abs(got - want32)[keep].max())
    return {"path": out, "output": output, "precision": precision, "bytes": out.stat().st_size,
            "max_abs_diff": diff, "max_abs_diff_fp32": diff32}
