"""Byte-level BPE (RoBERTa / GPT-2 layout) through bertkit vs Hugging Face transformers."""
from __future__ import annotations

import pytest

from .conftest import AWKWARD

TEXTS = AWKWARD + ["the world", " the  world <mask> x<mask>y", "héllo 😀 wörld\n\n end  ", "  <mask>  a",
                   "théâtre   the\tweather", "it's 2024's 've\r\n done"]


@pytest.fixture(scope="module")
def hf_roberta(roberta_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(roberta_dir)


@pytest.fixture(scope="module")
def roberta(roberta_dir):
    from bertkit import Tokenizer

    return Tokenizer.from_pretrained(roberta_dir)


def test_ids_and_offsets_match_transformers(roberta, hf_roberta):
    ours = roberta(TEXTS, truncation=False, padding=False, return_offsets=True)
    ref = hf_roberta(TEXTS, return_offsets_mapping=True)
    for i, text in enumerate(TEXTS):
        assert roberta.encode(text) == hf_roberta(text)["input_ids"], text
        assert ours["input_ids"][i] == ref["input_ids"][i], text
        assert ours["offset_mapping"][i] == [tuple(x) for x in ref["offset_mapping"][i]], text


def test_pairs_truncation_and_special_ids(roberta, hf_roberta):
    a, b = ["the world is wide", "x"], ["a world of words " * 4, "the end"]
    for strategy in ("longest_first", "only_second"):
        ours = roberta(a, b, max_length=30, truncation=strategy, padding=False)
        ref = hf_roberta(a, b, max_length=30, truncation=strategy)
        assert ours["input_ids"] == ref["input_ids"]
    assert roberta.encode("the", "world") == hf_roberta("the", "world")["input_ids"]
    for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id", "unk_token_id",
                 "model_max_length"):
        assert getattr(roberta, name) == getattr(hf_roberta, name), name


def test_decode_round_trip(roberta, hf_roberta):
    for text in TEXTS:
        ids = roberta.encode(text)
        assert roberta.decode(ids) == hf_roberta.decode(ids, skip_special_tokens=True)
        if "<mask>" not in text:
            assert roberta.decode(ids) == text
        assert roberta.decode(ids, skip_special_tokens=False) == hf_roberta.decode(ids)


def test_gpt2_layout_has_no_special_tokens(roberta_dir, tmp_path):
    import json
    import shutil

    from transformers import GPT2TokenizerFast

    from bertkit import Tokenizer

    for name in ("vocab.json", "merges.txt"):
        shutil.copy(roberta_dir / name, tmp_path / name)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "GPT2Tokenizer"}))
    ours, ref = Tokenizer.from_pretrained(tmp_path), GPT2TokenizerFast.from_pretrained(tmp_path)
    for text in TEXTS[:10]:
        assert ours.encode(text) == ref(text)["input_ids"], text
    assert ours.encode("the", "world") == ref("the", "world")["input_ids"]


def test_folder_saved_by_transformers_and_by_bertkit(roberta, hf_roberta, tmp_path):
    """transformers v5 saves only tokenizer.json; bertkit saves vocab.json + merges.txt.
    Both load both ways."""
    from transformers import AutoTokenizer, RobertaTokenizerFast

    from bertkit import Tokenizer

    hf_roberta.save_pretrained(tmp_path / "hf")
    from_hf = Tokenizer.from_pretrained(tmp_path / "hf")
    roberta.save_pretrained(tmp_path / "ours")
    assert (tmp_path / "ours" / "merges.txt").is_file()
    back = RobertaTokenizerFast.from_pretrained(tmp_path / "ours")
    auto = AutoTokenizer.from_pretrained(tmp_path / "ours")
    for text in TEXTS:
        ref = hf_roberta(text)["input_ids"]
        assert from_hf.encode(text) == ref == back(text)["input_ids"] == auto(text)["input_ids"], text
