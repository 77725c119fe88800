"""Character-level BPE (Sennrich et al.) with an end-of-word suffix, on BERT's normalization and word split.

End of word: the last character of every word carries the suffix `</w>` (so `c` inside a word and `c`
ending a word are different units, and decoding knows where spaces go). A folder is saved as an HF
`tokenizer.json` (model type BPE, written by hand) that both bertkit and transformers load.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertkit.tokenizers.bpe_merge import apply_merges
from bertkit.tokenizers.wordpiece import BertNormalization, WordPieceModel

if TYPE_CHECKING:
    from bertkit.tokenizers.tokenizer import Tokenizer

SUFFIX = "</w>"


class CharBPEModel(WordPieceModel):
    """Same normalization, word split and per-chunk cache as WordPiece; words are cut by BPE merges."""

    kind = "bpe"

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str = "[UNK]",
                 norm: BertNormalization | None = None, suffix: str = SUFFIX) -> None:
        super().__init__(vocab, unk_token, norm, prefix="", max_input_chars_per_word=10**9)
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.suffix = suffix

    def split_word(self, word: str) -> list[tuple[str, int, int]]:
        symbols = list(word)
        if self.suffix:
            symbols[-1] += self.suffix
        pieces = []
        pos = 0
        for tok in apply_merges(symbols, self.ranks):
            n = len(tok) - (len(self.suffix) if self.suffix and tok.endswith(self.suffix) else 0)
            pieces.append((tok, pos, pos + n))
            pos += n
        return pieces

    def decode(self, tokens: list[str]) -> str:
        """The suffix marks a word end: it becomes a space (nothing after the last token), as HF does."""
        if not self.suffix:
            return "".join(tokens)
        last = len(tokens) - 1
        return "".join(t.replace(self.suffix, "" if i == last else " ") for i, t in enumerate(tokens))

    def save(self, folder: Path, tok: Tokenizer) -> None:
        """Write tokenizer.json in the Hugging Face format (no `tokenizers` package needed)."""
        specials = [t for t in tok.added if t.special]
        cls, sep = tok.special.get("cls_token"), tok.special.get("sep_token")
        data: dict[str, Any] = {
            "version": "1.0", "truncation": None, "padding": None,
            "added_tokens": [{"id": tok.get_vocab()[t.content], "content": t.content, "single_word": False,
                              "lstrip": t.lstrip, "rstrip": t.rstrip, "normalized": False, "special": True}
                             for t in specials],
            "normalizer": {"type": "BertNormalizer", "clean_text": True,
                           "handle_chinese_chars": self.norm.chinese_chars,
                           "strip_accents": self.norm.strip_accents, "lowercase": self.norm.lowercase},
            "pre_tokenizer": {"type": "BertPreTokenizer"},
            "post_processor": _template_json(cls, sep, tok.get_vocab()),
            "decoder": {"type": "BPEDecoder", "suffix": self.suffix},
            "model": {"type": "BPE", "dropout": None, "unk_token": self.unk_token,
                      "continuing_subword_prefix": None, "end_of_word_suffix": self.suffix or None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                      "vocab": self.vocab, "merges": [list(m) for m in self.merges]},
        }
        with open(folder / "tokenizer.json", "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)


def _template_json(cls: str | None, sep: str | None, vocab: dict[str, int]) -> dict[str, Any] | None:
    if cls is None or sep is None or cls not in vocab or sep not in vocab:
        return None

    def s(t: str, type_id: int) -> dict[str, Any]:
        return {"SpecialToken": {"id": t, "type_id": type_id}}

    def q(name: str, type_id: int) -> dict[str, Any]:
        return {"Sequence": {"id": name, "type_id": type_id}}

    return {"type": "TemplateProcessing",
            "single": [s(cls, 0), q("A", 0), s(sep, 0)],
            "pair": [s(cls, 0), q("A", 0), s(sep, 0), q("B", 1), s(sep, 1)],
            "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]} for t in (cls, sep)}}


def load_char_bpe(folder: Path, config: dict[str, Any], fast: dict[str, Any]) -> Tokenizer:
    """A BPE tokenizer.json with BERT normalization (as `save` writes it)."""
    from bertkit.tokenizers.loading import (
        BERT_SPECIALS,
        _added_tokens,
        _max_length,
        _specials,
        fast_vocab_merges,
    )
    from bertkit.tokenizers.tokenizer import Template, Tokenizer

    vocab, merges = fast_vocab_merges(fast)
    model_cfg = fast.get("model") or {}
    fnorm = fast.get("normalizer") or {}
    norm = BertNormalization(bool(fnorm.get("lowercase", False)), fnorm.get("strip_accents"),
                             bool(fnorm.get("handle_chinese_chars", True)))
    specials = _specials(folder, config, BERT_SPECIALS)
    unk = model_cfg.get("unk_token") or specials["unk_token"] or "[UNK]"
    model = CharBPEModel(vocab, merges, unk, norm, model_cfg.get("end_of_word_suffix") or "")
    cls_id, sep_id = vocab.get(specials["cls_token"] or ""), vocab.get(specials["sep_token"] or "")
    template = Template() if cls_id is None or sep_id is None else Template([cls_id], [sep_id], [sep_id], 1)
    return Tokenizer(model, specials, template, _added_tokens(folder, config, fast, specials, vocab),
                     _max_length(config), {"tokenizer_class": "PreTrainedTokenizerFast"})
