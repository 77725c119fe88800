"""WordPiece, byte-level BPE and SentencePiece training: HF loads what bertkit writes, same ids."""
from __future__ import annotations

import pytest

from bertkit.errors import InputError
from bertkit.tokenizers.train import learn_wordpiece, train_tokenizer

from .conftest import make_lines

HELD_OUT = make_lines(40, seed=11) + ["Unseen wörds ☃ here!", "[MASK] and [CLS] tokens", "emoji 😀 tab\tend"]


def test_wordpiece_ratio_score_is_the_books_formula():
    # counts: a=7, b=5, c=2 (as units); pairs: (a,##b)=5, (a,##c)=2 -> scores 5/(7*5)=0.143, 2/(7*2)=0.143;
    # tie -> alphabetical ("a", "##b") < ("a", "##c"); then "##b"/"##c" pieces shrink.
    vocab, merges = learn_wordpiece({"ab": 5, "ac": 2}, 6, score="ratio")
    assert vocab[:3] == ["##b", "##c", "a"]
    assert merges[0] == ("a", "##b")
    # a rare pair of rare units beats a frequent pair of frequent units
    _, merges = learn_wordpiece({"xy": 2, "ab": 50, "ba": 50}, 7, score="ratio")
    assert merges[0] == ("x", "##y")


def test_wordpiece_gain_score_weights_the_ratio_by_count():
    # N = 204 units. gain(x,##y) = 2*log(2*204/(2*2)) = 9.2; gain(a,##b) = 50*log(50*204/(50*50)) = 70.3
    _, merges = learn_wordpiece({"xy": 2, "ab": 50, "ba": 50}, 7, score="gain")
    assert merges[0] == ("a", "##b")
    with pytest.raises(InputError, match="'count'"):
        learn_wordpiece({"ab": 1}, 10, score="count")


def test_wordpiece_folder_loads_in_transformers(tmp_path, corpus_file):
    from transformers import BertTokenizerFast

    from bertkit import Tokenizer

    tok = train_tokenizer([corpus_file], "wordpiece", 250, lowercase=True)
    tok.save_pretrained(tmp_path)
    assert (tmp_path / "vocab.txt").read_text(encoding="utf-8").split("\n")[:5] == \
        ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    ours, ref = Tokenizer.from_pretrained(tmp_path), BertTokenizerFast.from_pretrained(tmp_path)
    for text in HELD_OUT:
        assert ours.encode(text) == tok.encode(text) == ref(text)["input_ids"], text
        assert all(i < ours.vocab_size for i in ours.encode(text))
    assert any(t.startswith("##") for t in ours.get_vocab())


def test_bytebpe_folder_loads_in_transformers(tmp_path, corpus_file):
    from transformers import GPT2TokenizerFast, RobertaTokenizerFast

    from bertkit import Tokenizer

    tok = train_tokenizer([corpus_file], "bytebpe", 400)
    tok.save_pretrained(tmp_path)
    ours = Tokenizer.from_pretrained(tmp_path)
    roberta = RobertaTokenizerFast.from_pretrained(tmp_path)
    gpt2 = GPT2TokenizerFast.from_pretrained(tmp_path)
    for text in HELD_OUT:
        ids = ours.encode(text)
        assert ids == tok.encode(text) == roberta(text)["input_ids"], text
        assert ours.encode(text, add_special_tokens=False) == gpt2(text)["input_ids"], text
        if "[" not in text:
            assert ours.decode(ids) == text
    assert ours.unk_token_id not in ours.encode("anything ☃ 😀 \x00 at all")


@pytest.mark.parametrize("algo", ["unigram", "spbpe"])
def test_sentencepiece_train_and_load(tmp_path, corpus_file, algo):
    import sentencepiece as spm

    from bertkit import Tokenizer

    tok = train_tokenizer([corpus_file], algo, 180)
    tok.save_pretrained(tmp_path)
    ours = Tokenizer.from_pretrained(tmp_path)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    assert sp.get_piece_size() == ours.vocab_size <= 180
    roles = (ours.pad_token_id, ours.unk_token_id, ours.cls_token_id, ours.sep_token_id, ours.mask_token_id)
    assert roles == (0, 1, 2, 3, 4)
    for text in HELD_OUT[:20]:
        ids = ours.encode(text)
        assert ids == [2] + sp.encode(text) + [3]
        assert ours.decode(ids) == sp.decode(sp.encode(text))
    enc = ours(["the movie", "정말 재밌어요"], ["was great", "최고"], padding=False)
    assert enc["token_type_ids"][0][-1] == 1 and enc["input_ids"][1][0] == 2
    single = ours(["the movie", "정말 재밌어요"], return_offsets=True)
    for text, row in zip(["the movie", "정말 재밌어요"], single["offset_mapping"]):
        pieces = [text[s:e] for s, e in row if e > s]
        assert "".join(pieces).replace(" ", "") == text.replace(" ", "")
    # a .model file given directly also loads
    assert Tokenizer.from_pretrained(tmp_path / "spm.model").encode("the movie") == ours.encode("the movie")
