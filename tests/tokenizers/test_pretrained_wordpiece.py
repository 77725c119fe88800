"""The bundled MiniLM WordPiece vocabulary through bertkit vs Hugging Face transformers."""
from __future__ import annotations

import pytest

from bertkit.errors import BertkitError, CheckpointError, InputError

from .conftest import AWKWARD

PAIRS = [("what is the capital of france?", "paris is the capital and most populous city of france. " * 3),
         ("a much longer first sentence that goes on and on about nothing at all " * 2, "short one"),
         ("naïve café", "Héllo wörld 😀")]


def test_ids_match_transformers(minilm, hf_minilm):
    for text in AWKWARD:
        assert minilm.encode(text) == hf_minilm(text)["input_ids"], text
        assert minilm.tokenize(text) == hf_minilm.tokenize(text), text


def test_offsets_match_transformers(minilm, hf_minilm):
    ours = minilm(AWKWARD, return_offsets=True, truncation=False, padding=False)
    ref = hf_minilm(AWKWARD, return_offsets_mapping=True)
    for text, a, b in zip(AWKWARD, ours["offset_mapping"], ref["offset_mapping"]):
        assert a == [tuple(x) for x in b], text


@pytest.mark.parametrize("strategy", ["longest_first", "only_second"])
@pytest.mark.parametrize("max_length", [12, 17, 30])
def test_pair_truncation_matches_transformers(minilm, hf_minilm, strategy, max_length):
    firsts, seconds = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    if strategy == "only_second":  # HF refuses when the first text alone does not fit
        keep = [i for i, a in enumerate(firsts) if len(minilm.tokenize(a)) + 3 < max_length]
        firsts, seconds = [firsts[i] for i in keep], [seconds[i] for i in keep]
    ours = minilm(firsts, seconds, max_length=max_length, truncation=strategy, padding=False)
    ref = hf_minilm(firsts, seconds, max_length=max_length, truncation=strategy)
    assert ours["input_ids"] == ref["input_ids"]
    assert ours["token_type_ids"] == ref["token_type_ids"]
    assert ours.num_truncated == sum(len(r) == max_length for r in ref["input_ids"])


def test_sliding_windows_match_transformers(minilm, hf_minilm):
    q, ctx = ["who wrote it?", "where?"], ["the book was written by someone in a small town " * 6, "here"]
    kw = dict(max_length=24, truncation="only_second", stride=5, return_overflowing_tokens=True)
    ours = minilm(q, ctx, padding=False, return_offsets=True, **kw)
    ref = hf_minilm(q, ctx, return_offsets_mapping=True, **kw)
    assert ours["input_ids"] == ref["input_ids"]
    assert ours["overflow_to_sample_mapping"] == ref["overflow_to_sample_mapping"]
    assert ours["offset_mapping"] == [[tuple(x) for x in row] for row in ref["offset_mapping"]]


def test_single_truncation_padding_and_tensors(minilm, hf_minilm):
    texts = ["short", "a rather longer sentence with quite a few words in it"]
    ours = minilm(texts, max_length=8, return_tensors="pt")
    ref = hf_minilm(texts, max_length=8, truncation=True, padding=True, return_tensors="pt")
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        assert ours[key].tolist() == ref[key].tolist()
    assert ours.num_truncated == 1
    padded = minilm(texts, max_length=16, padding="max_length", return_tensors="np")
    assert padded["input_ids"].shape == (2, 16) and padded["attention_mask"][0].sum() == 3
    assert minilm(["x " * 600])["input_ids"][0].__len__() == 512  # model_max_length by default


def test_pair_type_ids_and_encode_pair(minilm, hf_minilm):
    a, b = PAIRS[2]
    assert minilm.encode(a, b) == hf_minilm(a, b)["input_ids"]
    assert minilm([a], [b])["token_type_ids"][0] == hf_minilm(a, b)["token_type_ids"]
    assert minilm.encode(a, add_special_tokens=False) == hf_minilm(a, add_special_tokens=False)["input_ids"]


def test_decode_matches_transformers(minilm, hf_minilm):
    for text in ["hello, world. don't stop-believing!!! (really?)", "Héllo wörld — naïve café", "a [MASK] b"]:
        ids = minilm.encode(text)
        assert minilm.decode(ids) == hf_minilm.decode(ids, skip_special_tokens=True)
        assert minilm.decode(ids, skip_special_tokens=False) == hf_minilm.decode(ids)
    assert minilm.decode(minilm.encode("the quick brown fox")) == "the quick brown fox"


def test_attributes(minilm, hf_minilm):
    assert minilm.vocab_size == hf_minilm.vocab_size == 30522
    for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id", "unk_token_id",
                 "mask_token", "model_max_length"):
        assert getattr(minilm, name) == getattr(hf_minilm, name), name
    assert sorted(minilm.all_special_ids) == sorted(hf_minilm.all_special_ids)
    assert minilm.get_vocab()["hello"] == 7592
    assert minilm.convert_tokens_to_ids(["hello", "nonexistenttoken"]) == [7592, 100]
    assert minilm.convert_ids_to_tokens([101, 7592]) == ["[CLS]", "hello"]


def test_save_pretrained_loads_in_transformers(minilm, tmp_path):
    from transformers import BertTokenizerFast

    from bertkit import Tokenizer

    minilm.save_pretrained(tmp_path)
    hf = BertTokenizerFast.from_pretrained(tmp_path)
    again = Tokenizer.from_pretrained(tmp_path)
    for text in AWKWARD[:12]:
        assert hf(text)["input_ids"] == minilm.encode(text) == again.encode(text)
    assert again.model_max_length == 512


def test_clear_errors(tmp_path, minilm):
    from bertkit import Tokenizer

    with pytest.raises(CheckpointError, match="no_such_dir"):
        Tokenizer.from_pretrained(tmp_path / "no_such_dir")
    with pytest.raises(CheckpointError, match="no tokenizer files"):
        Tokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("")
    with pytest.raises(BertkitError, match="vocab.txt"):
        Tokenizer.from_pretrained(tmp_path)
    with pytest.raises(InputError, match="truncation"):
        minilm(["x"], truncation="sideways")
    with pytest.raises(InputError, match="str"):
        minilm.encode(None)  # type: ignore[arg-type]
