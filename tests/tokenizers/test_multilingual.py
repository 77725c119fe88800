"""Multilingual vocabularies: q_i ∝ p_i^alpha, the sampled stream, the stored languages and their check."""
from __future__ import annotations

import json

import pytest

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tokenizers.multilingual import (
    check_languages,
    parse_lang_files,
    sample_languages,
    smoothed_probs,
)


def test_smoothed_probs_against_hand_computed_values():
    q = smoothed_probs({"en": 900, "de": 90, "sw": 10}, 0.5)  # p = .9 .09 .01; sqrt: .948683 .3 .1
    z = 0.9 ** 0.5 + 0.09 ** 0.5 + 0.01 ** 0.5
    assert q == pytest.approx({"en": 0.948683 / z, "de": 0.3 / z, "sw": 0.1 / z}, abs=1e-6)
    assert q["sw"] == pytest.approx(0.0742, abs=1e-4)  # 1 % of the sentences, 7.4 % of the stream
    assert smoothed_probs({"a": 3, "b": 1}, 1.0) == pytest.approx({"a": 0.75, "b": 0.25})
    assert smoothed_probs({"a": 3, "b": 1}, 0.0) == pytest.approx({"a": 0.5, "b": 0.5})
    r = smoothed_probs({"a": 3, "b": 1}, 0.3)
    assert r["b"] == pytest.approx(0.25 ** 0.3 / (0.75 ** 0.3 + 0.25 ** 0.3))
    with pytest.raises(InputError, match=r"--alpha must be in \[0, 1\]"):
        smoothed_probs({"a": 1}, 1.5)


def test_sampled_counts_follow_q_and_the_seed():
    lines = {"en": [f"en {i}" for i in range(8000)], "de": [f"de {i}" for i in range(2000)]}
    s = sample_languages(lines, 0.5, seed=1)
    assert len(s.lines) == 10000 and s.sentences == {"en": 8000, "de": 2000}
    assert s.p == pytest.approx({"en": 0.8, "de": 0.2})
    assert s.q["de"] == pytest.approx(0.2 ** 0.5 / (0.8 ** 0.5 + 0.2 ** 0.5))  # 1/3
    assert abs(s.sampled["de"] / 10000 - 1 / 3) < 0.015  # binomial sd 0.0047: three sd
    assert sum(x.startswith("de") for x in s.lines) == s.sampled["de"]
    assert sample_languages(lines, 0.5, seed=1).lines == s.lines
    assert sample_languages(lines, 0.5, seed=2).lines != s.lines


def test_tokenizer_train_lang_files_prints_the_sampling_and_stores_languages(tmp_path, capsys):
    (tmp_path / "de.txt").write_text("der hund und die katze sitzen auf dem tisch\n" * 90)
    (tmp_path / "en.txt").write_text("the dog and the cat sit on the table\n" * 10)
    rc = main(["tokenizer", "train", "--algo", "wordpiece", "--vocab-size", "70", "--alpha", "0.5",
               "--lang-files", f"de={tmp_path / 'de.txt'},en={tmp_path / 'en.txt'}", "-o", str(tmp_path / "tok")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "alpha = 0.5" in out
    assert "  de            90   0.9000   0.7500" in out and "  en            10   0.1000   0.2500" in out
    assert json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())["languages"] == ["de", "en"]
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(tmp_path / "tok")
    tok.save_pretrained(tmp_path / "again")  # the languages survive a load and save (pretrain copies it)
    assert json.loads((tmp_path / "again" / "tokenizer_config.json").read_text())["languages"] == ["de", "en"]
    check_languages(tmp_path / "tok", ["en"])
    with pytest.raises(InputError) as e:
        check_languages(tmp_path / "tok", ["en", "fr"])
    assert str(e.value) == (f"the tokenizer {tmp_path / 'tok'} was trained for de, en, not fr; train one with "
                            "`bertkit tokenizer train --lang-files` over those languages")


def test_lang_files_errors():
    with pytest.raises(InputError, match="--lang-files takes LANG=FILE pairs separated by commas, got 'a.txt'"):
        parse_lang_files("de=x.txt,a.txt")
    with pytest.raises(InputError, match="--lang-files names language 'de' twice"):
        parse_lang_files("de=x.txt,de=y.txt")
