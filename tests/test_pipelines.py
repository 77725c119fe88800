"""bertkit.pipeline against transformers.pipeline on the same tiny folders: same keys, same shapes, same numbers."""
from __future__ import annotations

import json

import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from tests.conftest import save_tiny


def _folder(tmp_path_factory, minilm_path, task: str, **kw):
    return save_tiny(tmp_path_factory.mktemp(task), minilm_path, task, **kw)


@pytest.fixture(scope="module")
def hf():
    import transformers

    return transformers


def test_fill_mask_matches_transformers(tmp_path_factory, minilm_path, hf):
    d = _folder(tmp_path_factory, minilm_path, "mlm")
    ref = hf.pipeline("fill-mask", model=str(d), device="cpu")
    ours = bertkit.pipeline("fill-mask", d)
    for text in ("paris is the [MASK] of france.", ["the [MASK] sat on the mat.", "a [MASK] day"]):
        got, want = ours(text, top_k=4), ref(text, top_k=4)
        got, want = (got, want) if isinstance(text, list) else ([got], [want])
        for g, w in zip(got, want):
            assert [r["token"] for r in g] == [r["token"] for r in w]
            assert [r["token_str"] for r in g] == [r["token_str"] for r in w]
            assert [r["sequence"] for r in g] == [r["sequence"] for r in w]
            assert [r["score"] for r in g] == pytest.approx([r["score"] for r in w], abs=1e-5)
    two = ours("the [MASK] sat on the [MASK].", top_k=2)
    assert len(two) == 2 and all(len(rows) == 2 for rows in two)  # one list per mask


def test_text_classification_and_feature_extraction_match_transformers(tmp_path_factory, minilm_path, hf):
    d = _folder(tmp_path_factory, minilm_path, "classification", num_labels=3,
                id2label={0: "neg", 1: "neu", 2: "pos"})
    texts = ["I loved the song", "a dull, grey afternoon"]
    ref = hf.pipeline("text-classification", model=str(d), device="cpu")
    ours = bertkit.pipeline("sentiment-analysis", d)
    for g, w in zip(ours(texts), ref(texts)):
        assert g["label"] == w["label"] and g["score"] == pytest.approx(w["score"], abs=1e-5)
    every = ours(texts[0], top_k=None)[0]
    want = ref(texts[0], top_k=None)
    assert [r["label"] for r in every] == [r["label"] for r in want]
    assert [r["score"] for r in every] == pytest.approx([r["score"] for r in want], abs=1e-5)
    fe_ref = hf.pipeline("feature-extraction", model=str(d), device="cpu")(texts[0])
    fe = bertkit.pipeline("feature-extraction", d)(texts[0])
    assert len(fe) == 1 and len(fe[0]) == len(fe_ref[0]) and len(fe[0][0]) == 32
    assert torch.tensor(fe) == pytest.approx(torch.tensor(fe_ref), abs=1e-4)


def test_question_answering_and_ner_give_transformers_keys(tmp_path_factory, minilm_path):
    qa = bertkit.pipeline("question-answering", _folder(tmp_path_factory, minilm_path, "qa"))
    ctx = "The Eiffel Tower was built in 1889 in Paris."
    r = qa(question="When was the tower built?", context=ctx)
    assert set(r) == {"score", "start", "end", "answer"} and ctx[r["start"]:r["end"]] == r["answer"]
    assert len(qa(question=["Where?", "When?"], context=ctx)) == 2
    with pytest.raises(InputError, match="needs question= and context="):
        qa(question="Where?")
    ner_dir = _folder(tmp_path_factory, minilm_path, "token_classification", num_labels=3,
                      id2label={0: "O", 1: "B-LOC", 2: "I-LOC"})
    ner = bertkit.pipeline("ner", ner_dir)
    text = "Flights  from New York to Paris"
    for ent in ner(text):
        assert set(ent) == {"entity_group", "score", "word", "start", "end"} and ent["entity_group"] == "LOC"
        assert text[ent["start"]:ent["end"]] == ent["word"] and 0 < ent["score"] <= 1
    rows = ner(text, aggregation_strategy="none")
    assert all(text[x["start"]:x["end"]] == x["word"] and x["entity"] in ("B-LOC", "I-LOC") for x in rows)


def test_text_generation_matches_transformers(tmp_path, hf):
    from bertkit.tokenizers.train import train_tokenizer

    (tmp_path / "c.txt").write_text("the cat sat on the mat and the dog sat on the log\n" * 5)
    tok = train_tokenizer([tmp_path / "c.txt"], "bytebpe", 300, layout="gpt2")  # nothing added around a prompt
    cfg = hf.GPT2Config(vocab_size=tok.vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    hf.GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    ref = hf.pipeline("text-generation", model=str(tmp_path / "gpt2"), device="cpu")
    ours = bertkit.pipeline("text-generation", tmp_path / "gpt2")
    want = ref("the cat", max_new_tokens=8, do_sample=False)
    got = ours("the cat", max_new_tokens=8)
    assert got == want and got[0]["generated_text"].startswith("the cat ")  # [{"generated_text": ...}]
    cont = ours("the cat", max_new_tokens=8, return_full_text=False)
    assert cont == ref("the cat", max_new_tokens=8, do_sample=False, return_full_text=False)
    assert len(ours(["the cat", "a dog"], max_new_tokens=3)) == 2
    with pytest.raises(InputError, match="use it for text-generation"):
        bertkit.pipeline("summarization", tmp_path / "gpt2")


def test_unknown_task_and_cli(tmp_path_factory, minilm_path, capsys):
    with pytest.raises(InputError, match="unknown pipeline task 'translate-all'"):
        bertkit.pipeline("translate-all")
    d = _folder(tmp_path_factory, minilm_path, "mlm")
    assert main(["run", "fill-mask", str(d), "paris is the [MASK] of france.", "--top-k", "3"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(bertkit.pipeline("fill-mask", d)("paris is the [MASK] of france.", top_k=3)))
