"""`bertkit.pipeline(task, model)`: the notebooks' one-liners, with transformers' call names and output shapes, so a
notebook ports by changing the import.

    fill = bertkit.pipeline("fill-mask", "path/to/bert")
    fill("Paris is the [MASK] of France.")      # [{"score", "token", "token_str", "sequence"}, ...]
    clf = bertkit.pipeline("sentiment-analysis", "runs/sst2")
    clf(["I loved it"])                          # [{"label": "1", "score": 0.99}]

Tasks: feature-extraction, fill-mask, text-classification (sentiment-analysis), token-classification (ner),
question-answering, text-generation, summarization, translation. Each wraps the library's own piece (the encoder,
FillMask, Predictor, TextGenerator); model=None takes the bundled MiniLM where the task allows it.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError

ALIASES = {"sentiment-analysis": "text-classification", "ner": "token-classification"}
OUTPUT_KEYS = {"text-generation": "generated_text", "summarization": "summary_text", "translation": "translation_text"}
TASKS = ("feature-extraction", "fill-mask", "text-classification", "token-classification", "question-answering",
         "text-generation", "summarization", "translation")


def pipeline(task: str, model: str | Path | None = None, **defaults: Any) -> Any:
    """A callable for `task` over the checkpoint folder `model`; `defaults` are keyword arguments every call gets
    (top_k, max_new_tokens, aggregation_strategy, ...)."""
    name = ALIASES.get(task, task)
    if name not in TASKS:
        raise InputError(f"unknown pipeline task {task!r}; expected one of {', '.join(TASKS + tuple(ALIASES))}")
    cls = {"feature-extraction": FeatureExtraction, "fill-mask": FillMaskPipeline,
           "text-classification": TextClassification, "token-classification": TokenClassification,
           "question-answering": QuestionAnswering}.get(name, Generation)
    if cls is Generation:
        if model is None:
            raise InputError(f"the {name} pipeline needs a model folder (GPT-2, BART or a translation model)")
        return Generation(name, model, defaults)
    return cls(model, defaults)


def _batch(inputs: str | Sequence[str]) -> tuple[list[str], bool]:
    if isinstance(inputs, str):
        return [inputs], True
    items = list(inputs)
    if not items or not all(isinstance(x, str) for x in items):
        raise InputError("give a text or a non-empty list of texts")
    return items, False


class _Base:
    task = ""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        from bertkit.hub.default import resolve_model_path

        self.path, self.defaults = resolve_model_path(model), defaults

    def __call__(self, inputs: Any, **kw: Any) -> Any:
        return self.run(inputs, **{**self.defaults, **kw})

    def run(self, inputs: Any, **kw: Any) -> Any:
        raise NotImplementedError


class FeatureExtraction(_Base):
    """Per text the last layer's token vectors, (1, T, H) as nested lists (transformers' feature-extraction)."""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        from bertkit.hub import from_pretrained
        from bertkit.tokenizers import Tokenizer

        super().__init__(model, defaults)
        self.model = from_pretrained(self.path, task="base").eval()
        self.tokenizer = Tokenizer.from_pretrained(self.path)

    @torch.inference_mode()
    def run(self, inputs: str | Sequence[str], **kw: Any) -> list:
        texts, single = _batch(inputs)
        out = []
        for t in texts:
            ids = torch.tensor([self.tokenizer.encode(t)[: self.model.max_tokens]])
            out.append(self.model(ids, torch.ones_like(ids)).last_hidden_state.float().tolist())
        return out[0] if single else out


class FillMaskPipeline(_Base):
    """Per mask the top_k (default 5) fills: {"score", "token" (id), "token_str", "sequence" (the text with it in)};
    a text with several masks gives one list per mask."""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        from bertkit.fill_mask import FillMask

        super().__init__(model, defaults)
        self.fill = FillMask(self.path)

    def run(self, inputs: str | Sequence[str], top_k: int = 5, **kw: Any) -> list:
        texts, single = _batch(inputs)
        tok = self.fill.tokenizer
        res = []
        for t in texts:
            ids = tok.encode(t)
            masks = [i for i, x in enumerate(ids) if x == tok.mask_token_id]
            per = []
            for m, preds in zip(masks, self.fill(t, top_k)):
                rows = []
                for token_str, p in preds:
                    tid = tok.convert_tokens_to_ids([token_str])[0]
                    filled = list(ids)
                    filled[m] = tid
                    # transformers decodes the one id: a WordPiece continuation keeps its "##" there
                    shown = token_str if token_str.startswith("##") else tok.decode([tid])
                    rows.append({"score": p, "token": tid, "token_str": shown,
                                 "sequence": tok.decode(filled, skip_special_tokens=True)})
                per.append(rows)
            res.append(per[0] if len(per) == 1 else per)
        return res[0] if single else res


def _predictor(path: Path, task: str) -> Any:
    """A Predictor from a bertkit task folder, or built over a transformers *For{Sequence,Token}Classification /
    *ForQuestionAnswering folder (labels from its config)."""
    from bertkit.hub import from_pretrained
    from bertkit.tasks.predictor import MODEL_TASK, TASK_FILE, Predictor
    from bertkit.tokenizers import Tokenizer

    if (path / TASK_FILE).is_file():
        pred = Predictor.load(path)
        if MODEL_TASK[pred.task] != MODEL_TASK[task]:
            raise InputError(f"{path} is a {pred.task} model; this pipeline needs a {task} model")
        return pred
    model = from_pretrained(path, task=MODEL_TASK[task], require_heads=True)
    id2label = model.config.id2label or {i: f"LABEL_{i}" for i in range(model.config.num_labels)}
    labels = [id2label[i] for i in sorted(id2label)]
    return Predictor(task, model, Tokenizer.from_pretrained(path), {"labels": labels, "max_length": model.max_tokens})


class TextClassification(_Base):
    """Per text {"label", "score"} (top_k=None: every label, best first)."""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        super().__init__(model, defaults)
        self.predictor = _predictor(self.path, "classify")

    def run(self, inputs: str | Sequence[str], top_k: int | None = 1, **kw: Any) -> list:
        texts, _ = _batch(inputs)
        out = []
        for r in self.predictor.predict(texts):
            ranked = sorted(r["probabilities"].items(), key=lambda kv: -kv[1])
            rows = [{"label": k, "score": float(v)} for k, v in ranked]
            out.append(rows[0] if top_k == 1 else rows[:top_k] if top_k else rows)
        return out


class TokenClassification(_Base):
    """Named entities of each text, grouped (transformers' aggregation_strategy="simple"): {"entity_group", "score"
    (mean of the words' probabilities), "word", "start", "end" (characters)}. The model tags words (whitespace
    split); aggregation_strategy="none" gives one row per word with its tag as "entity"."""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        super().__init__(model, defaults)
        self.predictor = _predictor(self.path, "ner")

    def run(self, inputs: str | Sequence[str], aggregation_strategy: str = "simple", **kw: Any) -> list:
        import re

        if aggregation_strategy not in ("simple", "none"):
            raise InputError(f"aggregation_strategy must be 'simple' or 'none', got {aggregation_strategy!r}")
        texts, single = _batch(inputs)
        spans = [[(m.start(), m.end()) for m in re.finditer(r"\S+", t)] for t in texts]
        preds = self.predictor.predict([[t[a:b] for a, b in s] for t, s in zip(texts, spans)], tag_scheme="iob2")
        res = []
        for t, s, p in zip(texts, spans, preds):
            if aggregation_strategy == "none":
                res.append([{"entity": tag, "score": float(sc), "index": i, "word": t[a:b], "start": a, "end": b}
                            for i, ((a, b), tag, sc) in enumerate(zip(s, p["tags"], p["scores"])) if tag != "O"])
                continue
            res.append([{"entity_group": e["type"], "score": float(sum(p["scores"][e["start"]:e["end"]]) /
                                                                  (e["end"] - e["start"])),
                         "word": t[s[e["start"]][0]:s[e["end"] - 1][1]], "start": s[e["start"]][0],
                         "end": s[e["end"] - 1][1]} for e in p["entities"]])
        return res[0] if single else res


class QuestionAnswering(_Base):
    """`qa(question=..., context=...)` -> {"score", "start", "end", "answer"} (lists in, a list out)."""

    def __init__(self, model: str | Path | None, defaults: dict[str, Any]) -> None:
        super().__init__(model, defaults)
        self.predictor = _predictor(self.path, "qa")

    def __call__(self, question: Any = None, context: Any = None, **kw: Any) -> Any:
        if isinstance(question, dict):  # qa({"question": ..., "context": ...})
            question, context = question.get("question"), question.get("context")
        if question is None or context is None:
            raise InputError("question-answering needs question= and context=")
        qs, single = _batch(question)
        cs, _ = _batch(context)
        if len(cs) == 1 and len(qs) > 1:
            cs = cs * len(qs)
        if len(cs) != len(qs):
            raise InputError(f"got {len(qs)} questions but {len(cs)} contexts")
        out = [{"score": r["score"], "start": r["start"], "end": r["end"], "answer": r["answer"]}
               for r in self.predictor.predict(qs, cs)]
        return out[0] if single else out


class Generation:
    """text-generation -> [{"generated_text": prompt + continuation}] (return_full_text=False: the continuation);
    summarization -> [{"summary_text"}]; translation -> [{"translation_text"}]. Keyword arguments are generate()'s
    (max_new_tokens, num_beams, do_sample, top_k, top_p, temperature, ...)."""

    def __init__(self, task: str, model: str | Path, defaults: dict[str, Any]) -> None:
        from bertkit.text_generation import TextGenerator

        self.task, self.defaults = task, defaults
        self.generator = TextGenerator(model)
        if (task == "text-generation") == self.generator.seq2seq:
            kind = "an encoder-decoder (BART, MarianMT)" if self.generator.seq2seq else "a decoder-only (GPT-2)"
            raise InputError(f"{model} is {kind} model: use it for "
                             + ("summarization or translation" if self.generator.seq2seq else "text-generation"))

    def __call__(self, inputs: str | Sequence[str], **kw: Any) -> list:
        texts, single = _batch(inputs)
        settings = {"max_new_tokens": 50, **self.defaults, **kw}
        full = settings.pop("return_full_text", True)
        seed = settings.pop("seed", None)
        out = []
        for t in texts:
            text = self.generator(t, seed=seed, **settings)
            if self.task == "text-generation" and full:
                text = t + text
            out.append([{OUTPUT_KEYS[self.task]: text}])
        return out[0] if single else out
