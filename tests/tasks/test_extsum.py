"""BERTSUM extractive summarisation: sentence splitting, the greedy oracle, trigram blocking, the interval-segment
input and its windows, the three heads (padding-invariant), training, the folder round trip and `bertkit summarize`."""
from __future__ import annotations

import json

import pytest
import torch

from bertkit.errors import CheckpointError, InputError
from bertkit.tasks import extsum as E
from tests.conftest import save_tiny


@pytest.fixture(scope="module")
def tok(minilm_path):
    from bertkit.tokenizers import Tokenizer

    return Tokenizer.from_pretrained(minilm_path)


def test_split_sentences_keeps_abbreviations_initials_and_decimals():
    text = ('Mr. Smith paid $1.2871 for it. He said "No!" Then J. R. Ewing left.\n\nThe U.S. economy grew 3.5%. '
            "2004 was good? (Yes.) It was.")
    assert E.split_sentences(text) == ["Mr. Smith paid $1.2871 for it.", 'He said "No!"', "Then J. R. Ewing left.",
                                       "The U.S. economy grew 3.5%.", "2004 was good?", "(Yes.)", "It was."]
    assert E.split_sentences("  \n\n ") == []
    # BBC references run sentences together; the fix leaves "U.S.A" and decimals alone
    assert E.fix_joined_sentences('rose $10.9bn.For the year.\"I think" the U.S.A. grew 3.5.') == \
        'rose $10.9bn. For the year. "I think" the U.S.A. grew 3.5.'


def test_greedy_oracle_picks_what_raises_rouge_and_stops():
    sents = ["the cat sat on the mat", "dogs bark at night", "the cat ate the fish", "stocks fell sharply"]
    ref = "the cat sat on the mat. the cat ate the fish"
    assert E.greedy_oracle(sents, ref, 3) == [0, 2]  # a third sentence would only lower precision
    assert E.greedy_oracle(sents, ref, 1) == [0]     # 0 matches 6 of 11 reference words, 2 only 5
    assert E.greedy_oracle(sents, "nothing matches here", 3) == []
    # (R1 F + R2 F) / 2 by hand: "the cat" vs "the cat sat": R1 P 1, R 2/3, F 0.8; R2 P 1, R 1/2, F 2/3
    assert E.quick_rouge("the cat", "the cat sat") == pytest.approx((0.8 + 2 / 3) / 2)


def test_select_top_k_with_trigram_blocking():
    sents = ["a b c d", "a b c e", "x y z", "p q"]
    scores = [0.9, 0.8, 0.7, 0.1]
    assert E.select(sents, scores, 2) == [0, 2]  # 1 repeats the trigram "a b c"
    assert E.select(sents, scores, 2, trigram_blocking=False) == [0, 1]
    assert E.select(sents, scores, 10) == [0, 2, 3]


def test_interval_segments_cls_positions_and_windows(tok):
    sents = ["first sentence here", "second one", "the third sentence is a bit longer than the others"]
    f = E.encode_document(tok, sents, 512, [1, 0, 1])
    (ids, types, cls_at), = f.windows
    assert [ids[p] for p in cls_at] == [tok.cls_token_id] * 3
    assert ids[cls_at[1] - 1] == tok.sep_token_id and ids[-1] == tok.sep_token_id
    assert types == [0] * cls_at[1] + [1] * (cls_at[2] - cls_at[1]) + [0] * (len(ids) - cls_at[2])
    assert ids == [i for s in sents for i in [tok.cls_token_id] + tok.encode(s, add_special_tokens=False)
                   + [tok.sep_token_id]]
    # a window of 12 tokens: whole sentences per window, the long one cut to fit
    w = E.encode_document(tok, sents, 12).windows
    assert [x[2] for x in w] == [[0, 5], [0]]  # 5 + 4 tokens fit in one window; the third, cut, fills the next
    assert len(w[1][0]) == 12 and w[1][0][-1] == tok.sep_token_id and w[1][1] == [0] * 12
    with pytest.raises(InputError, match="max_length must be >= 8"):
        E.encode_document(tok, sents, 4)


@pytest.fixture(scope="module")
def encoder(tmp_path_factory, minilm_path):
    from bertkit.hub import from_pretrained

    return from_pretrained(save_tiny(tmp_path_factory.mktemp("enc"), minilm_path))


@pytest.mark.parametrize("vector", E.SENTENCE_VECTORS)
@pytest.mark.parametrize("head", E.HEADS)
def test_each_head_scores_a_document_the_same_alone_or_padded_in_a_batch(tok, encoder, head, vector):
    torch.manual_seed(0)
    model = E.ExtSumModel(encoder, head, vector).eval()
    long_doc = [f"sentence number {i} talks about topic {i * 7}" for i in range(9)]
    short_doc = ["a short document", "with two sentences"]
    feats = [E.encode_document(tok, d, 40) for d in (long_doc, short_doc)]  # the long one needs windows
    assert len(feats[0].windows) > 1
    with torch.no_grad():
        both = model(E.collate_documents(feats, 0))
        alone = [model(E.collate_documents([f], 0))[0] for f in feats]
    assert both.shape == (2, 9)
    torch.testing.assert_close(both[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[1, :2], alone[1], atol=1e-5, rtol=1e-5)


def test_windows_encode_each_window_on_its_own(tok, encoder):
    """A sentence vector from a window equals the [CLS] output of that window encoded alone."""
    model = E.ExtSumModel(encoder, "linear", "cls").eval()
    f = E.encode_document(tok, [f"words about item {i}" for i in range(6)], 20)
    batch = E.collate_documents([f], 0)
    captured = {}
    model.head.register_forward_hook(lambda m, inp, out: captured.setdefault("x", inp[0]))
    with torch.no_grad():
        model(batch)
        ids, types, cls_at = f.windows[1]
        h = encoder(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long),
                    torch.tensor([types])).last_hidden_state[0]
    first = len(f.windows[0][2])
    torch.testing.assert_close(captured["x"][0, first:first + len(cls_at)], h[cls_at], atol=1e-5, rtol=1e-5)
    # "mean": the mean of the sentence's words, its [CLS] and [SEP] left out
    model.sentence_vector = "mean"
    captured.clear()
    with torch.no_grad():
        model(batch)
    ends = cls_at[1:] + [len(ids)]
    want = torch.stack([h[p + 1:e - 1].mean(0) for p, e in zip(cls_at, ends)])
    torch.testing.assert_close(captured["x"][0, first:first + len(cls_at)], want, atol=1e-5, rtol=1e-5)


def test_layernorm_lstm_normalises_each_gate():
    lstm = E.LayerNormLSTM(6, 5)
    with torch.no_grad():
        lstm.gain_x.copy_(torch.arange(1, 21.0).view(4, 5))
    z = lstm._ln(torch.randn(3, 20), lstm.gain_x, lstm.bias_x)  # (3, 4, 5)
    plain = torch.nn.functional.layer_norm(z / lstm.gain_x, (5,))
    torch.testing.assert_close(plain.mean(-1), torch.zeros(3, 4), atol=1e-5, rtol=0)  # each gate on its own
    torch.testing.assert_close(plain.std(-1, unbiased=False), torch.ones(3, 4), atol=1e-3, rtol=0)


def _corpus(path, n, seed=0):
    """Articles whose reference is the two sentences that mention 'merger': learnable from the words alone."""
    import random

    r = random.Random(seed)
    fill = ["the weather was mild today", "fans waited outside the hall", "a new film opened downtown",
            "the river rose after rain", "shops closed early on sunday", "the team trained in the park"]
    lines = []
    for i in range(n):
        sents = r.sample(fill, 4)
        key = [f"the merger of firm {i} was approved", f"shareholders backed the merger deal {i}"]
        for k in key:
            sents.insert(r.randint(1, len(sents)), k)
        art = ". ".join(s[0].upper() + s[1:] for s in sents) + "."
        ref = ". ".join(k[0].upper() + k[1:] for k in key) + "."
        lines.append(json.dumps({"id": f"d{i}", "article": art, "summary": ref}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_training_learns_the_oracle_and_the_folder_round_trips(tmp_path, minilm_path, tok):
    from transformers import AutoModel

    base = save_tiny(tmp_path / "base", minilm_path)
    train, dev = _corpus(tmp_path / "train.jsonl", 48), _corpus(tmp_path / "dev.jsonl", 8, seed=1)
    docs, _ = E.read_documents(dev)
    assert all(sum(d.labels) == 2 for d in docs)  # the oracle finds both merger sentences
    summ = E.train_extsum(train, dev, model=base, head="linear", out=tmp_path / "out", epochs=4, lr=1e-3,
                          head_lr_scale=5, batch_size=4, top_k=2, progress=False, max_length=128)
    assert summ.model.sentence_vector == "mean"
    rep = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert rep["train_documents"] == 48 and rep["oracle_sentences_per_doc"] == 2.0
    res = summ.summarize_sentences([d.sentences for d in docs])
    hits = sum(i in [j for j, y in enumerate(d.labels) if y] for r, d in zip(res, docs) for i in r.indices)
    assert hits >= 14, [r.indices for r in res]  # of 16 picks; chance is ~5
    back = E.ExtractiveSummarizer.load(tmp_path / "out")
    again = back.summarize_sentences([d.sentences for d in docs])
    assert [r.indices for r in again] == [r.indices for r in res]
    assert max(abs(a - b) for r, q in zip(res, again) for a, b in zip(r.scores, q.scores)) < 1e-5
    # the encoder is a transformers BertModel folder with the same outputs
    hf = AutoModel.from_pretrained(tmp_path / "out").eval()
    ids = torch.tensor([tok.encode("the merger was approved")])
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).last_hidden_state, back.model.encoder(ids).last_hidden_state,
                                   atol=1e-5, rtol=1e-5)
    assert not (tmp_path / "out" / "training" / "checkpoints").exists()


def test_bad_input_is_named(tmp_path, minilm_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "a", "article": ""}\n{"id": "b", "article": "Only one."}\n'
                 '{"id": "c", "article": "One. Two here.", "summary": "Two here."}\n', encoding="utf-8")
    docs, sk = E.read_documents(p, min_sentences=2)
    assert [d.id for d in docs] == ["c"] and docs[0].labels == [0, 1]
    assert sk.counts == {"empty articles": 1, "documents with fewer than 2 sentences": 1}
    assert "1 empty articles (a)" in str(sk)
    p.write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="has no field .article."):
        E.read_documents(p)
    p.write_text('{"article": "First one. Second one.", "picked": [5]}\n', encoding="utf-8")
    with pytest.raises(InputError, match="sentence indices in 0..1"):
        E.read_documents(p, summary_col=None, labels_col="picked")
    with pytest.raises(InputError, match="unknown summarisation head 'gru'"):
        E.train_extsum(p, head="gru")
    p.write_text('{"id": "a", "article": ""}\n', encoding="utf-8")
    with pytest.raises(InputError, match="no document to train on"):
        E.train_extsum(p, model=save_tiny(tmp_path / "m", minilm_path), progress=False)
    with pytest.raises(CheckpointError, match="has no extsum.json"):
        E.ExtractiveSummarizer.load(tmp_path)


def test_summarize_cli_records_skips_and_resume(tmp_path, minilm_path, monkeypatch, capsys):
    from bertkit import Tokenizer, from_pretrained
    from bertkit.cli.main import main

    base = save_tiny(tmp_path / "base", minilm_path)
    torch.manual_seed(0)
    E.ExtractiveSummarizer(E.ExtSumModel(from_pretrained(base), "transformer").eval(), Tokenizer.from_pretrained(base),
                           {"max_length": 128, "top_k": 2}).save(tmp_path / "summ")
    docs = tmp_path / "docs.jsonl"
    _corpus(docs, 5)
    with docs.open("a") as f:
        f.write('{"id": "empty", "article": "  "}\n{"id": "one", "article": "A single sentence."}\n')
    out = tmp_path / "out.jsonl"
    assert main(["summarize", str(tmp_path / "summ"), "-i", str(docs), "-o", str(out), "--quiet"]) == 0
    assert "skipped 1 empty article" in capsys.readouterr().out
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["d0", "d1", "d2", "d3", "d4", "empty", "one"]
    assert recs[5] == {"id": "empty", "summary": None, "skipped": "empty article"}
    assert recs[6]["summary"] == "A single sentence." and all(len(r["sentences"]) == 2 for r in recs[:5])
    # interrupted after the first chunk of 2, then resumed: the same file as one uninterrupted run
    calls = {"n": 0}
    real = E.ExtractiveSummarizer.summarize_sentences

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    out2 = tmp_path / "out2.jsonl"
    args = ["summarize", str(tmp_path / "summ"), "-i", str(docs), "-o", str(out2), "--quiet", "--chunk", "2"]
    monkeypatch.setattr(E.ExtractiveSummarizer, "summarize_sentences", flaky)
    assert main(args) == 130  # the CLI's exit code for Ctrl-C
    assert not out2.exists() and len((tmp_path / "out2.jsonl.partial").read_text().splitlines()) == 2
    monkeypatch.setattr(E.ExtractiveSummarizer, "summarize_sentences", real)
    assert main(args + ["--resume"]) == 0
    assert out2.read_text() == out.read_text()
    assert main(["summarize", str(tmp_path / "summ"), "-i", str(docs), "-o", str(out), "--abstractive"]) != 0
    assert "cannot summarise abstractively" in capsys.readouterr().err
