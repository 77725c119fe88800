"""Task data files: reading training / dev / prediction inputs per task, and writing predictions.

classify, pair, regress: CSV / TSV / JSONL tables; ner: CoNLL column files; qa: SQuAD v1.1 JSON.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertkit.errors import InputError, warn
from bertkit.tasks import classification as C
from bertkit.tasks.conll import iob1_to_iob2, read_conll, write_conll
from bertkit.tasks.qa import read_squad
from bertkit.tasks.tables import TAG_COLUMNS, Table, read_table, write_table

TEXT_COLS = ("text", "sentence", "review", "document", "sentence1", "premise", "question")
TEXT2_COLS = ("text2", "sentence2", "hypothesis", "pair")
LABEL_COLS = ("label", "labels", "sentiment", "score", "similarity_score", "gold_label")


@dataclass
class TaskData:
    """Inputs of one file for Predictor.encode, the gold targets (None when unlabelled) and the source."""

    inputs: list[Any]
    pairs: list[str] | None
    gold: list[Any] | None
    lines: list[int]
    source: Any = None          # the Table, the CoNLL sentences or None
    rows: list[int] | None = None
    skipped: int = 0


def _pick(table: Table, given: str | None, candidates: tuple[str, ...], what: str, required: bool) -> str | None:
    if given is not None:
        table.require(given)
        return given
    for c in candidates:
        if c in table.columns:
            return c
    if required:
        raise InputError(f"{table.path}: no {what} column found (looked for {', '.join(candidates)}); pass it "
                         f"explicitly; available columns: {', '.join(table.columns)}")
    return None


def read_task_file(task: str, path: str | Path, *, text_col: str | None = None, text2_col: str | None = None,
                   label_col: str | None = None, kind: str = "single_label", label_sep: str = ",",
                   labelled: bool = True) -> tuple[TaskData, dict[str, str | None]]:
    """Read `path` for `task`; returns the data and the columns used. labelled=False accepts files without
    a label column (prediction); labelled=True requires one."""
    if task == "qa":
        ex, bad = read_squad(path)
        has = any(e.answers for e in ex)
        return TaskData(ex, None, [e.answers for e in ex] if has else None, [], skipped=len(bad)), {}
    if task == "ner":
        sents = read_conll(path, tagged=False)
        tagged = len(sents[0].columns[0]) >= 2 and all(TAG_COLUMNS.match(c[-1]) for s in sents for c in s.columns)
        if labelled and not tagged:
            raise InputError(f"{path}: expected a tag in the last column of every token line (O, B-X, I-X)")
        gold = [iob1_to_iob2([c[-1] for c in s.columns]) for s in sents] if tagged else None
        return TaskData([s.words for s in sents], None, gold, [s.line for s in sents], sents), {}
    need = [text_col, text2_col, label_col]
    table = read_table(path, needed=need)
    tc = _pick(table, text_col, TEXT_COLS, "text", True)
    # pair needs a second text; regress and classify take one when it is named (STS-B regresses on pairs)
    t2 = _pick(table, text2_col, TEXT2_COLS, "second text", True) if task == "pair" else text2_col
    table.require(t2)
    lc = _pick(table, label_col, LABEL_COLS, "label", labelled)
    ex = C.examples_from_table(table, tc, t2, lc, regression=kind == "regression",
                               multi_label_sep=label_sep if kind == "multi_label" else None)
    return (TaskData(ex.texts, ex.pairs, ex.targets, ex.lines, table, ex.rows, len(table.skipped)),
            {"text_col": tc, "text2_col": t2, "label_col": lc})


def row_langs(data: TaskData, settings: dict[str, Any]) -> Any:
    """The language of each row of `data` (XLM models): its `lang_col` column when the settings name one and the
    file has it, else the `lang` setting (one language for all rows, or None)."""
    col = settings.get("lang_col")
    table = data.source
    if col and getattr(table, "columns", None) is not None and col in table.columns:
        langs = [str(table.rows[k].get(col) or "").strip() for k in data.rows or []]
        empty = next((line for line, x in zip(data.lines, langs) if not x), None)
        if empty is not None:
            raise InputError(f"{table.path}: line {empty}: empty language column {col!r}")
        return langs
    return settings.get("lang")


def predict_file(pred: Any, src: str | Path, dst: str | Path | None = None,
                 tag_scheme: str | None = None) -> tuple[Path, dict[str, Any]]:
    """Predict every row of `src` with Predictor `pred` and write `dst` (default: SRC-NAME.pred.EXT in the
    current directory, never beside a data file that may be read-only or shared):
    tables get the same rows and format with `prediction` and `score` columns added; CoNLL files get a
    predicted-tag column (in `tag_scheme`; None: the training file's); SQuAD JSON gives {question id: answer}.
    Returns (dst, report) where the report counts rows, skipped rows and, when the file is labelled, the task
    metrics."""
    src = Path(src)
    s = pred.settings
    dst = Path(dst) if dst is not None else Path(src.stem + ".pred" + src.suffix)
    if dst.resolve() == src.resolve():
        raise InputError(f"the output {dst} is the input file; choose another output path")
    scheme = pred.tag_scheme_for(tag_scheme) if pred.task == "ner" else None  # a bad scheme fails before any work
    if pred.task in ("ner", "qa"):
        data, _ = read_task_file(pred.task, src, labelled=False)
    else:
        table_cols = read_table(src, needed=[s.get("text_col"), s.get("text2_col")]).columns
        label_col = s.get("label_col") if s.get("label_col") in table_cols else None
        data, _ = read_task_file(pred.task, src, text_col=s.get("text_col"), text2_col=s.get("text2_col"),
                                 label_col=label_col, kind=s.get("kind", "single_label"),
                                 label_sep=s.get("label_sep", ","), labelled=False)
    langs = row_langs(data, s)  # XLM models only; a BiLSTMPredictor's settings name no language
    enc = pred.encode(data.inputs, data.pairs, gold=data.gold, **({"lang": langs} if langs is not None else {}))
    results = pred.decode(enc, progress=len(data.inputs) > 256)
    report: dict[str, Any] = {"rows": len(results), "skipped": data.skipped}
    if data.gold is not None:
        try:
            if pred.labels is not None and pred.task != "ner" and s.get("kind") != "regression":
                C.check_known(pred.labels, data.gold, data.lines, str(src), "the training data")
            report["metrics"] = pred.score(enc)
        except InputError as e:
            warn(f"no metrics: {e}")
            report["metrics_error"] = str(e)
    if pred.task == "qa":
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(json.dumps({e.qid: r["answer"] for e, r in zip(data.inputs, results)}, indent=1,
                                  ensure_ascii=False) + "\n", encoding="utf-8")
    elif pred.task == "ner":
        write_conll(data.source, [r["tags"] for r in pred.in_scheme(results, scheme)], dst)
    else:
        table: Table = data.source
        rows = []
        for k, r in zip(data.rows or [], results):
            row = dict(table.rows[k])
            row["prediction"] = r["label"] if "label" in r else r["score"]
            row["score"] = r["score"]
            rows.append(row)
        write_table(table, rows, dst, ["prediction", "score"])
    return dst, report


def split_dev(task: str, data: TaskData, fraction: float, seed: int) -> tuple[TaskData, TaskData]:
    """Hold out about `fraction` of a labelled training file as the dev set (ktrain's val_pct): rows at random
    (seeded), classes in proportion for single-label classification, and whole articles (SQuAD titles, else
    contexts) for qa, so that no context is both trained on and scored. A dev row whose label or tag the
    training part lacks goes back to training. Both parts keep the file's order."""
    import random

    if not 0.0 < fraction < 1.0:
        raise InputError(f"dev_split must be between 0 and 1 (a fraction of the training rows), got {fraction}")
    if data.gold is None:
        raise InputError("dev_split needs labelled training data")
    n = len(data.inputs)
    if task == "qa":
        groups: dict[Any, list[int]] = {}
        for i, e in enumerate(data.inputs):
            groups.setdefault(e.title or e.context, []).append(i)
        units = list(groups.values())
    else:
        units = [[i] for i in range(n)]
    rng = random.Random(seed)
    single = task in ("classify", "pair") and all(isinstance(g, str) for g in data.gold)
    strata: dict[Any, list[list[int]]] = {}
    for u in units:
        strata.setdefault(data.gold[u[0]] if single else None, []).append(u)
    held: set[int] = set()
    for key in sorted(strata, key=str):
        us = strata[key]
        rng.shuffle(us)
        for u in us[:round(fraction * len(us))]:
            held.update(u)

    def labels_of(i: int) -> set[str]:
        g = data.gold[i]
        if task in ("qa", "regress"):
            return set()
        return set(g) if isinstance(g, (list, tuple)) else {g}
    seen = set().union(*(labels_of(i) for i in range(n) if i not in held))
    held = {i for i in held if labels_of(i) <= seen}
    if not held or len(held) == n:
        raise InputError(f"dev_split={fraction} of {len(units)} {'articles' if task == 'qa' else 'rows'} leaves "
                         f"{'no dev rows' if not held else 'nothing to train on'}; give a dev file instead")

    def part(idx: list[int], skipped: int) -> TaskData:
        def pick(xs):
            return None if xs is None else [xs[i] for i in idx]
        return TaskData([data.inputs[i] for i in idx], pick(data.pairs), pick(data.gold),
                        [data.lines[i] for i in idx] if data.lines else [], data.source, pick(data.rows), skipped)
    return (part([i for i in range(n) if i not in held], data.skipped), part(sorted(held), 0))
