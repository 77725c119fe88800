"""Extractive question answering (SQuAD v1.1): question + context windows -> start/end logits -> answer text.

Features: `[CLS] question [SEP] context-window [SEP]`, windows of max_length tokens sliding over the context
with `doc_stride` tokens of overlap. Training targets are the answer's first and last piece in a window, or
position 0 ([CLS]) when the answer is not wholly inside it. At prediction time the n best starts and ends of
every window are paired (end >= start, at most max_answer_length pieces, both in the context) and the best
pair by start + end logit over all windows wins; its text is cut from the context through the offsets.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertkit.errors import InputError, warn
from bertkit.textio import iter_lines


@dataclass
class QAExample:
    qid: str
    question: str
    context: str
    answers: list[str] = field(default_factory=list)     # every gold text (for scoring)
    start: int | None = None                             # char offset of the first answer that matches the context
    title: str = ""


def read_squad(path: str | Path) -> tuple[list[QAExample], list[str]]:
    """Questions of a SQuAD v1.1 JSON file, and messages for answers whose `answer_start` does not point at
    their text in the context. Such answers keep counting for scoring but are not trained on: a question
    trains on its first answer that matches."""
    path = Path(path)
    try:
        data = json.loads("\n".join(iter_lines(path)))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise InputError(f"{path} is not SQuAD JSON: expected an object with a 'data' list of articles")
    out, bad = [], []
    for a in data["data"]:
        for p in a.get("paragraphs", []):
            ctx = p.get("context")
            if not isinstance(ctx, str):
                raise InputError(f"{path}: a paragraph of {a.get('title', '?')!r} has no 'context' string")
            for q in p.get("qas", []):
                if "id" not in q or "question" not in q:
                    raise InputError(f"{path}: a question in {a.get('title', '?')!r} lacks 'id' or 'question'")
                ex = QAExample(str(q["id"]), q["question"], ctx, title=a.get("title", ""))
                for ans in q.get("answers", []):
                    text, start = ans.get("text", ""), ans.get("answer_start")
                    ex.answers.append(text)
                    if isinstance(start, int) and text and ctx[start:start + len(text)] == text:
                        if ex.start is None:
                            ex.start = start
                    else:
                        bad.append(f"question {ex.qid}: answer {text!r} is not at offset {start} of the context "
                                   f"(found {ctx[start:start + len(text)]!r})" if isinstance(start, int) else
                                   f"question {ex.qid}: answer {text!r} has no integer answer_start")
                out.append(ex)
    if not out:
        raise InputError(f"{path} holds no questions")
    if bad:
        warn(f"{path}: {len(bad)} answer(s) whose offsets do not match the context are not trained on: "
             + "; ".join(bad[:3]) + (" ..." if len(bad) > 3 else ""))
    return out, bad


def split_by_title(examples: Sequence[QAExample], n_train: int) -> tuple[list[QAExample], list[QAExample]]:
    """The questions of the first n_train articles (in file order) and those of the rest."""
    titles = list(dict.fromkeys(e.title for e in examples))
    keep = set(titles[:n_train])
    return [e for e in examples if e.title in keep], [e for e in examples if e.title not in keep]


def encode_qa(tokenizer: Any, examples: Sequence[QAExample], max_length: int = 384, doc_stride: int = 128,
              max_query_length: int = 64, train: bool = False) -> tuple[list[dict[str, Any]], list[int]]:
    """Features (input_ids, token_type_ids, offsets, ctx_start/ctx_end piece range, and with train=True
    start_positions/end_positions) and the example index of each. doc_stride is the overlap in tokens.
    In training, questions without a usable answer are left out."""
    t = tokenizer.template
    feats: list[dict[str, Any]] = []
    owner: list[int] = []
    for k, ex in enumerate(examples):
        if train and ex.start is None:
            continue
        q = ex.question.strip()
        qe = tokenizer([q], add_special_tokens=False, truncation=False, padding=False, return_offsets=True)
        q_ids, q_offs = qe["input_ids"][0], qe["offset_mapping"][0]
        if len(q_ids) > max_query_length:  # long questions are cut (as in BERT's run_squad)
            q = q[:q_offs[max_query_length - 1][1]]
            q_ids = q_ids[:max_query_length]
        room = max_length - t.num_special(True) - len(q_ids)
        enc = tokenizer([q], [ex.context], max_length=max_length, truncation="only_second", padding=False,
                        return_offsets=True, stride=min(doc_stride, room - 1), return_overflowing_tokens=True)
        c0 = len(t.prefix) + len(q_ids) + len(t.mid)
        for ids, types, offs in zip(enc["input_ids"], enc["token_type_ids"], enc["offset_mapping"]):
            c1 = len(ids) - len(t.suffix)  # context pieces are [c0, c1)
            f: dict[str, Any] = {"input_ids": ids, "token_type_ids": types, "offsets": offs[c0:c1],
                                 "ctx_start": c0}
            if train:
                s_char, e_char = ex.start, _answer_end(ex)
                f["start_positions"], f["end_positions"] = _target(offs, c0, c1, s_char, e_char)
            feats.append(f)
            owner.append(k)
    return feats, owner


def _answer_end(ex: QAExample) -> int:
    for a in ex.answers:
        if ex.context[ex.start:ex.start + len(a)] == a and a:
            return ex.start + len(a)
    raise AssertionError("unreachable: start is set only for a matching answer")


def _target(offs: Sequence[tuple[int, int]], c0: int, c1: int, s: int, e: int) -> tuple[int, int]:
    """Piece positions of chars [s, e) inside the window, or (0, 0) when the answer is not wholly inside it."""
    if c1 <= c0 or offs[c0][0] > s or offs[c1 - 1][1] < e:
        return 0, 0
    i = c0
    while i < c1 and offs[i][1] <= s:
        i += 1
    j = c1 - 1
    while j > i and offs[j][0] >= e:
        j -= 1
    return i, j


def best_spans(feats: Sequence[dict[str, Any]], owner: Sequence[int], outputs: Sequence[dict[str, np.ndarray]],
               examples: Sequence[QAExample], n_best: int = 20, max_answer_length: int = 30) -> list[dict[str, Any]]:
    """Per example: {"answer", "score" (softmax over the n-best candidates), "start", "end" (chars),
    "n_best": [{"answer", "logit"}]}. An example with no valid span gets answer ''."""
    cands: list[list[tuple[float, int, int]]] = [[] for _ in examples]
    for f, k, out in zip(feats, owner, outputs):
        c0, offs = f["ctx_start"], f["offsets"]
        st = out["start_logits"][c0:c0 + len(offs)]
        en = out["end_logits"][c0:c0 + len(offs)]
        top_s = np.argsort(-st)[:n_best]
        top_e = np.argsort(-en)[:n_best]
        for i in top_s:
            for j in top_e:
                if j < i or j - i + 1 > max_answer_length:
                    continue
                cands[k].append((float(st[i] + en[j]), offs[i][0], offs[j][1]))
    res = []
    for ex, c in zip(examples, cands):
        if not c:
            res.append({"answer": "", "score": 0.0, "start": -1, "end": -1, "n_best": []})
            continue
        c.sort(key=lambda x: -x[0])
        uniq: dict[tuple[int, int], float] = {}
        for logit, s, e in c:
            uniq.setdefault((s, e), logit)
            if len(uniq) == n_best:
                break
        logits = np.array(list(uniq.values()))
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        (s, e), _ = next(iter(uniq.items()))
        res.append({"answer": ex.context[s:e], "score": float(probs[0]), "start": s, "end": e,
                    "n_best": [{"answer": ex.context[a:b], "logit": lg} for (a, b), lg in uniq.items()]})
    return res
