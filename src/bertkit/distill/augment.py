"""TinyBERT's data augmentation (Jiao et al. 2020, section 3.1): many noisy copies of a task's training rows, each
word replaced with probability p by a word a masked LM (single-piece words) or the embedding table (words of
several WordPieces) finds close to it. The copies are the extra data TinyBERT's task-specific distillation uses.

    stats = tinybert_augment("teacher/", "train.tsv", "train.aug.tsv", n=20, k=15, p=0.4)

Rows are streamed to OUT.partial (flushed per source row) and renamed to OUT at the end; an interrupted run is
continued by the same call (resume=True) and the final file is byte for byte the one an uninterrupted run writes.
"""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from bertkit.errors import InputError, warn
from bertkit.models import Model
from bertkit.tasks.tables import Table, _cell, read_table
from bertkit.tokenizers.text import CHUNK_RE, bert_words

EXTRA_COLS = ("source_row", "augmented")
CHUNK_SEQUENCES = 8  # a chunk of source rows holds at least this many batches of masked copies
NEIGHBOUR_BLOCK = 512  # multi-piece words per matrix product against the candidate table


@dataclass
class Word:
    """One word of a text: as written, as the tokenizer normalised it, its WordPiece ids, and its candidates."""

    surface: str
    norm: str
    ids: list[int]
    eligible: bool  # alphabetic: gets candidates (numbers, punctuation and symbols stay as they are)


class _Augmenter:
    """The MLM, its tokenizer and the candidate filter; candidates for words and texts of one run."""

    def __init__(self, model: Model, tok: Any, k: int, batch_size: int, max_length: int) -> None:
        self.model, self.tok, self.k = model, tok, k
        self.batch_size, self.max_length = batch_size, max_length
        self.wp = tok.model
        self.vocab = self.wp.vocab
        self.device = next(model.parameters()).device
        table = model.input_embeddings().weight.detach().float()  # (V, E)
        special = set(tok.all_special_ids)
        prefix = self.wp.prefix
        allowed = [i for i in range(min(len(tok), table.shape[0]))
                   if i not in special and _is_word(t := tok.convert_ids_to_tokens(i)) and not t.startswith(prefix)]
        if not allowed:
            raise InputError("the MLM's vocabulary has no whole-word alphabetic tokens to use as candidates")
        self.allowed = torch.tensor(allowed, device=self.device)
        self.banned = torch.ones(model.config.vocab_size, dtype=torch.bool, device=self.device)  # (V,)
        self.banned[self.allowed] = False
        self.table = table
        self.cand = torch.nn.functional.normalize(table[self.allowed], dim=-1)  # (Nc, E)
        self.neighbours: dict[str, list[str]] = {}  # multi-piece word -> its k nearest whole words
        self.windowed = 0
        self.masked = 0

    def words(self, text: str) -> list[Word]:
        """The basic tokenizer's words of `text` (whitespace, then punctuation split; BERT's normalisation)."""
        norm, out = self.wp.norm, []
        for m in CHUNK_RE.finditer(text):
            chunk = m.group()
            for w, origins in bert_words(chunk, norm.lowercase, norm.strip, norm.chinese_chars):
                ids = [self.vocab.get(t, self.wp.unk_id) for t, _, _ in self.wp.split_word(w)]
                out.append(Word(chunk[origins[0]:origins[-1] + 1], w, ids, _is_word(w)))
        return out

    def learn_neighbours(self, words: list[Word]) -> None:
        """Nearest whole-word entries (cosine of the mean piece vector) for the multi-piece words not seen yet,
        in blocks of NEIGHBOUR_BLOCK in first-seen order (a resumed run replays the same blocks)."""
        new: dict[str, list[int]] = {}
        for w in words:
            if w.eligible and len(w.ids) > 1 and w.norm not in self.neighbours:
                new.setdefault(w.norm, w.ids)
        items = list(new.items())
        k = min(self.k, self.cand.shape[0])
        for b in range(0, len(items), NEIGHBOUR_BLOCK):
            block = items[b:b + NEIGHBOUR_BLOCK]
            vecs = torch.stack([self.table[torch.tensor(ids, device=self.device)].mean(0) for _, ids in block])
            scores = torch.nn.functional.normalize(vecs, dim=-1) @ self.cand.T  # (W, Nc)
            top = self.allowed[scores.topk(k, dim=-1).indices].tolist()
            for (word, _), ids in zip(block, top):
                self.neighbours[word] = [t for t in self.tok.convert_ids_to_tokens(ids) if t != word]

    def mlm_candidates(self, texts: list[list[Word]]) -> dict[tuple[int, int], list[str]]:
        """(text index, word index) -> the MLM's top-k allowed tokens at that word replaced by one mask, for every
        eligible single-piece word; batch_size masked copies per forward, shortest first."""
        tok, L = self.tok, self.max_length
        seqs: list[tuple[list[int], int, tuple[int, int], int]] = []  # ids, mask position, key, word id
        for t, words in enumerate(texts):
            pieces = [i for w in words for i in w.ids]
            if len(pieces) + 2 > L:
                self.windowed += 1
            pos = 0
            for j, w in enumerate(words):
                if w.eligible and len(w.ids) == 1:
                    ids = pieces[:pos] + [tok.mask_token_id] + pieces[pos + 1:]
                    start = min(max(0, pos - (L - 2) // 2), max(0, len(ids) - (L - 2)))  # a window around it
                    body = ids[start:start + L - 2]
                    seqs.append(([tok.cls_token_id, *body, tok.sep_token_id], pos - start + 1, (t, j), w.ids[0]))
                pos += len(w.ids)
        seqs.sort(key=lambda s: len(s[0]))  # stable: ties keep text order
        out: dict[tuple[int, int], list[str]] = {}
        k = min(self.k, int(self.allowed.numel()))
        pad = tok.pad_token_id or 0
        for b in range(0, len(seqs), self.batch_size):
            batch = seqs[b:b + self.batch_size]
            T = max(len(s[0]) for s in batch)
            ids = torch.full((len(batch), T), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), T), dtype=torch.long)
            where = torch.zeros((len(batch), T), dtype=torch.bool)
            for r, (s, p, _, _) in enumerate(batch):
                ids[r, :len(s)], mask[r, :len(s)], where[r, p] = torch.tensor(s), 1, True
            o = self.model(ids.to(self.device), mask.to(self.device), masked_positions=where.to(self.device))
            logits = (o.logits if o.logits is not None else o.prediction_logits).float()  # (B, V)
            logits = logits.masked_fill(self.banned[:logits.shape[1]], float("-inf"))
            own = torch.tensor([s[3] for s in batch], device=logits.device)
            logits[torch.arange(len(batch), device=logits.device), own] = float("-inf")  # never the word itself
            top = logits.topk(k, dim=-1).indices.tolist()
            for (_, _, key, _), row in zip(batch, top):
                out[key] = tok.convert_ids_to_tokens(row)
        self.masked += len(seqs)
        return out


def _is_word(s: str) -> bool:
    return s.isalpha()


def _check_args(n: int, k: int, p: float, batch_size: int, max_length: int) -> None:
    if int(n) < 1:
        raise InputError(f"n (augmented copies per row) must be >= 1, got {n}")
    if int(k) < 1:
        raise InputError(f"k (candidates per word) must be >= 1, got {k}")
    if not 0.0 <= float(p) <= 1.0:
        raise InputError(f"p (the probability of replacing a word) must be in [0, 1], got {p}")
    if int(batch_size) < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    if int(max_length) < 3:
        raise InputError(f"max_length must be >= 3 ([CLS] word [SEP]), got {max_length}")


def _read(inputs: str | Path, text_col: str, text2_col: str | None) -> Table:
    table = read_table(inputs, needed=[text_col, text2_col])
    if not table.rows:
        raise InputError(f"{inputs} has no rows")
    table.require(text_col, text2_col)
    taken = [c for c in EXTRA_COLS if c in table.columns]
    if taken:
        raise InputError(f"{inputs} already has a column {', '.join(map(repr, taken))}; the augmented file adds "
                         f"{' and '.join(EXTRA_COLS)}: rename it")
    return table


def _load(mlm: str | Path | Model) -> tuple[Model, Path]:
    from bertkit.distill.general import load_teacher

    if isinstance(mlm, Model):
        if "mlm" not in mlm.heads:
            raise InputError(f"the model (task {mlm.task!r}) has no masked-LM head; augmentation needs an MLM")
        path = getattr(mlm, "pretrained_path", None)
        if path is None:
            raise InputError("the model was not loaded from a folder, so its tokenizer is unknown; pass the folder")
        return mlm, Path(path)
    model = load_teacher(mlm)
    return model, Path(model.pretrained_path)


def _complete_rows(partial: Path, per_row: int) -> tuple[int, int]:
    """(complete source rows, their byte length with the header) of a partial output: a source row is complete
    when all its `per_row` lines are (a cut line or an unfinished row is dropped)."""
    data = partial.read_bytes()
    lines = data.count(b"\n")
    if not lines:
        return 0, 0
    rows = (lines - 1) // per_row
    end = -1
    for _ in range(rows * per_row + 1):  # the header and the complete rows' lines
        end = data.index(b"\n", end + 1)
    return rows, end + 1


def _line(values: list[str]) -> str:
    return "\t".join(v.replace("\t", " ").replace("\r", " ").replace("\n", " ") for v in values) + "\n"


def tinybert_augment(mlm: str | Path | Model, inputs: str | Path, out_path: str | Path, text_col: str = "sentence",
                     text2_col: str | None = None, n: int = 20, k: int = 15, p: float = 0.4, batch_size: int = 64,
                     max_length: int = 128, seed: int = 0, progress: bool = True,
                     resume: bool = True) -> dict[str, Any]:
    """Write every row of `inputs` followed by `n` augmented copies to `out_path` (TSV) and return the run's stats.

    `mlm`: a folder (or a bertkit Model loaded from one) with a masked-LM head and a WordPiece tokenizer.
    `inputs`: a CSV / TSV / JSONL file read as `bertkit finetune classify` reads it; every column is kept and
    copied (labels included), and `source_row` (the row's 0-based index) and `augmented` (0 or 1) are added.
    Words are the basic tokenizer's (whitespace, then punctuation; normalised as the tokenizer does). Candidates
    of an alphabetic word (numbers and punctuation have none and stay):
    - one WordPiece: the MLM's top-k tokens with that word replaced by one mask in its text (a window of
      max_length tokens around it when the text is longer), batch_size masked copies per forward;
    - several: the k whole-word vocabulary entries nearest by cosine to the mean of its pieces' input
      embeddings, computed once per distinct word.
    Candidates are whole alphabetic vocabulary words, never special tokens, `##` pieces or the word itself.
    In each copy every word with candidates is replaced, with probability `p`, by one of them chosen uniformly;
    the random draws are seeded by (seed, row index) only. A copy's text is its words joined by single spaces
    (kept words as written in the source, so a copy with nothing replaced is the source's words, space-joined).
    Rows go to OUT.partial as they are produced (flushed per source row); with resume=True a partial output of
    the same arguments and input is continued after its last complete source row, and the result equals an
    uninterrupted run's file. Stats: rows, lines written, rows found done, and for this call's work the word
    counts, replacements and seconds.
    """
    t0 = time.perf_counter()
    _check_args(n, k, p, batch_size, max_length)
    n, k, p, batch_size, max_length = int(n), int(k), float(p), int(batch_size), int(max_length)
    table = _read(inputs, text_col, text2_col)
    model, folder = _load(mlm)
    from bertkit.resumable import Progress, input_signature
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(folder)
    if getattr(tok.model, "kind", None) != "wordpiece" or tok.mask_token_id is None:
        raise InputError(f"{folder}: TinyBERT augmentation needs a WordPiece tokenizer with a mask token "
                         f"(this one is {getattr(tok.model, 'kind', '?')})")
    if max_length > model.max_tokens:
        raise InputError(f"max_length {max_length} exceeds the MLM's {model.max_tokens} positions")
    out_path = Path(out_path)
    if out_path.resolve() == Path(inputs).resolve():
        raise InputError(f"the output {out_path} is the input file; choose another output path")

    cols = [text_col] + ([text2_col] if text2_col else [])
    run = {"method": "tinybert", "mlm": str(folder.resolve()), "text_col": text_col, "text2_col": text2_col, "n": n,
           "k": k, "p": p, "batch_size": batch_size, "max_length": max_length, "seed": seed,
           **input_signature(inputs)}
    partial = out_path.with_name(out_path.name + ".partial")
    record = Progress(out_path.with_name(out_path.name + ".partial.json"), run)
    done, keep = 0, 0
    if resume and partial.is_file() and record.path.is_file():
        record.resume("augmentation")  # refuses other arguments or a changed input, naming them
        done, keep = _complete_rows(partial, n + 1)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    f = partial.open("r+b" if keep else "wb")
    f.truncate(keep)
    f.seek(keep)
    if not keep:
        f.write(_line(list(table.columns) + list(EXTRA_COLS)).encode("utf-8"))
        f.flush()
        done = 0
    record.commit(done)

    model.eval()
    aug = _Augmenter(model, tok, k, batch_size, max_length)
    stats = {"words": 0, "single_piece": 0, "multi_piece": 0, "without_candidates": 0, "replaced": 0,
             "replaceable": 0}
    bar = tqdm(total=len(table.rows), initial=done, desc="augment", unit="row", disable=not progress,
               dynamic_ncols=True)
    try:
        with torch.inference_mode():
            for start, end, texts in _chunks(table, cols, aug, CHUNK_SEQUENCES * batch_size):
                aug.learn_neighbours([w for t in texts for w in t])  # also for chunks already done: same blocks
                if end <= done:
                    continue
                found = aug.mlm_candidates(texts)
                for r in range(max(start, done), end):
                    row_texts = texts[(r - start) * len(cols):(r - start + 1) * len(cols)]
                    base = (r - start) * len(cols)
                    cands = [[found.get((base + t, j)) if len(w.ids) == 1 else aug.neighbours.get(w.norm)
                              if w.eligible else None for j, w in enumerate(words)]
                             for t, words in enumerate(row_texts)]
                    f.write(_row_lines(table, r, cols, row_texts, cands, n, p, seed, stats).encode("utf-8"))
                    f.flush()
                    bar.update(1)
                record.commit(end)
    finally:
        bar.close()
        f.close()
    os.replace(partial, out_path)
    record.remove()
    if aug.windowed:
        warn(f"{aug.windowed} text(s) are longer than max_length={max_length} tokens: their words were predicted "
             f"from a {max_length}-token window around each")
    rows = len(table.rows)
    return {"method": "tinybert", "out": str(out_path), "rows": rows, "lines": rows * (n + 1), "copies": rows * n,
            "resumed_rows": done, **stats, "replaced_fraction": stats["replaced"] / max(1, stats["replaceable"]),
            "masked_sequences": aug.masked, "distinct_multi_piece": len(aug.neighbours),
            "windowed_texts": aug.windowed, "seconds": time.perf_counter() - t0}


def _chunks(table: Table, cols: list[str], aug: _Augmenter, target: int):
    """(first row, end row, the rows' texts as word lists, len(cols) per row) of consecutive rows holding at least
    `target` masked copies; the boundaries depend on the input and arguments only, so a resumed run computes the
    same batches."""
    texts: list[list[Word]] = []
    start, count = 0, 0
    for r, row in enumerate(table.rows):
        for c in cols:
            words = aug.words(_cell(row.get(c)))
            texts.append(words)
            count += sum(1 for w in words if w.eligible and len(w.ids) == 1)
        if count >= target or r == len(table.rows) - 1:
            yield start, r + 1, texts
            texts, start, count = [], r + 1, 0


def _row_lines(table: Table, r: int, cols: list[str], texts: list[list[Word]], cands: list[list[list[str] | None]],
               n: int, p: float, seed: int, stats: dict[str, int]) -> str:
    """The source row and its n copies, as TSV lines; the draws come from a generator seeded by (seed, r)."""
    row = table.rows[r]
    names = list(table.columns)
    src = [_cell(row.get(c)) for c in names]
    lines = [_line(src + [str(r), "0"])]
    for words, cs in zip(texts, cands):
        stats["words"] += len(words)
        stats["single_piece"] += sum(1 for w, c in zip(words, cs) if c and len(w.ids) == 1)
        stats["multi_piece"] += sum(1 for w, c in zip(words, cs) if c and len(w.ids) > 1)
        stats["without_candidates"] += sum(1 for c in cs if not c)
    rng = random.Random(f"tinybert:{seed}:{r}")
    for _ in range(n):
        copy = list(src)
        for c, words, cs in zip(cols, texts, cands):
            new = []
            for w, options in zip(words, cs):
                u = rng.random()
                if options:
                    stats["replaceable"] += 1
                    if u < p:
                        new.append(options[rng.randrange(len(options))])
                        stats["replaced"] += 1
                        continue
                new.append(w.surface)
            copy[names.index(c)] = " ".join(new)
        lines.append(_line(copy + [str(r), "1"]))
    return "".join(lines)


__all__ = ["tinybert_augment"]
