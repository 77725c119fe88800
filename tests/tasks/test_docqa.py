"""Questions over documents: paragraph splitting and line bookkeeping, retrieval with the real MiniLM, answers read
by a QA model and ranked by their span logits, errors, and the `bertkit ask` round trip."""
from __future__ import annotations

import json

import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.docqa import DocumentQA, split_paragraphs
from bertkit.tasks.predictor import Predictor


def test_paragraphs_keep_their_first_line_and_long_ones_are_cut_at_sentence_ends():
    text = "\nFirst para line one.\nline two.\n\n\n  \nSecond para.\n\nThird. It has two sentences.\n"
    assert split_paragraphs(text) == [(2, "First para line one.\nline two."), (7, "Second para."),
                                      (9, "Third. It has two sentences.")]
    long = "Alpha is one. Beta is two.\nGamma is three. Delta is four."  # 56 chars, cut at <= 30
    assert split_paragraphs(long, max_chars=30) == [(1, "Alpha is one. Beta is two."),
                                                    (2, "Gamma is three. Delta is four.")]
    assert split_paragraphs("A sentence far longer than the limit.", max_chars=10) == [
        (1, "A sentence far longer than the limit.")]  # one sentence stays whole
    assert split_paragraphs("\n \n") == []


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    d = tmp_path_factory.mktemp("docs")
    (d / "animals.txt").write_text(
        "Giraffes are the tallest land animals.\nThey live in the African savanna.\n\n"
        "Penguins cannot fly, but they swim very well in cold oceans.\n", encoding="utf-8")
    (d / "sub").mkdir()
    (d / "sub" / "space.md").write_text(
        "# Notes\n\nThe Moon orbits the Earth every 27 days.\n\n"
        "Mars is called the red planet because of iron oxide on its surface.\n", encoding="utf-8")
    (d / "ignored.csv").write_text("a,b\n1,2\n")
    (d / "empty.txt").write_text("")
    return d


@pytest.fixture(scope="module")
def index(docs, minilm_path, tmp_path_factory):
    return DocumentQA.build(docs, tmp_path_factory.mktemp("idx") / "qa_index", model=minilm_path, progress=False)


@pytest.fixture(scope="module")
def reader(tiny):
    torch.manual_seed(0)
    model = bertkit.from_pretrained(tiny, task="qa")
    return Predictor("qa", model, bertkit.Tokenizer.from_pretrained(tiny), {"max_length": 64, "doc_stride": 16})


def test_build_indexes_every_paragraph_with_its_file_and_line(index):
    paras = [json.loads(x) for x in (index / "paragraphs.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(p["file"], p["line"]) for p in paras] == [("animals.txt", 1), ("animals.txt", 4), ("sub/space.md", 1),
                                                      ("sub/space.md", 3), ("sub/space.md", 5)]
    assert paras[0]["text"] == "Giraffes are the tallest land animals.\nThey live in the African savanna."
    meta = json.loads((index / "docqa.json").read_text())
    assert meta["files"] == 3 and meta["paragraphs"] == 5  # .csv skipped; the empty file gives nothing


def test_questions_retrieve_the_paragraph_that_holds_the_fact(index, reader):
    qa = DocumentQA.load(index, reader)
    for q, want in (("Which animal is the tallest?", 0), ("Why is Mars red?", 4),
                    ("Which birds swim but cannot fly?", 1), ("How long does the Moon take to orbit?", 3)):
        assert qa.retrieve([q], k=2)[0][0][0] == want, q


def test_answers_come_from_the_retrieved_paragraphs_best_span_logit_first(index, reader):
    qa = DocumentQA.load(index, reader)
    got = qa.ask("Where do giraffes live?", k=3, n_answers=3)
    assert 1 <= len(got) <= 3
    assert [a["score"] for a in got] == sorted((a["score"] for a in got), reverse=True)
    retrieved = {i for i, _ in qa.retrieve(["Where do giraffes live?"], k=3)[0]}
    for a in got:
        para = qa.paragraphs[a["paragraph_index"]]
        assert a["paragraph_index"] in retrieved and a["context"] == para["text"] and a["file"] == para["file"]
        start = para["text"].index(a["answer"])  # the answer is a span of its paragraph ...
        assert a["line"] == para["line"] + para["text"][:start].count("\n")  # ... starting on the line given
    # the same answers as the reader gives on each retrieved paragraph alone, scored by its best span logit
    from bertkit.tasks.qa import QAExample

    alone = reader.decode(reader.encode([QAExample(str(a["paragraph_index"]), "Where do giraffes live?", a["context"])
                                         for a in got]))
    assert [(x["answer"], x["n_best"][0]["logit"]) for x in alone] == [(a["answer"], pytest.approx(a["score"]))
                                                                       for a in got]


def test_answer_line_points_into_the_source_file(docs, index, reader):
    qa = DocumentQA.load(index, reader)
    for a in qa.ask("What is on the surface of Mars?", k=5, n_answers=5):
        lines = (docs / a["file"]).read_text(encoding="utf-8").splitlines()
        assert a["answer"].split("\n")[0] in lines[a["line"] - 1]


def test_bad_input(docs, index, reader, tiny, tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        DocumentQA.build(tmp_path / "nope", tmp_path / "i")
    (tmp_path / "blank").mkdir()
    (tmp_path / "blank" / "a.csv").write_text("x")
    with pytest.raises(InputError, match="holds no .txt or .md files"):
        DocumentQA.build(tmp_path / "blank", tmp_path / "i")
    (tmp_path / "blank" / "b.txt").write_text("\n\n")
    with pytest.raises(InputError, match="are empty: no paragraph to index"):
        DocumentQA.build(tmp_path / "blank", tmp_path / "i")
    with pytest.raises(InputError, match="would hold the documents folder"):
        DocumentQA.build(docs, docs)
    with pytest.raises(InputError, match="would hold the documents folder"):
        DocumentQA.build(docs / "sub", docs)
    clf = Predictor("classify", bertkit.from_pretrained(tiny, task="classification", num_labels=2),
                    bertkit.Tokenizer.from_pretrained(tiny), {"labels": ["a", "b"]})
    with pytest.raises(InputError, match="span head .*got a classify model"):
        DocumentQA.load(index, clf)
    with pytest.raises(InputError, match="not a document-QA index"):
        DocumentQA.load(docs, reader)
    with pytest.raises(InputError, match="non-empty string"):
        DocumentQA.load(index, reader).ask("  ")


def test_an_index_inside_the_documents_folder_is_not_read_as_documents(docs, minilm_path, tmp_path):
    import shutil

    d = tmp_path / "docs"
    shutil.copytree(docs, d)
    DocumentQA.build(d, d / "qa_index", model=minilm_path, progress=False)
    (d / "qa_index" / "notes.txt").write_text("Stray text inside the index folder.\n")
    again = DocumentQA.build(d, d / "qa_index", model=minilm_path, progress=False)  # rebuilt in place
    assert json.loads((again / "docqa.json").read_text())["paragraphs"] == 5


def test_cli_build_then_ask(docs, reader, minilm_path, tmp_path, capsys):
    reader.save(tmp_path / "reader")
    assert main(["ask", "build", str(docs), "-o", str(tmp_path / "ix"), "--model", str(minilm_path), "--quiet"]) == 0
    assert "indexed 5 paragraphs of 3 file(s)" in capsys.readouterr().out
    assert main(["ask", str(tmp_path / "ix"), "Where do giraffes live?", "--model", str(tmp_path / "reader"),
                 "-k", "2", "-n", "2", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = DocumentQA.load(tmp_path / "ix", Predictor.load(tmp_path / "reader")).ask("Where do giraffes live?", 2, 2)
    assert [(a["answer"], a["file"], a["line"]) for a in got] == [(a["answer"], a["file"], a["line"]) for a in want]
    assert main(["ask", str(tmp_path / "ix"), "Where?"]) != 0
    assert "needs --model QA_MODEL" in capsys.readouterr().err
