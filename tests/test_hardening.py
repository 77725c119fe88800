"""Damaged inputs a user can hand in: a config.json with wrong types, truncated or corrupt weights, a vocabulary that
lists a token twice: each a one-line error naming the file and the value, before any model is built."""
from __future__ import annotations

import json
import shutil

import pytest

import bertkit
from bertkit.cli.main import main
from bertkit.errors import CheckpointError, InputError


@pytest.fixture()
def copy(minilm_path, tmp_path):
    d = tmp_path / "m"
    shutil.copytree(minilm_path, d)
    return d


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("hidden_size", "384", "hidden_size must be a positive integer, got '384' (str)"),
    ("num_hidden_layers", 0, "num_hidden_layers must be a positive integer, got 0"),
    ("num_attention_heads", 12.0, "num_attention_heads must be a positive integer, got 12.0 (float)"),
    ("vocab_size", True, "vocab_size must be a positive integer, got True"),
    ("layer_norm_eps", "tiny", "layer_norm_eps must be a number >= 0, got 'tiny'"),
    ("type_vocab_size", -1, "type_vocab_size must be an integer >= 0, got -1"),
    ("id2label", ["a", "b"], "id2label must be an object"),
    ("id2label", {"x": "a"}, "id2label keys must be integer ids"),
])
def test_config_with_wrong_types(copy, key, value, message):
    _edit_config(copy, **{key: value})
    with pytest.raises(CheckpointError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bertkit.from_pretrained(copy)


def test_truncated_and_corrupt_weights_and_the_cli_line(copy, capsys):
    w = copy / "model.safetensors"
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 3])
    with pytest.raises(CheckpointError, match="corrupt or truncated weights file"):
        bertkit.from_pretrained(copy)
    w.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt or truncated weights file"):
        bertkit.from_pretrained(copy)
    capsys.readouterr()
    assert main(["embed", "--model", str(copy), "-i", str(copy / "vocab.txt"), "-o", str(copy / "o.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt or truncated weights file" in err[0]


def test_vocabularies_that_list_a_token_twice(copy, tmp_path):
    lines = (copy / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (copy / "vocab.txt").write_text("\n".join(lines + ["the"]) + "\n", encoding="utf-8")
    n = len(lines) + 1
    with pytest.raises(InputError, match=f"token 'the' is on line {lines.index('the') + 1} and again on line {n}"):
        bertkit.Tokenizer.from_pretrained(copy)
    from bertkit.tokenizers.bytelevel import read_vocab_json

    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "c": 1}))
    with pytest.raises(InputError, match="id 1 is given to both 'b' and 'c'"):
        read_vocab_json(str(tmp_path / "vocab.json"))
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="not a JSON object of token -> integer id"):
        read_vocab_json(str(tmp_path / "bad.json"))
