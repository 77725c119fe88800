"""Pretraining recipes: BERT, RoBERTa, ALBERT, ELECTRA, SpanBERT, GPT-2, BART (and XLM: pretrain_xlm.py) from a corpus, as one library call.

    pretrain(PretrainSpec(arch="bert", size="tiny", tokenizer="tok/", corpus=["corpus.txt"], out="runs/b",
                          steps=1000, batch_size=32, lr=1e-4, warmup=100))

Each recipe is data (RECIPES): which model task, which example builder, which masking, which objective.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bertkit.data.collate import CausalCollator, DenoisingCollator, PretrainCollator, StaticMasked
from bertkit.data.packing import PACKINGS, CausalBlocks, Specials
from bertkit.data.token_cache import build_token_cache
from bertkit.errors import InputError
from bertkit.models import SIZES, Model, ModelConfig
from bertkit.models.family import get_family
from bertkit.objectives import (
    CausalLMObjective,
    DenoisingObjective,
    ElectraObjective,
    MaskingConfig,
    MLMObjective,
    NoiseConfig,
    NoiseVocab,
    SentencePairObjective,
    SpanBertObjective,
    Vocab,
    build_electra_pair,
    continuation_table,
    electra_generator,
)
from bertkit.objectives.bart_noise import bos_eos
from bertkit.training.distributed import barrier, setup
from bertkit.training.trainer import TrainConfig, Trainer


@dataclass(frozen=True)
class Recipe:
    family: str
    task: str
    packing: str
    masking: str
    objective: str   # mlm | nsp | sop | sbo | rtd | clm | denoise


RECIPES = {
    "bert": Recipe("bert", "pretraining", "nsp", "token", "nsp"),
    "roberta": Recipe("roberta", "mlm", "full", "token", "mlm"),
    "albert": Recipe("albert", "pretraining", "sop", "token", "sop"),
    "electra": Recipe("electra", "rtd", "full", "token", "rtd"),
    "spanbert": Recipe("bert", "mlm", "single", "span", "sbo"),
    "gpt2": Recipe("gpt2", "lm", "causal", "none", "clm"),
    "bart": Recipe("bart", "lm", "doc", "none", "denoise"),  # fairseq's complete_doc: windows within a document
}
OBJECTIVES = ("mlm", "nsp", "sop", "sbo", "rtd", "clm", "denoise")
CAUSAL_ARCHS = ("gpt2",)  # decoder-only: next-token loss on eos-separated blocks, no masking
SEQ2SEQ_ARCHS = ("bart",)  # encoder-decoder: the decoder rebuilds the text from a noised copy (objectives/bart_noise)
SEQ2SEQ_PACKINGS = ("full", "doc", "single")


@dataclass
class PretrainSpec:
    """Everything `bertkit pretrain` takes. None means the architecture's recipe default."""

    arch: str
    tokenizer: str | Path
    corpus: list[str | Path]
    out: str | Path
    size: str = "tiny"
    init: str | Path | None = None
    objective: str | None = None
    packing: str | None = None
    masking: str | None = None
    static_masking: int = 0          # > 0: RoBERTa's static baseline with this many masked copies
    mask_prob: float = 0.15
    noise: str | list[str] | None = None  # BART: names of objectives/bart_noise.NOISES (default infill,permute)
    noise_ratio: float | None = None      # BART: fraction masked / deleted / infilled (default 0.15 / 0.15 / 0.3)
    poisson_lambda: float | None = None   # BART: mean infilled span length (default 3)
    generator_fraction: float = 0.25  # ELECTRA: a new generator's width, heads and feed-forward / the discriminator's
    max_length: int = 128
    steps: int = 1000
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-4
    warmup: int = 0
    weight_decay: float = 0.01
    clip_norm: float = 1.0
    precision: str = "auto"          # auto: bf16 where the CPU/GPU multiplies it natively, else fp32
    eval_corpus: list[str | Path] = field(default_factory=list)
    eval_every: int | None = None
    eval_at_start: bool = False
    save_every: int | None = None
    log_every: int = 10
    seed: int = 0
    num_workers: int = 0
    cache_dir: str | Path | None = None
    langs: list[str] | None = None        # XLM: the model's languages, in language-id order
    parallel: list[str | Path] | None = None  # XLM TLM: SRC TGT [SRC TGT ...] aligned files (LANG=FILE, FILE.LANG)
    resume: bool = False
    progress: bool = True
    # VideoBERT (--arch videobert): captioned visual-token JSONL instead of a text corpus
    tokens: str | Path | None = None         # the JSONL of {"video", "caption", "visual_tokens"}
    eval_tokens: str | Path | None = None
    visual_vocab: int | None = None          # V, the codebook's k^d visual words
    loss_weights: str | None = None          # "text,video,align" (default 1,1,1)
    # ... or the raw front end: videos + captions tokenized with a trained extractor and codebook into OUT/tokens.jsonl
    videos: str | Path | None = None
    captions: str | Path | None = None
    extractor: str | Path | None = None
    codebook: str | Path | None = None


VIDEO_ARCHS = ("videobert",)


def video_tokens_spec(spec: PretrainSpec) -> PretrainSpec:
    """`--videos DIR --captions FILE --extractor FOLDER --codebook FILE`: tokenize the corpus into OUT/tokens.jsonl
    with the video pipeline (reused when it is already there) and return the spec reading it, V from the codebook."""
    import dataclasses

    from bertkit.video.codebook import Codebook
    from bertkit.video.pipeline import read_captions, tokenize_corpus

    missing = [n for n, v in (("--captions", spec.captions), ("--extractor", spec.extractor),
                              ("--codebook", spec.codebook)) if v is None]
    if missing:
        raise InputError(f"--videos needs {', '.join(missing)} (tokenize with a trained extractor and codebook)")
    if spec.tokens is not None:
        raise InputError("give --tokens or --videos, not both")
    read_captions(spec.captions, spec.videos)      # the caption file's errors before anything loads
    v = Codebook.load(spec.codebook).size
    if spec.visual_vocab is not None and spec.visual_vocab != v:
        raise InputError(f"--visual-vocab {spec.visual_vocab} but the codebook {spec.codebook} has {v} visual words")
    tokens = Path(spec.out) / "tokens.jsonl"
    if not tokens.exists():
        tokenize_corpus(spec.videos, spec.captions, spec.extractor, spec.codebook, tokens, progress=spec.progress)
    return dataclasses.replace(spec, tokens=tokens, visual_vocab=v)


def pretrain_video_spec(spec: PretrainSpec) -> dict[str, Any]:
    """`--arch videobert`: read the tokens JSONL(s) and run training.videobert.pretrain_videobert."""
    from bertkit.data.video_text import read_token_jsonl
    from bertkit.training.videobert import pretrain_videobert

    if spec.videos is not None:
        spec = video_tokens_spec(spec)
    elif any(v is not None for v in (spec.captions, spec.extractor, spec.codebook)):
        raise InputError("--captions, --extractor and --codebook go with --videos DIR")
    if spec.tokens is None or spec.visual_vocab is None:
        raise InputError("--arch videobert needs --tokens FILE (captioned visual tokens, JSONL) and --visual-vocab V, "
                         "or --videos DIR --captions FILE --extractor FOLDER --codebook FILE")
    if spec.corpus:
        raise InputError("--arch videobert reads --tokens, not --corpus")
    set_ = [n for n, v in (("--objective", spec.objective), ("--packing", spec.packing), ("--masking", spec.masking),
                           ("--static-masking", spec.static_masking), ("--noise", spec.noise),
                           ("--noise-ratio", spec.noise_ratio), ("--poisson-lambda", spec.poisson_lambda)) if v]
    if set_:
        raise InputError(f"{', '.join(set_)} do not apply to --arch videobert (its objectives are set by --weights)")
    train = read_token_jsonl(spec.tokens, spec.visual_vocab)
    dev = read_token_jsonl(spec.eval_tokens, spec.visual_vocab) if spec.eval_tokens else None
    return pretrain_videobert(
        train, out=spec.out, visual_vocab=spec.visual_vocab, tokenizer=spec.tokenizer, init=spec.init, size=spec.size,
        weights=spec.loss_weights or (1.0, 1.0, 1.0), eval_examples=dev, max_length=spec.max_length,
        mask_prob=spec.mask_prob, steps=spec.steps, batch_size=spec.batch_size, grad_accum=spec.grad_accum, lr=spec.lr,
        warmup=spec.warmup, weight_decay=spec.weight_decay, clip_norm=spec.clip_norm, precision=spec.precision,
        eval_every=spec.eval_every, eval_at_start=spec.eval_at_start, save_every=spec.save_every,
        log_every=spec.log_every, seed=spec.seed, resume=spec.resume, progress=spec.progress,
        num_workers=spec.num_workers)


def default_packing(recipe: Recipe, objective: str) -> str:
    """The example builder an objective takes when --packing is not given: NSP and SOP build sentence pairs;
    any other objective keeps the recipe's builder unless that builds pairs (BERT's NSP, ALBERT's SOP), as
    `--arch bert --objective mlm` needs no document boundaries: then RoBERTa's FULL-SENTENCES (SpanBERT's
    single sequences for sbo)."""
    if objective in ("nsp", "sop"):
        return objective
    if recipe.packing in ("nsp", "sop"):
        return "single" if objective == "sbo" else "full"
    return recipe.packing


def size_preset(size: str) -> dict[str, Any]:
    """--size: a named preset of SIZES, or a JSON file of sizes."""
    if size in SIZES:
        return dict(SIZES[size])
    p = Path(size)
    if not p.is_file():
        raise InputError(f"--size must be one of {', '.join(SIZES)} or a config JSON file, got {size!r}")
    return json.loads(p.read_text())


def _config(spec: PretrainSpec, recipe: Recipe, tok) -> ModelConfig:
    sizes = size_preset(spec.size)
    if recipe.family == "gpt2":
        return _gpt2_config(spec, sizes, tok)
    if recipe.family == "bart":
        return _bart_config(spec, sizes, tok)
    hf = {"vocab_size": tok.vocab_size, "hidden_size": sizes["hidden_size"],
          "num_hidden_layers": sizes.get("num_layers", sizes.get("num_hidden_layers")),
          "num_attention_heads": sizes.get("num_heads", sizes.get("num_attention_heads")),
          "intermediate_size": sizes["intermediate_size"], "pad_token_id": tok.pad_token_id or 0,
          "max_position_embeddings": spec.max_length + (tok.pad_token_id + 1 if recipe.family == "roberta" else 0),
          "type_vocab_size": 1 if recipe.family == "roberta" else 2}
    if recipe.family == "albert":  # factorized: E < H always (HF ALBERT always has the E -> H projection)
        hf["embedding_size"] = sizes.get("embedding_size", min(128, sizes["hidden_size"] // 2))
    elif recipe.family == "electra":
        hf["embedding_size"] = sizes.get("embedding_size", min(128, sizes["hidden_size"]))
    hf.update({k: v for k, v in sizes.items() if k in ("hidden_act", "hidden_dropout_prob",
                                                      "attention_probs_dropout_prob", "layer_norm_eps")})
    return get_family(recipe.family).config_from_hf(hf)


def _gpt2_config(spec: PretrainSpec, sizes: dict[str, Any], tok) -> ModelConfig:
    """GPT-2 keys from the size table; bos = eos = the tokenizer's eos (GPT-2's <|endoftext|>)."""
    hf = {"vocab_size": tok.vocab_size, "n_embd": sizes.get("hidden_size", sizes.get("n_embd")),
          "n_layer": sizes.get("num_layers", sizes.get("num_hidden_layers", sizes.get("n_layer"))),
          "n_head": sizes.get("num_heads", sizes.get("num_attention_heads", sizes.get("n_head"))),
          "n_inner": sizes.get("intermediate_size", sizes.get("n_inner")), "n_positions": spec.max_length,
          "bos_token_id": tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id,
          "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    for ours, theirs in (("hidden_act", "activation_function"), ("hidden_dropout_prob", "resid_pdrop"),
                         ("attention_probs_dropout_prob", "attn_pdrop"), ("layer_norm_eps", "layer_norm_epsilon")):
        if ours in sizes or theirs in sizes:
            hf[theirs] = sizes.get(ours, sizes.get(theirs))
    if "hidden_dropout_prob" in sizes or "resid_pdrop" in sizes:
        hf["embd_pdrop"] = hf["resid_pdrop"]
    return get_family("gpt2").config_from_hf(hf)


def _bart_config(spec: PretrainSpec, sizes: dict[str, Any], tok) -> ModelConfig:
    """BART keys from the size table (the decoder as deep and wide as the encoder unless the table says otherwise);
    bos, eos and pad from the tokenizer (<s>, </s>, <pad>), the decoder starting with eos as in BART."""
    bos, eos = bos_eos(tok)
    layers = sizes.get("num_layers", sizes.get("num_hidden_layers", sizes.get("encoder_layers")))
    heads = sizes.get("num_heads", sizes.get("num_attention_heads", sizes.get("encoder_attention_heads")))
    ffn = sizes.get("intermediate_size", sizes.get("encoder_ffn_dim"))
    hf = {"vocab_size": tok.vocab_size, "d_model": sizes.get("hidden_size", sizes.get("d_model")),
          "encoder_layers": layers, "decoder_layers": sizes.get("decoder_layers", layers),
          "encoder_attention_heads": heads, "decoder_attention_heads": sizes.get("decoder_attention_heads", heads),
          "encoder_ffn_dim": ffn, "decoder_ffn_dim": sizes.get("decoder_ffn_dim", ffn),
          "max_position_embeddings": spec.max_length, "pad_token_id": tok.pad_token_id, "bos_token_id": bos,
          "eos_token_id": eos, "decoder_start_token_id": eos, "forced_eos_token_id": eos}
    for ours, theirs in (("hidden_act", "activation_function"), ("hidden_dropout_prob", "dropout"),
                         ("attention_probs_dropout_prob", "attention_dropout")):
        if ours in sizes or theirs in sizes:
            hf[theirs] = sizes.get(ours, sizes.get(theirs))
    return get_family("bart").config_from_hf(hf)


def noise_config(spec: PretrainSpec) -> NoiseConfig:
    """The NoiseConfig of --noise, --noise-ratio and --poisson-lambda (None: the defaults of NoiseConfig)."""
    kw: dict[str, Any] = {}
    if spec.noise is not None:
        kw["noises"] = spec.noise if isinstance(spec.noise, str) else tuple(spec.noise)
    if spec.noise_ratio is not None:
        kw.update(mask_ratio=spec.noise_ratio, delete_ratio=spec.noise_ratio, infill_ratio=spec.noise_ratio)
    if spec.poisson_lambda is not None:
        kw["poisson_lambda"] = spec.poisson_lambda
    return NoiseConfig(**kw)


def _scheme(tok) -> str:
    kind = getattr(tok.model, "kind", "wordpiece")
    return {"wordpiece": "wordpiece", "bytebpe": "bpe", "bpe": "bpe"}.get(kind, "sentencepiece")


ENCODER_SPECIALS = ("cls_token", "sep_token", "mask_token", "pad_token")  # what masked-LM packing and masking use


def check_encoder_specials(tok, path: str, arch: str) -> None:
    """One InputError naming every special token a masked-LM encoder needs that `tok` lacks: the classifier
    token and the separator that packing puts around the text, the mask token and the padding token."""
    missing = [role for role in ENCODER_SPECIALS if tok._role_id(role) is None]
    if missing:
        have = ", ".join(f"{r}={tok.special.get(r)}" for r in ENCODER_SPECIALS if r not in missing) or "none"
        raise InputError(f"the tokenizer {path} lacks the special tokens {arch} pretraining needs: "
                         f"{', '.join(missing)} (it has {have}); train one with `bertkit tokenizer train --algo "
                         "wordpiece`, or `--algo unigram --layout kobert` for a KoBERT vocabulary")


def masking_vocab(tok) -> Vocab:
    """What masking needs from a Tokenizer: [MASK], specials and the word-continuation table."""
    if tok.mask_token_id is None:
        raise InputError("the tokenizer has no mask token; masked-LM pretraining needs one")
    tokens = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
    return Vocab(tok.mask_token_id, tok.vocab_size, tuple(sorted(set(tok.all_special_ids))),
                 continuation_table(tokens, _scheme(tok)))


def _examples(spec: PretrainSpec, files, tok, packing: str, cache_name: str):
    cache_dir = Path(spec.cache_dir or Path(spec.out) / "token_cache") / cache_name
    encode = lambda texts: tok(texts, add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    cache = build_token_cache(files, encode, tok.vocab_size, cache_dir,
                              tokenizer_id=str(Path(spec.tokenizer).resolve()), progress=spec.progress)
    if packing == "causal":
        return CausalBlocks(cache, tok.eos_token_id, spec.max_length)
    build = PACKINGS[packing]
    specials = Specials.from_tokenizer(tok)
    if packing in ("nsp", "sop"):
        return build(cache, specials, spec.max_length, seed=spec.seed)
    return build(cache, specials, spec.max_length)


def build_models(spec: PretrainSpec, recipe: Recipe, objective: str, tok) -> tuple[Model, Any]:
    """The model to train (initialised from spec.init when given) and the objective module."""
    from bertkit.hub import from_pretrained

    if objective == "rtd":
        if spec.init:
            disc, gen = electra_from_checkpoint(spec.init, tok.vocab_size, spec.generator_fraction)
        else:
            disc, gen = build_electra_pair(_config(spec, recipe, tok), spec.generator_fraction)
        return disc, ElectraObjective(gen)
    task = {"nsp": "pretraining", "sop": "pretraining", "clm": "lm", "denoise": "lm"}.get(objective, "mlm")
    if spec.init:
        model = from_pretrained(spec.init, task=task)  # keeps the checkpoint's vocabulary (BioBERT recipe)
        _check_init_vocab(model, tok.vocab_size)
        model.train()
    else:
        cfg = _config(spec, recipe, tok)
        model = get_family(cfg.family).build(cfg, task) if objective in ("clm", "denoise") else Model(cfg, task)
    if objective == "clm":
        return model, CausalLMObjective()
    if objective == "denoise":
        if model.family.name not in SEQ2SEQ_ARCHS:
            raise InputError(f"--init with --arch bart takes a BART checkpoint, got a {model.family.name} model")
        return model, DenoisingObjective()
    if objective in ("nsp", "sop"):
        if model.family.pretraining_heads != ("mlm", objective):
            raise InputError(f"{objective} needs a {model.family.name} model with an {objective} head; "
                             f"{model.family.name} pretraining heads are {model.family.pretraining_heads}")
        return model, SentencePairObjective(objective)
    if objective == "sbo":
        return model, SpanBertObjective(model.config.hidden_size, model.config.vocab_size)
    return model, MLMObjective()


def _check_init_vocab(model: Model, vocab_size: int) -> None:
    if model.config.vocab_size != vocab_size:
        raise InputError(f"--init checkpoint has {model.config.vocab_size} tokens but the tokenizer "
                         f"{vocab_size}; continue with the checkpoint's own tokenizer")


def electra_from_checkpoint(path: str | Path, vocab_size: int,
                            generator_fraction: float = 0.25) -> tuple[Model, Model]:
    """ELECTRA discriminator and generator to continue pretraining from `path`, embeddings shared.

    - an ELECTRA pretraining folder (a discriminator with a `generator/` subfolder, as `bertkit pretrain` saves
      it): both models continue;
    - an ELECTRA discriminator alone: a new generator `generator_fraction` of its width (default a quarter);
    - a BERT checkpoint without factorized embeddings: its encoder becomes the discriminator, and when it has a
      masked-LM head the whole masked LM (same size) becomes the generator, else a new one as above."""
    from bertkit.hub import from_pretrained
    from bertkit.models.convert import convert_family

    path = Path(path)
    src = from_pretrained(path)
    _check_init_vocab(src, vocab_size)
    gen = None
    if src.family.name == "electra":
        disc = src if src.task == "rtd" else from_pretrained(path, task="rtd")
        if (path / "generator" / "config.json").is_file():
            gen = from_pretrained(path / "generator", task="mlm", require_heads=True)
    elif src.family.name == "bert":
        disc = convert_family(src, "electra", task="rtd", warn=False)  # the RTD head is new
        if "mlm" in src.heads:
            gen = convert_family(src, "electra", task="mlm", warn=False)
    else:
        raise InputError(f"--init with ELECTRA takes an ELECTRA or BERT checkpoint, got a {src.family.name} model")
    if gen is None:
        gen = electra_generator(disc, generator_fraction)
    if gen.config.emb_dim != disc.config.emb_dim or gen.config.vocab_size != disc.config.vocab_size:
        raise InputError(f"--init {path}: the generator's embeddings ({gen.config.vocab_size} x "
                         f"{gen.config.emb_dim}) differ from the discriminator's ({disc.config.vocab_size} x "
                         f"{disc.config.emb_dim}); ELECTRA shares them")
    gen.backbone.embeddings = disc.backbone.embeddings  # shared, as in build_electra_pair (loaded generators too)
    disc.train()
    gen.train()
    return disc, gen


def make_save_fn(objective: Any, tok):
    """Save the model as an HF folder with the tokenizer; plus the ELECTRA generator or the SBO head."""
    from bertkit.hub import save_pretrained

    def save(model: Model, path: Path) -> None:
        save_pretrained(model, path, tokenizer=tok)
        if isinstance(objective, ElectraObjective):
            save_pretrained(objective.generator, Path(path) / "generator", tokenizer=tok)
        elif isinstance(objective, SpanBertObjective):
            objective.save(path)
    return save


def pretrain(spec: PretrainSpec) -> dict[str, Any]:
    """Run one pretraining recipe end to end; returns the trainer's final metrics."""
    from bertkit.tokenizers import Tokenizer

    if spec.arch in VIDEO_ARCHS:
        return pretrain_video_spec(spec)
    video_only = [n for n, v in (("--tokens", spec.tokens), ("--visual-vocab", spec.visual_vocab),
                                 ("--weights", spec.loss_weights), ("--videos", spec.videos),
                                 ("--captions", spec.captions), ("--extractor", spec.extractor),
                                 ("--codebook", spec.codebook)) if v is not None]
    if video_only:
        raise InputError(f"{', '.join(video_only)} belong to --arch videobert, not {spec.arch}")
    if spec.arch == "xlm":
        from bertkit.training.pretrain_xlm import pretrain_xlm

        return pretrain_xlm(spec)
    if spec.langs or spec.parallel:
        raise InputError(f"--langs and --parallel are XLM settings (--arch xlm), not {spec.arch}'s")
    if spec.arch not in RECIPES:
        raise InputError(f"unknown --arch {spec.arch!r}; expected one of {', '.join((*RECIPES, 'xlm', *VIDEO_ARCHS))}")
    if not spec.corpus:
        raise InputError("--corpus is required: text files to pretrain on")
    if not spec.tokenizer:
        raise InputError(f"--arch {spec.arch} needs --tokenizer")
    recipe = RECIPES[spec.arch]
    objective = spec.objective or recipe.objective
    if objective not in OBJECTIVES:
        raise InputError(f"unknown --objective {objective!r}; expected one of {', '.join(OBJECTIVES)}")
    seq2seq = spec.arch in SEQ2SEQ_ARCHS
    if seq2seq != (objective == "denoise"):
        raise InputError(f"--arch {spec.arch} trains with --objective denoise only" if seq2seq else
                         f"--objective denoise (rebuilding noised text) needs an encoder-decoder: --arch "
                         f"{', '.join(SEQ2SEQ_ARCHS)}; {spec.arch} is not one")
    if not seq2seq and (spec.noise, spec.noise_ratio, spec.poisson_lambda) != (None, None, None):
        raise InputError(f"--noise, --noise-ratio and --poisson-lambda set BART's noising; --arch {spec.arch} "
                         "does not noise its input")
    noise_cfg = noise_config(spec) if seq2seq else None
    causal = spec.arch in CAUSAL_ARCHS
    if causal != (objective == "clm"):
        raise InputError(f"--arch {spec.arch} trains with --objective clm only" if causal else
                         f"--objective clm (next-token) needs a decoder: --arch {', '.join(CAUSAL_ARCHS)}; "
                         f"{spec.arch} is an encoder")
    packing = spec.packing or default_packing(recipe, objective)
    if causal and packing != "causal":
        raise InputError(f"--arch {spec.arch} trains on --packing causal (eos-separated blocks), got {packing}")
    if not causal and packing == "causal":
        raise InputError(f"--packing causal is for decoders (--arch {', '.join(CAUSAL_ARCHS)}), not {spec.arch}")
    if causal and spec.masking:
        raise InputError(f"--masking {spec.masking} is a masked-LM setting; --arch {spec.arch} predicts every next token")
    if seq2seq:
        if packing not in SEQ2SEQ_PACKINGS:
            raise InputError(f"--arch {spec.arch} trains on text windows (--packing {', '.join(SEQ2SEQ_PACKINGS)}), "
                             f"got {packing}")
        if spec.masking or spec.static_masking:
            raise InputError(f"--masking and --static-masking are masked-LM settings; --arch {spec.arch} noises its "
                             "input as --noise says")
    if objective in ("nsp", "sop") and packing != objective:
        raise InputError(f"objective {objective} needs --packing {objective}, got {packing}")
    masking = spec.masking or ("span" if objective == "sbo" else recipe.masking)
    if objective == "sbo" and masking != "span":
        raise InputError("the span boundary objective needs --masking span")
    if spec.init and Path(spec.init).resolve() == Path(spec.out).resolve():
        raise InputError(f"--out {spec.out} is the --init checkpoint; write to another folder so the starting "
                         f"model is kept")
    torch.manual_seed(spec.seed)
    tok = Tokenizer.from_pretrained(spec.tokenizer)
    if causal and tok.eos_token_id is None:
        raise InputError(f"the tokenizer {spec.tokenizer} has no eos token; {spec.arch} separates documents with it "
                         "(GPT-2: <|endoftext|>); train one with `bertkit tokenizer train --algo bytebpe --layout gpt2`")
    nvocab = NoiseVocab.from_tokenizer(tok, spec.tokenizer) if seq2seq else None
    if not causal and not seq2seq:
        check_encoder_specials(tok, spec.tokenizer, spec.arch)
    vocab = None if causal or seq2seq else masking_vocab(tok)
    mcfg = MaskingConfig(prob=spec.mask_prob)
    info = setup()  # under torchrun: rank 0 tokenizes the corpus, the others then read its cache
    if not info.is_main:
        barrier(info)
    train = _examples(spec, spec.corpus, tok, packing, "train")
    eval_data = _examples(spec, spec.eval_corpus, tok, packing, "eval") if spec.eval_corpus else None
    if info.is_main:
        barrier(info)
    if causal:
        if spec.static_masking:
            raise InputError("--static-masking is a masked-LM setting; a causal LM masks nothing")
        collate = eval_collate = CausalCollator(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    elif seq2seq:
        collate = eval_collate = DenoisingCollator(nvocab, tok.pad_token_id, noise_cfg, spec.max_length)
    else:
        collate = PretrainCollator(vocab, tok.pad_token_id or 0, masking, mcfg)
        eval_collate = PretrainCollator(vocab, tok.pad_token_id or 0, masking, mcfg)  # eval data is never pre-masked
    if spec.static_masking > 0:
        train = StaticMasked(train, vocab, spec.static_masking, masking, mcfg, spec.seed)
        collate = PretrainCollator(vocab, tok.pad_token_id or 0, None, mcfg)
    model, obj = build_models(spec, recipe, objective, tok)
    cfg = TrainConfig(out_dir=spec.out, lr=spec.lr, warmup_steps=spec.warmup, max_steps=spec.steps,
                      batch_size=spec.batch_size, grad_accum=spec.grad_accum, clip_norm=spec.clip_norm,
                      weight_decay=spec.weight_decay, precision=spec.precision, eval_every=spec.eval_every,
                      eval_at_start=spec.eval_at_start,
                      save_every=spec.save_every, log_every=spec.log_every, seed=spec.seed,
                      num_workers=spec.num_workers, progress=spec.progress)
    trainer = Trainer(model, obj, train, config=cfg, collate_fn=collate, eval_data=eval_data,
                      eval_collate_fn=eval_collate, save_fn=make_save_fn(obj, tok))
    metrics = trainer.fit(resume=spec.resume)
    metrics["train_examples"] = len(train)
    return metrics


def clear_cache(spec: PretrainSpec) -> None:
    shutil.rmtree(Path(spec.cache_dir or Path(spec.out) / "token_cache"), ignore_errors=True)
