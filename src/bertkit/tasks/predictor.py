"""`Predictor`: a fine-tuned model, its tokenizer and its task settings; predicts, scores, saves and loads.

    clf = bertkit.Predictor.load("out/")
    clf.predict(["I loved the song"])      # [{"label": "1", "score": 0.98, "probabilities": {...}}]

The folder is a Hugging Face checkpoint (config.json, model.safetensors, tokenizer files) plus
`bertkit_task.json` with the task name and settings (labels, max_length, windows ...).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertkit.errors import CheckpointError, InputError
from bertkit.tasks import classification as C
from bertkit.tasks import metrics as M
from bertkit.tasks import ner as N
from bertkit.tasks import qa as Q
from bertkit.tasks.batching import run_model

TASK_FILE = "bertkit_task.json"
MODEL_TASK = {"classify": "classification", "pair": "classification", "regress": "classification",
              "ner": "token_classification", "qa": "qa"}


@dataclass
class Encoded:
    """Features of a set of inputs, ready for the model, with what decoding and scoring need."""

    feats: list[dict[str, Any]]
    owner: list[int]
    n: int
    gold: Any = None
    examples: Any = None


class Predictor:
    """Task model + tokenizer + settings. `settings` keys: labels, kind (single_label | multi_label |
    regression), max_length, stride, combine (truncate | clinical | mean | max), c, threshold, label_sep,
    doc_stride, n_best, max_answer_length, batch_size, precision, and the column names used in training."""

    def __init__(self, task: str, model: Any, tokenizer: Any, settings: dict[str, Any]) -> None:
        if task not in MODEL_TASK:
            raise InputError(f"unknown task {task!r}; expected one of {', '.join(MODEL_TASK)}")
        self.task, self.model, self.tokenizer, self.settings = task, model, tokenizer, dict(settings)
        self._fast: dict = {}  # run_model's fused bf16 copy, rebuilt when the weights change

    @property
    def labels(self) -> list[str] | None:
        return self.settings.get("labels")

    @property
    def precision(self) -> str:
        """What predictions run in: the training run's precision, except bf16 on a machine that would emulate it
        (a folder trained on an AMX CPU, used on an AVX2-only laptop): fp32 there, exact and faster."""
        from bertkit import hardware

        prec = self._s("precision", "fp32")
        if prec == "bf16" and not hardware.bf16_native(next(self.model.parameters()).device):
            return "fp32"
        return prec

    def _s(self, key: str, default: Any) -> Any:
        return self.settings.get(key, default)

    # ---- encoding ----------------------------------------------------------------------------------------
    def encode(self, inputs: Sequence[Any], pairs: Sequence[str] | None = None, gold: Any = None,
               lang: str | int | Sequence[str | int] | None = None) -> Encoded:
        """Inputs per task: texts (classify, regress), texts + pairs (pair), word lists or whitespace-split
        strings (ner), QAExample objects or questions + contexts as `pairs` (qa).
        lang (XLM models): the inputs' language (a name in config lang2id, or an id), or one per input; None
        uses the `lang` setting (the fine-tuning language), and a model without one reads no language vector."""
        enc = self._encode(inputs, pairs, gold)
        self.tag_langs(enc.feats, enc.owner, enc.n, self._s("lang", None) if lang is None else lang)
        return enc

    def tag_langs(self, feats: list[dict[str, Any]], owner: Sequence[int], n: int,
                  lang: str | int | Sequence[str | int] | None) -> None:
        """Give each feature its input's language id ("langs", read by tasks/batching.pad_batch) from `lang`: one
        language for all n inputs, or one per input; None leaves the features as they are."""
        if lang is None:
            return
        if isinstance(lang, (str, int)):
            lang = [lang] * n
        lang = list(lang)
        if len(lang) != n:
            raise InputError(f"got {n} inputs but {len(lang)} languages")
        ids = {x: self.model.lang_id(x) for x in set(lang)}
        for f, k in zip(feats, owner):
            f["langs"] = ids[lang[k]]

    def _encode(self, inputs: Sequence[Any], pairs: Sequence[str] | None = None, gold: Any = None) -> Encoded:
        tok, L = self.tokenizer, int(self._s("max_length", 128))
        if self.task == "qa":
            ex = list(inputs) if pairs is None else [Q.QAExample(str(i), q, c) for i, (q, c) in
                                                     enumerate(zip(inputs, pairs))]
            feats, owner = Q.encode_qa(tok, ex, L, int(self._s("doc_stride", 128)))
            return Encoded(feats, owner, len(ex), gold, ex)
        if self.task == "ner":
            sents = [s.split() if isinstance(s, str) else list(s) for s in inputs]
            feats, owner = N.encode_words(tok, sents, None, None, L, int(self._s("stride", 32)))
            return Encoded(feats, owner, len(sents), gold, sents)
        if self.task == "pair" and pairs is None:
            raise InputError("the pair task needs two texts per example: predict(texts, pairs)")
        windows = self._s("combine", "truncate") != "truncate"
        feats, owner = C.encode_texts(tok, list(inputs), None if pairs is None else list(pairs), L, windows,
                                      int(self._s("stride", 0)))
        return Encoded(feats, owner, len(inputs), gold)

    # ---- prediction --------------------------------------------------------------------------------------
    def decode(self, enc: Encoded, progress: bool = False) -> list[dict[str, Any]]:
        """Run the model over encoded inputs and turn its outputs into one result dict per input."""
        bs, prec = int(self._s("batch_size", 64)), self.precision
        pad = self.tokenizer.pad_token_id or 0
        if self.task == "qa":
            outs = run_model(self.model, enc.feats, pad, ("start_logits", "end_logits"), bs, True, prec, progress,
                             self._fast)
            return Q.best_spans(enc.feats, enc.owner, outs, enc.examples, int(self._s("n_best", 20)),
                                int(self._s("max_answer_length", 30)))
        if self.task == "ner":
            outs = run_model(self.model, enc.feats, pad, ("logits",), bs, True, prec, progress, self._fast)
            words = N.decode_words(enc.feats, enc.owner, [o["logits"] for o in outs],
                                   [len(s) for s in enc.examples], self.labels)
            res = []
            for sent, (tags, probs) in zip(enc.examples, words):
                ents = [{"type": t, "start": a, "end": b + 1, "text": " ".join(sent[a:b + 1])}
                        for t, a, b in M.get_entities([tags])]
                res.append({"tags": tags, "scores": probs, "entities": ents})
            return res
        outs = run_model(self.model, enc.feats, pad, ("logits",), bs, False, prec, progress, self._fast)
        kind = self._s("kind", "single_label")
        scores = C.example_scores([o["logits"] for o in outs], enc.owner, enc.n, kind,
                                  self._s("combine", "truncate"), float(self._s("c", 2.0)))
        return C.decode(scores, self.labels, kind, float(self._s("threshold", 0.5)), self._s("label_sep", ","))

    def predict(self, inputs: Sequence[Any] | str, pairs: Sequence[str] | str | None = None,
                progress: bool = False, tag_scheme: str | None = None,
                lang: str | int | Sequence[str | int] | None = None) -> list[dict[str, Any]]:
        """Predictions for a batch (a single string is a batch of one). See `encode` for the inputs per task
        and `lang` (XLM models).

        ner: tags in `tag_scheme` ("iob1" | "iob2"; None: the training file's, see `tag_scheme_for`)."""
        if isinstance(inputs, str):
            inputs = [inputs]
        if isinstance(pairs, str):
            pairs = [pairs]
        if pairs is not None and len(pairs) != len(inputs):
            raise InputError(f"got {len(inputs)} inputs but {len(pairs)} pairs")
        return self.in_scheme(self.decode(self.encode(inputs, pairs, lang=lang), progress), tag_scheme)

    def tag_scheme_for(self, tag_scheme: str | None = None) -> str:
        """The NER tag scheme predictions are given in: `tag_scheme` when given, else the training file's
        (IOB1 in, IOB1 out; folders saved before bertkit recorded it: IOB2)."""
        from bertkit.tasks.conll import TAG_SCHEMES

        scheme = tag_scheme or self._s("tag_scheme", "iob2")
        if scheme not in TAG_SCHEMES:
            raise InputError(f"tag scheme must be one of {', '.join(TAG_SCHEMES)}, got {scheme!r}")
        return scheme

    def in_scheme(self, results: list[dict[str, Any]], tag_scheme: str | None = None) -> list[dict[str, Any]]:
        """decode()'s NER results (IOB2, the scheme the model is trained and scored in) with their tags in
        `tag_scheme_for(tag_scheme)`; other tasks' results unchanged."""
        if self.task != "ner":
            return results
        from bertkit.tasks.conll import to_scheme

        scheme = self.tag_scheme_for(tag_scheme)
        return [{**r, "tags": to_scheme(r["tags"], scheme)} for r in results]

    def explain(self, text: str, **kw: Any) -> Any:
        """Integrated-gradients token attributions of one prediction (classify/pair): see tasks/explain.py."""
        from bertkit.tasks.explain import explain

        return explain(self, text, **kw)

    # ---- scoring -----------------------------------------------------------------------------------------
    def score(self, enc: Encoded) -> dict[str, float]:
        """Task metrics of the predictions for `enc` against enc.gold: accuracy (+ macro F1), micro F1 for
        multi-label, Pearson/Spearman for regression, entity P/R/F1 for NER, SQuAD EM/F1 for QA."""
        preds = self.decode(enc)
        if self.task == "qa":
            return M.squad_scores({e.qid: p["answer"] for e, p in zip(enc.examples, preds)},
                                  {e.qid: e.answers or [""] for e in enc.examples})
        if self.task == "ner":
            return M.entity_scores(enc.gold, [p["tags"] for p in preds])
        kind = self._s("kind", "single_label")
        if kind == "regression":
            y = [p["score"] for p in preds]
            return {"pearson": M.pearson(y, enc.gold), "spearman": M.spearman(y, enc.gold),
                    "mse": float(np.mean((np.asarray(y) - np.asarray(enc.gold)) ** 2))}
        if kind == "multi_label":
            labs = self.labels or []
            p = np.array([[lab in r["labels"] for lab in labs] for r in preds])
            g = np.array([[lab in gl for lab in labs] for gl in enc.gold])
            return M.multilabel_f1(p, g)
        index = {k: i for i, k in enumerate(self.labels or [])}
        C.check_known(self.labels or [], enc.gold, range(1, len(enc.gold) + 1), "gold labels", "the training data")
        y, g = [index[p["label"]] for p in preds], [index[x] for x in enc.gold]
        return {"accuracy": M.accuracy(y, g), "macro_f1": M.macro_f1(y, g, len(index))}

    # ---- persistence -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the model, tokenizer and task settings to `path` (loadable by Predictor.load and, for the
        weights, by transformers)."""
        from bertkit.hub import save_pretrained

        path = Path(path)
        save_pretrained(self.model, path, tokenizer=self.tokenizer)
        (path / TASK_FILE).write_text(json.dumps({"task": self.task, "settings": self.settings}, indent=2,
                                                 ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Predictor:
        """Load a folder written by `save` (or by `bertkit finetune --out`); a BiLSTM folder written by
        `bertkit.distill.bilstm.save_bilstm` comes back as a BiLSTMPredictor with the same `predict` results."""
        from bertkit.hub import from_pretrained
        from bertkit.hub.default import resolve_model_path
        from bertkit.tokenizers import Tokenizer

        path = resolve_model_path(path)  # a folder, or a hub id in the local cache
        from bertkit.distill.bilstm import BiLSTMPredictor, is_bilstm_folder, load_bilstm

        if is_bilstm_folder(path):  # a distilled BiLSTM (bertkit.distill.bilstm): same predict() results
            return BiLSTMPredictor(load_bilstm(path))  # type: ignore[return-value]
        meta_file = path / TASK_FILE
        if not meta_file.is_file():
            raise CheckpointError(f"{path} has no {TASK_FILE}: not a folder written by bertkit finetune / "
                                  "Predictor.save")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
            task, settings = meta["task"], meta["settings"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{meta_file} is corrupt: {e}") from None
        if task not in MODEL_TASK:
            raise CheckpointError(f"{meta_file}: unknown task {task!r}")
        model = from_pretrained(path, task=MODEL_TASK[task], require_heads=True)
        return cls(task, model, Tokenizer.from_pretrained(path), settings)

    def predict_file(self, src: str | Path, dst: str | Path | None = None,
                     tag_scheme: str | None = None) -> tuple[Path, dict[str, Any]]:
        """Predict a file (see tasks/files.py) and write the result (default: SRC-NAME.pred.EXT in the current
        directory); returns (output path, report). ner: tags in `tag_scheme` (see `predict`)."""
        from bertkit.tasks.files import predict_file

        return predict_file(self, src, dst, tag_scheme=tag_scheme)
