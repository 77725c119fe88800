"""`bertkit tokenize` prints tokens and ids; bad folders give one-line errors."""
from __future__ import annotations

from bertkit.cli.main import main


def test_tokenize_default_model(capsys, minilm_path):
    assert main(["tokenize", "Hello, unaffable world!"]) == 0
    out = capsys.readouterr().out
    assert "[CLS] hello , una ##ffa ##ble world ! [SEP]" in out
    assert "101 7592 1010 14477" in out


def test_tokenize_missing_folder(capsys, tmp_path):
    assert main(["tokenize", "--model", str(tmp_path / "nope"), "x"]) == 2
    assert "nope" in capsys.readouterr().err
