"""Abstractive summarisation fine-tuning (chapters 6 and 9): BART, and BERTSUM's abstractive variant.

    summ = train_abssum("train.jsonl", "dev.jsonl", init="my-bart/")           # fine-tune a BART folder
    summ = train_abssum("train.jsonl", "dev.jsonl", encoder=None, out="abs/")  # BERTSUM-abs on the bundled MiniLM
    summ.summarize(["An article ..."])

**BERTSUM-abs** (Liu & Lapata 2019, "BertAbs"): a pretrained BERT encoder under a randomly initialised Transformer
decoder, the decoder learning faster than the encoder. Here it is a preset, not a new model: a BART-layout
encoder-decoder (models/seq2seq.py) whose encoder *is* the BERT encoder. The two compute the same function once
the tables are moved: BERT's token, position and segment embeddings followed by a LayerNorm and post-LN blocks are
BART's token and position embeddings (read from row p + 2) followed by layernorm_embedding and post-LN blocks, with
BERT's segment-0 vector folded into every position row. BART fixes LayerNorm's epsilon at 1e-5 where BERT uses
1e-12, the only difference, far below what fine-tuning moves. The decoder reads and predicts with BERT's word
table (tied, as BertAbs shares it), starts at [CLS], stops at [SEP], and its learned position table starts as a
copy of BERT's. The result is a BartForConditionalGeneration folder with BERT's WordPiece tokenizer: it loads in
transformers and summarises with `bertkit summarize`.

Training: (article, summary) pairs batched by length up to `batch_tokens` (rows x (source + target) tokens),
teacher-forced label-smoothed cross-entropy (objectives/seq2seq.py), AdamW with warm-up and linear decay on the
one Trainer, the encoder (and the shared word table) at lr * encoder_lr_scale (BERTSUM-abs default 0.1: encoder
5e-5 under a 5e-4 decoder; 1 for BART). Each epoch the dev loss per target token picks the model kept. Sources are
cut to the encoder's positions (or max_source) keeping the closing special token; targets to max_target tokens
ending in eos.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from bertkit.errors import InputError

DEFAULTS = {"bertsum-abs": {"lr": 5e-4, "encoder_lr_scale": 0.1}, "bart": {"lr": 3e-5, "encoder_lr_scale": 1.0}}


def bertsum_abs_model(encoder: str | Path | None = None, decoder_layers: int = 6, decoder_heads: int | None = None,
                      decoder_ffn: int | None = None, dropout: float | None = None, seed: int = 0):
    """(model, tokenizer): a BART-layout encoder-decoder whose encoder is the BERT checkpoint `encoder` (default:
    the bundled MiniLM) and whose decoder (decoder_layers blocks; heads and feed-forward width default to the
    encoder's) is freshly initialised. See the module docstring for why the encoder computes what BERT computes."""
    from bertkit.hub import from_pretrained
    from bertkit.hub.default import resolve_model_path
    from bertkit.models.config import ModelConfig
    from bertkit.models.seq2seq import Seq2SeqLM
    from bertkit.tokenizers import Tokenizer

    path = resolve_model_path(encoder)
    bert = from_pretrained(path, task="base")
    c = bert.config
    if c.family not in ("bert", "roberta", "electra") or c.embedding_size not in (None, c.hidden_size) \
            or getattr(c, "num_hidden_groups", 1) != 1 or c.position_offset or c.sinusoidal:
        raise InputError(f"{path} is a {c.family} model; BERTSUM-abs needs a BERT-style encoder (learned positions "
                         "from row 0, one block per layer, embeddings as wide as the hidden states)")
    for name, v in (("decoder_layers", decoder_layers), ("decoder_heads", decoder_heads),
                    ("decoder_ffn", decoder_ffn)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InputError(f"{name} must be an integer >= 1, got {v!r}")
    tok = Tokenizer.from_pretrained(path)
    if tok.cls_token_id is None or tok.sep_token_id is None or tok.pad_token_id is None:
        raise InputError(f"{path}: the tokenizer needs [CLS], [SEP] and [PAD] (decoder start, end and padding)")
    heads = decoder_heads or c.num_heads
    if c.hidden_size % heads:
        raise InputError(f"decoder_heads {heads} does not divide the hidden size {c.hidden_size}")
    cfg = ModelConfig(
        family="bart", vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_layers=c.num_layers,
        num_heads=c.num_heads, intermediate_size=c.intermediate_size, decoder_layers=decoder_layers,
        decoder_heads=heads, decoder_intermediate_size=decoder_ffn or c.intermediate_size,
        max_positions=c.max_positions, type_vocab_size=0, hidden_act=c.hidden_act,
        dropout=c.dropout if dropout is None else dropout, attention_dropout=c.attention_dropout,
        layer_norm_eps=1e-5, scale_embedding=False, pad_token_id=tok.pad_token_id, bos_token_id=tok.cls_token_id,
        eos_token_id=tok.sep_token_id, decoder_start_token_id=tok.cls_token_id, forced_eos_token_id=None,
        extra={"bertsum_abs_encoder": str(path)})
    torch.manual_seed(seed)
    model = Seq2SeqLM(cfg, "lm")
    src = bert.state_dict()
    word, pos = src["backbone.embeddings.word.weight"], src["backbone.embeddings.position.weight"]
    seg = src.get("backbone.embeddings.segment.weight")
    start = model.layout.position_start
    with torch.no_grad():
        b = model.backbone
        b.encoder_embeddings.word.weight.copy_(word)  # the decoder and LM head share this table
        b.encoder_embeddings.position.weight[start:start + pos.shape[0]].copy_(pos + (seg[0] if seg is not None else 0))
        b.decoder_embeddings.position.weight[start:start + pos.shape[0]].copy_(pos)
        b.encoder_embeddings.norm.weight.copy_(src["backbone.embeddings.norm.weight"])
        b.encoder_embeddings.norm.bias.copy_(src["backbone.embeddings.norm.bias"])
        enc = {k[len("backbone.encoder."):]: v for k, v in src.items() if k.startswith("backbone.encoder.")}
        missing, unexpected = b.encoder.load_state_dict(enc, strict=False)
        if missing or unexpected:
            raise InputError(f"{path}: its encoder blocks do not map onto BART's ({(missing + unexpected)[:3]})")
    return model, tok


# ---------------------------------------------------------------------------------------------------------------
def _records(src, text_col: str, summary_col: str, name: str) -> list[tuple[str, str]]:
    """(article, summary) pairs from a JSONL path, extsum Documents or pairs; empty ones are an InputError."""
    from bertkit.tasks.extsum import Document, fix_joined_sentences

    if isinstance(src, (str, Path)):
        from bertkit.textio import iter_records

        pairs = []
        for n, rec in iter_records(Path(src), text_col):
            if summary_col not in rec:
                raise InputError(f"{src}: line {n} has no field {summary_col!r} (it has "
                                 f"{', '.join(repr(k) for k in rec)}); name the summary field with --summary-col")
            summary = rec[summary_col]
            if not isinstance(summary, str) or not summary.strip() or not str(rec[text_col]).strip():
                raise InputError(f"{src}:{n}: an empty article or summary ({summary_col!r}); every record needs both")
            pairs.append((str(rec[text_col]), fix_joined_sentences(summary)))
    else:
        pairs = [(d.record.get(text_col) or " ".join(d.sentences), (d.reference or "").replace("\n", " "))
                 if isinstance(d, Document) else tuple(d) for d in src]
    if not pairs:
        raise InputError(f"{name}: no document")
    return pairs


def encode_example(tok, model, article: str, summary: str, max_source: int, max_target: int
                   ) -> tuple[list[int], list[int]]:
    """(source ids cut to max_source keeping its closing special token, label ids ending in eos, cut to max_target).

    The labels are the summary in the tokenizer's template, less its first token when that is the decoder's start
    token (BERTSUM-abs: [CLS] is the start, so the labels are "summary [SEP]"; BART: start </s>, labels
    "<s> summary </s>", as transformers fine-tunes it)."""
    src = tok.encode(article)
    if len(src) > max_source:
        src = src[:max_source - 1] + src[-1:]
    tgt = tok.encode(summary)
    start, eos = model.config.decoder_start_token_id, model.config.eos_token_id
    if tgt and tgt[0] == start:
        tgt = tgt[1:]
    if not tgt or tgt[-1] != eos:
        tgt = tgt + [eos]
    if len(tgt) > max_target:
        tgt = tgt[:max_target - 1] + [eos]
    return src, tgt


def train_abssum(train, dev=None, *, init: str | Path | None = None, encoder: str | Path | None = None,
                 out: str | Path | None = None, text_col: str = "article", summary_col: str = "summary",
                 decoder_layers: int = 6, decoder_heads: int | None = None, decoder_ffn: int | None = None,
                 epochs: float = 3.0, max_steps: int | None = None, time_budget_min: float | None = None,
                 lr: float | None = None, encoder_lr_scale: float | None = None, warmup: float = 0.1,
                 label_smoothing: float = 0.1, batch_tokens: int = 3072, max_source: int = 512, max_target: int = 256,
                 weight_decay: float = 0.01, clip_norm: float | None = 1.0, precision: str = "auto", seed: int = 0,
                 dev_split: float | None = None, resume: bool = False, progress: bool = True):
    """Fine-tune a summariser. `init`: a BART folder (fine-tuned as it is); otherwise BERTSUM-abs is built on
    `encoder` (a BERT folder, default the bundled MiniLM) with a fresh `decoder_layers`-block decoder.

    train / dev: a JSONL path (text_col, summary_col), extsum Documents, or (article, summary) pairs (dev_split:
    hold out that fraction of train instead). Returns an
    AbstractiveSummarizer carrying `.report` (also out/metrics.json); with `out` the model is saved there as a
    Hugging Face BART folder with its tokenizer, and an interrupted run continues with resume=True."""
    from bertkit.objectives.seq2seq import LabelSmoothedCrossEntropy
    from bertkit.tasks.summarize import AbstractiveSummarizer
    from bertkit.training import TrainConfig, Trainer
    from bertkit.translation.data import BatchedPairs, PairCollator, token_batches
    from bertkit.translation.train import corpus_nll

    for name, v in (("max_source", max_source), ("max_target", max_target), ("batch_tokens", batch_tokens)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise InputError(f"{name} must be an integer >= 2, got {v!r}")
    if init is not None and encoder is not None:
        raise InputError("give init (a BART folder to fine-tune) or encoder (a BERT for BERTSUM-abs), not both")
    t0 = time.perf_counter()
    tr = _records(train, text_col, summary_col, "train")
    dv = _records(dev, text_col, summary_col, "dev") if dev is not None else None
    if dev_split is not None:
        if dv is not None:
            raise InputError("give a dev file or dev_split, not both")
        if not 0.0 < dev_split < 1.0 or len(tr) < 2:
            raise InputError(f"dev_split must be in (0, 1) with at least 2 documents, got {dev_split} of {len(tr)}")
        import random

        order = list(range(len(tr)))
        random.Random(seed).shuffle(order)
        held = set(order[:max(1, round(dev_split * len(tr)))])
        dv, tr = [p for i, p in enumerate(tr) if i in held], [p for i, p in enumerate(tr) if i not in held]
    if init is not None:
        from bertkit.hub import from_pretrained
        from bertkit.hub.default import resolve_model_path
        from bertkit.tokenizers import Tokenizer

        path = resolve_model_path(init)
        model = from_pretrained(path)
        if not hasattr(model, "encode") or getattr(model, "task", None) != "lm":
            raise InputError(f"{path} is a {model.family.name} model for {model.task!r}; --init needs an "
                             "encoder-decoder with its LM head (BART); for a BERT encoder use BERTSUM-abs (encoder=)")
        tok, kind = Tokenizer.from_pretrained(path), "bart"
    else:
        model, tok = bertsum_abs_model(encoder, decoder_layers, decoder_heads, decoder_ffn, seed=seed)
        kind = "bertsum-abs"
    lr = DEFAULTS[kind]["lr"] if lr is None else lr
    encoder_lr_scale = DEFAULTS[kind]["encoder_lr_scale"] if encoder_lr_scale is None else encoder_lr_scale
    if not encoder_lr_scale > 0:
        raise InputError(f"encoder_lr_scale must be > 0, got {encoder_lr_scale}")
    max_source = min(max_source, model.max_tokens)
    max_target = min(max_target, model.max_tokens)
    if tok.pad_token_id is None:
        raise InputError("the tokenizer has no padding token, which batching needs")

    def encode(pairs):
        return [encode_example(tok, model, a, s, max_source, max_target) for a, s in pairs]

    train_ids = encode(tr)
    data = BatchedPairs(train_ids, token_batches(train_ids, batch_tokens, seed))
    pad = tok.pad_token_id
    summ = AbstractiveSummarizer(model, tok, {"max_new_tokens": max_target})
    out_dir = Path(out) if out is not None else None
    import tempfile

    train_dir = (out_dir / "training") if out_dir is not None else Path(tempfile.mkdtemp(prefix="bertkit-abssum-"))
    history: list[dict[str, float]] = []
    eval_fn = None
    if dv:
        dev_ids = encode(dv)
        dev_data = BatchedPairs(dev_ids, token_batches(dev_ids, batch_tokens))

        def eval_fn(m) -> dict[str, float]:
            was = m.training
            m.eval()
            nll = corpus_nll(m, dev_data, pad)
            m.train(was)
            history.append({"evaluation": len(history) + 1, "eval_nll": nll, "eval_ppl": math.exp(min(nll, 50.0))})
            if progress:
                print(f"evaluation {len(history)}: dev loss {nll:.4f} per target token (perplexity "
                      f"{math.exp(min(nll, 50.0)):.1f})")
            return {"eval_nll": nll}

    per_epoch = len(data)
    steps = max_steps or max(1, math.ceil(epochs * per_epoch))
    scale = {"backbone.encoder": encoder_lr_scale, "backbone.encoder_embeddings": encoder_lr_scale} \
        if encoder_lr_scale != 1.0 else None

    def save(m, p):
        from bertkit.hub import save_pretrained

        save_pretrained(m, p, tokenizer=tok)

    cfg = TrainConfig(out_dir=train_dir, lr=lr, warmup_steps=int(warmup * steps), max_steps=steps, batch_size=1,
                      lr_scales=scale, weight_decay=weight_decay, clip_norm=clip_norm, precision=precision,
                      max_time_s=None if time_budget_min is None else 60.0 * time_budget_min,
                      eval_every=per_epoch if dv else None, best_metric="eval_nll" if dv else None,
                      greater_is_better=False, seed=seed, progress=progress,
                      log_every=max(1, min(50, per_epoch // 10)), save_final=False,
                      save_every=per_epoch if out_dir is not None else None, keep_checkpoints=1,
                      checkpoint_at_end=False)
    trainer = Trainer(model, LabelSmoothedCrossEntropy(label_smoothing), data, config=cfg,
                      collate_fn=PairCollator(pad), eval_fn=eval_fn, save_fn=save)
    t_train = time.perf_counter()
    fit = trainer.fit(resume=resume and out_dir is not None and (train_dir / "checkpoints").is_dir())
    train_s = time.perf_counter() - t_train
    if eval_fn is not None and not history:  # stopped before the first evaluation: score what there is
        eval_fn(model)
    best_dir = train_dir / "best"
    if dv and best_dir.is_dir() and history and min(h["eval_nll"] for h in history) < history[-1]["eval_nll"]:
        from bertkit.hub import from_pretrained

        model.load_state_dict(from_pretrained(best_dir).state_dict())
    model.eval()
    summ.report = {  # type: ignore[attr-defined]
        "kind": kind, "init": str(init) if init is not None else None,
        "encoder": model.config.extra.get("bertsum_abs_encoder"),
        "parameters": sum(p.numel() for p in model.parameters()), "train_documents": len(tr),
        "dev_documents": len(dv or []), "lr": lr, "encoder_lr_scale": encoder_lr_scale,
        "label_smoothing": label_smoothing, "batch_tokens": batch_tokens, "batches_per_epoch": per_epoch,
        "steps": fit.get("step"), "epochs": round((fit.get("step") or 0) / per_epoch, 3), "history": history,
        "best": min(history, key=lambda r: r["eval_nll"]) if history else None, "max_source": max_source,
        "max_target": max_target, "train_seconds": round(train_s, 1),
        "total_seconds": round(time.perf_counter() - t0, 1), "interrupted": bool(fit.get("interrupted")),
        "out_of_time": bool(fit.get("out_of_time")),
    }
    from bertkit.training.checkpoint import finish_task_run

    finish_task_run(out_dir, train_dir, summ.report, lambda p: save(model, p))
    return summ


__all__ = ["bertsum_abs_model", "encode_example", "train_abssum"]
