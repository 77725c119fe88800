"""Sequence-level tasks: single-text and text-pair classification (multi-class, multi-label) and regression.

Rows become features (token ids, segment ids, target); a text longer than max_length is cut (with a warning)
or, for long documents, split into windows whose predictions are combined (tasks/long_docs.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from bertkit.errors import InputError, warn
from bertkit.tasks.long_docs import combine_windows
from bertkit.tasks.tables import Table

SEQ_TASKS = ("classify", "pair", "regress")


@dataclass
class TextExamples:
    """Texts (and second texts) of a table with their raw targets and the table row each came from."""

    texts: list[str]
    pairs: list[str] | None
    targets: list[Any] | None
    rows: list[int]
    lines: list[int]


def examples_from_table(table: Table, text_col: str, text2_col: str | None, label_col: str | None,
                        regression: bool = False, multi_label_sep: str | None = None) -> TextExamples:
    """Pull the columns out of a table. Rows with an empty text, an empty label or (regression) a label that
    is not a number are skipped and added to table.skipped (the caller reports the count)."""
    table.require(text_col, text2_col, label_col)
    before = len(table.skipped)
    ex = TextExamples([], [] if text2_col else None, [] if label_col else None, [], [])
    for k, (row, line) in enumerate(zip(table.rows, table.lines)):
        text = _text(row.get(text_col))
        text2 = _text(row.get(text2_col)) if text2_col else ""
        if not text.strip() or (text2_col and not text2.strip()):
            table.skipped.add(line, "empty text")
            continue
        target: Any = None
        if label_col:
            raw = row.get(label_col)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                table.skipped.add(line, f"empty {label_col!r}")
                continue
            if regression:
                try:
                    target = float(raw)
                except (TypeError, ValueError):
                    table.skipped.add(line, f"{label_col!r} is not a number: {raw!r}")
                    continue
            elif multi_label_sep is not None:
                target = sorted({str(x).strip() for x in (raw if isinstance(raw, list) else
                                                           str(raw).split(multi_label_sep)) if str(x).strip()})
            else:
                target = str(raw).strip()
        ex.texts.append(text)
        if ex.pairs is not None:
            ex.pairs.append(text2)
        if ex.targets is not None:
            ex.targets.append(target)
        ex.rows.append(k)
        ex.lines.append(line)
    if len(table.skipped) > before:
        warn(table.skipped.summary(str(table.path)))
    if not ex.texts:
        raise InputError(f"{table.path}: no usable rows")
    return ex


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def label_list(values: Sequence[Any]) -> list[str]:
    """Sorted distinct labels; numerically when every label is an integer ('0' < '2' < '10')."""
    flat = sorted({x for v in values for x in (v if isinstance(v, list) else [v])})
    if all(x.lstrip("-").isdigit() for x in flat):
        flat.sort(key=int)
    return flat


def check_known(labels: Sequence[str], values: Sequence[Any], lines: Sequence[int], where: str, train: str) -> None:
    """InputError when `values` hold labels outside `labels` (e.g. a dev label never seen in training)."""
    known = set(labels)
    bad: dict[str, int] = {}
    for v, n in zip(values, lines):
        for x in v if isinstance(v, list) else [v]:
            if x not in known and x not in bad:
                bad[x] = n
    if bad:
        first = ", ".join(f"{k!r} (line {n})" for k, n in list(bad.items())[:5])
        raise InputError(f"{where}: label(s) {first} do not occur in {train}; known labels: {', '.join(labels)}")


def encode_targets(targets: Sequence[Any], labels: Sequence[str] | None, multi_label: bool) -> list[Any]:
    """Raw targets -> int ids (multi-class), 0/1 float vectors (multi-label) or floats (regression)."""
    if labels is None:
        return [float(t) for t in targets]
    index = {k: i for i, k in enumerate(labels)}
    if multi_label:
        out = []
        for t in targets:
            vec = [0.0] * len(labels)
            for x in t:
                vec[index[x]] = 1.0
            out.append(vec)
        return out
    return [index[t] for t in targets]


PROGRESS_MIN_TEXTS = 50_000  # encode_texts shows a progress bar above this many texts (about 4 s of tokenising)


def encode_texts(tokenizer: Any, texts: Sequence[str], pairs: Sequence[str] | None, max_length: int,
                 windows: bool = False, stride: int = 0,
                 progress: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
    """Features (input_ids, token_type_ids lists) and, per feature, the index of its example.

    windows=False cuts long inputs (pairs longest-first) and warns with the count; windows=True splits the
    (second) text into overlapping windows of max_length tokens, `stride` tokens shared between neighbours.
    progress: a progress bar when there are more than PROGRESS_MIN_TEXTS texts.
    """
    from tqdm.auto import tqdm

    trunc: bool | str = "only_second" if windows and pairs is not None else True
    feats: list[dict[str, Any]] = []
    owner: list[int] = []
    cut = 0
    step = 2048
    bar = tqdm(total=len(texts), desc="tokenize", unit="text", disable=not progress or len(texts) <= PROGRESS_MIN_TEXTS)
    for s in range(0, len(texts), step):
        enc = tokenizer(list(texts[s:s + step]), None if pairs is None else list(pairs[s:s + step]),
                        max_length=max_length, truncation=trunc, padding=False, stride=stride if windows else 0,
                        return_overflowing_tokens=windows)
        cut += enc.num_truncated
        mapping = enc["overflow_to_sample_mapping"] if windows else range(len(enc["input_ids"]))
        for ids, types, m in zip(enc["input_ids"], enc["token_type_ids"], mapping):
            feats.append({"input_ids": ids, "token_type_ids": types})
            owner.append(s + m)
        bar.update(min(step, len(texts) - s))
    bar.close()
    if cut and not windows:
        warn(f"{cut} of {len(texts)} inputs were longer than max_length={max_length} tokens and were cut; "
             "raise max_length or use long-document windows")
    return feats, owner


def softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def example_scores(logits: Sequence[np.ndarray], owner: Sequence[int], n_examples: int, kind: str,
                   combine: str = "clinical", c: float = 2.0) -> np.ndarray:
    """Per-feature logits -> per-example probabilities (softmax, sigmoid for multi-label) or values
    (regression); an example split into several windows gets them combined by `combine`."""
    per: list[list[np.ndarray]] = [[] for _ in range(n_examples)]
    for lg, k in zip(logits, owner):
        per[k].append(lg)
    out = []
    for rows in per:
        a = np.stack(rows)
        if kind == "regression":
            out.append(a[:, 0].mean(0, keepdims=True) if combine != "max" else a[:, 0].max(0, keepdims=True))
            continue
        p = sigmoid(a) if kind == "multi_label" else softmax(a)
        out.append(p[0] if len(p) == 1 else combine_windows(p, combine, c))
    return np.stack(out)


def decode(scores: np.ndarray, labels: Sequence[str] | None, kind: str, threshold: float = 0.5,
           sep: str = ",") -> list[dict[str, Any]]:
    """Per example: {"label", "score", "probabilities"} (single-label: the argmax and its probability;
    multi-label: the labels over `threshold` joined by `sep`, score = the highest probability) or
    {"score": value} (regression)."""
    res = []
    for row in scores:
        if kind == "regression":
            res.append({"score": float(row[0])})
            continue
        probs = {lab: float(p) for lab, p in zip(labels or [], row)}
        if kind == "multi_label":
            chosen = [lab for lab, p in probs.items() if p >= threshold]
            res.append({"label": sep.join(chosen), "labels": chosen, "score": float(row.max()),
                        "probabilities": probs})
        else:
            k = int(row.argmax())
            res.append({"label": labels[k], "score": float(row[k]), "probabilities": probs})
    return res
