"""XLM-R style folders (sentencepiece.bpe.model, fairseq id layout): same ids as the sentencepiece library
shifted by hand, and as transformers' XLMRobertaTokenizer loaded from the same folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertkit.errors import CheckpointError

from .conftest import AWKWARD, make_lines

EXTRA = ["hello <mask> world", "x<mask>y", "  <mask>  ", "``quoted'' text", "<s>x</s>", "<pad><unk> a",
         "Ελληνικά και русский", "☃☃ snow", "정말 재밌어요 ㅋㅋ", "1,000.5 km/h", "tab\tsep\r\nline"]
# Where transformers' Precompiled normalizer departs from the sentencepiece library the model was trained
# with: it treats U+0085 as whitespace and drops a second combining mark. bertkit follows the library.
HF_NORMALIZER_DIFFERS = {"\x85a\x1cb\x0bc", "e\u0301\u0301"}


@pytest.fixture(scope="module")
def spm_model(tmp_path_factory) -> Path:
    """A tiny unigram model with XLM-R's piece layout: <unk>=0 <s>=1 </s>=2 (sentencepiece's defaults)."""
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("spm")
    text = folder / "train.txt"
    text.write_text("\n".join(make_lines(400, seed=3) + ["Ελληνικά και русский текст"] * 3) + "\n",
                    encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "m"), vocab_size=200,
                                   model_type="unigram", character_coverage=0.9995, minloglevel=2,
                                   num_threads=1)
    return folder / "m.model"


@pytest.fixture(scope="module")
def xlmr_dir(spm_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("xlmr")
    (folder / "sentencepiece.bpe.model").write_bytes(spm_model.read_bytes())
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLMRobertaTokenizer",
                                                              "model_max_length": 512}))
    return folder


def _fairseq(ids: list[int]) -> list[int]:
    return [i + 1 if i else 3 for i in ids]


def test_fairseq_layout_against_sentencepiece(xlmr_dir, spm_model):
    import sentencepiece as spm

    from bertkit import Tokenizer

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    tok = Tokenizer.from_pretrained(xlmr_dir)
    assert tok.vocab_size == sp.get_piece_size() + 2
    assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id) == \
        (0, 1, 2, 3, sp.get_piece_size() + 1)
    assert tok.convert_ids_to_tokens([4, 5]) == [sp.id_to_piece(3), sp.id_to_piece(4)]
    for text in ["the movie was great", "☃ unknown", "정말 재밌어요"]:
        assert tok.encode(text) == [0] + _fairseq(sp.encode(text)) + [2]
        pair = [0] + _fairseq(sp.encode(text)) + [2, 2] + _fairseq(sp.encode("b")) + [2]
        assert tok.encode(text, "b") == pair
    assert tok.encode("a <mask> b", add_special_tokens=False) == \
        _fairseq(sp.encode("a")) + [tok.mask_token_id] + _fairseq(sp.encode("b"))
    enc = tok(["the movie", "a"], ["was great", "b"], return_offsets=True)
    assert set(enc["token_type_ids"][0]) == {0}
    assert tok.decode(tok.encode("the movie was great")) == "the movie was great"
    # the folder written back is an XLM-R folder again
    out = xlmr_dir.parent / "xlmr_saved"
    tok.save_pretrained(out)
    assert (out / "sentencepiece.bpe.model").is_file()
    assert Tokenizer.from_pretrained(out).encode("the movie ☃") == tok.encode("the movie ☃")


def test_plain_spm_folder_keeps_its_own_ids(spm_model, tmp_path):
    import sentencepiece as spm

    from bertkit import Tokenizer

    (tmp_path / "spiece.model").write_bytes(spm_model.read_bytes())
    tok = Tokenizer.from_pretrained(tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    assert tok.encode("the movie", add_special_tokens=False) == sp.encode("the movie")


def test_fairseq_layout_needs_unk_bos_eos_first(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    text = tmp_path / "t.txt"
    text.write_text("\n".join(make_lines(100)) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(tmp_path / "m"), vocab_size=80, pad_id=0,
                                   unk_id=1, bos_id=2, eos_id=3, minloglevel=2, num_threads=1)
    (tmp_path / "sentencepiece.bpe.model").write_bytes((tmp_path / "m.model").read_bytes())
    (tmp_path / "m.model").unlink()
    from bertkit import Tokenizer

    with pytest.raises(CheckpointError, match="<unk>=0 <s>=1 </s>=2"):
        Tokenizer.from_pretrained(tmp_path)


def test_xlmr_matches_transformers(xlmr_dir):
    pytest.importorskip("google.protobuf", reason="transformers reads .model files with protobuf")
    import transformers

    from bertkit import Tokenizer

    ours = Tokenizer.from_pretrained(xlmr_dir)
    refs = [transformers.XLMRobertaTokenizer.from_pretrained(xlmr_dir)]
    if hasattr(transformers, "XLMRobertaTokenizerFast"):
        refs.append(transformers.XLMRobertaTokenizerFast.from_pretrained(xlmr_dir))
    for ref in refs:
        assert len(ref) == ours.vocab_size
        assert ref.mask_token_id == ours.mask_token_id
        for text in [t for t in AWKWARD + EXTRA if t not in HF_NORMALIZER_DIFFERS]:
            assert ours.encode(text) == ref(text)["input_ids"], text
            assert ours.encode(text, "second part") == ref(text, "second part")["input_ids"], text


@pytest.fixture(scope="module")
def albert_dir(tmp_path_factory) -> Path:
    """spiece.model with ALBERT's layout: <pad>=0 <unk>=1 [CLS]=2 [SEP]=3 [MASK]=4."""
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("albert")
    text = folder / "train.txt"
    text.write_text("\n".join(make_lines(400, seed=5)) + "\n", encoding="utf-8")
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "m"), vocab_size=130,
                                   model_type="unigram", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
                                   control_symbols=["[CLS]", "[SEP]", "[MASK]"], minloglevel=2, num_threads=1,
                                   normalization_rule_name="nmt_nfkc_cf")
    (folder / "m.model").rename(folder / "spiece.model")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "AlbertTokenizer"}))
    return folder


def test_albert_preparation_and_layout(albert_dir):
    import sentencepiece as spm

    from bertkit import Tokenizer

    sp = spm.SentencePieceProcessor(model_file=str(albert_dir / "spiece.model"))
    tok = Tokenizer.from_pretrained(albert_dir)
    assert (tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id) == \
        (0, 1, 2, 3, 4)
    # ALBERT lowercases, strips accents and turns `` '' into " before SentencePiece sees the text
    assert tok.encode("Naïve CAFÉ ``x''", add_special_tokens=False) == sp.encode('naive cafe "x"')
    assert tok(["Naïve"], ["b"])["token_type_ids"][0][-2:] == [1, 1]
    text = "Naïve ``CAFÉ''"
    enc = tok([text], return_offsets=True)
    pieces = [text[s:e] for s, e in enc["offset_mapping"][0] if e > s]
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


# transformers' Precompiled normalizer again departs from the sentencepiece library (U+0085; Hangul,
# which ALBERT's NFKD step turns into jamo that the two then handle differently).
ALBERT_DIFFERS = HF_NORMALIZER_DIFFERS | {"한국어 모델을 공유합니다.", "정말 재밌어요 ㅋㅋ"}


def test_albert_matches_transformers(albert_dir):
    pytest.importorskip("google.protobuf", reason="transformers reads .model files with protobuf")
    from transformers import AlbertTokenizer

    from bertkit import Tokenizer

    ours, ref = Tokenizer.from_pretrained(albert_dir), AlbertTokenizer.from_pretrained(albert_dir)
    assert len(ref) == ours.vocab_size
    for text in [t for t in AWKWARD + EXTRA if t not in ALBERT_DIFFERS] + ["a [MASK] b", "ÀÉÎ ÕÜ"]:
        assert ours.encode(text) == ref(text)["input_ids"], text
        assert ours.encode(text, "second part") == ref(text, "second part")["input_ids"], text
