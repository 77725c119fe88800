"""A trained translation model as one folder: the encoder-decoder (a MarianMT checkpoint), its tokenizer (one shared
vocabulary, or the source's at the root and the target's in target_tokenizer/) and translation.json (languages,
special ids, decoding defaults). `Translator.load(folder).translate(texts)`; `bleu(hypotheses, references)`."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bertkit.errors import CheckpointError, InputError, warn

SETTINGS_FILE = "translation.json"
TARGET_TOKENIZER = "target_tokenizer"


@dataclass
class TranslationSettings:
    """What translation.json holds: the languages, the eos id both sides end with, and the decoding defaults."""

    eos_token_id: int
    source_lang: str | None = None
    target_lang: str | None = None
    num_beams: int = 5
    length_penalty: float = 1.0
    max_length: int = 128  # sources are cut to this many tokens (with a warning)


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError:
        raise InputError("BLEU needs the sacrebleu package: pip install 'bertkit[translation]' "
                         "(or pip install sacrebleu)") from None
    return sacrebleu


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """Corpus BLEU of detokenized hypotheses against one reference each, as sacrebleu computes it (13a
    tokenization, case-sensitive). Returns (score 0..100, sacrebleu's signature line)."""
    if len(hypotheses) != len(references):
        raise InputError(f"{len(hypotheses)} translations but {len(references)} references; BLEU needs one "
                         "reference per translation")
    sb = _sacrebleu()
    metric = sb.metrics.BLEU()
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


class Translator:
    """An encoder-decoder with its tokenizers. translate(texts) -> translations, by beam search (num_beams 1:
    greedy). The same folder gives the same translations after save and load."""

    def __init__(self, model, source_tokenizer, target_tokenizer=None,
                 settings: TranslationSettings | None = None) -> None:
        if getattr(model, "task", None) != "lm" or not hasattr(model, "encode"):
            raise InputError("a Translator needs an encoder-decoder with its LM head (MarianMT, BART)")
        self.model = model
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer or source_tokenizer
        eos = model.config.eos_token_id
        self.settings = settings or TranslationSettings(eos_token_id=eos)

    @property
    def shared_vocabulary(self) -> bool:
        return self.target_tokenizer is self.source_tokenizer

    # ---- files ------------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write model, tokenizer(s) and translation.json into `path` (a folder transformers also loads)."""
        from bertkit.hub import save_pretrained

        path = Path(path)
        save_pretrained(self.model, path, tokenizer=self.source_tokenizer)
        if not self.shared_vocabulary:
            self.target_tokenizer.save_pretrained(path / TARGET_TOKENIZER)
        (path / SETTINGS_FILE).write_text(json.dumps(asdict(self.settings), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path, dtype: torch.dtype | None = None) -> Translator:
        """The folder `save` wrote (or any MarianMT / BART folder with a tokenizer)."""
        from bertkit.hub import from_pretrained
        from bertkit.hub.default import resolve_model_path
        from bertkit.tokenizers import Tokenizer

        path = resolve_model_path(path)  # a folder, or a hub id in the local cache
        model = from_pretrained(path, dtype=dtype)
        if model.task != "lm" or not hasattr(model, "encode"):
            raise CheckpointError(f"{path} is not an encoder-decoder translation model (got {model.family.name} "
                                  f"task {model.task!r})")
        try:
            src = Tokenizer.from_pretrained(path)
        except CheckpointError as e:
            raise CheckpointError(f"{path} has no tokenizer to translate with: {e}") from None
        tgt = Tokenizer.from_pretrained(path / TARGET_TOKENIZER) if (path / TARGET_TOKENIZER).is_dir() else None
        settings = None
        if (path / SETTINGS_FILE).is_file():
            raw = json.loads((path / SETTINGS_FILE).read_text(encoding="utf-8"))
            known = {f.name for f in fields(TranslationSettings)}
            settings = TranslationSettings(**{k: v for k, v in raw.items() if k in known})
        return cls(model, src, tgt, settings)

    # ---- translating ------------------------------------------------------------------------------------
    def encode_sources(self, texts: Sequence[str]) -> list[list[int]]:
        """Source ids ending in eos, cut to settings.max_length tokens (one warning counts the cut texts)."""
        from bertkit.translation.data import encode_texts

        ids = encode_texts(self.source_tokenizer, texts, self.settings.eos_token_id)
        limit = min(self.settings.max_length, self.model.max_tokens)
        cut = sum(len(r) > limit for r in ids)
        if cut:
            warn(f"{cut} of {len(ids)} texts are longer than {limit} tokens and were cut to that length")
        return [r if len(r) <= limit else r[:limit - 1] + [self.settings.eos_token_id] for r in ids]

    @torch.no_grad()
    def translate(self, texts: str | Sequence[str], num_beams: int | None = None,
                  length_penalty: float | None = None, max_new_tokens: int | None = None, batch_size: int = 32,
                  progress: bool = False) -> list[str]:
        """Translations of `texts` (a str gives a list of one). Sources are sorted by length and batched, so a
        batch pads little; the output is in input order. max_new_tokens None: 2 x source length + 10 (within
        the model's positions)."""
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise InputError(f"translate takes texts (str), got {type(bad).__name__}")
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        beams = self.settings.num_beams if num_beams is None else num_beams
        lp = self.settings.length_penalty if length_penalty is None else length_penalty
        out = [""] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]  # an empty text translates to an empty text
        if not todo:
            return out
        ids = self.encode_sources([texts[i].strip() for i in todo])
        order = sorted(range(len(todo)), key=lambda k: len(ids[k]))
        pad = self.model.config.pad_token_id
        was = self.model.training
        self.model.eval()
        try:
            starts = range(0, len(order), batch_size)
            for b in tqdm(starts, desc="translate", disable=not progress, dynamic_ncols=True):
                rows = order[b:b + batch_size]
                s_len = max(len(ids[k]) for k in rows)
                src = torch.full((len(rows), s_len), pad, dtype=torch.long)
                mask = torch.zeros_like(src)
                for r, k in enumerate(rows):
                    src[r, :len(ids[k])] = torch.tensor(ids[k])
                    mask[r, :len(ids[k])] = 1
                new = max_new_tokens if max_new_tokens is not None else 2 * s_len + 10
                new = min(new, self.model.max_tokens - 1)
                gen = self.model.generate(src, mask, max_new_tokens=new, num_beams=beams, length_penalty=lp,
                                          eos_token_id=self.settings.eos_token_id, pad_token_id=pad)
                for r, k in enumerate(rows):
                    out[todo[k]] = self.decode(gen[r, 1:].tolist())
        finally:
            self.model.train(was)
        return out

    def decode(self, ids: list[int]) -> str:
        """Target ids (after the start token) -> text, up to the first eos."""
        eos = self.settings.eos_token_id
        if eos in ids:
            ids = ids[:ids.index(eos)]
        return self.target_tokenizer.decode(ids, skip_special_tokens=True).strip()


def settings_from(tok, **kw: Any) -> TranslationSettings:
    """Settings for a model trained with tokenizer `tok` (eos: its eos token, else its [SEP])."""
    eos = tok.eos_token_id if tok.eos_token_id is not None else tok.sep_token_id
    if eos is None:
        raise InputError("the tokenizer has neither an eos nor a [SEP] token to end sentences with")
    return TranslationSettings(eos_token_id=eos, **kw)
