"""CSV / TSV / JSONL tables in and out, with bad rows skipped, counted and reported (never silently).

    table = read_table("train.csv", needed=["review", "sentiment"])
    texts = table.column("review")

Header detection: a file has a header unless every column asked for is a number ("0", "2") that is not a
name in the first row; header-less columns are named "0", "1", ... (STS-B's CSVs have no header).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from bertkit.errors import InputError, warn
from bertkit.textio import iter_lines

FORMATS = ("csv", "tsv", "jsonl")
TAG_COLUMNS = re.compile(r"^(O|[BIES]-\S+)$")  # a BIO tag, as in CoNLL files


@dataclass
class Skipped:
    """Rows dropped while reading: (line number, reason), so the caller can report the count and examples."""

    items: list[tuple[int, str]] = field(default_factory=list)

    def add(self, line: int, reason: str) -> None:
        self.items.append((line, reason))

    def __len__(self) -> int:
        return len(self.items)

    def summary(self, what: str) -> str:
        head = "; ".join(f"line {n}: {r}" for n, r in self.items[:3])
        more = f" (and {len(self.items) - 3} more)" if len(self.items) > 3 else ""
        return f"{what}: skipped {len(self.items)} bad row(s): {head}{more}"

    def warn(self, what: str) -> None:
        if self.items:
            warn(self.summary(what))


@dataclass
class Table:
    """Rows of a file as dicts (column -> text), with their line numbers, the format and what was skipped."""

    path: Path
    fmt: str
    columns: list[str]
    rows: list[dict[str, Any]]
    lines: list[int]
    header: bool
    skipped: Skipped

    def require(self, *cols: str | None) -> None:
        """InputError naming every missing column and listing the available ones."""
        missing = [c for c in cols if c is not None and c not in self.columns]
        if missing:
            raise InputError(f"{self.path}: no column {', '.join(repr(m) for m in missing)}; available columns: "
                             f"{', '.join(self.columns)}")

    def column(self, name: str) -> list[Any]:
        self.require(name)
        return [r.get(name) for r in self.rows]


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt is not None:
        if fmt not in FORMATS:
            raise InputError(f"format must be one of {FORMATS}, got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}.get(suffix, "tsv" if
                                                                                                    suffix else "csv")


def _is_index(name: str | None) -> bool:
    return name is not None and str(name).isdigit()


def read_table(path: str | Path, needed: Sequence[str | None] = (), fmt: str | None = None,
               header: bool | None = None) -> Table:
    """Read a CSV (excel dialect, quoted fields), TSV (no quoting) or JSONL file.

    Rows with a wrong number of fields, blank lines and JSONL lines that are not objects are skipped and
    counted in `table.skipped` (and a warning says how many, with the first line numbers).
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    lines = list(iter_lines(path))
    skipped = Skipped()
    if fmt == "jsonl":
        rows, nums, cols = [], [], []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                skipped.add(n, "empty line")
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                skipped.add(n, f"not JSON ({e.msg})")
                continue
            if not isinstance(obj, dict):
                skipped.add(n, f"a JSON {type(obj).__name__}, expected an object")
                continue
            for k in obj:
                if k not in cols:
                    cols.append(k)
            rows.append(obj)
            nums.append(n)
        skipped.warn(str(path))
        return Table(path, fmt, cols, rows, nums, True, skipped)

    if fmt == "csv":
        records = list(csv.reader(io.StringIO("\n".join(lines) + "\n")))
        # csv joins quoted multi-line fields; line numbers then count records, which is what users see in editors
    else:
        records = [line.split("\t") for line in lines]
    first = next((r for r in records if any(x.strip() for x in r)), None)
    if first is None:
        raise InputError(f"{path} has no rows")
    if header is None:
        asked = [c for c in needed if c is not None]
        header = not (asked and all(_is_index(c) and c not in first for c in asked))
    start = records.index(first)
    cols = [c.strip() for c in first] if header else [str(i) for i in range(len(first))]
    if header and len(set(cols)) != len(cols):
        raise InputError(f"{path}: repeated column names in the header: {cols}")
    rows, nums = [], []
    for n, rec in enumerate(records, 1):
        if n - 1 < start or (header and n - 1 == start):
            continue
        if not any(x.strip() for x in rec):
            skipped.add(n, "empty line")
            continue
        if len(rec) != len(cols):
            skipped.add(n, f"{len(rec)} fields, expected {len(cols)}")
            continue
        rows.append(dict(zip(cols, rec)))
        nums.append(n)
    skipped.warn(str(path))
    return Table(path, fmt, cols, rows, nums, header, skipped)


def write_table(table: Table, rows: list[dict[str, Any]], path: str | Path, extra: Sequence[str]) -> Path:
    """Write `rows` (the table's rows with `extra` columns added) in the table's format and header style."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = list(table.columns) + [c for c in extra if c not in table.columns]
    tmp = path.with_name(path.name + ".partial")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        if table.fmt == "jsonl":
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        elif table.fmt == "csv":
            w = csv.writer(f, lineterminator="\n")
            if table.header:
                w.writerow(cols)
            for r in rows:
                w.writerow([_cell(r.get(c)) for c in cols])
        else:
            if table.header:
                f.write("\t".join(cols) + "\n")
            for r in rows:
                f.write("\t".join(_cell(r.get(c)).replace("\t", " ") for c in cols) + "\n")
    tmp.replace(path)
    return path


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)
