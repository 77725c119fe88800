"""SentencePiece (unigram or BPE) models behind the bertkit `Tokenizer` interface.

Encoding, decoding and training go through the `sentencepiece` library (KoBERT, XLM-R and ALBERT ship
its `.model` files); bertkit only adds the special-token template, batching and offsets.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from bertkit.errors import CheckpointError, InputError

if TYPE_CHECKING:
    from bertkit.tokenizers.tokenizer import Tokenizer

Offsets = list[tuple[int, int]]
MODEL_FILE = "spm.model"


def _spm() -> Any:
    try:
        import sentencepiece
    except ImportError:
        raise InputError("SentencePiece tokenizers need the sentencepiece package: pip install sentencepiece") from None
    return sentencepiece


class SentencePieceModel:
    """A loaded SentencePiece model; ids are the model's own piece ids."""

    kind = "sentencepiece"

    def __init__(self, proto: bytes) -> None:
        self.proto = proto
        self.sp = _spm().SentencePieceProcessor(model_proto=proto)
        self.id_to_token = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]
        self.vocab = {p: i for i, p in enumerate(self.id_to_token)}

    def encode_ids(self, text: str) -> list[int]:
        return self.sp.encode(text, out_type=int) if text else []

    def encode_offsets(self, text: str) -> tuple[list[int], Offsets]:
        """Ids and character offsets as SentencePiece reports them (a leading ▁ covers the space)."""
        if not text:
            return [], []
        out = self.sp.encode(text, return_type="offset_mapping")
        return list(out["ids"]), [tuple(o) for o in out["offsets"]]  # type: ignore[misc]

    def decode(self, tokens: list[str]) -> str:
        return self.sp.decode_pieces(tokens)

    def save(self, folder: Path, tok: Tokenizer) -> None:
        (folder / MODEL_FILE).write_bytes(self.proto)


def load_sentencepiece(folder: Path, model_file: Path) -> Tokenizer:
    """A folder with a SentencePiece .model (+ optional tokenizer_config.json / special_tokens_map.json)."""
    from bertkit.tokenizers.loading import _max_length, _read_json, _specials
    from bertkit.tokenizers.tokenizer import AddedToken, Template, Tokenizer

    try:
        model = SentencePieceModel(model_file.read_bytes())
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"{model_file} is not a SentencePiece model: {e}") from None
    vocab = model.vocab
    config = _read_json(folder / "tokenizer_config.json")
    if "[CLS]" in vocab:
        defaults = {"unk_token": "[UNK]", "pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
                    "mask_token": "[MASK]"}
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
    added = [AddedToken(t) for t in dict.fromkeys(v for v in specials.values() if v)]
    return Tokenizer(model, specials, template, added, _max_length(config),
                     {"tokenizer_class": config.get("tokenizer_class", "PreTrainedTokenizer")})


def train_sentencepiece(files: Sequence[str | Path], model_type: str, vocab_size: int, *,
                        lowercase: bool = False, character_coverage: float = 0.9995,
                        max_sentences: int = 2_000_000, seed_sentencepiece_size: int = 1_000_000) -> Tokenizer:
    """Train a unigram or BPE SentencePiece model with BERT special tokens [PAD]=0 [UNK]=1 [CLS] [SEP] [MASK]."""
    spm = _spm()
    tmp = Path(tempfile.mkdtemp(prefix="bertkit-spm-"))
    try:
        try:
            spm.SentencePieceTrainer.train(
                input=",".join(str(f) for f in files), model_prefix=str(tmp / "spm"), vocab_size=vocab_size,
                model_type=model_type, character_coverage=character_coverage, pad_id=0, unk_id=1, bos_id=-1,
                eos_id=-1, pad_piece="[PAD]", unk_piece="[UNK]", user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"],
                normalization_rule_name="nmt_nfkc_cf" if lowercase else "nmt_nfkc", hard_vocab_limit=False,
                input_sentence_size=max_sentences, shuffle_input_sentence=True, max_sentence_length=1 << 16,
                seed_sentencepiece_size=seed_sentencepiece_size, minloglevel=2, num_threads=2)
        except RuntimeError as e:
            raise InputError(f"SentencePiece training failed: {e}") from None
        folder = tmp / "out"
        folder.mkdir()
        shutil.copy(tmp / "spm.model", folder / MODEL_FILE)
        tok = load_sentencepiece(folder, folder / MODEL_FILE)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tok.model_max_length = 512
    return tok
