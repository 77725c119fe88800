"""Reading user text files: UTF-8 with the failing line named, one text per line."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from bertkit.errors import InputError


def iter_lines(path: str | Path) -> Iterator[str]:
    """Lines of a UTF-8 file without their line ending. A bad byte sequence raises InputError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    with path.open("rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{path}: line {n} is not valid UTF-8 (byte {e.start}: {raw[e.start:e.start + 4]!r})") from None
            if n == 1 and line.startswith("\ufeff"):
                line = line[1:]
            yield line.rstrip("\r\n")


def read_lines(path: str | Path) -> list[str]:
    return list(iter_lines(path))


def iter_records(path: str | Path, field: str | None = None):
    """(line number, record) for every JSON object of a JSON Lines file (blank lines skipped). A line that is not a
    JSON object, or (with `field`) lacks that string field, raises InputError naming the line."""
    import json

    for n, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: line {n} is not JSON ({e.msg})") from None
        if not isinstance(record, dict) or (field is not None and field not in record):
            have = ", ".join(map(repr, record)) if isinstance(record, dict) else type(record).__name__
            raise InputError(f"{path}: line {n} has no field {field!r} (it has {have})" if field is not None
                             else f"{path}: line {n} is not a JSON object (it is {have})")
        if field is not None and not isinstance(record[field], str):
            raise InputError(f"{path}: line {n}: field {field!r} is {type(record[field]).__name__}, not a string")
        yield n, record


def read_field(path: str | Path, field: str) -> list[str]:
    """The string `field` of every record of a JSON Lines file (blank lines skipped); errors as iter_records."""
    return [record[field] for _, record in iter_records(path, field)]
