"""CoNLL column files (one token per line, blank line between sentences) and BIO tag schemes."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from bertkit.errors import InputError
from bertkit.tasks.tables import TAG_COLUMNS as TAG_RE
from bertkit.textio import iter_lines


@dataclass
class Sentence:
    """Words of one sentence, their tags (None when the file has no tag column), the other columns and the
    line number of the first word (for messages)."""

    words: list[str]
    tags: list[str] | None
    columns: list[list[str]]
    line: int


def read_conll(path: str | Path, tagged: bool = True) -> list[Sentence]:
    """Sentences of a CoNLL file. With tagged=True the last column is the tag (e.g. CoNLL-2003's
    `TOKEN POS CHUNK NER`); with tagged=False a file of tokens only (or with extra columns) is accepted.

    `-DOCSTART-` lines are skipped. A line whose column count differs from the file's first token line, or
    whose tag is not O / B-X / I-X / E-X / S-X, raises InputError naming the line.
    """
    path = Path(path)
    sents: list[Sentence] = []
    words: list[str] = []
    rows: list[list[str]] = []
    width = None
    first_line = 0
    for n, line in enumerate(iter_lines(path), 1):
        fields = line.split()
        if not fields:
            if words:
                sents.append(_make(words, rows, tagged, first_line))
                words, rows = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if width is None:
            width = len(fields)
            if tagged and width < 2:
                raise InputError(f"{path}: line {n}: expected a token and a tag separated by whitespace, got "
                                 f"{line!r}")
        if len(fields) != width:
            raise InputError(f"{path}: line {n}: broken line, {len(fields)} column(s) where the file has {width}: "
                             f"{line!r}")
        if tagged and not TAG_RE.match(fields[-1]):
            raise InputError(f"{path}: line {n}: tag {fields[-1]!r} is not O, B-TYPE or I-TYPE")
        if not words:
            first_line = n
        words.append(fields[0])
        rows.append(fields)
    if words:
        sents.append(_make(words, rows, tagged, first_line))
    if not sents:
        raise InputError(f"{path} holds no sentences")
    return sents


def _make(words: list[str], rows: list[list[str]], tagged: bool, line: int) -> Sentence:
    return Sentence(list(words), [r[-1] for r in rows] if tagged else None, [list(r) for r in rows], line)


def write_conll(sents: Sequence[Sentence], predictions: Sequence[Sequence[str]], path: str | Path) -> Path:
    """The input's columns with the predicted tag added as a last column; sentences separated by blank lines."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for s, pred in zip(sents, predictions):
        out += [" ".join(cols + [p]) for cols, p in zip(s.columns, pred)]
        out.append("")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


TAG_SCHEMES = ("iob1", "iob2")


def tag_scheme(sentences: Sequence[Sequence[str]]) -> str:
    """"iob1" when some entity of the tag lists starts with I- (CoNLL-2003's IOB1), else "iob2" (every entity
    starts with B-; IOBES tags count as this too, as they are used unchanged)."""
    return "iob1" if any(iob1_to_iob2(tags) != list(tags) for tags in sentences) else "iob2"


def iob2_to_iob1(tags: Sequence[str]) -> list[str]:
    """IOB2 -> IOB1: an entity starts with I-, and with B- only right after an entity of the same type (the
    inverse of iob1_to_iob2 on IOB2 tags). Other tags (O, E-, S-) are unchanged."""
    out = []
    prev = "O"
    for t in tags:
        if t.startswith("B-") and not (prev[:2] in ("B-", "I-") and prev[2:] == t[2:]):
            out.append("I-" + t[2:])
        else:
            out.append(t)
        prev = t
    return out


def to_scheme(tags: Sequence[str], scheme: str) -> list[str]:
    """IOB2 tags (as bertkit predicts them) in `scheme`: "iob2" unchanged, "iob1" converted."""
    if scheme not in TAG_SCHEMES:
        raise InputError(f"tag scheme must be one of {', '.join(TAG_SCHEMES)}, got {scheme!r}")
    return iob2_to_iob1(tags) if scheme == "iob1" else list(tags)


def iob1_to_iob2(tags: Sequence[str]) -> list[str]:
    """IOB1 (an entity starts with I-, B- only between two adjacent entities of one type) -> IOB2 (every
    entity starts with B-). IOB2 input comes back unchanged, so it is safe to apply to either scheme."""
    out = []
    prev = "O"
    for t in tags:
        if t.startswith("I-") and (prev == "O" or prev[2:] != t[2:]):
            t = "B-" + t[2:]
        out.append(t)
        prev = t
    return out
