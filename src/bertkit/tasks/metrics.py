"""Task metrics: accuracy/F1, correlations, entity-level P/R/F1 (equal to seqeval's default mode),
SQuAD v1.1 exact match and F1 with the official answer normalisation."""
from __future__ import annotations

import collections
import re
import string
from typing import Sequence

import numpy as np

# ---- classification and regression ---------------------------------------------------------------------


def accuracy(pred: Sequence, gold: Sequence) -> float:
    return float(np.mean(np.asarray(pred) == np.asarray(gold))) if len(gold) else 0.0


def macro_f1(pred: Sequence[int], gold: Sequence[int], num_labels: int) -> float:
    """Unweighted mean over labels of F1 (labels absent from both pred and gold count as F1 = 0 only if seen)."""
    p, g = np.asarray(pred), np.asarray(gold)
    scores = []
    for k in range(num_labels):
        tp = np.sum((p == k) & (g == k))
        fp, fn = np.sum((p == k) & (g != k)), np.sum((p != k) & (g == k))
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def confusion_matrix(pred: Sequence[int], gold: Sequence[int], num_labels: int) -> np.ndarray:
    """(num_labels, num_labels) counts: row = gold label, column = predicted label."""
    m = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(m, (np.asarray(gold, dtype=np.int64), np.asarray(pred, dtype=np.int64)), 1)
    return m


def classification_report(pred: Sequence[int], gold: Sequence[int], labels: Sequence[str]) -> dict[str, dict]:
    """Per label precision, recall, F1 and support (gold count), then "macro avg" and "weighted avg" rows (by
    support), as scikit-learn's classification_report(output_dict=True) gives them (0 where undefined)."""
    m = confusion_matrix(pred, gold, len(labels))
    tp, predicted, support = np.diag(m), m.sum(0), m.sum(1)
    rows: dict[str, dict] = {}
    for k, name in enumerate(labels):
        p = tp[k] / predicted[k] if predicted[k] else 0.0
        r = tp[k] / support[k] if support[k] else 0.0
        rows[str(name)] = {"precision": float(p), "recall": float(r), "f1": float(2 * p * r / (p + r) if p + r else 0.0),
                           "support": int(support[k])}
    per = list(rows.values())
    total = max(int(support.sum()), 1)
    for avg, w in (("macro avg", [1 / len(per)] * len(per)), ("weighted avg", [x["support"] / total for x in per])):
        rows[avg] = {k: float(sum(wi * x[k] for wi, x in zip(w, per))) for k in ("precision", "recall", "f1")}
        rows[avg]["support"] = int(support.sum())
    return rows


def format_report(report: dict[str, dict], accuracy_value: float | None = None) -> str:
    """classification_report's rows as an aligned text table."""
    width = max(12, *(len(k) for k in report))
    lines = [f"{'':>{width}}  precision  recall      f1  support"]
    for name, r in report.items():
        if name == "macro avg" and accuracy_value is not None:
            lines.append(f"{'accuracy':>{width}}  {'':>9}  {'':>6}  {accuracy_value:6.4f}  {r['support']:7d}")
        lines.append(f"{name:>{width}}  {r['precision']:9.4f}  {r['recall']:6.4f}  {r['f1']:6.4f}  {r['support']:7d}")
    return "\n".join(lines)


def multilabel_f1(pred: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    """Micro F1 over all (example, label) decisions of 0/1 matrices (N, L), and the exact-set accuracy."""
    p, g = np.asarray(pred).astype(bool), np.asarray(gold).astype(bool)
    tp, fp, fn = np.sum(p & g), np.sum(p & ~g), np.sum(~p & g)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"micro_f1": float(f1), "subset_accuracy": float(np.mean(np.all(p == g, axis=1)))}


def pearson(x: Sequence[float], y: Sequence[float]) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    x, y = x - x.mean(), y - y.mean()
    den = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / den) if den > 0 else 0.0


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties sharing their mean rank (as scipy.stats.rankdata)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sx = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sx[j + 1] == sx[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Pearson correlation of the ranks (ties averaged)."""
    return pearson(_ranks(np.asarray(x, dtype=np.float64)), _ranks(np.asarray(y, dtype=np.float64)))


# ---- entities -------------------------------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', '_')."""
    return tag[0], (tag[1:].split("-", 1)[-1] or "_")


def _ends(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in ("B", "I") and cur in ("B", "S", "O"):
        return True
    return prev not in ("O", ".") and prev_type != cur_type


def _starts(prev: str, prev_type: str, cur: str, cur_type: str) -> bool:
    if cur in ("B", "S"):
        return True
    if cur in ("E", "I") and prev in ("E", "S", "O"):
        return True
    return cur not in ("O", ".") and prev_type != cur_type


def get_entities(sentences: Sequence[Sequence[str]]) -> list[tuple[str, int, int]]:
    """(type, first, last) of every chunk, positions in the concatenation of the sentences (an 'O' between
    sentences, so no chunk crosses one). Lenient like seqeval's default mode: a chunk may start with I-."""
    seq: list[str] = []
    for s in sentences:
        seq += list(s) + ["O"]
    chunks = []
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate(seq + ["O"]):
        cur, cur_type = _split(tag)
        if _ends(prev, prev_type, cur, cur_type):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev, prev_type, cur, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return chunks


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro entity precision, recall and F1 (0-1), and F1 per type: a predicted entity counts when its type
    and exact span match a gold one. Equal to seqeval.metrics' precision/recall/f1_score (default mode)."""
    if len(gold) != len(pred) or any(len(g) != len(p) for g, p in zip(gold, pred)):
        raise ValueError("gold and predicted tag sequences must have the same lengths")
    g, p = set(get_entities(gold)), set(get_entities(pred))
    out = _prf(len(g & p), len(p), len(g))
    for t in sorted({e[0] for e in g | p}):
        gt, pt = {e for e in g if e[0] == t}, {e for e in p if e[0] == t}
        out[f"f1_{t}"] = _prf(len(gt & pt), len(pt), len(gt))["f1"]
    return out


def _prf(correct: int, predicted: int, true: int) -> dict[str, float]:
    prec = correct / predicted if predicted else 0.0
    rec = correct / true if true else 0.0
    return {"precision": prec, "recall": rec, "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


# ---- SQuAD v1.1 -----------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = set(string.punctuation)


def normalize_answer(s: str) -> str:
    """The official SQuAD v1.1 normalisation: lower case, drop punctuation, drop a/an/the, squeeze spaces."""
    s = "".join(ch for ch in s.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


def squad_exact(pred: str, gold: str) -> float:
    return float(normalize_answer(pred) == normalize_answer(gold))


def squad_f1(pred: str, gold: str) -> float:
    """Token-level F1 of the normalised answers (bag of tokens)."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def squad_scores(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    """{"exact_match", "f1"} in percent: the max over each question's gold answers, averaged over questions.
    A question without a prediction scores 0."""
    em = f1 = 0.0
    for qid, golds in answers.items():
        pred = predictions.get(qid, "")
        em += max(squad_exact(pred, g) for g in golds)
        f1 += max(squad_f1(pred, g) for g in golds)
    n = max(len(answers), 1)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * f1 / n}
