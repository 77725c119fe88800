"""`bertkit tokenizer extend`: [unused] slots take the characters a corpus needs; transformers agrees."""
from __future__ import annotations

import pytest

from bertkit.cli.main import main
from bertkit.errors import InputError

from .conftest import AWKWARD

KOREAN = ["역시 곤은 사기 캐릭ㅋㅋ", "너무 슬펐어요 ㅠㅠ 다시 봤어요", "꼈다 뺐다 했어 ㅋㅋㅋ 최고",
          "별로였음 ㅡㅡ 돈 아깝다", "재밌었어요!! ♡", "쓰레기...뭐지이건"] * 3


def test_extend_minilm_fills_the_missing_characters(minilm_path, minilm, tmp_path):
    import torch
    from transformers import BertTokenizer, BertTokenizerFast

    import bertkit
    from bertkit.tokenizers.extend import extend_checkpoint

    before = [minilm.encode(t) for t in KOREAN]
    assert any(minilm.unk_token_id in ids for ids in before)  # ㅋ, ㅠ and ᆻ (final ss) are not in MiniLM
    report = extend_checkpoint(minilm_path, KOREAN, tmp_path / "ext", min_count=1)
    assert report.slots == 994 and report.unknown_before > 0.05 and report.unknown_after == 0.0
    pieces = [p for _, p, _ in report.added]
    assert "##ㅋ" in pieces and "ㅠ" in pieces and "##ᆻ" in pieces and "♡" in pieces
    counts = [n for _, _, n in report.added]
    assert counts == sorted(counts, reverse=True)  # most frequent first
    assert all(minilm.convert_ids_to_tokens(i).startswith("[unused") for i, _, _ in report.added)

    ext = bertkit.Tokenizer.from_pretrained(tmp_path / "ext")
    assert ext.vocab_size == minilm.vocab_size
    fast = BertTokenizerFast.from_pretrained(tmp_path / "ext")  # reads the rewritten tokenizer.json
    slow = BertTokenizer.from_pretrained(tmp_path / "ext")  # reads vocab.txt
    for text in KOREAN + AWKWARD[:12]:
        ids = ext.encode(text)
        assert ids == fast(text)["input_ids"] == slow(text)["input_ids"], text
        assert minilm.unk_token_id not in ids or text not in KOREAN
    for text in ["Hello, unaffable world!", "The quick brown fox jumps over the lazy dog."]:
        assert ext.encode(text) == minilm.encode(text)  # the rest of the vocabulary keeps its ids

    # the weights are copied unchanged and load with the new vocabulary
    a, b = bertkit.from_pretrained(minilm_path), bertkit.from_pretrained(tmp_path / "ext")
    ids = torch.tensor([minilm.encode("hello world")])
    assert torch.equal(a(ids).last_hidden_state, b(ids).last_hidden_state)


def test_min_count_and_running_out_of_slots(tmp_path):
    from bertkit import Tokenizer
    from bertkit.tokenizers.extend import extend_checkpoint, missing_pieces

    vocab = ["[PAD]", "[unused0]", "[unused1]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##a", "##b"]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    corpus = ["ab ax ax ax zb zb yy"]
    tok = Tokenizer.from_pretrained(tmp_path / "src")
    assert missing_pieces(tok, corpus) == [("##x", 3), ("z", 2), ("##y", 1), ("y", 1)]
    assert missing_pieces(tok, corpus, min_count=2) == [("##x", 3), ("z", 2)]
    assert "2 pieces used fewer" in extend_checkpoint(tmp_path / "src", corpus, tmp_path / "rare", 2).summary()
    report = extend_checkpoint(tmp_path / "src", corpus, tmp_path / "out")
    assert [(i, p) for i, p, _ in report.added] == [(1, "##x"), (2, "z")]
    assert report.left_out == [("##y", 1), ("y", 1)]
    assert "filled 2 of 2 unused slots" in report.summary() and "2 pieces left out" in report.summary()
    out = Tokenizer.from_pretrained(tmp_path / "out")
    assert out.convert_ids_to_tokens(out.encode("ax zb yy", add_special_tokens=False)) == \
        ["a", "##x", "z", "##b", "[UNK]"]


def test_extend_errors(tmp_path, roberta_dir, minilm_path, capsys):
    from bertkit.tokenizers.extend import extend_checkpoint

    with pytest.raises(InputError, match="only WordPiece"):
        extend_checkpoint(roberta_dir, ["some text"], tmp_path / "a")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\n", encoding="utf-8")
    with pytest.raises(InputError, match="no \\[unusedN\\] slots"):
        extend_checkpoint(tmp_path / "full", ["b"], tmp_path / "b")
    with pytest.raises(InputError, match="not empty"):
        extend_checkpoint(tmp_path / "full", ["b"], tmp_path)
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="not empty"):
        extend_checkpoint(tmp_path / "full", ["b"], tmp_path / "a_file")
    with pytest.raises(InputError, match="must be at least 1, got 0"):
        extend_checkpoint(tmp_path / "full", ["b"], tmp_path / "b", min_count=0)
    with pytest.raises(InputError, match="not the checkpoint itself"):
        extend_checkpoint(tmp_path / "full", ["b"], tmp_path / "full")
    with pytest.raises(InputError, match="not found"):
        extend_checkpoint(tmp_path / "nope", ["b"], tmp_path / "c")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(KOREAN) + "\n", encoding="utf-8")
    assert main(["tokenizer", "extend", str(tmp_path / "full"), "-i", str(corpus), "-o", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert "no [unusedN] slots" in err and len(err.splitlines()) == 1
    with pytest.raises(SystemExit) as e:  # refused while the command line is parsed
        main(["tokenizer", "extend", minilm_path, "-i", str(corpus), "-o", str(tmp_path / "e"), "--min-count", "0"])
    assert e.value.code == 2 and "argument --min-count: must be >= 1, got 0" in capsys.readouterr().err


def test_cli_extend_prints_the_unknown_rate(tmp_path, minilm_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(KOREAN) + "\n", encoding="utf-8")
    assert main(["tokenizer", "extend", minilm_path, "-i", str(corpus), "-o", str(tmp_path / "ext")]) == 0
    out = capsys.readouterr().out
    assert "of 994 unused slots" in out and "-> 0.00%" in out and "##ㅋ" in out
