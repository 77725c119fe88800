"""TinyBERT data augmentation (tinybert_augment, `bertkit augment`) on a tiny MLM with the MiniLM vocabulary: the
candidates against a direct transformers forward and a direct cosine search, the replacement rate, resume after an
interruption, the errors and the command line."""
from __future__ import annotations

import csv
import json
import math
import re

import pytest
import torch

from bertkit.errors import InputError
from tests.conftest import save_tiny

SENTENCES = [
    ("The quick brown fox jumps over the lazy dog.", "A dog sleeps in the sun.", "pos"),
    ("Unbelievably, tokenization works 42 times!", "Nobody expected that.", "neg"),
    ("Distillation makes smaller students from bigger teachers.", "Students learn quickly.", "pos"),
    ("She bought three apples and a watermelon yesterday.", "The market was crowded.", "neg"),
    ("Augmentation multiplies the training data cheaply.", "More rows, more signal.", "pos"),
    ("Paris is the capital of France.", "London is in England.", "neg"),
    ("The committee postponed its decision indefinitely.", "Members disagreed strongly.", "pos"),
    ("Cats purr when they are content.", "Dogs bark at strangers.", "neg"),
    ("An unconventional approach surprised the reviewers.", "They accepted the paper.", "pos"),
    ("It rained heavily throughout the afternoon.", "Umbrellas sold out.", "neg"),
]
K = 5


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Hundreds of tiny forwards: one thread is ~100x faster than two on a shared, loaded machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def mlm(tmp_path_factory, minilm_path):
    """A tiny BERT masked LM, initialised sharper than BERT's 0.02 so its top predictions are well separated."""
    import bertkit
    from bertkit.models.model import init_weights

    folder = save_tiny(tmp_path_factory.mktemp("mlm"), minilm_path, task="mlm")
    model = bertkit.from_pretrained(folder, task="mlm")
    torch.manual_seed(0)
    init_weights(model, std=0.2)
    bertkit.save_pretrained(model, folder)
    return folder


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "train.tsv"
    lines = ["id\tsentence\tsentence2\tlabel"] + [f"{i}\t{a}\t{b}\t{c}" for i, (a, b, c) in enumerate(SENTENCES)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_out(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]


def words(text):
    """The reference pre-tokenisation: Hugging Face's BertPreTokenizer (whitespace, then punctuation)."""
    from tokenizers.pre_tokenizers import BertPreTokenizer

    return [w for w, _ in BertPreTokenizer().pre_tokenize_str(text)]


@pytest.fixture(scope="module")
def reference(mlm):
    transformers = pytest.importorskip("transformers")
    tok = transformers.AutoTokenizer.from_pretrained(mlm)
    model = transformers.BertForMaskedLM.from_pretrained(mlm).eval()
    vocab = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
    special = set(tok.all_special_ids)
    allowed = torch.tensor([i for i, t in enumerate(vocab) if i not in special and t.isalpha()
                            and not t.startswith("##")])
    return tok, model, vocab, allowed


def direct_mlm_topk(reference, text, j):
    """The MLM's top-k whole alphabetic words at word j of `text` replaced by one mask: one plain forward."""
    tok, model, vocab, allowed = reference
    ws = words(text.lower())
    pieces = [tok.tokenize(w) for w in ws]
    assert len(pieces[j]) == 1
    flat = [p for ps in pieces[:j] for p in ps] + [tok.mask_token] + [p for ps in pieces[j + 1:] for p in ps]
    ids = torch.tensor([tok.convert_tokens_to_ids([tok.cls_token, *flat, tok.sep_token])])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, sum(len(p) for p in pieces[:j]) + 1]
    keep = allowed[allowed != tok.convert_tokens_to_ids(ws[j])]
    return {vocab[int(i)] for i in keep[logits[keep].topk(K).indices]}


def direct_cosine_topk(reference, word):
    tok, model, vocab, allowed = reference
    table = model.get_input_embeddings().weight.detach()
    v = table[tok.convert_tokens_to_ids(tok.tokenize(word))].mean(0)
    cos = torch.nn.functional.cosine_similarity(table[allowed], v[None], dim=-1)
    return {vocab[int(i)] for i in allowed[cos.topk(K).indices]}


@pytest.fixture(scope="module")
def full(mlm, data, tmp_path_factory):
    from bertkit.distill import tinybert_augment

    out = tmp_path_factory.mktemp("full") / "aug.tsv"
    stats = tinybert_augment(mlm, data, out, text2_col="sentence2", n=8, k=K, p=1.0, batch_size=4, progress=False)
    return out, stats


def copies_of(rows):
    by_src: dict[int, list[dict]] = {}
    for r in rows:
        by_src.setdefault(int(r["source_row"]), []).append(r)
    return by_src


def test_single_piece_replacements_are_the_mlms_top_k(full, reference):
    out, _ = full
    tok = reference[0]
    _, rows = read_out(out)
    checked = 0
    for group in copies_of(rows).values():
        orig, copies = group[0], group[1:]
        assert orig["augmented"] == "0" and all(c["augmented"] == "1" for c in copies)
        for col in ("sentence", "sentence2"):
            ws = words(orig[col])
            for j, w in enumerate(ws):
                if not w.isalpha() or len(tok.tokenize(w)) != 1:
                    continue
                top = direct_mlm_topk(reference, orig[col], j)
                got = {c[col].split(" ")[j] for c in copies}
                assert got <= top, (w, got - top, top)
                checked += 1
    assert checked > 60


def test_multi_piece_replacements_are_the_cosine_top_k(full, reference):
    out, stats = full
    tok = reference[0]
    _, rows = read_out(out)
    seen = set()
    for group in copies_of(rows).values():
        orig, copies = group[0], group[1:]
        for col in ("sentence", "sentence2"):
            for j, w in enumerate(words(orig[col])):
                if w.isalpha() and len(tok.tokenize(w)) > 1:
                    top = direct_cosine_topk(reference, w.lower())
                    got = {c[col].split(" ")[j] for c in copies}
                    assert got <= top, (w, got - top, top)
                    seen.add(w.lower())
    assert {"tokenization", "augmentation", "unbelievably", "watermelon"} <= seen
    assert stats["distinct_multi_piece"] == len(seen)


def test_p1_changes_every_alphabetic_word_and_copies_the_other_columns(full, data):
    out, stats = full
    header, rows = read_out(out)
    assert header == ["id", "sentence", "sentence2", "label", "source_row", "augmented"]
    assert len(rows) == len(SENTENCES) * 9 and stats["lines"] == len(rows) and stats["rows"] == len(SENTENCES)
    for src, group in copies_of(rows).items():
        orig = group[0]
        assert (orig["id"], orig["sentence"], orig["sentence2"], orig["label"]) == (str(src), *SENTENCES[src])
        for c in group[1:]:
            assert (c["id"], c["label"]) == (orig["id"], orig["label"])
            for col in ("sentence", "sentence2"):
                ws, new = words(orig[col]), c[col].split(" ")
                assert len(new) == len(ws)
                for a, b in zip(ws, new):
                    assert (a != b) == a.isalpha(), (a, b)
    assert stats["replaced"] == stats["replaceable"] and stats["replaced_fraction"] == 1.0


def test_p0_copies_are_the_source_words_with_the_same_token_ids(mlm, data, tmp_path, reference):
    from bertkit.distill import tinybert_augment

    tok = reference[0]
    out = tmp_path / "p0.tsv"
    stats = tinybert_augment(mlm, data, out, text2_col="sentence2", n=3, k=K, p=0.0, progress=False)
    _, rows = read_out(out)
    for group in copies_of(rows).values():
        orig = group[0]
        for c in group[1:]:
            for col in ("sentence", "sentence2"):
                assert c[col] == " ".join(words(orig[col]))
                assert tok(c[col])["input_ids"] == tok(orig[col])["input_ids"]
    assert stats["replaced"] == 0 and stats["replaceable"] > 0


def test_replacement_rate_is_p_within_four_sigma_and_independent_of_batching(mlm, data, tmp_path):
    from bertkit.distill import tinybert_augment

    out = tmp_path / "p04.tsv"
    stats = tinybert_augment(mlm, data, out, n=150, k=K, p=0.4, batch_size=64, progress=False)
    _, rows = read_out(out)
    changed = total = 0
    for group in copies_of(rows).values():
        ws = words(group[0]["sentence"])
        for c in group[1:]:
            for a, b in zip(ws, c["sentence"].split(" ")):
                if a.isalpha():
                    total += 1
                    changed += a != b
    assert total == stats["replaceable"] and changed == stats["replaced"]
    assert abs(changed / total - 0.4) <= 4 * math.sqrt(0.4 * 0.6 / total), changed / total
    other = tmp_path / "p04b.tsv"
    tinybert_augment(mlm, data, other, n=150, k=K, p=0.4, batch_size=3, progress=False)
    assert other.read_bytes() == out.read_bytes()


class Interrupt:
    """A tqdm stand-in that presses Ctrl-C after `after` source rows are written."""

    after = 0

    def __init__(self, *a, total=None, initial=0, **kw):
        self.n = initial

    def update(self, k=1):
        self.n += k
        if self.n >= Interrupt.after:
            raise KeyboardInterrupt

    def close(self):
        pass


def test_interrupted_then_resumed_equals_an_uninterrupted_run(mlm, data, tmp_path, monkeypatch):
    import bertkit.distill.augment as A
    from bertkit.distill import tinybert_augment

    args = {"text2_col": "sentence2", "n": 4, "k": K, "p": 0.5, "batch_size": 2, "seed": 3}
    want = tmp_path / "want.tsv"
    tinybert_augment(mlm, data, want, progress=False, **args)
    out = tmp_path / "got.tsv"
    partial = tmp_path / "got.tsv.partial"
    # chunks of this run: rows [0, 2), [2, 4), [4, 6), [6, 8), [8, 10); both restarts fall inside one
    with monkeypatch.context() as m:
        m.setattr(A, "tqdm", Interrupt)
        Interrupt.after = 6
        with pytest.raises(KeyboardInterrupt):
            tinybert_augment(mlm, data, out, **args)
        assert not out.exists() and partial.is_file()
        lines = partial.read_bytes().splitlines(keepends=True)
        assert len(lines) == 1 + 6 * 5  # the header and six whole source rows, flushed
        with pytest.raises(InputError, match=re.escape("these differ: seed: 3 then, 4 now")):
            tinybert_augment(mlm, data, out, **{**args, "seed": 4})
        partial.write_bytes(b"".join(lines[:-3]) + lines[-3][:7])  # a cut line in the middle of source row 5
        Interrupt.after = 9
        with pytest.raises(KeyboardInterrupt):
            tinybert_augment(mlm, data, out, **args)  # continues at row 5, stops again after row 8
        assert len(partial.read_bytes().splitlines()) == 1 + 9 * 5
    stats = tinybert_augment(mlm, data, out, progress=False, **args)
    assert stats["resumed_rows"] == 9
    assert out.read_bytes() == want.read_bytes()
    assert not partial.exists() and not (tmp_path / "got.tsv.partial.json").exists()


def test_resume_false_starts_over(mlm, data, tmp_path):
    from bertkit.distill import tinybert_augment

    out = tmp_path / "o.tsv"
    (tmp_path / "o.tsv.partial").write_text("garbage\n")
    stats = tinybert_augment(mlm, data, out, n=1, k=2, resume=False, progress=False)
    assert stats["resumed_rows"] == 0 and read_out(out)[0][0] == "id"


def test_a_text_longer_than_max_length_is_predicted_from_a_window(mlm, tmp_path):
    from bertkit.distill import tinybert_augment

    src = tmp_path / "long.csv"
    src.write_text("sentence,label\n" + '"' + " ".join(["the cat sat on the mat"] * 5) + '",1\nshort one,0\n')
    with pytest.warns(UserWarning, match=r"1 text\(s\) are longer than max_length=8 tokens"):
        stats = tinybert_augment(mlm, src, tmp_path / "o.tsv", n=2, k=3, p=1.0, max_length=8, progress=False)
    assert stats["windowed_texts"] == 1 and stats["replaced"] == stats["replaceable"] == 2 * (30 + 2)


def test_errors_before_any_work(mlm, data, tmp_path, minilm_path):
    from bertkit.distill import tinybert_augment

    out = tmp_path / "o.tsv"

    def fails(message, **kw):
        args = {"mlm": mlm, "inputs": data, "out_path": out, "progress": False, **kw}
        with pytest.raises(InputError) as e:
            tinybert_augment(**args)
        assert str(e.value) == message

    fails("n (augmented copies per row) must be >= 1, got 0", n=0)
    fails("k (candidates per word) must be >= 1, got 0", k=0)
    fails("p (the probability of replacing a word) must be in [0, 1], got 1.5", p=1.5)
    fails("p (the probability of replacing a word) must be in [0, 1], got -0.1", p=-0.1)
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    fails(f"{empty} has no rows", inputs=empty)
    header = tmp_path / "header.csv"
    header.write_text("sentence,label\n")
    fails(f"{header} has no rows", inputs=header)
    fails(f"{data}: no column 'text'; available columns: id, sentence, sentence2, label", text_col="text")
    fails(f"{data}: no column 'b'; available columns: id, sentence, sentence2, label", text2_col="b")
    base = save_tiny(tmp_path / "base", minilm_path)
    fails(f"the teacher {base} has no masked-LM head weights; distillation needs its MLM head (a model from "
          "`bertkit pretrain` or a *ForMaskedLM folder)", mlm=base)
    assert not out.exists() and not (tmp_path / "o.tsv.partial").exists()


def test_cli_writes_the_functions_file(mlm, tmp_path, capsys):
    from bertkit.cli.main import build_parser, main
    from bertkit.distill import tinybert_augment

    src = tmp_path / "in.csv"
    src.write_text('text,label\n"Hello, world: augmentation works.",yes\n"Tabs\tand, commas",no\n')
    want = tmp_path / "want.tsv"
    tinybert_augment(mlm, src, want, text_col="text", n=3, k=4, p=0.5, batch_size=8, seed=7, progress=False)
    got = tmp_path / "got.tsv"
    rc = main(["augment", "--method", "tinybert", "--mlm", str(mlm), "--input", str(src), "--out", str(got),
               "--text-col", "text", "-n", "3", "-k", "4", "-p", "0.5", "--batch-size", "8", "--seed", "7",
               "--quiet"])
    assert rc == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["rows"] == 2 and stats["lines"] == 8 and stats["method"] == "tinybert"
    assert got.read_bytes() == want.read_bytes()
    assert read_out(got)[1][4]["text"] == "Tabs and, commas"  # a tab in a cell cannot split the TSV row
    for bad in (["-p", "1.5"], ["-n", "0"], ["--method", "tang"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["augment", "--mlm", "m", "--input", "i", "--out", "o", *bad])
    assert main(["augment", "--mlm", str(mlm), "--input", str(src), "--out", str(got), "--quiet"]) == 2
    assert "no column 'sentence'; available columns: text, label" in capsys.readouterr().err
