"""Training vocabularies: BPE (character level), byte-level BPE, WordPiece; SentencePiece via its library.

All trainers count words first (word-frequency based), then run the merge loop of `merge_train.py` on the
distinct words only. `train_tokenizer` returns a ready `Tokenizer`; `save_pretrained` writes a folder that
bertkit and Hugging Face transformers both load.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bertkit.errors import InputError
from bertkit.tokenizers.bpe import SUFFIX, CharBPEModel
from bertkit.tokenizers.bytelevel import GPT2_PATTERN, ByteLevelBPEModel, bytes_to_unicode
from bertkit.tokenizers.merge_train import learn_merges
from bertkit.tokenizers.text import CHUNK_RE, bert_words
from bertkit.tokenizers.tokenizer import AddedToken, Template, Tokenizer
from bertkit.tokenizers.wordpiece import BertNormalization, WordPieceModel

ALGOS = ("bpe", "bytebpe", "wordpiece", "unigram", "spbpe")
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
GPT2_SPECIALS = ["<|endoftext|>"]
# KoGPT2's special tokens (bos = eos = </s>), and the emoticons and emoji it keeps whole instead of as bytes
KOGPT2_SPECIALS = ["</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>", "<d>", "</d>"]
KOGPT2_EMOTICONS = ("ㅋㅋ", "ㅎㅎ", "ㅠㅠ", "ㅜㅜ", "ㅡㅡ", "^^", "^_^", "^^;", "T_T", "TT", "-_-", ":)", ":(", ";)", ":D",
                    "♥", "♡", "★", "☆", *(chr(c) for c in range(0x1F600, 0x1F650)))
# KoBART's (gogamza/kobart-base-v2) special tokens, in its id order; it keeps the same emoticons whole
KOBART_SPECIALS = ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]
LAYOUTS = ("roberta", "gpt2", "kogpt2", "kobart")
SP_LAYOUTS = ("bert", "kobert")  # SentencePiece (unigram, spbpe): see sentencepiece.train_sentencepiece
MAX_WORD_CHARS = 100  # WordPiece encodes longer words as [UNK], so they are not trained on


def read_corpus(files: Sequence[str | Path], *, allow_invalid_utf8: bool = False) -> list[str]:
    """Lines of the corpus files. Invalid UTF-8 is an error naming file and line, unless allowed
    (byte-level BPE), in which case bad bytes are kept as surrogate escapes and trained on as bytes."""
    if not files:
        raise InputError("no corpus files given")
    lines: list[str] = []
    for file in files:
        path = Path(file)
        if not path.is_file():
            raise InputError(f"corpus file not found: {path}")
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            if not allow_invalid_utf8:
                line_no = data.count(b"\n", 0, e.start) + 1
                raise InputError(f"{path}, line {line_no}: not valid UTF-8 (byte 0x{data[e.start]:02x}); "
                                 "fix or remove the line, or use --algo bytebpe which takes any bytes") \
                    from None
            text = data.decode("utf-8", errors="surrogateescape")
        lines.extend(text.splitlines())
    if not any(line.strip() for line in lines):
        raise InputError(f"the corpus is empty: no text in {', '.join(str(f) for f in files)}")
    return lines


def bert_word_counts(lines: Iterable[str], norm: BertNormalization) -> Counter[str]:
    """Word frequencies after BERT's normalization and whitespace/punctuation split."""
    chunks: Counter[str] = Counter()
    for line in lines:
        chunks.update(CHUNK_RE.findall(line))
    words: Counter[str] = Counter()
    for chunk, n in chunks.items():
        for word, _ in bert_words(chunk, norm.lowercase, norm.strip, norm.chinese_chars):
            words[word] += n
    return words


def _check_size(vocab_size: int, initial: int, what: str) -> None:
    if vocab_size < initial:
        raise InputError(f"vocab_size={vocab_size} is smaller than the {initial} initial symbols ({what}); "
                         f"use at least {initial}")


def learn_bpe(word_counts: dict[str, int], vocab_size: int, *, suffix: str = SUFFIX, min_frequency: int = 1,
              specials: Sequence[str] = (),
              progress: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """Character-level BPE on word counts → (vocabulary in id order, merges in order).

    Initial symbols: every character seen, the last one of each word carrying `suffix`. Each step merges
    the most frequent adjacent pair; equal counts go to the alphabetically first (left, right) pair.
    """
    alphabet = sorted({c for w in word_counts for c in w[:-1]} | {w[-1] + suffix for w in word_counts if w})
    _check_size(vocab_size, len(specials) + len(alphabet),
                f"{len(specials)} special + {len(alphabet)} characters")
    symbols = list(specials) + alphabet
    sid = {s: i for i, s in enumerate(symbols)}
    words, freqs = [], []
    for w, n in word_counts.items():
        if w:
            words.append([sid[c] for c in w[:-1]] + [sid[w[-1] + suffix]])
            freqs.append(n)
    merges = learn_merges(words, freqs, symbols, vocab_size, min_frequency=min_frequency, progress=progress)
    return symbols, [(symbols[a], symbols[b]) for a, b in merges]


def train_bpe(lines: Sequence[str], vocab_size: int, *, lowercase: bool = False, min_frequency: int = 2,
              progress: bool = False) -> Tokenizer:
    """Character-level BPE with `</w>` word ends and BERT special tokens ([PAD] [UNK] [CLS] [SEP] [MASK])."""
    norm = BertNormalization(lowercase, None if lowercase else False)
    counts = bert_word_counts(lines, norm)
    symbols, merges = learn_bpe(counts, vocab_size, min_frequency=min_frequency, specials=BERT_SPECIALS,
                                progress=progress)
    vocab = {s: i for i, s in enumerate(symbols)}
    return _bert_tokenizer(CharBPEModel(vocab, merges, "[UNK]", norm), vocab)


def train_wordpiece(lines: Sequence[str], vocab_size: int, *, lowercase: bool = False, min_frequency: int = 2,
                    score: str = "gain", progress: bool = False) -> Tokenizer:
    """WordPiece: merges picked by `score` ("gain" or the book's "ratio", see `merge_train.py`);
    continuation pieces start with `##`; text is encoded greedily, longest match first, as BERT does."""
    norm = BertNormalization(lowercase, None if lowercase else False)
    counts = {w: n for w, n in bert_word_counts(lines, norm).items() if len(w) <= MAX_WORD_CHARS}
    vocab_list, _ = learn_wordpiece(counts, vocab_size, min_frequency=min_frequency, specials=BERT_SPECIALS,
                                    score=score, progress=progress)
    vocab = {s: i for i, s in enumerate(vocab_list)}
    return _bert_tokenizer(WordPieceModel(vocab, "[UNK]", norm), vocab)


def learn_wordpiece(word_counts: dict[str, int], vocab_size: int, *, min_frequency: int = 1,
                    specials: Sequence[str] = (), score: str = "gain",
                    progress: bool = False) -> tuple[list[str], list[tuple[str, str]]]:
    """WordPiece vocabulary from word counts → (vocabulary in id order, merges in order).

    score: "gain" = count(ab)·log(count(ab)·N / (count(a)·count(b))), Schuster & Nakajima's likelihood
    increase; "ratio" = count(ab) / (count(a)·count(b)), the book's score (favours rare pairs of rare units).
    """
    if score not in ("ratio", "gain"):
        raise InputError(f"unknown WordPiece score {score!r}; expected 'ratio' or 'gain'")
    def units(w: str) -> list[str]:
        return [w[0]] + ["##" + c for c in w[1:]]

    alphabet = sorted({u for w in word_counts if w for u in units(w)})
    _check_size(vocab_size, len(specials) + len(alphabet),
                f"{len(specials)} special + {len(alphabet)} characters")
    symbols = list(specials) + alphabet
    sid = {s: i for i, s in enumerate(symbols)}
    words = [[sid[u] for u in units(w)] for w in word_counts if w]
    freqs = [n for w, n in word_counts.items() if w]
    merges = learn_merges(words, freqs, symbols, vocab_size, score=score, min_frequency=min_frequency,
                          join=lambda a, b: a + b[2:], progress=progress)
    return symbols, [(symbols[a], symbols[b]) for a, b in merges]


def _bert_tokenizer(model: WordPieceModel, vocab: dict[str, int]) -> Tokenizer:
    specials = dict(zip(("pad_token", "unk_token", "cls_token", "sep_token", "mask_token"), BERT_SPECIALS))
    template = Template([vocab["[CLS]"]], [vocab["[SEP]"]], [vocab["[SEP]"]], 1)
    cls_name = "BertTokenizer" if model.kind == "wordpiece" else "PreTrainedTokenizerFast"
    return Tokenizer(model, specials, template, [AddedToken(t) for t in BERT_SPECIALS], 512,
                     {"tokenizer_class": cls_name})


def byte_word_counts(lines: Iterable[str]) -> Counter[bytes]:
    """Frequencies of GPT-2 pre-tokens, as raw bytes (surrogate escapes turn back into the bad bytes)."""
    pieces: Counter[str] = Counter()
    for line in lines:
        pieces.update(GPT2_PATTERN.findall(line))
    return Counter({p.encode("utf-8", "surrogateescape"): n for p, n in pieces.items()})


def train_bytebpe(lines: Sequence[str], vocab_size: int, *, min_frequency: int = 2, progress: bool = False,
                  layout: str = "roberta", extra_tokens: Sequence[str] = ()) -> Tokenizer:
    """Byte-level BPE: the layout's special tokens, then `extra_tokens` (kept whole, never split into bytes), then
    the 256 byte symbols, then merges; vocab_size counts them all.

    layout "roberta": <s> <pad> </s> <unk> <mask>, <s> A </s></s> B </s> (RoBERTa, BART); "gpt2": <|endoftext|>
    alone (bos = eos = unk), nothing added around the text (GPT-2); "kogpt2": KoGPT2's specials (bos = eos = </s>,
    <unk>, <pad>, <mask>, <usr>, <sys>, <d>, </d>) plus its emoticons and emoji as whole tokens, nothing added
    around the text; "kobart": KoBART's specials (<s> </s> <usr> <pad> <sys> <unk> <mask>) and the same emoticons,
    <s> A </s></s> B </s> as RoBERTa and BART."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown byte-level layout {layout!r}; expected one of {', '.join(LAYOUTS)}")
    table = bytes_to_unicode()
    alphabet = [table[b] for b in range(256)]
    specials_list = {"roberta": ROBERTA_SPECIALS, "gpt2": GPT2_SPECIALS, "kogpt2": KOGPT2_SPECIALS,
                     "kobart": KOBART_SPECIALS}[layout]
    extras = list(dict.fromkeys([*(KOGPT2_EMOTICONS if layout in ("kogpt2", "kobart") else ()), *extra_tokens]))
    extras = [t for t in extras if t and t not in specials_list]
    head = specials_list + extras
    _check_size(vocab_size, len(head) + 256, f"{len(specials_list)} special + {len(extras)} added + 256 bytes")
    symbols = head + alphabet
    first = len(head)
    if extras:  # the added tokens are matched before BPE, so their text is not trained on (longest first)
        import regex

        found = regex.compile("|".join(regex.escape(t) for t in sorted(extras, key=len, reverse=True)))
        lines = [found.sub(" ", line) for line in lines]
    words, freqs = [], []
    for piece, n in byte_word_counts(lines).items():
        words.append([first + b for b in piece])
        freqs.append(n)
    merges = learn_merges(words, freqs, symbols, vocab_size, min_frequency=min_frequency, progress=progress)
    vocab = {s: i for i, s in enumerate(symbols)}
    added = [AddedToken(t) for t in specials_list] + [AddedToken(t, special=False) for t in extras]
    if layout in ("roberta", "kobart"):
        model = ByteLevelBPEModel(vocab, [(symbols[a], symbols[b]) for a, b in merges], unk_token="<unk>")
        specials = {"bos_token": "<s>", "cls_token": "<s>", "pad_token": "<pad>", "eos_token": "</s>",
                    "sep_token": "</s>", "unk_token": "<unk>", "mask_token": "<mask>"}
        template = Template([vocab["<s>"]], [vocab["</s>"]] * 2, [vocab["</s>"]], 0)
        cls_name = "RobertaTokenizer" if layout == "roberta" else "BartTokenizer"
        return Tokenizer(model, specials, template, added, 512,
                         {"tokenizer_class": cls_name, "add_prefix_space": False, "trim_offsets": True})
    if layout == "gpt2":
        unk, specials = "<|endoftext|>", {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
                                          "unk_token": "<|endoftext|>"}
    else:
        unk, specials = "<unk>", {"bos_token": "</s>", "eos_token": "</s>", "unk_token": "<unk>",
                                  "pad_token": "<pad>", "mask_token": "<mask>"}
    model = ByteLevelBPEModel(vocab, [(symbols[a], symbols[b]) for a, b in merges], unk_token=unk)
    return Tokenizer(model, specials, Template(second_type_id=0), added, 1024,
                     {"tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False, "trim_offsets": True})


def train_tokenizer(files: Sequence[str | Path], algo: str, vocab_size: int, *, lowercase: bool = False,
                    min_frequency: int = 2, score: str | None = None, progress: bool = False,
                    layout: str | None = None, extra_tokens: Sequence[str] = ()) -> Tokenizer:
    """Train a tokenizer of kind `algo` (bpe, bytebpe, wordpiece, unigram, spbpe) on text files.

    score: WordPiece's merge score, "gain" (default) or "ratio"; only wordpiece takes it. layout: bytebpe's (see
    train_bytebpe) or SentencePiece's (bert, kobert: see train_sentencepiece); extra_tokens: bytebpe only."""
    sp = algo in ("unigram", "spbpe")
    if extra_tokens and algo != "bytebpe":
        raise InputError(f"added tokens apply to --algo bytebpe only, not {algo!r}")
    if layout is not None and algo != "bytebpe" and not (sp and layout in SP_LAYOUTS):
        raise InputError(f"layout {layout!r} does not apply to --algo {algo}; layouts: bytebpe "
                         f"{', '.join(LAYOUTS)}; unigram and spbpe {', '.join(SP_LAYOUTS)}")
    if score is not None and algo != "wordpiece":
        raise InputError(f"score={score!r} applies to --algo wordpiece only, not {algo!r}")
    if algo not in ALGOS:
        raise InputError(f"unknown algorithm {algo!r}; expected one of {', '.join(ALGOS)}")
    if vocab_size <= 0:
        raise InputError(f"vocab_size must be positive, got {vocab_size}")
    if algo in ("unigram", "spbpe"):
        from bertkit.tokenizers.sentencepiece import train_sentencepiece

        read_corpus(files)  # same checks and messages as the other algorithms
        return train_sentencepiece(files, "unigram" if algo == "unigram" else "bpe", vocab_size,
                                   lowercase=lowercase, layout=layout or "bert")
    lines = read_corpus(files, allow_invalid_utf8=algo == "bytebpe")
    if algo == "bytebpe":
        if layout in SP_LAYOUTS:
            raise InputError(f"layout {layout!r} is a SentencePiece layout: use --algo unigram or spbpe")
        if lowercase:
            raise InputError("--lowercase is not available for bytebpe: "
                             "byte-level tokenizers keep text as is")
        return train_bytebpe(lines, vocab_size, min_frequency=min_frequency, progress=progress,
                             layout=layout or "roberta", extra_tokens=extra_tokens)
    if algo == "bpe":
        return train_bpe(lines, vocab_size, lowercase=lowercase, min_frequency=min_frequency,
                         progress=progress)
    return train_wordpiece(lines, vocab_size, lowercase=lowercase, min_frequency=min_frequency,
                           score=score or "gain", progress=progress)
