"""Reading and writing tokenizer folders in the Hugging Face layout (no `tokenizers` package needed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertkit.errors import CheckpointError
from bertkit.tokenizers.tokenizer import VERY_LARGE, AddedToken, Template, Tokenizer

ROLES = ("unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "bos_token", "eos_token")
BERT_SPECIALS = {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
                 "mask_token": "[MASK]"}
ROBERTA_SPECIALS = {"bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>",
                    "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>"}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not valid JSON: {e}") from None
    return data if isinstance(data, dict) else {}


def _content(value: Any) -> str | None:
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


def _specials(folder: Path, config: dict[str, Any], defaults: dict[str, str]) -> dict[str, str | None]:
    smap = _read_json(folder / "special_tokens_map.json")
    out: dict[str, str | None] = {}
    for role in ROLES:
        tok = _content(config.get(role)) or _content(smap.get(role)) or defaults.get(role)
        out[role] = tok
    return out


def _added_tokens(folder: Path, config: dict[str, Any], fast: dict[str, Any],
                  specials: dict[str, str | None], vocab: dict[str, int]) -> list[AddedToken]:
    """Added tokens from tokenizer.json or tokenizer_config.json's added_tokens_decoder, plus the
    special tokens themselves (all matched verbatim in raw text)."""
    found: dict[str, AddedToken] = {}
    entries = fast.get("added_tokens") or list((config.get("added_tokens_decoder") or {}).values())
    for e in entries:
        if isinstance(e, dict) and e.get("content"):
            found[e["content"]] = AddedToken(e["content"], bool(e.get("special", True)),
                                             bool(e.get("lstrip", False)), bool(e.get("rstrip", False)))
    for tok in specials.values():
        if tok and tok not in found and tok in vocab:
            found[tok] = AddedToken(tok)
    return list(found.values())


def _max_length(config: dict[str, Any]) -> int:
    value = config.get("model_max_length")
    try:
        return int(value) if value is not None else VERY_LARGE
    except (TypeError, ValueError, OverflowError):
        return VERY_LARGE


def load_tokenizer(path: str | Any) -> Tokenizer:
    from bertkit.hub.default import resolve_model_path

    folder = resolve_model_path(path)  # a hub id finds its cached snapshot
    if not folder.exists():
        raise CheckpointError(f"tokenizer folder not found: {folder}")
    if folder.is_file():
        if folder.suffix == ".model":
            from bertkit.tokenizers.sentencepiece import load_sentencepiece

            return load_sentencepiece(folder.parent, folder)
        raise CheckpointError(f"expected a tokenizer folder, got the file {folder}")
    config = _read_json(folder / "tokenizer_config.json")
    fast = _read_json(folder / "tokenizer.json")
    fmodel = fast.get("model") or {}
    if (folder / "vocab.txt").is_file() or fmodel.get("type") == "WordPiece":
        return _load_wordpiece(folder, config, fast)
    byte_level = "ByteLevel" in json.dumps(fast.get("pre_tokenizer"))
    if ((folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()) or \
            (fmodel.get("type") == "BPE" and byte_level):
        return _load_bytelevel(folder, config, fast)
    models = sorted(folder.glob("*.model"))
    if models:
        from bertkit.tokenizers.sentencepiece import load_sentencepiece

        return load_sentencepiece(folder, models[0])
    if fmodel.get("type") == "BPE":
        from bertkit.tokenizers.metaspace import load_metaspace_bpe, metaspace_of

        if metaspace_of(fast) is not None:  # SentencePiece-style words: KoGPT2, KoBART
            return load_metaspace_bpe(folder, config, fast)
        from bertkit.tokenizers.bpe import load_char_bpe

        return load_char_bpe(folder, config, fast)
    raise CheckpointError(f"no tokenizer files in {folder}: expected vocab.txt, vocab.json + merges.txt, "
                          "a SentencePiece .model or a BPE tokenizer.json")


def _load_wordpiece(folder: Path, config: dict[str, Any], fast: dict[str, Any]) -> Tokenizer:
    from bertkit.tokenizers.wordpiece import BertNormalization, WordPieceModel, read_vocab_txt

    fmodel = fast.get("model") or {}
    if (folder / "vocab.txt").is_file():
        vocab = read_vocab_txt(str(folder / "vocab.txt"))
    else:
        vocab = {str(k): int(v) for k, v in fmodel.get("vocab", {}).items()}
    if not vocab:
        raise CheckpointError(f"{folder / 'vocab.txt'} is empty")
    norm = BertNormalization(lowercase=bool(config.get("do_lower_case", True)),
                             strip_accents=config.get("strip_accents"),
                             chinese_chars=bool(config.get("tokenize_chinese_chars", True)))
    fnorm = fast.get("normalizer") or {}
    if fnorm.get("type") == "BertNormalizer":  # what HF actually runs when tokenizer.json exists
        norm = BertNormalization(bool(fnorm.get("lowercase", True)), fnorm.get("strip_accents"),
                                 bool(fnorm.get("handle_chinese_chars", True)))
    specials = _specials(folder, config, BERT_SPECIALS)
    unk = specials["unk_token"] or "[UNK]"
    if unk not in vocab:
        raise CheckpointError(f"{folder / 'vocab.txt'} lacks the unknown token {unk!r}")
    model = WordPieceModel(vocab, unk, norm, fmodel.get("continuing_subword_prefix", "##"),
                           int(fmodel.get("max_input_chars_per_word", 100)))
    cls_id, sep_id = vocab.get(specials["cls_token"] or ""), vocab.get(specials["sep_token"] or "")
    template = Template() if cls_id is None or sep_id is None else Template([cls_id], [sep_id], [sep_id], 1)
    return Tokenizer(model, specials, template, _added_tokens(folder, config, fast, specials, vocab),
                     _max_length(config), {"tokenizer_class": "BertTokenizer", **_keep(config)})


def _load_bytelevel(folder: Path, config: dict[str, Any], fast: dict[str, Any]) -> Tokenizer:
    from bertkit.tokenizers.bytelevel import ByteLevelBPEModel, read_merges_txt, read_vocab_json

    if (folder / "vocab.json").is_file():
        try:
            vocab = read_vocab_json(str(folder / "vocab.json"))
        except (json.JSONDecodeError, ValueError, AttributeError) as e:
            raise CheckpointError(f"{folder / 'vocab.json'} is not a token → id JSON object: {e}") from None
        merges = read_merges_txt(str(folder / "merges.txt"))
    else:
        vocab, merges = fast_vocab_merges(fast)
    cls_name = str(config.get("tokenizer_class", ""))
    is_gpt2 = "gpt2" in cls_name.lower() or ("<s>" not in vocab and "<|endoftext|>" in vocab)
    defaults = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"} \
        if is_gpt2 else ROBERTA_SPECIALS
    specials = _specials(folder, config, defaults)
    add_prefix_space = bool(config.get("add_prefix_space", False))
    trim = bool(config.get("trim_offsets", True))
    pre = fast.get("pre_tokenizer") or {}
    if pre.get("type") == "ByteLevel":
        add_prefix_space = bool(pre.get("add_prefix_space", add_prefix_space))
    post = fast.get("post_processor") or {}
    if "trim_offsets" in post:
        trim = bool(post["trim_offsets"])
    model = ByteLevelBPEModel(vocab, merges, add_prefix_space, trim, specials.get("unk_token"))
    if is_gpt2:
        template = Template(second_type_id=0)
    else:
        cls_id, sep_id = vocab.get(specials["cls_token"] or ""), vocab.get(specials["sep_token"] or "")
        if cls_id is not None and sep_id is not None:
            template = Template([cls_id], [sep_id, sep_id], [sep_id], 0)
        else:
            template = Template(second_type_id=0)
    added = _added_tokens(folder, config, fast, specials, vocab)
    config = {"tokenizer_class": "GPT2Tokenizer" if is_gpt2 else "RobertaTokenizer", **_keep(config),
              "add_prefix_space": add_prefix_space, "trim_offsets": trim}
    return Tokenizer(model, specials, template, added, _max_length(config), config)


def fast_vocab_merges(fast: dict[str, Any]) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """vocab and merges of a BPE model stored in tokenizer.json (merges as "a b" or ["a", "b"])."""
    model = fast.get("model") or {}
    vocab = {str(k): int(v) for k, v in (model.get("vocab") or {}).items()}
    merges = []
    for m in model.get("merges") or []:
        a, b = (m.split(" ", 1) if isinstance(m, str) else m)
        merges.append((a, b))
    return vocab, merges


def _keep(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k in ("tokenizer_class", "do_lower_case", "strip_accents",
                                                      "tokenize_chinese_chars", "model_max_length", "languages")}


def save_tokenizer(tok: Tokenizer, path: str | Any) -> None:
    """Write tok's files into `path` (created if needed)."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    model = tok.model
    specials = {k: v for k, v in tok.special.items() if v is not None}
    config: dict[str, Any] = {**tok.config, **specials}
    if tok.model_max_length < VERY_LARGE:
        config["model_max_length"] = tok.model_max_length
    kind = model.kind
    if kind == "wordpiece":
        with open(folder / "vocab.txt", "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in model.id_to_token)
        norm = model.norm  # type: ignore[attr-defined]
        config.update(tokenizer_class="BertTokenizer", do_lower_case=norm.lowercase,
                      strip_accents=norm.strip_accents, tokenize_chinese_chars=norm.chinese_chars)
    elif kind == "bytebpe":
        with open(folder / "vocab.json", "w", encoding="utf-8") as f:
            json.dump(model.vocab, f, ensure_ascii=False)
        with open(folder / "merges.txt", "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n")
            f.writelines(f"{a} {b}\n" for a, b in model.merges)  # type: ignore[attr-defined]
        config.update(add_prefix_space=model.add_prefix_space,  # type: ignore[attr-defined]
                      trim_offsets=model.trim_offsets)  # type: ignore[attr-defined]
    else:
        model.save(folder, tok)  # type: ignore[attr-defined]
    added = {str(tok._token_to_id[t.content]): {"content": t.content, "special": t.special,
                                                 "lstrip": t.lstrip, "rstrip": t.rstrip,
                                                 "normalized": False, "single_word": False}
             for t in tok.added}
    config["added_tokens_decoder"] = added
    with open(folder / "tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, ensure_ascii=False)
    with open(folder / "special_tokens_map.json", "w", encoding="utf-8") as f:
        json.dump(specials, f, indent=2, ensure_ascii=False)
