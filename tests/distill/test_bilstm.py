"""BERT -> BiLSTM distillation (Tang et al. 2019): augmentation rules, objective, student, end to end."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from bertkit.distill.bilstm import BiLSTMClassifier, WordVocab, load_bilstm, masked_max, pad_ids
from bertkit.distill.tang import MASK, tang_augment, tang_augment_file
from bertkit.errors import InputError
from bertkit.objectives.distill_bilstm import BiLstmDistillObjective
from tests.conftest import save_tiny

TAGS = {"the": "DT", "a": "DT", "this": "DT", "dog": "NN", "cat": "NN", "film": "NN", "bird": "NN",
        "runs": "VBZ", "sleeps": "VBZ", "sings": "VBZ", "big": "JJ", "small": "JJ", "red": "JJ"}


class LookupTagger:
    """A tagger with known tags, so the test can check what a replacement's tag is."""

    def tag(self, words):
        return [TAGS[w] for w in words]


CORPUS = ["the big dog runs", "a small cat sleeps", "this red bird sings", "the film runs", "a cat sings"]


def test_p_mask_one_masks_every_word():
    out = list(tang_augment(CORPUS, None, n_iter=5, p_mask=1.0, p_pos=0.0, p_ng=0.0, seed=0))
    assert out == [(k, " ".join([MASK] * len(t.split()))) for k, t in enumerate(CORPUS)]  # deduplicated to one


def test_p_pos_one_replaces_by_same_tag_words_of_the_corpus():
    corpus_words = {w for t in CORPUS for w in t.split()}
    out = list(tang_augment(CORPUS, LookupTagger(), n_iter=20, p_mask=0.0, p_pos=1.0, p_ng=0.0, seed=3))
    assert len(out) > len(CORPUS)
    for k, text in out:
        src, new = CORPUS[k].split(), text.split()
        assert len(new) == len(src)
        assert all(w in corpus_words and TAGS[w] == TAGS[s] for w, s in zip(new, src))
    assert len(set(out)) == len(out)  # deduplicated within each row


def test_p_pos_needs_a_tagger():
    with pytest.raises(InputError, match=r"p_pos > 0 needs a POS tagger"):
        list(tang_augment(CORPUS, None, p_pos=0.5))


def test_p_ng_one_keeps_a_contiguous_ngram():
    src = ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"]
    out = list(tang_augment([" ".join(src)], None, n_iter=50, p_mask=0.0, p_pos=0.0, p_ng=1.0, seed=1))
    assert len(out) > 5
    lengths = set()
    for _, text in out:
        g = text.split()
        s = src.index(g[0])
        assert 1 <= len(g) <= 5 and src[s:s + len(g)] == g
        lengths.add(len(g))
    assert lengths == {1, 2, 3, 4, 5}


def test_mask_rate_within_binomial_bound():
    texts = [" ".join(f"w{i}_{j}" for j in range(30)) for i in range(200)]
    out = list(tang_augment(texts, None, n_iter=1, p_mask=0.3, p_pos=0.0, p_ng=0.0, seed=7))
    words = [w for _, t in out for w in t.split()]
    n, p = len(words), 0.3
    masked = sum(w == MASK for w in words)
    assert abs(masked - n * p) <= 4 * math.sqrt(n * p * (1 - p))


def test_deterministic_per_seed_and_row():
    a = list(tang_augment(CORPUS, LookupTagger(), n_iter=10, seed=5))
    assert a == list(tang_augment(CORPUS, LookupTagger(), n_iter=10, seed=5))
    assert a != list(tang_augment(CORPUS, LookupTagger(), n_iter=10, seed=6))
    assert [r for r in a if r[0] >= 2] == list(tang_augment(CORPUS, LookupTagger(), n_iter=10, seed=5, start=2))


def test_pairs_augment_both_sides():
    out = list(tang_augment([("the dog runs", "a cat sleeps")], None, n_iter=5, p_mask=1.0, p_pos=0.0, p_ng=0.0))
    assert out == [(0, (" ".join([MASK] * 3), " ".join([MASK] * 3)))]


def test_file_version_resumes_to_the_same_rows(tmp_path):
    full = tang_augment_file(CORPUS, tmp_path / "a.tsv", LookupTagger(), n_iter=6, seed=2, progress=False)
    text = (tmp_path / "a.tsv").read_text()
    assert text.splitlines()[0] == "row\ttext" and len(text.splitlines()) == len(full) + 1
    cut = tmp_path / "b.tsv"
    lines = text.split("\n")
    cut.write_text("\n".join(lines[:len(lines) // 2]) + "\n" + lines[len(lines) // 2][:3])  # a stopped run
    again = tang_augment_file(CORPUS, cut, LookupTagger(), n_iter=6, seed=2, progress=False)
    assert again == full and cut.read_text() == text


def test_objective_against_hand_computed_value():
    torch.manual_seed(0)

    class Fixed(torch.nn.Module):
        def forward(self, ids, mask, ids2=None, mask2=None):
            return torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])

    batch = {"input_ids": torch.zeros(3, 1, dtype=torch.long), "attention_mask": torch.ones(3, 1),
             "labels": torch.tensor([0, -100, 1]), "teacher_logits": torch.tensor([[1.0, 0.0], [0.0, 3.0],
                                                                                   [1.0, 2.0]])}
    ce = (math.log(1 + math.exp(-2.0)) + math.log(2.0)) / 2  # rows 0 and 2 only
    mse = (1 + 0 + 0 + 4 + 0 + 1) / 6
    got = BiLstmDistillObjective(alpha=0.25)(Fixed(), batch)
    assert got["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert got["mse"].item() == pytest.approx(mse, rel=1e-6)
    assert got["loss"].item() == pytest.approx(0.25 * ce + 0.75 * mse, rel=1e-6)
    del batch["teacher_logits"]
    assert BiLstmDistillObjective(0.0)(Fixed(), batch)["loss"].item() == pytest.approx(ce, rel=1e-6)


def test_pair_variant_shapes():
    torch.manual_seed(0)
    m = BiLSTMClassifier(50, embedding_dim=8, hidden=6, fc=10, num_labels=3, pair=True)
    assert m.fc.in_features == 4 * 2 * 6
    a, ma = pad_ids([[3, 4, 5], [6]], 0)
    b, mb = pad_ids([[7], [8, 9]], 0)
    assert m(a, ma, b, mb).shape == (2, 3)
    assert m.encode(a, ma).shape == (2, 12)
    with pytest.raises(InputError, match="give input_ids2"):
        m(a, ma)


def test_masked_max_pool_ignores_padding():
    h = torch.tensor([[[1.0, -5.0], [3.0, -7.0], [100.0, 100.0]]])
    assert masked_max(h, torch.tensor([[1, 1, 0]])).tolist() == [[3.0, -5.0]]
    torch.manual_seed(0)
    m = BiLSTMClassifier(20, embedding_dim=8, hidden=5, fc=7, num_labels=2).eval()
    ids, mask = pad_ids([[3, 4, 5, 6], [7, 8]], 0)
    before = m(ids, mask)
    with torch.no_grad():
        m.embed.weight[0] = torch.randn(8) * 50
    torch.testing.assert_close(m(ids, mask), before)
    torch.testing.assert_close(m(ids[1:, :2], mask[1:, :2]), before[1:])  # the same row unpadded


@pytest.mark.parametrize("pair", [False, True], ids=["single", "pair"])
def test_inference_path_equals_the_packed_bilstm(pair):
    """Without a gradient the BiLSTM runs as two padded unidirectional calls (oneDNN's LSTM); training runs
    nn.LSTM on a packed sequence. Same outputs, for every length from 1 to the full row, and gradients still flow
    in training."""
    torch.manual_seed(0)
    m = BiLSTMClassifier(300, embedding_dim=16, hidden=12, fc=9, num_labels=3, pair=pair).eval()
    lengths = [13, 1, 5, 12, 13, 2, 9, 7]
    rows = [torch.randint(1, 300, (n,)).tolist() for n in lengths]
    ids, mask = pad_ids(rows, 0)
    ids2, mask2 = pad_ids(rows[::-1], 0)
    kw = {"input_ids2": ids2, "attention_mask2": mask2} if pair else {}
    packed = m(ids, mask, **kw)  # grad enabled: the packed path
    assert packed.requires_grad
    with torch.no_grad():
        padded = m(ids, mask, **kw)
    torch.testing.assert_close(padded, packed.detach(), atol=1e-6, rtol=1e-5)
    # the backward direction really reads each row from its own end: reversing the words changes the vector
    with torch.no_grad():
        flipped, _ = pad_ids([r[::-1] for r in rows], 0)
        assert not torch.allclose(m.encode(flipped, mask), m.encode(ids, mask))
        h = m._padded_bilstm(m.embed(ids), mask.sum(1))
        ref = m.lstm(m.embed(ids[:1, :lengths[0]]))[0]  # a full row needs no packing: nn.LSTM as it is
    torch.testing.assert_close(h[:1], ref, atol=1e-6, rtol=1e-5)
    packed.sum().backward()
    assert m.lstm.weight_hh_l0_reverse.grad.abs().sum() > 0


def test_predictor_length_sorted_batches_keep_the_input_order():
    from bertkit.distill.bilstm import BiLSTMPredictor

    words = [f"w{i}" for i in range(30)]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 12)))) for _ in range(23)]
    vocab = WordVocab.build(texts)
    torch.manual_seed(0)
    m = BiLSTMClassifier(len(vocab.words), embedding_dim=8, hidden=5, fc=7, num_labels=3, max_length=16).eval()
    m.tokenizer = vocab
    one_by_one = np.stack([BiLSTMPredictor(m, batch_size=1).probabilities([t])[0] for t in texts])
    p = BiLSTMPredictor(m)
    p.settings["batch_size"] = 4  # the setting benchmarks and `bertkit predict` change
    for workers in (1, 3):  # one batch at a time, or 3 batches at once on threads: the same rows in the same order
        p.workers = workers
        np.testing.assert_allclose(p.probabilities(texts), one_by_one, atol=1e-6)
    assert p.probabilities([]).shape == (0, 3)


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, minilm_path):
    return save_tiny(tmp_path_factory.mktemp("teacher"), minilm_path, task="classification", num_labels=2)


def _train_file(path, n=48):
    good, bad = ["great", "wonderful", "lovely", "superb"], ["awful", "boring", "dull", "terrible"]
    rows = ["text\tlabel"]
    for i in range(n):
        w = (good if i % 2 == 0 else bad)[i % 4]
        rows.append(f"a {w} film number {i % 7}\t{'pos' if i % 2 == 0 else 'neg'}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_end_to_end_distillation(tmp_path, teacher):
    from safetensors.numpy import load_file

    import bertkit
    from bertkit.distill.bilstm_train import distill_bilstm, load_teacher

    train = _train_file(tmp_path / "train.tsv")
    out = tmp_path / "student"
    student = distill_bilstm(teacher, train, out, dev=train, augment=True, n_iter=2, p_pos=0.0, hidden=16, fc=12,
                             epochs=3, lr=3e-3, batch_size=16, seed=0, progress=False)
    log = [json.loads(x) for x in (out / "training" / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]
    aug_rows = (out / "augmented.tsv").read_text().splitlines()[1:]
    cached = load_file(str(out / "teacher_logits.safetensors"))["logits"]
    assert cached.shape == (48 + len(aug_rows), 2)
    t = load_teacher(teacher)
    with torch.no_grad():
        enc = t.tokenizer(["a great film number 0"], return_tensors="pt")
        direct = t.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])["logits"][0].numpy()
    np.testing.assert_allclose(cached[0], direct, atol=0.05)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train_rows"] == 48 and metrics["augmented_rows"] == len(aug_rows)
    assert metrics["params"] == sum(p.numel() for p in student.parameters())
    assert 0.0 <= metrics["dev_accuracy"] <= 1.0 and metrics["seconds"] > 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["bertkit_model"] == "bilstm" and cfg["tokenizer"] == "wordpiece" and cfg["labels"] == ["neg", "pos"]
    assert (out / "vocab.txt").is_file()
    texts = ["a lovely film number 3", "a dull film number 1"]
    pred = bertkit.Predictor.load(out)
    res = pred.predict(texts)
    ids, mask = pad_ids([t.tokenizer.encode(x) for x in texts], 0)
    with torch.no_grad():
        probs = torch.softmax(load_bilstm(out)(ids, mask), -1).numpy()
    assert [r["label"] for r in res] == [["neg", "pos"][k] for k in probs.argmax(-1)]
    np.testing.assert_allclose([[r["probabilities"]["neg"], r["probabilities"]["pos"]] for r in res], probs,
                               rtol=1e-6)
    assert set(res[0]) == {"label", "score", "probabilities"}
    dst, report = pred.predict_file(train, tmp_path / "pred.tsv")  # what `bertkit predict` runs
    assert report["rows"] == 48 and report["metrics"]["accuracy"] == pytest.approx(metrics["dev_accuracy"])
    assert dst.read_text().splitlines()[0] == "text\tlabel\tprediction\tscore"
    assert student.embed.weight.shape == (30522, 32)  # the teacher's WordPiece table
    # resume: both caches are reused (the teacher is not run again on the training rows)
    import bertkit.distill.bilstm_train as bt

    aug_before = (out / "augmented.tsv").read_text()
    calls = []
    real = bt._teacher_logits
    monkey = pytest.MonkeyPatch()
    monkey.setattr(bt, "_teacher_logits", lambda t, rows, p: calls.append(len(rows)) or real(t, rows, p))
    try:
        distill_bilstm(teacher, train, out, dev=train, n_iter=2, p_pos=0.0, hidden=16, fc=12, epochs=1,
                       batch_size=16, resume=True, progress=False)
    finally:
        monkey.undo()
    assert calls == [48]  # the dev set's teacher accuracy only
    assert (out / "augmented.tsv").read_text() == aug_before


def test_labels_only_twin_with_word_vocabulary(tmp_path):
    from bertkit.distill.bilstm_train import distill_bilstm

    train = _train_file(tmp_path / "train.tsv")
    out = tmp_path / "twin"
    student = distill_bilstm(None, train, out, dev=train, alpha=None, embeddings="trained", embedding_dim=16,
                             hidden=8, fc=8, epochs=4, lr=1e-2, batch_size=16, progress=False)
    assert not (out / "augmented.tsv").exists() and not (out / "teacher_logits.safetensors").exists()
    assert isinstance(student.tokenizer, WordVocab) and student.tokenizer.words[:3] == ["[PAD]", "[UNK]", "[MASK]"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "labels_only" and metrics["augmented_rows"] == 0
    import bertkit
    a = bertkit.Predictor.load(out).predict(["a superb film number 2"])[0]["probabilities"]
    loaded = load_bilstm(out)
    ids, mask = pad_ids([loaded.tokenizer.encode("a superb film number 2", 128)], 0)
    with torch.no_grad():
        p = torch.softmax(loaded(ids, mask), -1)[0].tolist()
    assert [a["neg"], a["pos"]] == pytest.approx(p, rel=1e-6)


def test_errors(tmp_path, teacher, minilm_path):
    from bertkit.distill.bilstm_train import distill_bilstm

    train = _train_file(tmp_path / "train.tsv")
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(InputError, match=r"empty.tsv has no rows"):
        distill_bilstm(teacher, empty, tmp_path / "o", p_pos=0.0, progress=False)
    nolabel = tmp_path / "nolabel.tsv"
    nolabel.write_text("text\tother\nhello\tx\n")
    with pytest.raises(InputError, match=r"nolabel.tsv: no label column found"):
        distill_bilstm(teacher, nolabel, tmp_path / "o", p_pos=0.0, progress=False)
    base = save_tiny(tmp_path / "base", minilm_path)
    with pytest.raises(InputError, match=r"^teacher .*base has no classification head; give a folder from "
                                          r"`bertkit finetune classify`"):
        distill_bilstm(base, train, tmp_path / "o", p_pos=0.0, progress=False)
    with pytest.raises(InputError, match=r"p_pos > 0 needs a POS tagger"):
        distill_bilstm(teacher, train, tmp_path / "o", progress=False)
    with pytest.raises(InputError, match="embeddings must be one of teacher, trained, got 'glove'"):
        distill_bilstm(teacher, train, tmp_path / "o", embeddings="glove", progress=False)
    with pytest.raises(InputError, match="a teacher is needed"):
        distill_bilstm(None, train, tmp_path / "o", progress=False)
    assert not (tmp_path / "o").exists()  # nothing written before the checks pass


def test_cli_sentence_pairs(tmp_path, teacher, capsys):
    import bertkit
    from bertkit.cli.main import main

    rows = ["sentence1\tsentence2\tlabel"]
    for i in range(32):
        rows.append(f"a dog runs {i % 5}\t{'a dog runs' if i % 2 else 'the cat sleeps'}\t{i % 2}")
    train = tmp_path / "pairs.tsv"
    train.write_text("\n".join(rows) + "\n")
    out = tmp_path / "pair_student"
    argv = ["distill", "--method", "bilstm", "--teacher", str(teacher), "--train", str(train), "--out", str(out),
            "--text2-col", "sentence2", "--n-iter", "1", "--epochs", "1", "--hidden", "8", "--batch-size", "16",
            "--quiet"]
    assert main(argv) == 2
    assert "bertkit: error: p_pos > 0 needs a POS tagger" in capsys.readouterr().err
    assert main(argv + ["--p-pos", "0"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["train_rows"] == 32 and printed["augmented_rows"] > 0
    aug = (out / "augmented.tsv").read_text().splitlines()
    assert aug[0] == "row\ttext\ttext2" and all(len(x.split("\t")) == 3 for x in aug[1:])
    pred = bertkit.Predictor.load(out)
    assert json.loads((out / "config.json").read_text())["pair"] is True
    res = pred.predict(["a dog runs 1", "a dog runs 2"], ["a dog runs", "the cat sleeps"])
    assert len(res) == 2 and all(r["label"] in ("0", "1") for r in res)
    assert sum(res[0]["probabilities"].values()) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(InputError, match="this BiLSTM classifies sentence pairs: predict\\(texts, pairs\\)"):
        pred.predict(["a dog runs"])
