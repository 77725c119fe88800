"""Bad input to the trainers and arbitrary Unicode to every tokenizer: clear errors or correct output."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tokenizers.train import train_tokenizer

ALL = ["bpe", "bytebpe", "wordpiece", "unigram", "spbpe"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from .conftest import make_lines

    path = tmp_path_factory.mktemp("c") / "c.txt"
    path.write_text("\n".join(make_lines(300)), encoding="utf-8")
    sizes = {"bpe": 200, "bytebpe": 400, "wordpiece": 200, "unigram": 150, "spbpe": 150}
    return {algo: train_tokenizer([path], algo, sizes[algo]) for algo in ALL}


@pytest.mark.parametrize("algo", ALL)
def test_empty_corpus(tmp_path, algo):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n")
    with pytest.raises(InputError, match="empty"):
        train_tokenizer([path], algo, 100)


@pytest.mark.parametrize("algo", ALL)
def test_missing_corpus_file(tmp_path, algo):
    with pytest.raises(InputError, match="not found: .*nope.txt"):
        train_tokenizer([tmp_path / "nope.txt"], algo, 100)


@pytest.mark.parametrize("algo", ["bpe", "bytebpe", "wordpiece"])
def test_vocab_smaller_than_alphabet(tmp_path, algo):
    path = tmp_path / "c.txt"
    path.write_text("the quick brown fox jumps over the lazy dog\n")
    with pytest.raises(InputError, match="smaller than the .* initial symbols"):
        train_tokenizer([path], algo, 10)


def test_invalid_utf8(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good line one\ngood line two\nbad \xff\xfe bytes here\nthe end the end\n")
    for algo in ("bpe", "wordpiece", "unigram"):
        with pytest.raises(InputError, match=r"bad.txt, line 3: not valid UTF-8 \(byte 0xff\)"):
            train_tokenizer([path], algo, 100)
    tok = train_tokenizer([path], "bytebpe", 270, min_frequency=1)  # byte-level trains on the raw bytes
    assert tok.decode(tok.encode("bad bytes, the end")) == "bad bytes, the end"
    assert tok.model.merges  # type: ignore[attr-defined]


def test_one_hundred_thousand_character_word(tmp_path):
    word = ("abcdefghij" * 10_000)
    path = tmp_path / "long.txt"
    path.write_text(f"short words here\n{word}\nmore short words\n", encoding="utf-8")
    for algo in ("bpe", "bytebpe", "wordpiece"):
        tok = train_tokenizer([path], algo, 300, min_frequency=1)
        ids = tok.encode(word, add_special_tokens=False)
        if algo == "wordpiece":
            assert tok.convert_ids_to_tokens(ids) == ["[UNK]"]  # longer than 100 characters
        else:
            assert tok.decode(ids).replace(" ", "") == word
            assert len(ids) < len(word)


def test_cli_train_and_stats(tmp_path, corpus_file, capsys):
    out = tmp_path / "wp"
    assert main(["tokenizer", "train", "--algo", "wordpiece", "--vocab-size", "150", "--lowercase",
                 "-i", str(corpus_file), "-o", str(out)]) == 0
    assert (out / "vocab.txt").is_file()
    assert main(["tokenizer", "train", "--algo", "bpe", "--vocab-size", "150", "-i", str(corpus_file),
                 "-o", str(tmp_path / "bpe")]) == 0
    capsys.readouterr()
    assert main(["tokenizer", "stats", str(out), "-i", str(corpus_file),
                 "--against", str(tmp_path / "bpe")]) == 0
    printed = capsys.readouterr().out
    assert "tokens/word" in printed and "vocabulary overlap" in printed and "unknown-token rate" in printed
    assert main(["tokenizer", "train", "--algo", "bpe", "--vocab-size", "150", "-i", str(tmp_path / "x.txt"),
                 "-o", str(tmp_path / "o")]) == 2
    assert "x.txt" in capsys.readouterr().err
    # the book's ratio score gives a different vocabulary; --score is refused for other algorithms
    assert main(["tokenizer", "train", "--algo", "wordpiece", "--score", "ratio", "--vocab-size", "150",
                 "--lowercase", "-i", str(corpus_file), "-o", str(tmp_path / "wp_ratio")]) == 0
    assert (tmp_path / "wp_ratio" / "vocab.txt").read_text() != (out / "vocab.txt").read_text()
    assert main(["tokenizer", "train", "--algo", "bpe", "--score", "ratio", "--vocab-size", "150",
                 "-i", str(corpus_file), "-o", str(tmp_path / "o")]) == 2
    assert "wordpiece only" in capsys.readouterr().err


def test_stats_numbers(trained, minilm):
    from bertkit.tokenizers.stats import token_stats, vocab_overlap

    s = token_stats(minilm, ["hello world", "unaffable ☃"])
    # hello world | una ##ffa ##ble [UNK]
    assert (s.words, s.tokens, s.unknown) == (4, 6, 1)
    assert s.tokens_per_word == 1.5 and s.unknown_rate == pytest.approx(1 / 6)
    assert vocab_overlap(minilm, minilm) == 1.0
    o = vocab_overlap(trained["wordpiece"], trained["bpe"])
    assert 0.0 < o < 1.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60))
def test_arbitrary_unicode(trained, minilm, text):
    byte = trained["bytebpe"]
    if not any(special in text for special in byte.all_special_tokens):
        # a special token's text in the input ("<unk>") is that token, and decode drops it, as in HF tokenizers
        assert byte.decode(byte.encode(text)) == text
        assert byte.unk_token_id not in byte.encode(text)
    for algo in ALL:
        ids = trained[algo].encode(text)
        enc = trained[algo]([text], return_offsets=True)
        assert enc["input_ids"][0] == ids
        assert all(0 <= s <= e <= len(text) for s, e in enc["offset_mapping"][0])
    for tok in (trained["wordpiece"], minilm):
        vocab_ids = set(tok.get_vocab().values())
        assert all(i in vocab_ids for i in tok.encode(text))
