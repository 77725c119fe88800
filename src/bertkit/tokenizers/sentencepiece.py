"""SentencePiece (unigram or BPE) models behind the bertkit `Tokenizer` interface.

Encoding, decoding and training go through the `sentencepiece` library (KoBERT, XLM-R and ALBERT ship
its `.model` files); bertkit only adds the special-token template, batching and offsets.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertkit.errors import CheckpointError, InputError

if TYPE_CHECKING:
    from bertkit.tokenizers.tokenizer import Tokenizer

Offsets = list[tuple[int, int]]
MODEL_FILE = "spm.model"
KOBERT_FILE = "spiece.model"
# skt/kobert-base-v1's tokenizer_config.json: KoBERTTokenizer, an XLNetTokenizer with BERT's [CLS] A [SEP] template
KOBERT_CONFIG = {"tokenizer_class": "XLNetTokenizer", "do_lower_case": False, "remove_space": True,
                 "keep_accents": False, "bos_token": "[CLS]", "eos_token": "[SEP]", "unk_token": "[UNK]",
                 "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]", "mask_token": "[MASK]"}
XLNET_CLASSES = ("XLNetTokenizer", "KoBERTTokenizer")


def _spm() -> Any:
    try:
        import sentencepiece
    except ImportError:
        raise InputError("SentencePiece tokenizers need the sentencepiece package: "
                         "pip install sentencepiece") from None
    return sentencepiece


FAIRSEQ_FILE = "sentencepiece.bpe.model"  # XLM-R's name for its (unigram) SentencePiece model
FAIRSEQ_HEAD = ["<s>", "<pad>", "</s>", "<unk>"]


@dataclass
class AlbertPrep:
    """ALBERT's text preparation before SentencePiece (transformers' AlbertTokenizer): `` and '' become ",
    accents are removed (NFKD, combining marks dropped) unless `keep_accents`, then lowercasing. Applied
    one character at a time so that offsets map back to the original text."""

    lowercase: bool = True
    keep_accents: bool = False

    def apply(self, text: str) -> tuple[str, list[tuple[int, int]]]:
        """Prepared text, and for each of its characters the (start, end) of what it came from."""
        out: list[str] = []
        origins: list[tuple[int, int]] = []
        i, n = 0, len(text)
        while i < n:
            if text.startswith(("``", "''"), i):
                out.append('"')
                origins.append((i, i + 2))
                i += 2
                continue
            piece = text[i]
            if not self.keep_accents:
                piece = "".join(c for c in unicodedata.normalize("NFKD", piece)
                                if not unicodedata.combining(c))
            if self.lowercase:
                piece = piece.lower()
            out.append(piece)
            origins.extend([(i, i + 1)] * len(piece))
            i += 1
        return "".join(out), origins


class SentencePieceModel:
    """A loaded SentencePiece model.

    Ids are the model's own piece ids, or with `fairseq=True` the layout XLM-R inherited from fairseq:
    <s>=0 <pad>=1 </s>=2 <unk>=3, SentencePiece piece i (i >= 3) at i + 1, and <mask> last. The
    SentencePiece model itself must then hold <unk>=0 <s>=1 </s>=2, as XLM-R's does.
    """

    kind = "sentencepiece"

    def __init__(self, proto: bytes, fairseq: bool = False, albert: AlbertPrep | None = None,
                 file_name: str | None = None) -> None:
        self.proto = proto
        self.file_name = file_name or (FAIRSEQ_FILE if fairseq else MODEL_FILE)
        self.fairseq = fairseq
        self.albert = albert
        self.sp = _spm().SentencePieceProcessor(model_proto=proto)
        pieces = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        if fairseq:
            layout = (self.sp.unk_id(), self.sp.bos_id(), self.sp.eos_id())
            if layout != (0, 1, 2):
                raise CheckpointError(f"a fairseq/XLM-R SentencePiece model needs <unk>=0 <s>=1 </s>=2, "
                                      f"this one has unk, bos, eos ids {layout}")
            pieces = FAIRSEQ_HEAD + pieces[3:] + ["<mask>"]
        self.id_to_token = pieces
        self.vocab = {p: i for i, p in enumerate(pieces)}

    def _shift(self, ids: list[int]) -> list[int]:
        if not self.fairseq:
            return ids
        return [i + 1 if i else 3 for i in ids]  # SentencePiece's <unk> (0) is fairseq's 3

    def encode_ids(self, text: str) -> list[int]:
        if self.albert is not None:
            text = self.albert.apply(text)[0]
        return self._shift(self.sp.encode(text, out_type=int)) if text else []

    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]:
        """Ids and character offsets as SentencePiece reports them (a leading ▁ covers the space)."""
        origins = None
        if self.albert is not None:
            text, origins = self.albert.apply(text)
        if not text:
            return [], []
        out = self.sp.encode(text, return_type="offset_mapping")
        offsets: Offsets = [tuple(o) for o in out["offsets"]]  # type: ignore[misc]
        if origins is not None:  # back from the prepared text to the caller's
            ends = [e for _, e in origins]
            offsets = [(origins[a][0], ends[b - 1]) if b > a else ((ends[a - 1],) * 2 if a else (0, 0))
                       for a, b in offsets]
        return self._shift(list(out["ids"])), offsets

    def decode(self, tokens: list[str]) -> str:
        if not self.fairseq:
            return self.sp.decode_pieces(tokens)
        # <pad> and <mask> are no SentencePiece pieces: decode the runs between them, keep them verbatim
        parts: list[str] = []
        run: list[str] = []
        for tok in tokens:
            if tok in FAIRSEQ_HEAD or tok == "<mask>":
                if run:
                    parts.append(self.sp.decode_pieces(run))
                    run = []
                parts.append(tok)
            else:
                run.append(tok)
        if run:
            parts.append(self.sp.decode_pieces(run))
        return " ".join(parts)

    def save(self, folder: Path, tok: Tokenizer) -> None:
        (folder / self.file_name).write_bytes(self.proto)


def load_sentencepiece(folder: Path, model_file: Path) -> Tokenizer:
    """A folder with a SentencePiece .model (+ optional tokenizer_config.json / special_tokens_map.json)."""
    from bertkit.tokenizers.loading import _max_length, _read_json, _specials
    from bertkit.tokenizers.tokenizer import AddedToken, Template, Tokenizer

    config = _read_json(folder / "tokenizer_config.json")
    cls_name = str(config.get("tokenizer_class") or "")
    fairseq = cls_name.startswith("XLMRoberta") or (not cls_name and model_file.name == FAIRSEQ_FILE)
    xlnet = cls_name in XLNET_CLASSES  # KoBERT: XLNet's text preparation, lowercasing off by default
    albert = AlbertPrep(bool(config.get("do_lower_case", not xlnet)), bool(config.get("keep_accents", False))) \
        if cls_name.startswith("Albert") or xlnet else None
    try:
        model = SentencePieceModel(model_file.read_bytes(), fairseq=fairseq, albert=albert,
                                   file_name=model_file.name)
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"{model_file} is not a SentencePiece model: {e}") from None
    vocab = model.vocab
    if "[CLS]" in vocab:  # BERT-style names; ALBERT keeps SentencePiece's <unk> and <pad>
        defaults = {"unk_token": "[UNK]" if "[UNK]" in vocab else "<unk>",
                    "pad_token": "[PAD]" if "[PAD]" in vocab else "<pad>", "cls_token": "[CLS]",
                    "sep_token": "[SEP]", "mask_token": "[MASK]"}
    else:
        defaults = {"unk_token": "<unk>", "pad_token": "<pad>", "cls_token": "<s>", "sep_token": "</s>",
                    "bos_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>"}
    specials = {k: v for k, v in _specials(folder, config, defaults).items()}
    specials = {k: (v if v in vocab else None) for k, v in specials.items()}
    cls_id, sep_id = vocab.get(specials["cls_token"] or ""), vocab.get(specials["sep_token"] or "")
    if cls_id is None or sep_id is None:
        template = Template(second_type_id=0)
    elif specials["cls_token"] == "[CLS]":
        template = Template([cls_id], [sep_id], [sep_id], 1)
    else:
        template = Template([cls_id], [sep_id, sep_id], [sep_id], 0)
    # XLM-R's and KoBERT's <mask> swallow the spaces before it, as in transformers
    added = [AddedToken(t, lstrip=(fairseq or xlnet) and t == specials["mask_token"])
             for t in dict.fromkeys(v for v in specials.values() if v)]
    default_class = "XLMRobertaTokenizer" if fairseq else "PreTrainedTokenizer"
    keep = {k: config[k] for k in ("do_lower_case", "remove_space", "keep_accents") if xlnet and k in config}
    return Tokenizer(model, specials, template, added, _max_length(config),
                     {"tokenizer_class": config.get("tokenizer_class", default_class), **keep})


def train_sentencepiece(files: Sequence[str | Path], model_type: str, vocab_size: int, *,
                        lowercase: bool = False, character_coverage: float = 0.9995,
                        max_sentences: int = 2_000_000,
                        seed_sentencepiece_size: int = 1_000_000, layout: str = "bert") -> Tokenizer:
    """Train a unigram or BPE SentencePiece model with BERT special tokens: layout "bert" [PAD]=0 [UNK]=1 [CLS]
    [SEP] [MASK], saved as spm.model; "kobert" [UNK]=0 [PAD]=1 [CLS]=2 [SEP]=3 [MASK]=4 saved as skt/kobert-base-v1
    is (spiece.model + an XLNetTokenizer tokenizer_config.json; KoBERT's vocabulary has 8,002 pieces)."""
    if layout not in ("bert", "kobert"):
        raise InputError(f"unknown SentencePiece layout {layout!r}; expected bert or kobert")
    kobert = layout == "kobert"
    spm = _spm()
    tmp = Path(tempfile.mkdtemp(prefix="bertkit-spm-"))
    try:
        try:
            spm.SentencePieceTrainer.train(
                input=",".join(str(f) for f in files), model_prefix=str(tmp / "spm"), vocab_size=vocab_size,
                model_type=model_type, character_coverage=character_coverage, pad_id=1 if kobert else 0,
                unk_id=0 if kobert else 1, bos_id=-1,
                eos_id=-1, pad_piece="[PAD]", unk_piece="[UNK]",
                user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
                normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc", hard_vocab_limit=False,
                input_sentence_size=max_sentences, shuffle_input_sentence=True, max_sentence_length=1 << 16,
                seed_sentencepiece_size=seed_sentencepiece_size, minloglevel=2, num_threads=2)
        except RuntimeError as e:
            raise InputError(f"SentencePiece training failed: {e}") from None
        folder = tmp / "out"
        folder.mkdir()
        name = KOBERT_FILE if kobert else MODEL_FILE
        shutil.copy(tmp / "spm.model", folder / name)
        if kobert:
            (folder / "tokenizer_config.json").write_text(json.dumps(KOBERT_CONFIG), encoding="utf-8")
        tok = load_sentencepiece(folder, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tok.model_max_length = 512
    return tok
