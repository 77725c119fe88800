"""One vocabulary for several languages: exponentially smoothed language sampling (XLM, XLM-R).

Language i has a share p_i = n_i / sum_j n_j of the sentences. Sampling it with probability
q_i = p_i^alpha / sum_j p_j^alpha (alpha < 1) gives low-resource languages more of the tokenizer's training stream
than their share, so their words are not split into characters (alpha = 0.5 in XLM, 0.3 in XLM-R; alpha = 1 is
plain concatenation, alpha = 0 uniform). The stream is as many sentences as all files hold, each drawn by first
choosing a language by q, then one of its sentences uniformly (with replacement), from a seeded generator.
The languages are stored in tokenizer_config.json ("languages"); `check_languages` refuses others.
"""
from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bertkit.errors import InputError


def parse_lang_files(spec: str) -> dict[str, str]:
    """"de=a.txt,en=b.txt" -> {"de": "a.txt", "en": "b.txt"} (order kept; one file per language)."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        lang, eq, path = item.partition("=")
        if not eq or not lang.strip() or not path.strip():
            raise InputError(f"--lang-files takes LANG=FILE pairs separated by commas, got {item!r}")
        lang = lang.strip()
        if lang in out:
            raise InputError(f"--lang-files names language {lang!r} twice")
        out[lang] = path.strip()
    return out


def smoothed_probs(counts: dict[str, int], alpha: float) -> dict[str, float]:
    """q_i = p_i^alpha / sum_j p_j^alpha with p_i = counts[i] / sum(counts)."""
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha must be in [0, 1] (0.5 XLM, 0.3 XLM-R, 1 = no smoothing), got {alpha}")
    total = sum(counts.values())
    weights = {k: (n / total) ** alpha for k, n in counts.items()}
    z = sum(weights.values())
    return {k: w / z for k, w in weights.items()}


@dataclass
class LanguageSample:
    """The sampled stream and, per language, its sentences n_i, share p_i, probability q_i and sampled count."""

    alpha: float
    sentences: dict[str, int]
    p: dict[str, float]
    q: dict[str, float]
    sampled: dict[str, int]
    lines: list[str]

    def format(self) -> str:
        rows = [(f"language sampling q_i ∝ p_i^alpha, alpha = {self.alpha:g} "
                 f"({len(self.lines)} sentences sampled)"),
                f"  {'lang':<6}{'sentences':>10}{'p_i':>9}{'q_i':>9}{'sampled':>9}"]
        for k in self.sentences:
            rows.append(f"  {k:<6}{self.sentences[k]:>10}{self.p[k]:>9.4f}{self.q[k]:>9.4f}{self.sampled[k]:>9}")
        return "\n".join(rows)


def sample_languages(lang_lines: dict[str, Sequence[str]], alpha: float = 0.5, seed: int = 0,
                     total: int | None = None) -> LanguageSample:
    """Draw `total` (default: all sentences) lines: a language by q_i, then one of its sentences uniformly."""
    texts = {k: [x for x in v if x.strip()] for k, v in lang_lines.items()}
    for k, v in texts.items():
        if not v:
            raise InputError(f"language {k!r} has no text to sample")
    counts = {k: len(v) for k, v in texts.items()}
    q = smoothed_probs(counts, alpha)
    n_all = sum(counts.values())
    rng = random.Random(seed)
    langs = list(texts)
    picks = rng.choices(langs, weights=[q[k] for k in langs], k=total if total is not None else n_all)
    lines = [texts[k][rng.randrange(counts[k])] for k in picks]
    sampled = {k: 0 for k in langs}
    for k in picks:
        sampled[k] += 1
    return LanguageSample(alpha, counts, {k: n / n_all for k, n in counts.items()}, q, sampled, lines)


def tokenizer_languages(folder: str | Path) -> list[str] | None:
    """The languages a tokenizer folder was trained for (tokenizer_config.json "languages"), None if not recorded."""
    path = Path(folder) / "tokenizer_config.json"
    if not path.is_file():
        return None
    langs = json.loads(path.read_text(encoding="utf-8")).get("languages")
    return list(langs) if langs is not None else None


def check_languages(folder: str | Path, langs: Sequence[str]) -> None:
    """InputError when the tokenizer in `folder` records its languages and some of `langs` are not among them."""
    have = tokenizer_languages(folder)
    if have is None:
        return
    missing = [x for x in langs if x not in have]
    if missing:
        raise InputError(f"the tokenizer {folder} was trained for {', '.join(have)}, not {', '.join(missing)}; "
                         f"train one with `bertkit tokenizer train --lang-files` over those languages")


def train_multilingual(lang_files: dict[str, str | Path], algo: str, vocab_size: int, *, alpha: float = 0.5,
                       seed: int = 0, **kwargs) -> tuple[object, LanguageSample]:
    """Train one tokenizer (train.train_tokenizer's `algo`, vocab_size and kwargs) on a stream sampled from every
    language's file with q_i ∝ p_i^alpha; the tokenizer records its languages. Returns (tokenizer, sample)."""
    import tempfile

    from bertkit.tokenizers.train import read_corpus, train_tokenizer

    smoothed_probs({"x": 1}, alpha)  # the alpha check, before reading anything
    lines = {lang: read_corpus([path]) for lang, path in lang_files.items()}
    sample = sample_languages(lines, alpha, seed)
    with tempfile.TemporaryDirectory() as d:
        stream = Path(d) / "stream.txt"
        stream.write_text("\n".join(sample.lines) + "\n", encoding="utf-8")
        tok = train_tokenizer([stream], algo, vocab_size, **kwargs)
    tok.config["languages"] = list(lang_files)
    return tok, sample
