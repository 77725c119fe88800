"""Task data: tables, CoNLL, SQuAD readers with their bad-input reports; word/piece alignment; QA windows."""
from __future__ import annotations

import json

import numpy as np
import pytest

import bertkit
from bertkit.errors import InputError
from bertkit.tasks import classification as C
from bertkit.tasks.conll import read_conll
from bertkit.tasks.files import read_task_file
from bertkit.tasks.long_docs import combine_windows
from bertkit.tasks.ner import decode_words, encode_words
from bertkit.tasks.qa import best_spans, encode_qa, read_squad
from bertkit.tasks.tables import read_table, write_table


@pytest.fixture(scope="module")
def tok(minilm_path):
    return bertkit.Tokenizer.from_pretrained(minilm_path)


def test_missing_column_lists_available(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("review,sentiment\ngood,pos\n")
    with pytest.raises(InputError, match=r"no column 'text'.*available columns: review, sentiment"):
        read_task_file("classify", f, text_col="text", label_col="sentiment")


def test_bad_rows_skipped_and_counted(tmp_path):
    f = tmp_path / "t.tsv"
    f.write_text("label\tsentence\n1\tgood film\n\n0\n1\t\n\t no label\n0\tbad film\t extra\n0\tdull\n")
    with pytest.warns(UserWarning, match="skipped 3 bad row"):
        t = read_table(f)
    assert t.skipped.items == [(3, "empty line"), (4, "1 fields, expected 2"), (7, "3 fields, expected 2")]
    with pytest.warns(UserWarning):
        data, cols = read_task_file("classify", f)
    assert cols == {"text_col": "sentence", "label_col": "label", "text2_col": None}
    assert data.inputs == ["good film", "dull"] and data.gold == ["1", "0"]
    assert data.skipped == 5 and data.lines == [2, 8]  # + line 5 (empty text) and line 6 (empty label)


def test_regression_label_not_number_skipped(tmp_path):
    f = tmp_path / "s.csv"
    f.write_text('"A plane, taking off.",A plane flies.,5.0\nx,y,high\na,b,1.5\n')
    with pytest.warns(UserWarning, match="not a number"):
        data, _ = read_task_file("pair", f, text_col="0", text2_col="1", label_col="2", kind="regression")
    assert data.inputs == ["A plane, taking off.", "a"] and data.pairs == ["A plane flies.", "b"]
    assert data.gold == [5.0, 1.5]


def test_dev_label_missing_from_train():
    with pytest.raises(InputError, match=r"'maybe' \(line 7\) do not occur in train.csv; known labels: neg, pos"):
        C.check_known(["neg", "pos"], ["pos", "maybe"], [3, 7], "dev.csv", "train.csv")


def test_table_round_trip_keeps_format(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text('{"text": "a", "id": 1}\nnot json\n{"text": "b", "id": 2}\n')
    with pytest.warns(UserWarning, match="line 2: not JSON"):
        t = read_table(f)
    out = write_table(t, [dict(r, prediction="x", score=0.5) for r in t.rows], tmp_path / "o.jsonl",
                      ["prediction", "score"])
    assert [json.loads(x) for x in out.read_text().splitlines()][1] == {"text": "b", "id": 2, "prediction": "x",
                                                                         "score": 0.5}


def test_conll_broken_line_named(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-PER\n")
    with pytest.raises(InputError, match=r"line 6: broken line, 3 column\(s\) where the file has 4"):
        read_conll(f)
    f.write_text("EU NNP I-NP I-ORG\nrejects VBZ I-VP X-MISC\n")
    with pytest.raises(InputError, match=r"line 2: tag 'X-MISC'"):
        read_conll(f)


def test_conll_read_converts_iob1(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nGerman JJ I-NP I-MISC\nx . O O\n\nA B C I-PER\n")
    data, _ = read_task_file("ner", f)
    assert data.inputs == [["EU", "German", "x"], ["A"]]
    assert data.gold == [["B-ORG", "B-MISC", "O"], ["B-PER"]]


def test_tag_schemes_detected_and_converted_back():
    from bertkit.tasks.conll import iob1_to_iob2, iob2_to_iob1, tag_scheme, to_scheme

    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "O", "I-MISC"]  # B- only between two PER
    iob2 = iob1_to_iob2(iob1)
    assert iob2 == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "O", "B-MISC"]
    assert iob2_to_iob1(iob2) == iob1 and to_scheme(iob2, "iob1") == iob1 and to_scheme(iob2, "iob2") == iob2
    assert tag_scheme([["O"], iob1]) == "iob1" and tag_scheme([["O"], iob2]) == "iob2"
    assert tag_scheme([["S-PER", "O", "B-LOC", "E-LOC"]]) == "iob2"  # IOBES tags are used as they are
    with pytest.raises(InputError, match="tag scheme must be one of iob1, iob2, got 'bioes'"):
        to_scheme(iob2, "bioes")


def _squad(ctx, answers):
    return {"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": ctx, "qas": [
        {"id": f"q{i}", "question": "Who?", "answers": a} for i, a in enumerate(answers)]}]}]}


def test_squad_bad_offsets_reported_not_trained(tmp_path, tok):
    f = tmp_path / "s.json"
    ctx = "Denver Broncos beat the Carolina Panthers."
    f.write_text(json.dumps(_squad(ctx, [[{"text": "Denver Broncos", "answer_start": 0}],
                                         [{"text": "Carolina Panthers", "answer_start": 3}]])))
    with pytest.warns(UserWarning, match=r"1 answer\(s\) whose offsets do not match.*q1: answer 'Carolina Panthers' "
                                         r"is not at offset 3"):
        ex, bad = read_squad(f)
    assert len(bad) == 1 and ex[1].start is None and ex[1].answers == ["Carolina Panthers"]
    feats, owner = encode_qa(tok, ex, max_length=32, train=True)
    assert set(owner) == {0}  # q1 is not trained on


def test_qa_windows_and_span_search_recover_answers(tok):
    ctx = " ".join(f"word{i}" for i in range(60)) + " The answer is Marie Curie, a physicist."
    ex, _ = read_squad_from(ctx, "Marie Curie", ctx.index("Marie"))
    feats, owner = encode_qa(tok, ex, max_length=40, doc_stride=10, train=True)
    assert len(feats) > 3 and all(len(f["input_ids"]) <= 40 for f in feats)
    hits = [f for f in feats if f["start_positions"] > 0]
    assert hits, "some window holds the answer"
    outs = []
    for f in feats:  # logits that point at the targets (or nothing) reproduce the answer text through offsets
        st, en = np.zeros(len(f["input_ids"])), np.zeros(len(f["input_ids"]))
        st[f["start_positions"]] += 5
        en[f["end_positions"]] += 5
        en[f["ctx_start"]] += 4  # a tempting end before the start must be rejected
        outs.append({"start_logits": st, "end_logits": en})
    res = best_spans(feats, owner, outs, ex, n_best=5, max_answer_length=10)
    assert res[0]["answer"] == "Marie Curie" and res[0]["start"] == ctx.index("Marie")
    assert 0 < res[0]["score"] <= 1
    short = best_spans(feats, owner, outs, ex, n_best=5, max_answer_length=1)
    assert short[0]["answer"] != "Marie Curie"  # needs at least 2 pieces


def read_squad_from(ctx, ans, start):
    from bertkit.tasks.qa import QAExample

    return [QAExample("q", "Who is the answer?", ctx, [ans], start)], []


def test_ner_first_piece_labels_and_realignment(tok):
    words = ["Johanson", "visited", "Reykjavik", "yesterday", "."]
    tags = ["B-PER", "O", "B-LOC", "O", "O"]
    l2i = {"O": 0, "B-PER": 1, "B-LOC": 2}
    feats, owner = encode_words(tok, [words], [tags], l2i, max_length=6, stride=2)
    assert len(feats) > 1  # windows
    for f in feats:
        pieces = tok.convert_ids_to_tokens(f["input_ids"])
        for p, w, first, lab in zip(pieces, f["word_ids"], f["first"], f["labels"]):
            if first:
                assert not p.startswith("##") and lab == l2i[tags[w]]
            else:
                assert lab == -100
    # logits that say each first piece's gold tag decode back to the words' tags
    logits = []
    for f in feats:
        z = np.zeros((len(f["input_ids"]), 3))
        for j, lab in enumerate(f["labels"]):
            if lab >= 0:
                z[j, lab] = 9
        logits.append(z)
    (got, probs), = decode_words(feats, owner, logits, [len(words)], ["O", "B-PER", "B-LOC"])
    assert got == tags and min(probs) > 0.99


def test_clinicalbert_formula():
    p = np.array([[0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    n, c = 3, 2.0
    want = (p.max(0) + p.mean(0) * n / c) / (1 + n / c)
    np.testing.assert_allclose(combine_windows(p, "clinical", c), want)
    assert combine_windows(p, "clinical")[1] == pytest.approx((0.8 + 0.5 * 1.5) / 2.5)
    np.testing.assert_allclose(combine_windows(p, "mean"), p.mean(0))
    np.testing.assert_allclose(combine_windows(p, "max"), [0.7, 0.8])
    np.testing.assert_allclose(combine_windows(p[:1], "clinical"), (p[0] + p[0] / 2) / 1.5)  # one window: itself
    with pytest.raises(InputError, match="must be one of"):
        combine_windows(p, "median")
