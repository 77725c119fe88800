"""BERTSUM extractive summarisation (Liu 2019, chapter 6): score every sentence of a document, keep the best.

Input: every sentence gets its own [CLS] before and [SEP] after it, and interval segment ids (sentence 0 A,
sentence 1 B, sentence 2 A, ...), so the encoder's output at each [CLS] is that sentence's vector.

    [CLS] s1 [SEP] [CLS] s2 [SEP] [CLS] s3 [SEP] ...    segments A A A B B B A A A ...

A sentence's vector is its [CLS] output (BERTSUM, sentence_vector="cls") or, the default, the mean output of its
own word tokens ("mean"): the bundled MiniLM, trained for mean pooling, gives every [CLS] nearly the same output
(see ExtSumModel), and on a test corpus "cls" needed 8 epochs to reach what "mean" reached in one.

Three summarisation heads read the sentence vectors (B, S, H):
- linear: sigmoid(W h_i + b) per sentence;
- transformer: an inter-sentence Transformer (2 post-LN blocks from bertkit.nn, sinusoidal sentence positions),
  then the linear scorer, so each sentence's score sees the others;
- lstm: an LSTM over the sentences with layer normalisation on each gate's input and recurrent parts and on the
  cell (BERTSUM's LayerNormLSTM), then the linear scorer.

Training labels come from the greedy oracle: sentences are added one at a time while the mean of ROUGE-1 and
ROUGE-2 F against the reference still rises (at most `oracle_max`). Inference keeps the top-k sentences by score,
skipping a sentence that shares a trigram with those already kept (trigram blocking), in document order.

Documents longer than the encoder's positions (512 for BERT) are read in windows: consecutive whole sentences
are packed into windows of at most `max_length` tokens, each window is encoded on its own, and the sentence
vectors of all windows are joined before the head, so the transformer and LSTM heads still see the whole
document. A single sentence longer than a window is cut to fit.

A trained summariser is a folder: the encoder as a Hugging Face checkpoint (config.json, model.safetensors and the
tokenizer, which transformers loads as BertModel), plus extsum.json (head and settings) and extsum_head.safetensors.
"""
from __future__ import annotations

import json
import math
import random
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import CheckpointError, InputError

HEADS = ("linear", "transformer", "lstm")
SETTINGS_FILE = "extsum.json"
HEAD_FILE = "extsum_head.safetensors"

# ---------------------------------------------------------------------------------------------------------------
# sentences
_ABBREVIATIONS = frozenset(
    ["mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "ft", "vs", "etc", "inc", "ltd", "co", "corp", "plc", "no", "nos", "gen", "col", "lt", "sgt", "capt", "cmdr", "adm", "rev", "gov", "sen", "rep", "pres", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "approx", "dept", "est", "fig", "vol", "e.g", "i.e", "u.s", "u.k", "u.n", "a.m", "p.m"])
_BOUNDARY = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(?=\s+[\"'\u201c\u2018(\[]?[A-Z0-9])")
_JOINED = re.compile(r"(?<=[a-z0-9%\"'\u201d)][.!?])(?=[\"\u201c]?[A-Z])")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`: paragraphs (line breaks) first, then a . ! or ? (with any closing quotes or brackets)
    followed by white space and a capital, a digit or an opening quote, except after a known abbreviation
    ("Mr.", "U.S.") or a single letter (an initial). Empty pieces are dropped."""
    out: list[str] = []
    for para in re.split(r"\n+", text):
        start = 0
        for m in _BOUNDARY.finditer(para):
            word = para[:m.start()].rsplit(None, 1)[-1] if para[:m.start()].strip() else ""
            word = word.lstrip("\"'(\u201c\u2018[").lower()
            if para[m.start()] == "." and (word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())):
                continue
            piece = para[start:m.end()].strip()
            if piece:
                out.append(piece)
            start = m.end()
        piece = para[start:].strip()
        if piece:
            out.append(piece)
    return out


def fix_joined_sentences(text: str) -> str:
    """Put a space where a sentence end runs into the next sentence ("$10.9bn.For the year"), a quirk of the BBC
    News Summary references; an abbreviation such as "U.S.A" (capital before the stop) is left alone."""
    return _JOINED.sub(" ", text)


# ---------------------------------------------------------------------------------------------------------------
# the greedy oracle (BERTSUM's label maker) and trigram blocking
def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9 ]", " ", text.lower()).split()


def _grams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def _f1(cand: Counter, ref: Counter) -> float:
    hit = sum((cand & ref).values())
    if not hit:
        return 0.0
    p, r = hit / sum(cand.values()), hit / sum(ref.values())
    return 2 * p * r / (p + r)


def greedy_oracle(sentences: Sequence[str], reference: str, max_sentences: int = 3) -> list[int]:
    """Indices (sorted) of the sentences the greedy oracle picks: add the sentence that most raises
    (ROUGE-1 F + ROUGE-2 F) / 2 of the selection against `reference`, while it rises, at most `max_sentences`."""
    ref_words = _words(reference)
    ref1, ref2 = _grams(ref_words, 1), _grams(ref_words, 2)
    sent_words = [_words(s) for s in sentences]
    uni = [_grams(w, 1) for w in sent_words]
    chosen: list[int] = []
    best = 0.0
    while len(chosen) < max_sentences:
        pick, pick_score = -1, best
        for i in range(len(sentences)):
            if i in chosen:
                continue
            cand = sorted(chosen + [i])
            words = [w for j in cand for w in sent_words[j]]
            c1 = sum((uni[j] for j in cand), Counter())
            score = (_f1(c1, ref1) + _f1(_grams(words, 2), ref2)) / 2
            if score > pick_score:
                pick, pick_score = i, score
        if pick < 0:
            break
        chosen.append(pick)
        best = pick_score
    return sorted(chosen)


def quick_rouge(summary: str, reference: str) -> float:
    """(ROUGE-1 F + ROUGE-2 F) / 2 on lower-cased alphanumeric words: the oracle's own yardstick, used to pick the
    best epoch. The reported figures use bertkit.metrics.rouge, which equals the rouge-score package."""
    a, b = _words(summary), _words(reference)
    return (_f1(_grams(a, 1), _grams(b, 1)) + _f1(_grams(a, 2), _grams(b, 2))) / 2


def select(sentences: Sequence[str], scores: Sequence[float], k: int = 3, trigram_blocking: bool = True) -> list[int]:
    """The top-k sentences by score (document order in the result); with trigram blocking a sentence sharing a
    word trigram with one already chosen is skipped, as BERTSUM decodes."""
    chosen: list[int] = []
    seen: set[tuple[str, ...]] = set()
    for i in sorted(range(len(sentences)), key=lambda j: -scores[j]):
        if len(chosen) >= k:
            break
        tri = set(_grams(_words(sentences[i]), 3))
        if trigram_blocking and tri & seen:
            continue
        chosen.append(i)
        seen |= tri
    return sorted(chosen)


# ---------------------------------------------------------------------------------------------------------------
# encoding documents into windows
@dataclass
class DocFeatures:
    """One document: windows of (input_ids, token_type_ids, [CLS] positions) and its sentence labels (0/1)."""

    windows: list[tuple[list[int], list[int], list[int]]]
    n_sentences: int
    labels: list[int] | None = None


def encode_document(tokenizer, sentences: Sequence[str], max_length: int = 512,
                    labels: Sequence[int] | None = None) -> DocFeatures:
    """[CLS] s [SEP] per sentence, interval segment ids, whole sentences packed into windows of <= max_length."""
    if max_length < 8:
        raise InputError(f"max_length must be >= 8 tokens, got {max_length}")
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise InputError("extractive summarisation needs a tokenizer with [CLS] and [SEP] tokens")
    windows: list[tuple[list[int], list[int], list[int]]] = []
    ids: list[int] = []
    types: list[int] = []
    cls_at: list[int] = []
    for i, s in enumerate(sentences):
        unit = [cls_id] + tokenizer.encode(s, add_special_tokens=False)[:max_length - 2] + [sep_id]
        if ids and len(ids) + len(unit) > max_length:
            windows.append((ids, types, cls_at))
            ids, types, cls_at = [], [], []
        cls_at.append(len(ids))
        ids += unit
        types += [i % 2] * len(unit)
    if ids:
        windows.append((ids, types, cls_at))
    return DocFeatures(windows, len(sentences), None if labels is None else list(labels))


def collate_documents(docs: Sequence[DocFeatures], pad_id: int) -> dict[str, torch.Tensor]:
    """All windows of all documents as one (W, L) batch, with where each sentence's [CLS] lands: cls_window,
    cls_position, doc_index, sent_index (N,), sentence_mask (B, S) and, for labelled documents, labels (B, S) as
    floats (-1 on padding)."""
    wins = [(d, w) for d, doc in enumerate(docs) for w in doc.windows]
    width = max(len(w[0]) for _, w in wins)
    n = len(wins)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    token_type_ids = torch.zeros((n, width), dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    token_sentence = torch.full((n, width), -1, dtype=torch.long)  # which sentence (of N) a word token is in
    cls_window, cls_position, doc_index, sent_index = [], [], [], []
    count = [0] * len(docs)
    for wi, (d, (ids, types, cls_at)) in enumerate(wins):
        input_ids[wi, :len(ids)] = torch.tensor(ids)
        token_type_ids[wi, :len(ids)] = torch.tensor(types)
        attention_mask[wi, :len(ids)] = 1
        for k, p in enumerate(cls_at):
            end = cls_at[k + 1] if k + 1 < len(cls_at) else len(ids)  # the next [CLS], or the window's end
            token_sentence[wi, p + 1:end - 1] = len(cls_window)  # the words, without [CLS] and [SEP]
            cls_window.append(wi)
            cls_position.append(p)
            doc_index.append(d)
            sent_index.append(count[d])
            count[d] += 1
    s = max(doc.n_sentences for doc in docs)
    mask = torch.zeros((len(docs), s), dtype=torch.bool)
    for d, doc in enumerate(docs):
        mask[d, :doc.n_sentences] = True
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask,
             "cls_window": torch.tensor(cls_window), "cls_position": torch.tensor(cls_position),
             "doc_index": torch.tensor(doc_index), "sent_index": torch.tensor(sent_index), "sentence_mask": mask,
             "token_sentence": token_sentence}
    if all(doc.labels is not None for doc in docs):
        labels = torch.full((len(docs), s), -1.0)
        for d, doc in enumerate(docs):
            labels[d, :doc.n_sentences] = torch.tensor(doc.labels, dtype=torch.float)
        batch["labels"] = labels
    return batch


# ---------------------------------------------------------------------------------------------------------------
# heads
class LinearScorer(nn.Module):
    """BERTSUM's simple classifier: a logit per sentence vector."""

    def __init__(self, dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.drop, self.out = nn.Dropout(dropout), nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(x)).squeeze(-1)


def _heads_for(dim: int, wanted: int = 8) -> int:
    return next(h for h in range(min(wanted, dim), 0, -1) if dim % h == 0)


class TransformerScorer(nn.Module):
    """The inter-sentence Transformer: sentence vectors + sinusoidal sentence positions through `layers`
    post-LN blocks (bertkit.nn), then a logit per sentence."""

    def __init__(self, dim: int, layers: int = 2, heads: int = 8, ffn: int | None = None, dropout: float = 0.1,
                 max_sentences: int = 1024) -> None:
        super().__init__()
        from bertkit.nn.embeddings import sinusoidal_table
        from bertkit.nn.stack import make_block

        h = _heads_for(dim, heads)
        self.blocks = nn.ModuleList(make_block(dim, h, ffn or 4 * dim, "gelu", dropout, dropout)
                                    for _ in range(layers))
        self.register_buffer("positions", sinusoidal_table(max_sentences, dim), persistent=False)
        self.drop, self.out = nn.Dropout(dropout), nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        from bertkit.nn.attention import additive_mask

        s = x.shape[1]
        if s > self.positions.shape[0]:
            raise InputError(f"a document of {s} sentences is longer than the transformer head's "
                             f"{self.positions.shape[0]} sentence positions")
        x = self.drop(x * mask[..., None].to(x.dtype) + self.positions[:s].to(x.dtype))
        bias = additive_mask(mask.long(), x.dtype)
        for block in self.blocks:
            x = block(x, bias)[0]
        return self.out(x).squeeze(-1)


class LayerNormLSTM(nn.Module):
    """An LSTM whose gate pre-activations are layer-normalised per gate, input and recurrent parts apart, and
    whose cell is normalised before the output gate (BERTSUM):
        (i, f, o, g) = LN_x(W_x x_t) + LN_h(W_h h_{t-1});  c_t = s(f) c_{t-1} + s(i) tanh(g);  h_t = s(o) tanh(LN_c(c_t)).
    Each of the four gates has its own LN gain and bias. Padded steps (mask False) keep the state."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.wx, self.wh = nn.Linear(dim, 4 * hidden, bias=False), nn.Linear(hidden, 4 * hidden, bias=False)
        self.gain_x, self.bias_x = nn.Parameter(torch.ones(4, hidden)), nn.Parameter(torch.zeros(4, hidden))
        self.gain_h, self.bias_h = nn.Parameter(torch.ones(4, hidden)), nn.Parameter(torch.zeros(4, hidden))
        self.norm_c = nn.LayerNorm(hidden)

    def _ln(self, z: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        z = z.view(*z.shape[:-1], 4, self.hidden)
        return F.layer_norm(z, (self.hidden,)) * gain + bias

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        gx = self._ln(self.wx(x), self.gain_x, self.bias_x)  # (B, S, 4, H): every step's input part at once
        h = x.new_zeros(b, self.hidden)
        c = x.new_zeros(b, self.hidden)
        outs = []
        for t in range(s):
            i, f, o, g = (gx[:, t] + self._ln(self.wh(h), self.gain_h, self.bias_h)).unbind(1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(self.norm_c(c_new))
            keep = mask[:, t, None]
            c, h = torch.where(keep, c_new, c), torch.where(keep, h_new, h)
            outs.append(h_new)
        return torch.stack(outs, 1)


class LSTMScorer(nn.Module):
    def __init__(self, dim: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.lstm, self.drop, self.out = LayerNormLSTM(dim, dim), nn.Dropout(dropout), nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.lstm(x, mask))).squeeze(-1)


def build_head(kind: str, dim: int, **cfg: Any) -> nn.Module:
    if kind == "linear":
        return LinearScorer(dim, cfg.get("dropout", 0.0))
    if kind == "transformer":
        return TransformerScorer(dim, cfg.get("layers", 2), cfg.get("heads", 8), cfg.get("ffn"),
                                 cfg.get("dropout", 0.1))
    if kind == "lstm":
        return LSTMScorer(dim, cfg.get("dropout", 0.1))
    raise InputError(f"unknown summarisation head {kind!r}; choose one of {', '.join(HEADS)}")


SENTENCE_VECTORS = ("cls", "mean")


class ExtSumModel(nn.Module):
    """encoder (a bertkit Model) + a summarisation head: batch (collate_documents) -> (B, S) sentence logits.

    sentence_vector: "cls" (BERTSUM: the output at each sentence's [CLS]) or "mean" (the mean output of the
    sentence's own word tokens). A sentence-embedding model trained with mean pooling, such as the bundled
    all-MiniLM-L6-v2, leaves its [CLS] outputs nearly identical (cosine 0.99998 between the [CLS] vectors of three
    unrelated sentences from layer 4 on, in bertkit and transformers alike), so "cls" must first unlearn that."""

    def __init__(self, encoder: nn.Module, head: str = "transformer", sentence_vector: str = "cls",
                 **head_cfg: Any) -> None:
        super().__init__()
        if sentence_vector not in SENTENCE_VECTORS:
            raise InputError(f"sentence_vector must be one of {', '.join(SENTENCE_VECTORS)}, got {sentence_vector!r}")
        self.encoder, self.kind, self.head_cfg, self.sentence_vector = encoder, head, head_cfg, sentence_vector
        self.head = build_head(head, encoder.config.hidden_size, **head_cfg)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.encoder(batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"]).last_hidden_state  # (W, L, H)
        if self.sentence_vector == "cls":
            vecs = hidden[batch["cls_window"], batch["cls_position"]]  # (N, H)
        else:
            where = batch["token_sentence"].reshape(-1)
            keep = where >= 0
            n = batch["cls_window"].shape[0]
            flat = hidden.reshape(-1, hidden.shape[-1])[keep]
            sums = flat.new_zeros(n, flat.shape[-1]).index_add_(0, where[keep], flat)
            vecs = sums / torch.bincount(where[keep], minlength=n).clamp(min=1)[:, None].to(sums.dtype)
        mask = batch["sentence_mask"]
        sent = vecs.new_zeros(*mask.shape, vecs.shape[-1])
        sent[batch["doc_index"], batch["sent_index"]] = vecs
        return self.head(sent, mask)


def extsum_loss(model: ExtSumModel, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Binary cross-entropy of each real sentence's logit against its oracle label, averaged over sentences."""
    logits = model(batch).float()
    keep = batch["labels"] >= 0
    loss = F.binary_cross_entropy_with_logits(logits[keep], batch["labels"][keep])
    return {"loss": loss}


# ---------------------------------------------------------------------------------------------------------------
# data
@dataclass
class Document:
    id: str
    sentences: list[str]
    reference: str | None = None       # sentences joined by newlines
    labels: list[int] | None = None
    record: dict[str, Any] = field(default_factory=dict)


@dataclass
class Skipped:
    """Records left out, by reason, with their ids (the first 20 of each)."""

    counts: dict[str, int] = field(default_factory=dict)
    ids: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, rid: str) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + 1
        if len(self.ids.setdefault(reason, [])) < 20:
            self.ids[reason].append(rid)

    def __str__(self) -> str:
        return "; ".join(f"{n} {r} ({', '.join(self.ids[r])}{', ...' if n > len(self.ids[r]) else ''})"
                         for r, n in self.counts.items())


def read_documents(path: str | Path, text_col: str = "article", summary_col: str | None = "summary",
                   labels_col: str | None = None, oracle_max: int = 3, min_sentences: int = 1,
                   progress: bool = False) -> tuple[list[Document], Skipped]:
    """A JSONL file of documents -> Documents (sentences split, the reference normalised and split, oracle
    labels, or the labels given in `labels_col` as sentence indices). Empty articles, documents with fewer than
    `min_sentences` sentences and records without the reference are skipped, counted and named."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    docs, skipped = [], Skipped()
    from bertkit.textio import iter_records

    it = iter_records(path, text_col)
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(it, desc="oracle labels" if summary_col else "read", unit="doc")
    for n, rec in it:
        rid = str(rec.get("id", f"line {n}"))
        text = rec[text_col]
        sents = split_sentences(text)
        if not sents:
            skipped.add("empty articles", rid)
            continue
        if len(sents) < min_sentences:
            skipped.add(f"documents with fewer than {min_sentences} sentences", rid)
            continue
        ref = labels = None
        if summary_col is not None:
            summary = rec.get(summary_col)
            if not isinstance(summary, str) or not summary.strip():
                skipped.add("records without a summary", rid)
                continue
            ref = "\n".join(split_sentences(fix_joined_sentences(summary)))
        if labels_col is not None and labels_col in rec:
            picked = rec[labels_col]
            if not isinstance(picked, list) or not all(isinstance(i, int) and 0 <= i < len(sents) for i in picked):
                raise InputError(f"{path}:{n}: {labels_col!r} must be a list of sentence indices in "
                                 f"0..{len(sents) - 1}")
            labels = [int(i in picked) for i in range(len(sents))]
        elif ref is not None:
            chosen = set(greedy_oracle(sents, ref, oracle_max))
            labels = [int(i in chosen) for i in range(len(sents))]
        docs.append(Document(rid, sents, ref, labels, rec))
    return docs, skipped


def lead(doc: Document, k: int = 3) -> str:
    return "\n".join(doc.sentences[:k])


# ---------------------------------------------------------------------------------------------------------------
# the summariser
@dataclass
class Summary:
    text: str                 # the chosen sentences, in document order, one per line
    indices: list[int]
    scores: list[float]       # every sentence's probability


class ExtractiveSummarizer:
    """A trained BERTSUM: `summarize(texts)` and save/load of its folder (see the module docstring)."""

    def __init__(self, model: ExtSumModel, tokenizer, settings: dict[str, Any]) -> None:
        self.model, self.tokenizer, self.settings = model, tokenizer, dict(settings)

    @property
    def max_length(self) -> int:
        return int(self.settings.get("max_length", 512))

    def sentence_scores(self, documents: Sequence[Sequence[str]], batch_size: int = 8,
                        progress: bool = False) -> list[list[float]]:
        """Per-document lists of sentence probabilities."""
        pad = self.tokenizer.pad_token_id or 0
        feats = [encode_document(self.tokenizer, d, self.max_length) for d in documents]
        out: list[list[float]] = [[] for _ in feats]
        order = sorted(range(len(feats)), key=lambda i: -sum(len(w[0]) for w in feats[i].windows))
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(feats), desc="summarize", unit="doc")
        was = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for i in range(0, len(order), batch_size):
                    idx = order[i:i + batch_size]
                    probs = torch.sigmoid(self.model(collate_documents([feats[j] for j in idx], pad)).float())
                    for row, j in enumerate(idx):
                        out[j] = probs[row, :feats[j].n_sentences].tolist()
                    if bar is not None:
                        bar.update(len(idx))
        finally:
            self.model.train(was)
            if bar is not None:
                bar.close()
        return out

    def summarize_sentences(self, documents: Sequence[Sequence[str]], k: int | None = None,
                            trigram_blocking: bool | None = None, batch_size: int = 8,
                            progress: bool = False) -> list[Summary]:
        k = int(self.settings.get("top_k", 3) if k is None else k)
        if k < 1:
            raise InputError(f"k must be >= 1 sentence, got {k}")
        block = self.settings.get("trigram_blocking", True) if trigram_blocking is None else trigram_blocking
        scores = self.sentence_scores(documents, batch_size, progress)
        res = []
        for sents, sc in zip(documents, scores):
            idx = select(sents, sc, k, block)
            res.append(Summary("\n".join(sents[i] for i in idx), idx, sc))
        return res

    def summarize(self, texts: str | Sequence[str], k: int | None = None, trigram_blocking: bool | None = None,
                  batch_size: int = 8, progress: bool = False) -> Summary | list[Summary]:
        """Summaries of raw texts (split into sentences here). An empty text is an InputError; a text of one
        sentence is its own summary."""
        single = isinstance(texts, str)
        docs = [split_sentences(t) for t in ([texts] if single else texts)]
        for i, d in enumerate(docs):
            if not d:
                raise InputError(f"text {i} is empty: nothing to summarise")
        res = self.summarize_sentences(docs, k, trigram_blocking, batch_size, progress)
        return res[0] if single else res

    def save(self, path: str | Path) -> Path:
        """Write the folder atomically; other files already in `path` (metrics.json, training/) are kept."""
        import shutil

        from safetensors.torch import save_file

        from bertkit.atomic import write_atomic_dir
        from bertkit.hub import save_pretrained

        path = Path(path)

        def fill(tmp: Path) -> None:
            save_pretrained(self.model.encoder, tmp, tokenizer=self.tokenizer)
            save_file({k: v.detach().contiguous().cpu() for k, v in self.model.head.state_dict().items()},
                      str(tmp / HEAD_FILE))
            (tmp / SETTINGS_FILE).write_text(json.dumps({"head": self.model.kind, "head_config": self.model.head_cfg,
                                                         "sentence_vector": self.model.sentence_vector,
                                                         "settings": self.settings}, indent=2) + "\n",
                                             encoding="utf-8")
            if path.is_dir():
                for f in path.iterdir():
                    if not (tmp / f.name).exists() and f.name not in ("model.safetensors", "pytorch_model.bin"):
                        (shutil.copytree if f.is_dir() else shutil.copy2)(f, tmp / f.name)

        return write_atomic_dir(path, fill)

    @classmethod
    def load(cls, path: str | Path) -> ExtractiveSummarizer:
        from safetensors.torch import load_file

        from bertkit.hub import from_pretrained
        from bertkit.tokenizers import Tokenizer

        path = Path(path)
        meta = path / SETTINGS_FILE
        if not meta.is_file():
            raise CheckpointError(f"{path} has no {SETTINGS_FILE}: not a folder written by "
                                  "`bertkit finetune extsum`")
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            head, head_cfg, settings = info["head"], dict(info.get("head_config") or {}), dict(info["settings"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise CheckpointError(f"{meta}: unreadable ({e})") from None
        model = ExtSumModel(from_pretrained(path), head, info.get("sentence_vector", "cls"), **head_cfg)
        state = load_file(str(path / HEAD_FILE))
        missing, unexpected = model.head.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{path / HEAD_FILE} does not fit a {head} head: missing {missing}, "
                                  f"unexpected {unexpected}")
        model.eval()
        return cls(model, Tokenizer.from_pretrained(path), settings)


def is_extsum_folder(path: str | Path) -> bool:
    return (Path(path) / SETTINGS_FILE).is_file()


# ---------------------------------------------------------------------------------------------------------------
# training
def score_documents(summ: ExtractiveSummarizer, docs: Sequence[Document], k: int,
                    trigram_blocking: bool = True) -> float:
    """Mean quick_rouge of the top-k summaries of `docs` against their references (x 100)."""
    res = summ.summarize_sentences([d.sentences for d in docs], k, trigram_blocking)
    return 100 * sum(quick_rouge(r.text, d.reference or "") for r, d in zip(res, docs)) / max(len(docs), 1)


def train_extsum(train: str | Path | Sequence[Document], dev: str | Path | Sequence[Document] | None = None, *,
                 model: str | Path | None = None, head: str = "transformer", sentence_vector: str = "mean",
                 out: str | Path | None = None,
                 text_col: str = "article", summary_col: str = "summary", labels_col: str | None = None,
                 dev_split: float | None = None, oracle_max: int = 3, top_k: int = 3, trigram_blocking: bool = True,
                 epochs: float = 2, lr: float = 5e-5, head_lr_scale: float = 20.0, batch_size: int = 4,
                 max_length: int = 512, warmup: float = 0.1, max_steps: int | None = None, patience: int = 2,
                 precision: str = "auto", seed: int = 0, resume: bool = False,
                 progress: bool = True) -> ExtractiveSummarizer:
    """Fine-tune `model` (default: the bundled MiniLM) as a BERTSUM extractive summariser on the one Trainer.

    The head (fresh) learns at lr * head_lr_scale, the encoder at lr. With a dev set the top-k summaries are
    scored each epoch (quick_rouge), the best epoch is kept and training stops after `patience` epochs without a
    better one. The returned summariser carries `.report` (also out/metrics.json)."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.tokenizers import Tokenizer
    from bertkit.training import TrainConfig, Trainer

    if head not in HEADS:
        raise InputError(f"unknown summarisation head {head!r}; choose one of {', '.join(HEADS)}")
    if sentence_vector not in SENTENCE_VECTORS:
        raise InputError(f"sentence_vector must be one of {', '.join(SENTENCE_VECTORS)}, got {sentence_vector!r}")
    for name, v in (("oracle_max", oracle_max), ("top_k", top_k), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError(f"{name} must be an integer >= 1, got {v!r}")
    if dev is not None and dev_split is not None:
        raise InputError("give a dev file or dev_split, not both")
    model_dir = resolve_model_path(model)
    tok = Tokenizer.from_pretrained(model_dir)
    if tok.cls_token_id is None or tok.sep_token_id is None:
        raise InputError(f"{model_dir}: the tokenizer has no [CLS]/[SEP] tokens, which BERTSUM's input needs")
    t0 = time.perf_counter()
    skipped: dict[str, Any] = {}

    def docs_of(src, name):
        if src is None or not isinstance(src, (str, Path)):
            return None if src is None else list(src)
        docs, sk = read_documents(src, text_col, summary_col, labels_col, oracle_max, min_sentences=2,
                                  progress=progress)
        if sk.counts:
            skipped[name] = {"counts": sk.counts, "ids": sk.ids}
            if progress:
                print(f"{name}: skipped {sk}")
        return docs

    tr, dv = docs_of(train, "train"), docs_of(dev, "dev")
    if not tr:
        raise InputError(f"{train}: no document to train on")
    if dev_split:
        rng = random.Random(seed)
        order = list(range(len(tr)))
        rng.shuffle(order)
        n_dev = max(1, round(dev_split * len(tr)))
        held = set(order[:n_dev])
        dv = [d for i, d in enumerate(tr) if i in held]
        tr = [d for i, d in enumerate(tr) if i not in held]
    for d in tr + (dv or []):
        if d.labels is None:
            raise InputError(f"document {d.id} has no labels and no reference summary to make oracle labels from")

    torch.manual_seed(seed)
    encoder = from_pretrained(model_dir)
    net = ExtSumModel(encoder, head, sentence_vector)
    settings = {"max_length": max_length, "top_k": top_k, "trigram_blocking": trigram_blocking,
                "oracle_max": oracle_max, "base_model": str(model_dir)}
    summ = ExtractiveSummarizer(net, tok, settings)
    feats = [encode_document(tok, d.sentences, max_length, d.labels) for d in tr]
    rng = random.Random(seed)
    order = sorted(range(len(feats)), key=lambda i: sum(len(w[0]) for w in feats[i].windows))
    batches = [[feats[i] for i in order[j:j + batch_size]] for j in range(0, len(order), batch_size)]
    rng.shuffle(batches)  # similar lengths within a batch; the trainer shuffles batches each epoch
    pad = tok.pad_token_id or 0
    out_dir = Path(out) if out is not None else None
    import tempfile

    train_dir = (out_dir / "training") if out_dir is not None else Path(tempfile.mkdtemp(prefix="bertkit-extsum-"))
    history: list[dict[str, float]] = []

    def eval_fn(m) -> dict[str, float]:
        score = score_documents(summ, dv, top_k, trigram_blocking)
        history.append({"epoch": len(history) + 1, "eval_rouge": score})
        if progress:
            print(f"epoch {len(history)}: dev (R1 F + R2 F) / 2 = {score:.2f}")
        return {"eval_rouge": score}

    steps = max_steps or max(1, math.ceil(epochs * len(batches)))
    cfg = TrainConfig(out_dir=train_dir, lr=lr, warmup_steps=int(warmup * steps), max_steps=steps, batch_size=1,
                      lr_scales={"head": head_lr_scale}, precision=precision,
                      eval_every=len(batches) if dv else None, best_metric="eval_rouge" if dv else None,
                      greater_is_better=True, patience=patience if dv else None, seed=seed, progress=progress,
                      log_every=max(1, min(50, len(batches) // 10)), save_final=False,
                      save_every=len(batches) if out_dir is not None else None, keep_checkpoints=1,
                      checkpoint_at_end=False)
    trainer = Trainer(net, extsum_loss, batches, config=cfg, collate_fn=lambda items: collate_documents(items[0], pad),
                      eval_fn=eval_fn if dv else None,
                      save_fn=lambda m, p: ExtractiveSummarizer(m, tok, settings).save(p))
    t_train = time.perf_counter()
    fit = trainer.fit(resume=resume and out_dir is not None and (train_dir / "checkpoints").is_dir())
    train_s = time.perf_counter() - t_train
    best_dir = train_dir / "best"
    if dv and best_dir.is_dir():
        best = ExtractiveSummarizer.load(best_dir)
        net.head.load_state_dict(best.model.head.state_dict())
        net.encoder.load_state_dict(best.model.encoder.state_dict())
    net.eval()
    summ.report = {  # type: ignore[attr-defined]
        "head": head, "sentence_vector": sentence_vector, "model": str(model_dir), "train_documents": len(tr), "dev_documents": len(dv or []),
        "skipped": skipped, "settings": settings, "lr": lr, "head_lr_scale": head_lr_scale, "epochs": epochs,
        "batch_size": batch_size, "steps": fit.get("step"), "history": history,
        "best": max(history, key=lambda r: r["eval_rouge"]) if history else None,
        "oracle_sentences_per_doc": round(sum(sum(d.labels or []) for d in tr) / len(tr), 2),
        "train_seconds": round(train_s, 1), "total_seconds": round(time.perf_counter() - t0, 1),
        "interrupted": bool(fit.get("interrupted")),
    }
    from bertkit.training.checkpoint import finish_task_run

    finish_task_run(out_dir, train_dir, summ.report, summ.save)
    return summ
