"""Chapter 10's recipes on tiny data: KoBERT (SentencePiece layout of skt/kobert-base-v1 + BERT MLM), KoBART
(byte-level BPE with KoBART's specials + BART with text infilling only), and a tokenizer lacking the special
tokens a family needs refused in one line before any work."""
from __future__ import annotations

import pytest
import torch

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.train import train_bytebpe, train_tokenizer
from bertkit.training.pretrain import PretrainSpec, pretrain
from tests.hub.test_korean_layouts import korean_lines


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("ko") / "reviews.txt"
    path.write_text("\n".join(line for i, line in enumerate(korean_lines(200)) for line in (line, "")[: 2 - i % 2]))
    return path


@pytest.mark.filterwarnings("ignore:2 weights not in:UserWarning")  # the pooler: MLM pretraining trains none
def test_kobert_recipe_loads_in_transformers(corpus, tmp_path):
    pytest.importorskip("sentencepiece")
    transformers = pytest.importorskip("transformers")
    import bertkit

    train_tokenizer([corpus], "unigram", 120, layout="kobert").save_pretrained(tmp_path / "tok")
    pretrain(PretrainSpec(arch="bert", objective="mlm", size="tiny", tokenizer=str(tmp_path / "tok"),
                          corpus=[str(corpus)], max_length=32, batch_size=4, steps=2, out=str(tmp_path / "m"),
                          progress=False))
    folder = tmp_path / "m"
    assert (folder / "spiece.model").is_file()  # KoBERT's tokenizer layout travels with the model
    tok = Tokenizer.from_pretrained(folder)
    assert tok.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    ids = torch.tensor([tok.encode("이 영화 정말 재밌어요")])
    ref = transformers.BertModel.from_pretrained(folder).eval()
    ours = bertkit.hub.from_pretrained(folder, task="base")
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).last_hidden_state, ref(input_ids=ids).last_hidden_state,
                                   atol=1e-4, rtol=1e-4)


def test_kobart_layout_and_infill_only(corpus, tmp_path):
    tok = train_bytebpe(corpus.read_text().splitlines(), 400, layout="kobart")
    assert tok.convert_ids_to_tokens(list(range(7))) == ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]
    pieces = tok.tokenize("정말 😀 좋아ㅋㅋ")
    assert "😀" in pieces and "ㅋㅋ" in pieces  # emoji and emoticons whole, not bytes
    tok.save_pretrained(tmp_path / "tok")
    metrics = pretrain(PretrainSpec(arch="bart", noise="infill", size="tiny", tokenizer=str(tmp_path / "tok"),
                                    corpus=[str(corpus)], max_length=32, batch_size=4, steps=2,
                                    out=str(tmp_path / "m"), progress=False))
    assert metrics["step"] == 2
    import json

    assert json.loads((tmp_path / "m" / "config.json").read_text())["architectures"] == \
        ["BartForConditionalGeneration"]


def test_tokenizer_lacking_family_specials_is_one_line(corpus, tmp_path, capsys):
    gpt2 = tmp_path / "gpt2tok"  # <|endoftext|> only: no [CLS]/[SEP]/[MASK]/[PAD] for an encoder
    train_bytebpe(corpus.read_text().splitlines(), 300, layout="gpt2").save_pretrained(gpt2)
    out = tmp_path / "x"
    want = (f"the tokenizer {gpt2} lacks the special tokens bert pretraining needs: cls_token, sep_token, "
            "mask_token, pad_token (it has none)")
    with pytest.raises(InputError) as err:
        pretrain(PretrainSpec(arch="bert", tokenizer=str(gpt2), corpus=[str(corpus)], steps=1, out=str(out),
                              progress=False))
    assert str(err.value).startswith(want)
    kogpt2 = tmp_path / "kogpt2tok"  # has <mask> and <pad>, lacks a classifier token and a separator
    train_bytebpe(corpus.read_text().splitlines(), 400, layout="kogpt2").save_pretrained(kogpt2)
    rc = main(["pretrain", "--arch", "roberta", "--tokenizer", str(kogpt2), "--corpus", str(corpus), "--steps", "1",
               "--out", str(out), "--no-progress"])
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err_lines) == 1, err_lines
    assert ("lacks the special tokens roberta pretraining needs: cls_token, sep_token "
            "(it has mask_token=<mask>, pad_token=<pad>)") in err_lines[0]
    assert not out.exists()  # refused before any work
