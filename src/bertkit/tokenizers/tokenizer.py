"""`Tokenizer`: one front end (special tokens, pairs, truncation, padding, offsets) over any subword model.

A model (WordPiece, byte-level BPE, char BPE, SentencePiece) only turns plain text into ids and offsets;
everything a caller sees — templates like `[CLS] A [SEP] B [SEP]`, added tokens found in the text,
batches — lives here, so all algorithms behave the same way.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bertkit.errors import InputError
from bertkit.tokenizers.batch import BatchEncoding, pad_rows, pair_lengths, to_tensors, windows

Offsets = list[tuple[int, int]]
VERY_LARGE = int(1e30)  # HF's "no limit" model_max_length


class SubwordModel(Protocol):
    kind: str
    vocab: dict[str, int]
    id_to_token: list[str]

    def encode_ids(self, text: str) -> list[int]: ...
    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]: ...
    def decode(self, tokens: list[str]) -> str: ...


@dataclass
class AddedToken:
    """A token matched verbatim in raw text before the subword model runs ([CLS], <mask>, ...)."""

    content: str
    special: bool = True
    lstrip: bool = False
    rstrip: bool = False


@dataclass
class Template:
    """Special tokens around one or two sequences: prefix A [mid B] suffix."""

    prefix: list[int] = field(default_factory=list)
    mid: list[int] = field(default_factory=list)
    suffix: list[int] = field(default_factory=list)
    second_type_id: int = 1

    def num_special(self, pair: bool) -> int:
        return len(self.prefix) + len(self.suffix) + (len(self.mid) if pair else 0)


class Tokenizer:
    """Text ⇄ ids for a BERT-family model. Build with `Tokenizer.from_pretrained(folder)`."""

    def __init__(self, model: SubwordModel, special: dict[str, str | None], template: Template,
                 added: Sequence[AddedToken] = (), model_max_length: int = VERY_LARGE,
                 config: dict[str, Any] | None = None) -> None:
        self.model = model
        self.special = dict(special)  # role ("cls_token", ...) -> token string
        self.template = template
        self.model_max_length = int(model_max_length)
        self.config = dict(config or {})
        self.added = list(added)
        self._token_to_id = dict(model.vocab)
        self._id_to_token = list(model.id_to_token)
        for tok in self.added:
            if tok.content not in self._token_to_id:
                self._token_to_id[tok.content] = len(self._id_to_token)
                self._id_to_token.append(tok.content)
        self._added_re = None
        if self.added:
            alts = []
            for tok in sorted(self.added, key=lambda t: -len(t.content)):
                left, right = (r"\s*" if tok.lstrip else ""), (r"\s*" if tok.rstrip else "")
                alts.append(left + re.escape(tok.content) + right)
            self._added_re = re.compile("|".join(alts))
        self._added_by_text = {t.content: t for t in self.added}

    # ---- loading / saving -----------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Any) -> Tokenizer:
        """Load a tokenizer folder: vocab.txt (WordPiece), vocab.json + merges.txt (byte-level BPE),
        tokenizer.json of a char-level BPE, or a SentencePiece .model file (XLM-R's
        sentencepiece.bpe.model with its fairseq id layout, as transformers numbers it)."""
        from bertkit.tokenizers.loading import load_tokenizer

        return load_tokenizer(path)

    def save_pretrained(self, path: str | Any) -> None:
        """Write files that both bertkit and Hugging Face transformers load."""
        from bertkit.tokenizers.loading import save_tokenizer

        save_tokenizer(self, path)

    # ---- vocabulary -----------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return len(self._id_to_token)

    def __len__(self) -> int:
        return len(self._id_to_token)

    def get_vocab(self) -> dict[str, int]:
        return dict(self._token_to_id)

    def _role_id(self, role: str) -> int | None:
        tok = self.special.get(role)
        return None if tok is None else self._token_to_id.get(tok)

    pad_token_id = property(lambda self: self._role_id("pad_token"))
    cls_token_id = property(lambda self: self._role_id("cls_token"))
    sep_token_id = property(lambda self: self._role_id("sep_token"))
    mask_token_id = property(lambda self: self._role_id("mask_token"))
    unk_token_id = property(lambda self: self._role_id("unk_token"))
    bos_token_id = property(lambda self: self._role_id("bos_token"))
    eos_token_id = property(lambda self: self._role_id("eos_token"))
    mask_token = property(lambda self: self.special.get("mask_token"))
    pad_token = property(lambda self: self.special.get("pad_token"))
    unk_token = property(lambda self: self.special.get("unk_token"))
    bos_token = property(lambda self: self.special.get("bos_token"))
    eos_token = property(lambda self: self.special.get("eos_token"))
    cls_token = property(lambda self: self.special.get("cls_token"))
    sep_token = property(lambda self: self.special.get("sep_token"))

    @property
    def all_special_tokens(self) -> list[str]:
        seen: list[str] = []
        for tok in list(self.special.values()) + [t.content for t in self.added if t.special]:
            if tok is not None and tok not in seen and tok in self._token_to_id:
                seen.append(tok)
        return seen

    @property
    def all_special_ids(self) -> list[int]:
        return [self._token_to_id[t] for t in self.all_special_tokens]

    def convert_tokens_to_ids(self, tokens: str | list[str]) -> int | list[int]:
        unk = self.unk_token_id
        if isinstance(tokens, str):
            return self._token_to_id.get(tokens, unk)  # type: ignore[return-value]
        return [self._token_to_id.get(t, unk) for t in tokens]  # type: ignore[misc]

    def convert_ids_to_tokens(self, ids: int | list[int]) -> str | list[str]:
        if isinstance(ids, int):
            return self._id_to_token[ids]
        return [self._id_to_token[int(i)] for i in ids]

    # ---- single texts ---------------------------------------------------------------------------
    def _segments(self, text: str) -> list[tuple[str, int, int | None]]:
        """Split raw text around added tokens: (piece, start, token_id or None for plain text)."""
        if self._added_re is None:
            return [(text, 0, None)]
        out: list[tuple[str, int, int | None]] = []
        pos = 0
        for m in self._added_re.finditer(text):
            if m.start() > pos:
                out.append((text[pos:m.start()], pos, None))
            out.append((m.group(), m.start(), self._token_to_id[m.group().strip()]))
            pos = m.end()
        if pos < len(text):
            out.append((text[pos:], pos, None))
        return out

    def _ids(self, text: str) -> list[int]:
        if self._added_re is None or not self._added_re.search(text):
            return self.model.encode_ids(text)
        ids: list[int] = []
        for piece, _, tid in self._segments(text):
            if tid is None:
                ids += self.model.encode_ids(piece)
            else:
                ids.append(tid)
        return ids

    def _ids_offsets(self, text: str) -> tuple[list[int], Offsets]:
        ids: list[int] = []
        offs: Offsets = []
        for piece, start, tid in self._segments(text):
            if tid is None:
                i, o = self.model.encode_offsets(piece)
                ids += i
                offs += [(s + start, e + start) for s, e in o] if start else o
            else:
                stripped = piece.strip()
                s = start + piece.index(stripped)
                ids.append(tid)
                offs.append((s, s + len(stripped)))
        return ids, offs

    def tokenize(self, text: str) -> list[str]:
        """Sub-word strings of `text`, without special tokens."""
        return [self._id_to_token[i] for i in self._ids(_check_text(text))]

    def encode(self, text: str, pair: str | None = None, add_special_tokens: bool = True) -> list[int]:
        """Ids of one text (or a pair), with special tokens and without truncation,
        like HF `(text)["input_ids"]`."""
        a = self._ids(_check_text(text))
        b = None if pair is None else self._ids(_check_text(pair))
        return self._assemble(a, b, add_special_tokens)[0]

    def decode(self, ids: Sequence[int] | Any, skip_special_tokens: bool = True) -> str:
        """Text of `ids` (a list or a 1-D tensor); special tokens dropped unless asked."""
        if hasattr(ids, "tolist"):
            ids = ids.tolist()
        special = set(self.all_special_ids) if skip_special_tokens else set()
        toks = [self._id_to_token[int(i)] for i in ids if int(i) not in special]
        return self.model.decode(toks)

    def _assemble(self, a: list[int], b: list[int] | None, special: bool,
                  oa: Offsets | None = None,
                  ob: Offsets | None = None) -> tuple[list[int], list[int], Offsets]:
        t = self.template
        if not special:
            t = Template(second_type_id=t.second_type_id)
        ids = t.prefix + a + t.suffix if b is None else t.prefix + a + t.mid + b + t.suffix
        n1 = len(t.prefix) + len(a) + (len(t.mid) if b is not None else len(t.suffix))
        types = [0] * n1 + [t.second_type_id] * (len(ids) - n1)
        offs: Offsets = []
        if oa is not None:
            z = (0, 0)
            offs = [z] * len(t.prefix) + oa
            offs += [z] * len(t.suffix) if b is None else [z] * len(t.mid) + (ob or []) + [z] * len(t.suffix)
        return ids, types, offs

    # ---- batches --------------------------------------------------------------------------------
    def __call__(self, texts: str | Sequence[str], pairs: Sequence[str] | None = None, *,
                 max_length: int | None = None, truncation: bool | str = True,
                 padding: bool | str = True, return_offsets: bool = False,
                 return_tensors: str | None = None, add_special_tokens: bool = True,
                 stride: int = 0, return_overflowing_tokens: bool = False) -> BatchEncoding:
        """Encode a batch. Returns input_ids, attention_mask, token_type_ids (+ offset_mapping).

        truncation: True/'longest_first', 'only_first', 'only_second' or False; max_length None means
        `model_max_length`. With `return_overflowing_tokens` (and `stride` tokens of overlap) a cut
        text yields extra rows (sliding windows), mapped back by `overflow_to_sample_mapping`.
        padding: True/'longest' (to the longest row), 'max_length', or False.
        """
        if isinstance(texts, str):
            texts = [texts]
        if pairs is not None:
            if isinstance(pairs, str):
                pairs = [pairs]
            if len(pairs) != len(texts):
                raise InputError(f"got {len(texts)} texts but {len(pairs)} pairs")
        strategy = _strategy(truncation)
        limit = self.model_max_length if max_length is None else int(max_length)
        enc_fn = self._ids_offsets if return_offsets else (lambda s: (self._ids(s), None))
        rows_ids, rows_types, rows_offs, mapping = [], [], [], []
        cut = 0
        for i, text in enumerate(texts):
            a, oa = enc_fn(_check_text(text))
            b, ob = (None, None) if pairs is None else enc_fn(_check_text(pairs[i]))
            parts = [(a, oa, b, ob)]
            if strategy is not None and limit < VERY_LARGE:
                parts, was_cut = self._truncate(a, oa, b, ob, limit, strategy, stride,
                                                return_overflowing_tokens, add_special_tokens)
                cut += was_cut
            for pa, poa, pb, pob in parts:
                ids, types, offs = self._assemble(pa, pb, add_special_tokens, poa, pob)
                rows_ids.append(ids)
                rows_types.append(types)
                rows_offs.append(offs)
                mapping.append(i)
        masks = [[1] * len(r) for r in rows_ids]
        if padding:
            if padding == "max_length":
                if max_length is None and self.model_max_length >= VERY_LARGE:
                    raise InputError("padding='max_length' needs max_length "
                                     "(this tokenizer has no model_max_length)")
                length = limit
            elif padding is True or padding == "longest":
                length = max((len(r) for r in rows_ids), default=0)
            else:
                raise InputError(f"padding must be True, False, 'longest' or 'max_length', got {padding!r}")
            pad_id = self.pad_token_id if self.pad_token_id is not None else 0
            rows_ids = pad_rows(rows_ids, length, pad_id)
            rows_types = pad_rows(rows_types, length, 0)
            masks = pad_rows(masks, length, 0)
            if return_offsets:
                rows_offs = pad_rows(rows_offs, length, (0, 0))
        enc = BatchEncoding(input_ids=rows_ids, token_type_ids=rows_types, attention_mask=masks)
        if return_offsets:
            enc["offset_mapping"] = rows_offs
        if return_overflowing_tokens:
            enc["overflow_to_sample_mapping"] = mapping
        enc.num_truncated = cut
        return to_tensors(enc, return_tensors)

    def _truncate(self, a: list[int], oa: Offsets | None, b: list[int] | None, ob: Offsets | None,
                  limit: int, strategy: str, stride: int, overflow: bool,
                  special: bool) -> tuple[list[tuple[Any, Any, Any, Any]], bool]:
        budget = limit - (self.template.num_special(b is not None) if special else 0)
        total = len(a) + (len(b) if b is not None else 0)
        if total <= budget:
            return [(a, oa, b, ob)], False
        if b is None or strategy == "only_first":
            if b is None and strategy == "only_second":
                raise InputError("truncation='only_second' needs pairs")
            room = budget - (len(b) if b is not None else 0)
            if room <= 0:
                raise InputError(f"max_length={limit} leaves no room for the first text")
            spans = windows(len(a), room, stride) if overflow else [(0, room)]
            return [(a[s:e], None if oa is None else oa[s:e], b, ob) for s, e in spans], True
        if strategy == "only_second":
            room = budget - len(a)
            if room <= 0:
                raise InputError(f"max_length={limit} leaves no room for the second text "
                                 f"(the first has {len(a)} tokens)")
            spans = windows(len(b), room, stride) if overflow else [(0, room)]
            return [(a, oa, b[s:e], None if ob is None else ob[s:e]) for s, e in spans], True
        if overflow:
            raise InputError("return_overflowing_tokens with pairs needs truncation='only_first' "
                             "or 'only_second'")
        n1, n2 = pair_lengths(len(a), len(b), max(budget, 0))
        return [(a[:n1], None if oa is None else oa[:n1], b[:n2], None if ob is None else ob[:n2])], True


def _strategy(truncation: bool | str) -> str | None:
    if truncation is False or truncation is None or truncation == "do_not_truncate":
        return None
    if truncation is True or truncation == "longest_first":
        return "longest_first"
    if truncation in ("only_first", "only_second"):
        return str(truncation)
    raise InputError(f"truncation must be True, False, 'longest_first', 'only_first' or 'only_second', "
                     f"got {truncation!r}")


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InputError(f"expected a str of text, got {type(text).__name__}")
    return text
