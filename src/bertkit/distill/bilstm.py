"""The BiLSTM student of Tang et al. (2019): embedding -> 1-layer BiLSTM -> masked max-pool -> ReLU FC -> logits.

    model = BiLSTMClassifier(vocab_size, embedding_dim=300, hidden=150, fc=200, num_labels=2)
    logits = model(input_ids, attention_mask)                         # (B, num_labels)
    logits = model(ids_a, mask_a, input_ids2=ids_b, attention_mask2=mask_b)   # sentence pairs

Pairs share the BiLSTM; the classifier reads [h1, h2, h1*h2, |h1-h2|] (Tang's pair model).
Vocabulary: `embeddings="teacher"` reuses the teacher's WordPiece tokenizer and copies its input-embedding
table as the initial embedding; `embeddings="trained"` uses `WordVocab`, a word-level vocabulary of the
training texts (lowercased words and punctuation; [PAD]=0, [UNK]=1, [MASK]=2) with embeddings learned from
scratch.

Folder format (written by `save_bilstm`, read by `load_bilstm` and `bertkit.Predictor.load`):
  config.json        {"bertkit_model": "bilstm", "vocab_size", "embedding_dim", "hidden", "fc", "num_labels",
                      "labels", "pair", "pad_id", "tokenizer": "wordpiece" | "words", "max_length"}
  model.safetensors  the state dict of BiLSTMClassifier
  tokenizer files    the teacher's (vocab.txt, tokenizer_config.json, ...) for "wordpiece",
                     words.txt (one word per line, line i = id i) for "words"
"""
from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from bertkit.errors import CheckpointError, InputError

MODEL_KIND = "bilstm"
_WORD = re.compile(r"\[MASK\]|\w+|[^\w\s]")


class WordVocab:
    """Word-level tokenizer: lowercased words and punctuation marks; unknown words map to [UNK]."""

    SPECIAL = ("[PAD]", "[UNK]", "[MASK]")

    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, texts: Sequence[str], min_count: int = 1, max_size: int = 100_000) -> WordVocab:
        c = Counter(w for t in texts for w in cls.split(t))
        return cls(list(cls.SPECIAL) + [w for w, n in c.most_common(max_size) if n >= min_count
                                         and w not in cls.SPECIAL])

    @staticmethod
    def split(text: str) -> list[str]:
        return [w if w == "[MASK]" else w.lower() for w in _WORD.findall(text)]

    def encode(self, text: str, max_length: int) -> list[int]:
        ids = [self.index.get(w, 1) for w in self.split(text)][:max_length]
        return ids or [1]

    pad_token_id = 0

    def save(self, folder: Path) -> None:
        (folder / "words.txt").write_text("\n".join(self.words) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> WordVocab:
        return cls((folder / "words.txt").read_text(encoding="utf-8").split("\n")[:-1])


def masked_max(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, T, D) -> (B, D): the maximum over the positions where mask is 1 (padding never wins)."""
    return h.masked_fill(~mask.bool().unsqueeze(-1), torch.finfo(h.dtype).min).amax(1)


class BiLSTMClassifier(nn.Module):
    """See the module docstring. `config` holds every size, so save/load rebuild it exactly."""

    def __init__(self, vocab_size: int, embedding_dim: int = 300, hidden: int = 150, fc: int = 200,
                 num_labels: int = 2, pair: bool = False, pad_id: int = 0, labels: Sequence[str] | None = None,
                 tokenizer: str = "words", max_length: int = 128) -> None:
        super().__init__()
        self.config = {"bertkit_model": MODEL_KIND, "vocab_size": vocab_size, "embedding_dim": embedding_dim,
                       "hidden": hidden, "fc": fc, "num_labels": num_labels, "pair": pair, "pad_id": pad_id,
                       "labels": list(labels) if labels is not None else [str(i) for i in range(num_labels)],
                       "tokenizer": tokenizer, "max_length": max_length}
        self.embed = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_id)
        self.lstm = nn.LSTM(embedding_dim, hidden, num_layers=1, batch_first=True, bidirectional=True)
        feat = 2 * hidden * (4 if pair else 1)
        self.fc = nn.Linear(feat, fc)
        self.out = nn.Linear(fc, num_labels)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, 2 * hidden) sentence vector. Training runs the BiLSTM on a packed sequence; inference
        (no gradient) runs `_padded_bilstm`, the same numbers on oneDNN's LSTM, which does not take packed input."""
        x = self.embed(input_ids)  # (B, T, E)
        lengths = attention_mask.sum(1).clamp(min=1)
        if not torch.is_grad_enabled():
            return masked_max(self._padded_bilstm(x, lengths), attention_mask)
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        h, _ = self.lstm(packed)
        h, _ = nn.utils.rnn.pad_packed_sequence(h, batch_first=True, total_length=x.shape[1])  # (B, T, 2H)
        return masked_max(h, attention_mask)

    def _padded_bilstm(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The BiLSTM's outputs (B, T, 2H) at every position < length; padded positions hold values the caller
        masks. Right padding never reaches a real position of the forward direction, so it runs on x as it is;
        the backward direction runs forward on each row reversed within its own length (padding stays at the
        end) and its outputs are reversed back. Two unidirectional calls on padded tensors: PyTorch's CPU LSTM
        takes oneDNN's fused kernel for these, while a packed sequence steps through its batch sizes."""
        B, T, _ = x.shape
        pos = torch.arange(T, device=x.device)
        real = pos[None, :] < lengths[:, None]
        rev = torch.where(real, lengths[:, None] - 1 - pos[None, :], pos[None, :])  # pads map to themselves
        gather = rev[:, :, None].expand(B, T, x.shape[2])
        w = self.lstm._flat_weights  # w_ih, w_hh, b_ih, b_hh, then the same four for the reverse direction
        h0 = x.new_zeros(1, B, self.lstm.hidden_size)
        fwd = torch.lstm(x, (h0, h0), w[:4], True, 1, 0.0, False, False, True)[0]
        bwd = torch.lstm(x.gather(1, gather), (h0, h0), w[4:], True, 1, 0.0, False, False, True)[0]
        bwd = bwd.gather(1, rev[:, :, None].expand(B, T, bwd.shape[2]))
        return torch.cat([fwd, bwd], -1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                input_ids2: torch.Tensor | None = None, attention_mask2: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, num_labels)."""
        if attention_mask is None:
            attention_mask = (input_ids != self.config["pad_id"]).long()
        h = self.encode(input_ids, attention_mask)
        if self.config["pair"]:
            if input_ids2 is None:
                raise InputError("this BiLSTM classifies sentence pairs: give input_ids2")
            m2 = attention_mask2 if attention_mask2 is not None else (input_ids2 != self.config["pad_id"]).long()
            h2 = self.encode(input_ids2, m2)
            h = torch.cat([h, h2, h * h2, (h - h2).abs()], -1)
        return self.out(torch.relu(self.fc(h)))


def save_bilstm(model: BiLSTMClassifier, folder: str | Path, tokenizer: Any = None) -> Path:
    """Write config.json, model.safetensors and the tokenizer files (see the module docstring)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise InputError("save_bilstm needs the model's tokenizer (WordVocab or the teacher's Tokenizer)")
    if isinstance(tokenizer, WordVocab):
        tokenizer.save(folder)
    else:
        tokenizer.save_pretrained(folder)
    save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
              str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(model.config, indent=2, ensure_ascii=False) + "\n",
                                        encoding="utf-8")
    return folder


def is_bilstm_folder(folder: str | Path) -> bool:
    cfg = Path(folder) / "config.json"
    try:
        return cfg.is_file() and json.loads(cfg.read_text(encoding="utf-8")).get("bertkit_model") == MODEL_KIND
    except (json.JSONDecodeError, AttributeError):
        return False


def load_bilstm(folder: str | Path) -> BiLSTMClassifier:
    """The model of a folder written by save_bilstm, in eval mode, with `.tokenizer` set."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not is_bilstm_folder(folder):
        raise CheckpointError(f"{folder} is not a BiLSTM folder (config.json without \"bertkit_model\": \"bilstm\")")
    cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    cfg.pop("bertkit_model")
    try:
        model = BiLSTMClassifier(**cfg)
    except TypeError as e:
        raise CheckpointError(f"{folder / 'config.json'} is corrupt: {e}") from None
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    if cfg["tokenizer"] == "words":
        model.tokenizer = WordVocab.load(folder)
    else:
        from bertkit.tokenizers import Tokenizer

        model.tokenizer = Tokenizer.from_pretrained(folder)
    return model.eval()


def encode_ids(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text with either tokenizer kind (WordPiece rows keep [CLS] ... [SEP])."""
    if isinstance(tokenizer, WordVocab):
        return [tokenizer.encode(t, max_length) for t in texts]
    return list(tokenizer(list(texts), max_length=max_length, truncation=True, padding=False)["input_ids"])


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of ids -> (ids (B, T), mask (B, T)) padded to the longest row."""
    T = max(len(r) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask


class BiLSTMPredictor:
    """What `bertkit.Predictor.load` returns for a BiLSTM folder: `predict` gives the same result dicts as a
    transformer classifier ({"label", "score", "probabilities"})."""

    def __init__(self, model: BiLSTMClassifier, batch_size: int = 256) -> None:
        self.model, self.tokenizer, self.batch_size = model, model.tokenizer, batch_size
        self.task = "pair" if model.config["pair"] else "classify"
        self.settings = {"labels": model.config["labels"], "kind": "single_label",
                         "max_length": model.config["max_length"], "batch_size": batch_size}
        self.workers: int | None = None  # batches run at once on CPU; None: one per torch thread

    @property
    def labels(self) -> list[str]:
        return self.model.config["labels"]

    @torch.no_grad()
    def probabilities(self, texts: Sequence[str], pairs: Sequence[str] | None = None) -> np.ndarray:
        """(N, num_labels) softmax probabilities."""
        from bertkit.tasks.classification import softmax

        cfg = self.model.config
        self.model.eval()
        if cfg["pair"] and pairs is None:
            raise InputError("this BiLSTM classifies sentence pairs: predict(texts, pairs)")
        a = encode_ids(self.tokenizer, texts, cfg["max_length"])
        b = encode_ids(self.tokenizer, pairs, cfg["max_length"]) if cfg["pair"] else None
        if not a:
            return np.zeros((0, cfg["num_labels"]), np.float32)
        # Length-sorted batches, as the transformer Predictor runs them (tasks/batching.run_model): the LSTM costs
        # one step per position of a batch's longest row, so grouping similar lengths saves most of the steps.
        order = sorted(range(len(a)), key=lambda i: len(a[i]) if b is None else max(len(a[i]), len(b[i])))
        bs = int(self.settings.get("batch_size") or self.batch_size)
        logits = np.zeros((len(a), cfg["num_labels"]), np.float32)

        def one(s: int) -> None:
            rows = order[s:s + bs]
            ids, mask = pad_ids([a[i] for i in rows], cfg["pad_id"])
            kw = {}
            if b is not None:
                kw["input_ids2"], kw["attention_mask2"] = pad_ids([b[i] for i in rows], cfg["pad_id"])
            with torch.inference_mode():  # grad mode is per thread
                logits[rows] = self.model(ids, mask, **kw).float().numpy()

        # Whole batches on separate threads, one intra-op thread each (bertkit/parallel.py): an LSTM step's
        # products (batch x 4*hidden) are too small to split across cores, so one batch on 2 threads is barely
        # faster than on 1, while 2 batches at once use both cores.
        from bertkit.parallel import parallel_map

        starts = range(0, len(order), bs)
        workers = min(self.workers if self.workers is not None else torch.get_num_threads(), len(starts))
        for _ in parallel_map(one, starts, workers):
            pass
        return softmax(logits)

    def predict(self, inputs: Sequence[str] | str, pairs: Sequence[str] | str | None = None,
                progress: bool = False, tag_scheme: str | None = None) -> list[dict[str, Any]]:
        from bertkit.tasks.classification import decode

        inputs = [inputs] if isinstance(inputs, str) else list(inputs)
        pairs = [pairs] if isinstance(pairs, str) else pairs
        if pairs is not None and len(pairs) != len(inputs):
            raise InputError(f"got {len(inputs)} inputs but {len(pairs)} pairs")
        return decode(self.probabilities(inputs, pairs), self.labels, "single_label")

    # the Predictor methods `bertkit predict` (tasks/files.predict_file) goes through
    def encode(self, inputs: Sequence[str], pairs: Sequence[str] | None = None, gold: Any = None) -> Any:
        from bertkit.tasks.predictor import Encoded

        return Encoded(list(inputs), list(range(len(inputs))), len(inputs), gold,
                       list(pairs) if pairs is not None else None)

    def decode(self, enc: Any, progress: bool = False) -> list[dict[str, Any]]:
        return self.predict(enc.feats, enc.examples)

    def score(self, enc: Any) -> dict[str, float]:
        """accuracy and macro F1 of the predictions for `enc` against enc.gold (label strings)."""
        from bertkit.tasks import metrics as M
        from bertkit.tasks.classification import check_known

        index = {k: i for i, k in enumerate(self.labels)}
        check_known(self.labels, enc.gold, range(1, len(enc.gold) + 1), "gold labels", "the training data")
        y = [index[r["label"]] for r in self.decode(enc)]
        g = [index[x] for x in enc.gold]
        return {"accuracy": M.accuracy(y, g), "macro_f1": M.macro_f1(y, g, len(index))}

    def predict_file(self, src: str | Path, dst: str | Path | None = None,
                     tag_scheme: str | None = None) -> tuple[Path, dict[str, Any]]:
        """Predict a table file as `bertkit predict` does (see tasks/files.py)."""
        from bertkit.tasks.files import predict_file

        return predict_file(self, src, dst)
