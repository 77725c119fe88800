"""XLM pretraining (Lample & Conneau 2019): `bertkit pretrain --arch xlm --objective clm|mlm|tlm|mlm+tlm`.

- mlm: streams of one language's text (RoBERTa's FULL-SENTENCES windows, no NSP), every token with its language id;
- clm: the same streams, next-token loss, with the causal XLM configuration;
- tlm: a parallel pair concatenated, masked in both halves, positions restarting at the second sentence (--parallel
  takes one or more SRC TGT file pairs, e.g. en-de and en-ko, each pair with its own two language ids);
- mlm+tlm: the MLM streams and the TLM pairs in one shuffled dataset, so batches mix both.

The model is models/xlm.py's preset (a language table of n_langs = len(langs)), trained by the one Trainer and saved
as an XLMWithLMHeadModel folder with lang2id / id2lang in config.json and the tokenizer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bertkit.data.packing import Specials
from bertkit.data.xlm import Concat, LangStream, ParallelPairs, XLMCollator, read_parallel
from bertkit.errors import InputError
from bertkit.models import Model
from bertkit.models.family import get_family
from bertkit.objectives import MaskingConfig
from bertkit.objectives.tlm import XLMMaskedLMObjective
from bertkit.objectives.xlm_clm import XLMCausalLMObjective
from bertkit.tokenizers.multilingual import check_languages
from bertkit.training.distributed import barrier, setup
from bertkit.training.trainer import TrainConfig, Trainer

XLM_OBJECTIVES = ("mlm", "clm", "tlm", "mlm+tlm")


def lang_file(item: str | Path, langs: list[str], what: str) -> tuple[str, str]:
    """'de=a.txt' -> ("de", "a.txt"); a plain file takes its suffix as the language (train.de -> de)."""
    text = str(item)
    lang, eq, path = text.partition("=")
    if not eq:
        lang, path = Path(text).suffix.lstrip("."), text
    if lang not in langs:
        raise InputError(f"{what} {text}: language {lang!r} is not one of --langs {', '.join(langs)} "
                         "(write LANG=FILE, or name the file by its language, e.g. train.de)")
    return lang, path


def _corpus_langs(spec, langs: list[str]) -> list[tuple[str, str]]:
    files = [str(f) for f in spec.corpus]
    if files and all("=" not in f for f in files) and len(files) == len(langs) and \
            not all(Path(f).suffix.lstrip(".") in langs for f in files):
        return list(zip(langs, files))  # one file per language, in --langs order
    return [lang_file(f, langs, "--corpus") for f in files]


def xlm_config(spec, tok, langs: list[str], causal: bool):
    """The XLM ModelConfig of --size (emb_dim, layers, heads; FFN 4 x emb_dim) with the languages as lang2id."""
    from bertkit.training.pretrain import size_preset

    sizes = size_preset(spec.size)
    hf = {"vocab_size": tok.vocab_size, "emb_dim": sizes.get("hidden_size", sizes.get("emb_dim")),
          "n_layers": sizes.get("num_layers", sizes.get("num_hidden_layers", sizes.get("n_layers"))),
          "n_heads": sizes.get("num_heads", sizes.get("num_attention_heads", sizes.get("n_heads"))),
          "max_position_embeddings": spec.max_length, "n_langs": len(langs), "use_lang_emb": True,
          "causal": causal, "pad_token_id": tok.pad_token_id or 0,
          "bos_token_id": tok.cls_token_id if tok.cls_token_id is not None else 0,
          "eos_token_id": tok.sep_token_id if tok.sep_token_id is not None else 1,
          "lang2id": {x: i for i, x in enumerate(langs)}, "id2lang": {str(i): x for i, x in enumerate(langs)}}
    for k in ("dropout", "attention_dropout", "layer_norm_eps", "gelu_activation"):
        if k in sizes:
            hf[k] = sizes[k]
    return get_family("xlm").config_from_hf(hf)


def _model(spec, tok, langs: list[str], causal: bool) -> Model:
    if not spec.init:
        return Model(xlm_config(spec, tok, langs, causal), "mlm")
    from bertkit.hub import from_pretrained

    model = from_pretrained(spec.init, task="mlm")
    if model.family.name != "xlm":
        raise InputError(f"--init with --arch xlm takes an XLM checkpoint, got a {model.family.name} model")
    if model.config.vocab_size != tok.vocab_size:
        raise InputError(f"--init checkpoint has {model.config.vocab_size} tokens but the tokenizer "
                         f"{tok.vocab_size}; continue with the checkpoint's own tokenizer")
    lang2id = model.config.extra.get("lang2id") or {}
    missing = [x for x in langs if x not in lang2id]
    if missing:
        raise InputError(f"language {missing[0]!r} is not in the --init model's languages "
                         f"({', '.join(lang2id) or 'none recorded'})")
    model.train()
    return model


def _lang_ids(model: Model, langs: list[str]) -> dict[str, int]:
    lang2id = model.config.extra.get("lang2id") or {x: i for i, x in enumerate(langs)}
    return {x: int(lang2id[x]) for x in langs}


def _encode(tok, lines: list[str], progress: bool) -> list[list[int]]:
    from tqdm.auto import tqdm

    out: list[list[int]] = []
    for i in tqdm(range(0, len(lines), 1024), desc="tokenize pairs", unit="batch", disable=not progress):
        out += tok(lines[i:i + 1024], add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    return out


def check_xlm_spec(spec) -> tuple[str, list[str]]:
    """Everything about the command line that needs no file read: (objective, languages)."""
    objective = spec.objective or "mlm"
    if objective not in XLM_OBJECTIVES:
        raise InputError(f"--arch xlm trains with --objective {', '.join(XLM_OBJECTIVES)}, got {objective!r}")
    langs = [x.strip() for x in (spec.langs or []) if x.strip()]
    if not langs:
        raise InputError("--arch xlm needs --langs (the model's languages, e.g. de,en)")
    if len(set(langs)) != len(langs):
        raise InputError(f"--langs names a language twice: {','.join(langs)}")
    tlm = "tlm" in objective
    n_par = len(spec.parallel or [])
    if tlm and (n_par < 2 or n_par % 2):
        raise InputError(f"--objective {objective} needs --parallel SRC TGT [SRC TGT ...] (aligned files in pairs), "
                         f"got {n_par} file{'' if n_par == 1 else 's'}")
    if not tlm and spec.parallel:
        raise InputError(f"--parallel is TLM's data; --objective {objective} does not use it")
    if objective != "tlm" and not spec.corpus:
        raise InputError(f"--objective {objective} needs --corpus (one text file per language)")
    if objective == "tlm" and spec.corpus:
        raise InputError("--objective tlm trains on --parallel only; add mlm (--objective mlm+tlm) to use --corpus")
    for opt, val in (("--packing", spec.packing), ("--masking", spec.masking),
                     ("--static-masking", spec.static_masking or None)):
        if val is not None:
            raise InputError(f"{opt} is not an XLM setting (XLM masks tokens dynamically in text streams)")
    return objective, langs


def pretrain_xlm(spec) -> dict[str, Any]:
    """Run XLM pretraining as `spec` (training/pretrain.PretrainSpec with arch "xlm") says; returns the metrics."""
    from bertkit.tokenizers import Tokenizer
    from bertkit.training.pretrain import _examples, make_save_fn, masking_vocab

    objective, langs = check_xlm_spec(spec)
    causal = objective == "clm"
    corpus = _corpus_langs(spec, langs) if spec.corpus else []
    eval_files = _corpus_langs(type(spec)(**{**spec.__dict__, "corpus": spec.eval_corpus}), langs) \
        if spec.eval_corpus else []
    files = [lang_file(f, langs, "--parallel") for f in spec.parallel or []]
    pairs = list(zip(files[0::2], files[1::2]))  # ((src_lang, src_path), (tgt_lang, tgt_path)) per pair
    for (sl, sp), (tl, tp) in pairs:
        if sl == tl:
            raise InputError(f"--parallel {sp} {tp}: both files are {sl!r}; TLM pairs two languages")
    if spec.init and Path(spec.init).resolve() == Path(spec.out).resolve():
        raise InputError(f"--out {spec.out} is the --init checkpoint; write to another folder so the starting "
                         f"model is kept")
    check_languages(spec.tokenizer, langs)
    texts = [read_parallel(src[1], tgt[1]) for src, tgt in pairs]  # every file checked before any work
    torch.manual_seed(spec.seed)
    tok = Tokenizer.from_pretrained(spec.tokenizer)
    vocab = None if causal else masking_vocab(tok)
    model = _model(spec, tok, langs, causal)
    ids = _lang_ids(model, langs)
    specials = Specials.from_tokenizer(tok)

    def streams(files, name):
        parts = []
        for lang, path in files:
            sub = type(spec)(**{**spec.__dict__, "cache_dir": Path(spec.cache_dir or Path(spec.out) / "token_cache")
                                / f"{name}_{lang}"})
            parts.append(LangStream(_examples(sub, [path], tok, "full", "text"), ids[lang]))
        return parts

    info = setup()  # under torchrun: rank 0 builds the token caches, the others then read them
    if not info.is_main:
        barrier(info)
    parts = streams(corpus, "train") if objective != "tlm" else []
    eval_data = Concat(streams(eval_files, "eval")) if eval_files else None
    if info.is_main:
        barrier(info)
    for ((sl, _), (tl, _)), (src_lines, tgt_lines) in zip(pairs, texts):
        parts.append(ParallelPairs(_encode(tok, src_lines, spec.progress), _encode(tok, tgt_lines, spec.progress),
                                   ids[sl], ids[tl], specials.prefix, specials.suffix, spec.max_length))
    train = Concat(parts)
    if not len(train):
        raise InputError("no training examples: the corpus and parallel files hold no text")
    collate = XLMCollator(vocab, tok.pad_token_id or 0, MaskingConfig(prob=spec.mask_prob), causal=causal)
    obj = XLMCausalLMObjective() if causal else XLMMaskedLMObjective()
    cfg = TrainConfig(out_dir=spec.out, lr=spec.lr, warmup_steps=spec.warmup, max_steps=spec.steps,
                      batch_size=spec.batch_size, grad_accum=spec.grad_accum, clip_norm=spec.clip_norm,
                      weight_decay=spec.weight_decay, precision=spec.precision, eval_every=spec.eval_every,
                      eval_at_start=spec.eval_at_start, save_every=spec.save_every, log_every=spec.log_every,
                      seed=spec.seed, num_workers=spec.num_workers, progress=spec.progress)
    trainer = Trainer(model, obj, train, config=cfg, collate_fn=collate, eval_data=eval_data,
                      save_fn=make_save_fn(obj, tok))
    metrics = trainer.fit(resume=spec.resume)
    metrics["train_examples"] = len(train)
    return metrics
