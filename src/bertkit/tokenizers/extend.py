"""Give a pretrained WordPiece vocabulary the characters a new corpus needs, in its reserved slots.

BERT's vocabularies reserve rows named `[unused0]`, `[unused1]`, ... (994 in bert-base-uncased and the
bundled MiniLM). WordPiece turns a whole word into one `[UNK]` when a single character of it is missing
from the vocabulary, so on a new language or domain whole words vanish: on Korean movie reviews the
MiniLM vocabulary (which spells Hangul as jamo after its accent stripping) loses every word with ㅋ, ㅠ
or a final ㅆ, 5.6% of all tokens. Putting each missing character (as a word start and as a `##`
continuation) into an unused slot keeps the vocabulary size, so the checkpoint's weights load
unchanged; the new rows then learn their meaning in continued pretraining
(`bertkit pretrain --init EXTENDED_FOLDER --tokenizer EXTENDED_FOLDER`), the recipe BERT's own README
gives for new vocabulary.
"""
from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bertkit.errors import InputError
from bertkit.tokenizers.stats import token_stats
from bertkit.tokenizers.tokenizer import Tokenizer
from bertkit.tokenizers.train import bert_word_counts

UNUSED_RE = re.compile(r"\[unused\d+\]")


@dataclass
class ExtendReport:
    """What `fill_unused` changed: the pieces put in which slots, and the unknown rate before/after."""

    added: list[tuple[int, str, int]] = field(default_factory=list)  # (id, piece, count in the corpus)
    slots: int = 0  # unused slots the vocabulary had
    left_out: list[tuple[str, int]] = field(default_factory=list)  # needed pieces that found no slot
    rare: int = 0  # needed pieces used fewer than min_count times (not added)
    unknown_before: float = 0.0
    unknown_after: float = 0.0

    def summary(self) -> str:
        text = (f"filled {len(self.added)} of {self.slots} unused slots; unknown-token rate on the corpus "
                f"{self.unknown_before:.2%} -> {self.unknown_after:.2%}")
        if self.left_out:
            text += f"; {len(self.left_out)} pieces left out for want of slots (rarest first dropped)"
        if self.rare:
            text += f"; {self.rare} pieces used fewer than --min-count times not added"
        return text


def missing_pieces(tok: Tokenizer, lines: Sequence[str], min_count: int = 1) -> list[tuple[str, int]]:
    """Single-character pieces the corpus needs and `tok` lacks, most frequent first.

    A character opening a word needs the piece `c`, one inside a word needs `##c` (the tokenizer's own
    continuation prefix). With both present for every character, no word of the corpus becomes [UNK]
    unless it is longer than the tokenizer's per-word limit.
    """
    model = tok.model
    if getattr(model, "kind", None) != "wordpiece":
        raise InputError(f"only WordPiece vocabularies have [unused] slots to fill; this tokenizer is "
                         f"{getattr(model, 'kind', type(model).__name__)}")
    vocab, prefix = model.vocab, model.prefix
    need: Counter[str] = Counter()
    for word, n in bert_word_counts(lines, model.norm).items():
        if len(word) > model.max_chars:
            continue
        for i, ch in enumerate(word):
            piece = ch if i == 0 else prefix + ch
            if piece not in vocab:
                need[piece] += n
    return [(p, n) for p, n in sorted(need.items(), key=lambda kv: (-kv[1], kv[0])) if n >= max(1, min_count)]


def fill_unused(tok: Tokenizer, lines: Sequence[str], min_count: int = 1) -> tuple[list[str], ExtendReport]:
    """The vocabulary (a list indexed by id) with `[unusedN]` slots holding the pieces the corpus needs."""
    if min_count < 1:
        raise InputError(f"min_count (--min-count) must be at least 1, got {min_count}")
    everything = missing_pieces(tok, lines)  # checks that tok is WordPiece
    needed = [(p, n) for p, n in everything if n >= min_count]
    ordered = list(tok.model.id_to_token)
    slots = [i for i, piece in enumerate(ordered) if UNUSED_RE.fullmatch(piece)]
    if not slots:
        raise InputError("the vocabulary has no [unusedN] slots to fill")
    report = ExtendReport(slots=len(slots), left_out=needed[len(slots):], rare=len(everything) - len(needed))
    for i, (piece, n) in zip(slots, needed):
        ordered[i] = piece
        report.added.append((i, piece, n))
    return ordered, report


def extend_checkpoint(src: str | Path, corpus: Sequence[str], out: str | Path,
                      min_count: int = 1) -> ExtendReport:
    """Copy the checkpoint folder `src` to `out` with its vocabulary's unused slots filled from `corpus`.

    Weights and every other file are copied as they are; `vocab.txt` is rewritten and so is the vocabulary
    inside `tokenizer.json` when there is one, so transformers' fast tokenizer agrees with the new
    vocab.txt. The report gives the unknown-token rate on the corpus before and after.
    """
    from bertkit.hub.default import resolve_model_path

    src, out = resolve_model_path(src), Path(out)  # src: a folder, or a hub id in the local cache
    if not src.is_dir():
        raise InputError(f"checkpoint folder not found: {src}")
    if out.resolve() == src.resolve():
        raise InputError("--out must be a new folder, not the checkpoint itself")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not empty; choose a new folder")
    lines = [line for line in corpus if line.strip()]
    if not lines:
        raise InputError("the corpus is empty")
    tok = Tokenizer.from_pretrained(src)
    ordered, report = fill_unused(tok, lines, min_count)
    report.unknown_before = token_stats(tok, lines, top=0).unknown_rate
    shutil.copytree(src, out, dirs_exist_ok=True, ignore=shutil.ignore_patterns("vocab.txt", "tokenizer.json"))
    (out / "vocab.txt").write_text("".join(piece + "\n" for piece in ordered), encoding="utf-8")
    if (src / "tokenizer.json").is_file():
        fast = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
        fast["model"]["vocab"] = {piece: i for i, piece in enumerate(ordered)}
        filled = {i for i, _, _ in report.added}
        fast["added_tokens"] = [t for t in fast.get("added_tokens", []) if t.get("id") not in filled]
        (out / "tokenizer.json").write_text(json.dumps(fast, ensure_ascii=False, indent=1), encoding="utf-8")
    report.unknown_after = token_stats(Tokenizer.from_pretrained(out), lines, top=0).unknown_rate
    return report
