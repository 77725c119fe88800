"""Helpers for the tokenizer benchmarks: reading the data sets, HF `tokenizers` trainers with our settings."""
from __future__ import annotations

import csv
from pathlib import Path


def read_lines(path: str | Path) -> list[str]:
    """Text lines of a plain file, or the `document` column of an NSMC-style TSV."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        if path.suffix == ".txt" and f.readline().startswith("id\tdocument\tlabel"):
            return [row["document"] for row in csv.DictReader(f, fieldnames=["id", "document", "label"],
                                                               delimiter="\t", quoting=csv.QUOTE_NONE)
                    if row["document"]]
    return [line.rstrip("\n") for line in open(path, encoding="utf-8") if line.strip()]


def hf_train(algo: str, files: list[str], vocab_size: int, lowercase: bool, min_frequency: int):
    """Train Hugging Face `tokenizers` with the settings bertkit uses for `algo`."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    bert_special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    bert_norm = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    if algo == "bpe":
        tok = Tokenizer(models.BPE(unk_token="[UNK]", end_of_word_suffix="</w>"))
        tok.normalizer, tok.pre_tokenizer = bert_norm, pre_tokenizers.BertPreTokenizer()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=bert_special, end_of_word_suffix="</w>",
                                      show_progress=False)
    elif algo == "wordpiece":
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer, tok.pre_tokenizer = bert_norm, pre_tokenizers.BertPreTokenizer()
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=bert_special, show_progress=False)
    elif algo == "bytebpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                      special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      show_progress=False)
    elif algo == "unigram":
        tok = Tokenizer(models.Unigram())
        # sentencepiece's nmt_nfkc rule also collapses runs of whitespace and trims
        # (remove_extra_whitespaces); without this, every extra space of indented text becomes its own "▁"
        # token on the HF side
        seq = [normalizers.NFKC(), normalizers.Replace(Regex(r"\s+"), " "), normalizers.Strip()]
        seq += [normalizers.Lowercase()] if lowercase else []
        tok.normalizer = normalizers.Sequence(seq)
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=bert_special,
                                          unk_token="[UNK]", show_progress=False)
    else:
        raise ValueError(algo)
    tok.train(files, trainer)
    return tok
