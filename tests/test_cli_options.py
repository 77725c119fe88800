"""Numeric command-line options are checked while the command line is parsed: argparse's one error line, exit 2."""
from __future__ import annotations

import argparse

import pytest

from bertkit.cli import options as O
from bertkit.cli.main import build_parser, main


def _parse_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main(list(argv))
    assert e.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_negative_batch_sizes_are_refused_before_any_work(capsys, tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("a line\n", encoding="utf-8")
    err = _parse_error(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"), "--batch-size", "-4")
    assert err == "bertkit embed: error: argument --batch-size: must be >= 1, got -4"
    assert not (tmp_path / "v.npy").exists()
    err = _parse_error(capsys, "finetune", "classify", "--train", str(src), "--out", str(tmp_path / "o"),
                       "--batch-size", "-1")
    assert err == "bertkit finetune: error: argument --batch-size: must be >= 1, got -1"
    err = _parse_error(capsys, "finetune", "sbert", "--train", str(src), "--objective", "mnrl", "--out",
                       str(tmp_path / "o"), "--batch-size", "0")
    assert err == "bertkit finetune-sbert: error: argument --batch-size: must be >= 1, got 0"


@pytest.mark.parametrize("argv, message", [
    (["serve", "--port", "70000"], "argument --port: must be in [0, 65535], got 70000"),
    (["serve", "--max-wait-ms", "-1"], "argument --max-wait-ms: must be >= 0, got -1"),
    (["pretrain", "--arch", "bert", "--tokenizer", "t", "--corpus", "c", "--out", "o", "--steps", "10",
      "--mask-prob", "1.5"], "argument --mask-prob: must be in (0, 1), got 1.5"),
    (["pretrain", "--arch", "bert", "--tokenizer", "t", "--corpus", "c", "--out", "o", "--steps", "0"],
     "argument --steps: must be >= 1, got 0"),
    (["pretrain", "--arch", "bart", "--tokenizer", "t", "--corpus", "c", "--out", "o", "--steps", "10",
      "--noise-ratio", "0"], "argument --noise-ratio: must be in (0, 1), got 0"),
    (["pretrain", "--arch", "bart", "--tokenizer", "t", "--corpus", "c", "--out", "o", "--steps", "10",
      "--poisson-lambda", "-3"], "argument --poisson-lambda: must be > 0, got -3"),
    (["finetune", "classify", "--train", "t", "--out", "o", "--lr", "0"], "argument --lr: must be > 0, got 0"),
    (["finetune", "classify", "--train", "t", "--out", "o", "--dev-split", "1"],
     "argument --dev-split: must be in (0, 1), got 1"),
    (["finetune", "classify", "--train", "t", "--out", "o", "--epochs", "nan"],
     "argument --epochs: expected a finite number, got 'nan'"),
    (["search", "idx", "q", "-k", "two"], "argument -k: expected an integer, got 'two'"),
    (["evaluate", "retrieval", "--queries", "q", "--corpus", "c", "-k", "1,0"], "argument -k: must be >= 1, got 0"),
    (["embed", "-i", "x", "-o", "y.npy", "--layers", "-1,x"],
     "argument --layers: takes integers like -1 or -4,-3,-2,-1, got '-1,x'"),
    (["tokenizer", "train", "--algo", "bpe", "--vocab-size", "-3", "-i", "x", "-o", "y"],
     "argument --vocab-size: must be >= 1, got -3"),
])
def test_each_kind_of_bad_number_names_the_option_and_the_rule(capsys, argv, message):
    assert _parse_error(capsys, *argv).endswith(message)


def _actions(parser: argparse.ArgumentParser, path: str = "bertkit"):
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            for name, sub in a.choices.items():
                yield from _actions(sub, f"{path} {name}")
        else:
            yield path, a


def test_no_numeric_option_takes_a_bare_int_or_float():
    """Every number on the command line goes through a checking type (bertkit/cli/options.py)."""
    bare = [f"{path} {a.option_strings}" for path, a in _actions(build_parser()) if a.type in (int, float)]
    assert bare == []


def test_helpers():
    assert O.positive_int("3") == 3 and O.non_negative_int("0") == 0 and O.decay("1") == 1.0
    assert O.unit_float("0") == 0.0 and O.port("0") == 0 and O.int_list()("-4,-3") == [-4, -3]
    for fn, text in [(O.positive_int, "0"), (O.positive_int, "1.5"), (O.fraction, "0"), (O.decay, "0"),
                     (O.positive_float, "inf"), (O.non_negative_float, "-0.1"), (O.int_list(), ",")]:
        with pytest.raises(argparse.ArgumentTypeError):
            fn(text)


def test_the_library_checks_its_own_batch_size(tmp_path):
    """Python callers get the same rule from bertkit.finetune, before any file is read."""
    import bertkit
    from bertkit.errors import InputError

    with pytest.raises(InputError, match="batch_size must be >= 1, got -1"):
        bertkit.finetune("classify", train=tmp_path / "not-read.csv", batch_size=-1)
