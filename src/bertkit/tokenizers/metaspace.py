"""Character-level BPE on SentencePiece-style words (a `tokenizer.json` with a Metaspace pre-tokenizer).

This is the tokenizer of skt/kogpt2-base-v2 and gogamza/kobart-base-v2 (trained with the `tokenizers`
library's SentencePieceBPETokenizer): optional Unicode normalization (NFKC, ...), spaces turned into `▁`, one
`▁` put in front of the text, the text cut before every `▁` (`▁a▁▁b` -> `▁a`, `▁`, `▁b`), then BPE merges on the
characters of each word. Characters missing from the vocabulary become the unknown token (consecutive ones
fused into one when `fuse_unk`), as Hugging Face `tokenizers` does. Only loading: bertkit trains its Korean
vocabularies as byte-level BPE or SentencePiece (tokenizers/train.py).
"""
from __future__ import annotations

import json
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertkit.errors import CheckpointError
from bertkit.tokenizers.bpe_merge import apply_merges

if TYPE_CHECKING:
    from bertkit.tokenizers.tokenizer import Tokenizer

Offsets = list[tuple[int, int]]
FORMS = ("NFC", "NFD", "NFKC", "NFKD")


def normalizer_steps(spec: dict[str, Any] | None) -> list[str]:
    """tokenizer.json's normalizer as a list of steps (NFKC, ..., Lowercase); anything else is refused."""
    if not spec:
        return []
    kind = spec.get("type")
    if kind == "Sequence":
        return [s for sub in spec.get("normalizers") or [] for s in normalizer_steps(sub)]
    if kind in FORMS or kind == "Lowercase":
        return [kind]
    raise CheckpointError(f"tokenizer.json normalizer {kind!r} is not supported with a Metaspace pre-tokenizer; "
                          f"supported: {', '.join(FORMS)}, Lowercase or a Sequence of them")


class MetaspaceBPEModel:
    """BPE over `▁`-prefixed words. `prepend`: put `▁` before the text unless it starts with one (tokenizers'
    prepend_scheme "always", the old `add_prefix_space: true`)."""

    kind = "metaspace_bpe"

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], unk_token: str | None,
                 fast: dict[str, Any], replacement: str = "▁", prepend: bool = True, split: bool = True,
                 fuse_unk: bool = False, steps: list[str] | None = None) -> None:
        self.vocab = vocab
        self.id_to_token = [""] * (max(vocab.values()) + 1 if vocab else 0)
        for tok, i in vocab.items():
            self.id_to_token[i] = tok
        self.merges = merges
        self.ranks = {pair: i for i, pair in enumerate(merges)}
        self.unk_token = unk_token
        self.replacement, self.prepend, self.split, self.fuse_unk = replacement, prepend, split, fuse_unk
        self.steps = steps or []
        self.fast = fast  # written back unchanged by save()
        self._cache: dict[str, list[tuple[str, int, int]]] = {}

    def _normalize(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """Normalized text and, for each of its characters, the span of the input it came from."""
        out: list[str] = []
        origins: list[tuple[int, int]] = []
        for i, ch in enumerate(text):
            piece = ch
            for step in self.steps:
                piece = piece.lower() if step == "Lowercase" else unicodedata.normalize(step, piece)
            out.append(piece)
            origins.extend([(i, i + 1)] * len(piece))
        norm = "".join(out)
        whole = text
        for step in self.steps:
            whole = whole.lower() if step == "Lowercase" else unicodedata.normalize(step, whole)
        if whole != norm:  # composition across characters: offsets can only cover the whole text
            return whole, [(0, len(text))] * len(whole)
        return norm, origins

    def _words(self, text: str) -> list[tuple[str, int]]:
        """(word, start in the prepared text) after the Metaspace pre-tokenizer."""
        s = text.replace(" ", self.replacement)
        if self.prepend and not s.startswith(self.replacement):
            s = self.replacement + s
        if not self.split:
            return [(s, 0)] if s else []
        words, start = [], 0
        for i in range(1, len(s) + 1):
            if i == len(s) or s[i] == self.replacement:
                if i > start:
                    words.append((s[start:i], start))
                start = i
        return words

    def _split_word(self, word: str) -> list[tuple[str, int, int]]:
        """(token, start, end) within the word; characters outside the vocabulary -> unk."""
        hit = self._cache.get(word)
        if hit is not None:
            return hit
        out: list[tuple[str, int, int]] = []
        pos = 0
        for tok in apply_merges(list(word), self.ranks):
            end = pos + len(tok)
            if tok not in self.vocab:
                if self.unk_token is None or self.unk_token not in self.vocab:
                    raise CheckpointError(f"{tok!r} is not in the vocabulary and the tokenizer has no unknown token")
                if self.fuse_unk and out and out[-1][0] == self.unk_token:
                    out[-1] = (self.unk_token, out[-1][1], end)
                else:
                    out.append((self.unk_token, pos, end))
            else:
                out.append((tok, pos, end))
            pos = end
        if len(self._cache) < 100_000:
            self._cache[word] = out
        return out

    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]:
        norm, origins = self._normalize(text)
        shift = 1 if self.prepend and not norm.replace(" ", self.replacement).startswith(self.replacement) else 0
        ids: list[int] = []
        offsets: Offsets = []
        for word, start in self._words(norm):
            for tok, a, b in self._split_word(word):
                ids.append(self.vocab[tok])
                a, b = a + start - shift, b + start - shift  # back to positions in `norm`
                a = max(a, 0)
                if b <= a or not origins:
                    offsets.append((origins[a][0] if a < len(origins) else len(text),) * 2)
                else:
                    offsets.append((origins[a][0], origins[b - 1][1]))
        return ids, offsets

    def encode_ids(self, text: str) -> list[int]:
        return self.encode_offsets(text)[0]

    def decode(self, tokens: list[str]) -> str:
        """Metaspace decoding: `▁` -> space, the prepended one dropped."""
        text = "".join(tokens).replace(self.replacement, " ")
        return text[1:] if self.prepend and text.startswith(" ") else text

    def save(self, folder: Path, tok: Tokenizer) -> None:
        with open(folder / "tokenizer.json", "w", encoding="utf-8") as f:
            json.dump(self.fast, f, ensure_ascii=False)


def metaspace_of(fast: dict[str, Any]) -> dict[str, Any] | None:
    """The Metaspace pre-tokenizer of a tokenizer.json (alone or inside a Sequence), else None."""
    pre = fast.get("pre_tokenizer") or {}
    if pre.get("type") == "Metaspace":
        return pre
    if pre.get("type") == "Sequence":
        subs = pre.get("pretokenizers") or []
        if len(subs) == 1 and subs[0].get("type") == "Metaspace":
            return subs[0]
    return None


def load_metaspace_bpe(folder: Path, config: dict[str, Any], fast: dict[str, Any]) -> Tokenizer:
    """A tokenizer.json with a BPE model and a Metaspace pre-tokenizer (KoGPT2, KoBART).

    Special tokens come from tokenizer_config.json / special_tokens_map.json; where the folder has none (as
    skt/kogpt2-base-v2, whose model card passes them to PreTrainedTokenizerFast by hand) they are read off the
    added tokens: </s> is bos and eos (KoGPT2) unless <s> exists (KoBART), <unk>, <pad>, <mask>. Nothing is
    added around the text (no post-processor), as in both."""
    from bertkit.tokenizers.loading import _added_tokens, _max_length, _specials, fast_vocab_merges
    from bertkit.tokenizers.tokenizer import Template, Tokenizer

    meta = metaspace_of(fast) or {}
    vocab, merges = fast_vocab_merges(fast)
    model_cfg = fast.get("model") or {}
    if model_cfg.get("byte_fallback") or model_cfg.get("continuing_subword_prefix") or \
            model_cfg.get("end_of_word_suffix"):
        raise CheckpointError(f"{folder / 'tokenizer.json'}: a Metaspace BPE with byte_fallback, a continuing "
                              "prefix or a word-end suffix is not supported")
    scheme = meta.get("prepend_scheme")
    prepend = scheme in ("always", "first") if scheme is not None else bool(meta.get("add_prefix_space", True))
    replacement = meta.get("replacement") or meta.get("str_rep") or "▁"
    names = {e.get("content") for e in fast.get("added_tokens") or [] if isinstance(e, dict)} | set(vocab)
    defaults = {"unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
                "bos_token": "<s>" if "<s>" in names else "</s>", "eos_token": "</s>"}
    specials = _specials(folder, config, {k: v for k, v in defaults.items() if v in names})
    model = MetaspaceBPEModel(vocab, merges, model_cfg.get("unk_token") or specials.get("unk_token"), fast,
                              replacement, prepend, bool(meta.get("split", True)),
                              bool(model_cfg.get("fuse_unk", False)), normalizer_steps(fast.get("normalizer")))
    return Tokenizer(model, specials, Template(second_type_id=0), _added_tokens(folder, config, fast, specials, vocab),
                     _max_length(config), {"tokenizer_class": "PreTrainedTokenizerFast"})
