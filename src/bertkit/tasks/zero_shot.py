"""Zero-shot classification through an NLI model (Yin et al. 2019), with transformers'
`pipeline("zero-shot-classification")` call and output:

    zs = bertkit.ZeroShotClassifier("runs/nli-model")
    zs("The match went to penalties.", ["sports", "politics"])
    # {"sequence": "...", "labels": ["sports", "politics"], "scores": [0.97, 0.03]}

Each (text, label) pair is one NLI question: premise = the text, hypothesis = the template with the label in it
("This text is about {}."). Single-label: the entailment logits of a text's hypotheses, softmaxed over the labels.
multi_label (or a single label): for each label alone, the softmax of [contradiction, entailment] logits, the
entailment share.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bertkit.errors import InputError

TEMPLATE = "This text is about {}."


def _find(labels: Sequence[str], prefix: str) -> int | None:
    hits = [i for i, name in enumerate(labels) if str(name).lower().startswith(prefix)]
    return hits[0] if hits else None


def _load(nli_model: str | Path) -> Any:
    """A Predictor from a `bertkit finetune pair` folder, or from a transformers *ForSequenceClassification folder
    (labels from its config.json id2label)."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.tasks.predictor import TASK_FILE, Predictor
    from bertkit.tokenizers import Tokenizer

    path = resolve_model_path(nli_model)  # a folder, or a hub id in the local cache
    if (path / TASK_FILE).is_file():
        return Predictor.load(path)
    if not (path / "config.json").is_file():
        raise InputError(f"{path} is not a model folder (no config.json)")
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
    id2label = cfg.get("id2label") or {}
    labels = [id2label[k] for k in sorted(id2label, key=int)]
    model = from_pretrained(path, task="classification", require_heads=True)
    return Predictor("pair", model, Tokenizer.from_pretrained(path), {"labels": labels, "max_length": 512})


class ZeroShotClassifier:
    """Zero-shot text classification with an NLI pair classifier (a folder or a `Predictor` of task pair).
    entailment / contradiction: the label names (or ids) of those NLI classes; by default the labels starting
    with "entail" and "contradict" (transformers finds entailment the same way; for contradiction it takes id 0, or
    the last id when entailment is 0, which is the same class for the usual MNLI orders)."""

    def __init__(self, nli_model: str | Path | Any, entailment: str | int | None = None,
                 contradiction: str | int | None = None, hypothesis_template: str = TEMPLATE,
                 batch_size: int = 64) -> None:
        from bertkit.tasks.predictor import Predictor

        pred = nli_model if isinstance(nli_model, Predictor) else _load(nli_model)
        if pred.task != "pair" or pred.settings.get("kind", "single_label") != "single_label":
            raise InputError(f"zero-shot classification needs an NLI pair classifier (task pair), got a {pred.task} "
                             f"model")
        labels = list(pred.labels or [])
        self.entailment_id = self._id(labels, entailment, "entail")
        self.contradiction_id = self._id(labels, contradiction, "contradict")
        self.predictor, self.labels, self.batch_size = pred, labels, batch_size
        self.hypothesis_template = _check_template(hypothesis_template)

    @staticmethod
    def _id(labels: list[str], given: str | int | None, prefix: str) -> int:
        if isinstance(given, int):
            if not 0 <= given < len(labels):
                raise InputError(f"label id {given} is out of range for the model's {len(labels)} labels")
            return given
        i = labels.index(given) if given in labels else _find(labels, prefix) if given is None else None
        if i is None:
            what = f"label {given!r}" if given is not None else f"a label starting with {prefix!r}"
            raise InputError(f"the NLI model has no {what}; its labels are {labels}: pass entailment= and "
                             "contradiction= (names or ids)")
        return i

    def _logits(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        """(N, labels) NLI logits of the pairs; a long premise is cut, never the hypothesis (transformers'
        truncation="only_first"), so the label is always read."""
        from bertkit.tasks.batching import run_model

        pred = self.predictor
        tok = pred.tokenizer  # the tokenizer's own limit, as transformers' pipeline, within the model's positions
        limit = min(int(getattr(tok, "model_max_length", 0) or pred.model.max_tokens), pred.model.max_tokens)
        enc = tok(premises, hypotheses, max_length=limit, truncation="only_first", padding=False)
        feats = [{"input_ids": i, "token_type_ids": t} for i, t in zip(enc["input_ids"], enc["token_type_ids"])]
        outs = run_model(pred.model, feats, pred.tokenizer.pad_token_id or 0, ("logits",), self.batch_size,
                         False, pred.precision, False, pred._fast)
        return np.stack([o["logits"] for o in outs]).astype(np.float64)

    def __call__(self, sequences: str | Sequence[str], candidate_labels: str | Sequence[str],
                 hypothesis_template: str | None = None, multi_label: bool = False
                 ) -> dict[str, Any] | list[dict[str, Any]]:
        """Scores of `candidate_labels` (a list, or one comma-separated string) for each sequence; one string in, one
        dict out ({"sequence", "labels" best first, "scores"}), a list in, a list out."""
        single = isinstance(sequences, str)
        seqs = [sequences] if single else list(sequences)
        if isinstance(candidate_labels, str):
            candidate_labels = [x.strip() for x in candidate_labels.split(",") if x.strip()]
        cands = list(candidate_labels)
        if not cands:
            raise InputError("give at least one candidate label")
        if not seqs or any(not isinstance(s, str) or not s.strip() for s in seqs):
            raise InputError("sequences must be non-empty strings")
        template = _check_template(hypothesis_template or self.hypothesis_template)
        hyps = [template.format(c) for c in cands]
        logits = self._logits([s for s in seqs for _ in cands], hyps * len(seqs)).reshape(len(seqs), len(cands), -1)
        if multi_label or len(cands) == 1:
            pair = logits[..., [self.contradiction_id, self.entailment_id]]
            e = np.exp(pair - pair.max(-1, keepdims=True))
            scores = (e / e.sum(-1, keepdims=True))[..., 1]
        else:
            ent = logits[..., self.entailment_id]
            e = np.exp(ent - ent.max(-1, keepdims=True))
            scores = e / e.sum(-1, keepdims=True)
        res = []
        for s, row in zip(seqs, scores):
            order = np.argsort(-row, kind="stable")
            res.append({"sequence": s, "labels": [cands[i] for i in order], "scores": [float(row[i]) for i in order]})
        return res[0] if single else res


def _check_template(template: str) -> str:
    if "{}" not in template:
        raise InputError(f"the hypothesis template needs a {{}} where the label goes, got {template!r}")
    return template
