"""The `bertkit` command line: outputs equal the library's, errors are one clean line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture(scope="module")
def mlm_folder(tmp_path_factory, minilm_path):
    """A tiny random BertForMaskedLM with the real MiniLM vocabulary, written by transformers."""
    import transformers as T

    d = tmp_path_factory.mktemp("mlm")
    torch.manual_seed(0)
    cfg = T.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=37, max_position_embeddings=64)
    T.BertForMaskedLM(cfg).eval().save_pretrained(d)
    bertkit.Tokenizer.from_pretrained(minilm_path).save_pretrained(d)
    return d


def test_embed_writes_same_vectors_as_api(tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_text("first line\n\nthird line is longer than the others\n", encoding="utf-8")
    rc, out, _ = run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"), "--normalize", "--batch-size", "2", "--chunk", "2")
    assert rc == 0 and "3 x 384" in out
    got = np.load(tmp_path / "v.npy")
    ref = bertkit.load().embed(["first line", "", "third line is longer than the others"], normalize=True)
    np.testing.assert_allclose(got, ref, atol=1e-6)


def test_embed_follows_the_models_normalize_module_unless_told(tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_text("first line\nthe second line\n", encoding="utf-8")
    assert run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "d.npy"))[0] == 0
    assert run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "raw.npy"), "--no-normalize")[0] == 0
    default, raw = np.load(tmp_path / "d.npy"), np.load(tmp_path / "raw.npy")
    np.testing.assert_allclose(np.linalg.norm(default, axis=1), 1.0, atol=1e-5)  # all-MiniLM-L6-v2's Normalize
    assert np.linalg.norm(raw, axis=1).min() > 2.0
    np.testing.assert_allclose(raw / np.linalg.norm(raw, axis=1, keepdims=True), default, atol=1e-6)


def test_embed_layers_option(tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_text("hello there\n", encoding="utf-8")
    rc, _, _ = run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"), "--layers", "-4,-3,-2,-1")
    assert rc == 0 and np.load(tmp_path / "v.npy").shape == (1, 4 * 384)


def test_embed_non_utf8_names_the_line(tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"fine\nalso fine\nbroken \xff\xfe here\n")
    rc, _, err = run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"))
    assert rc == 2 and "line 3 is not valid UTF-8" in err
    assert not (tmp_path / "v.npy").exists()


def test_bertkit_warnings_are_one_line_on_the_command_line(tmp_path, capsys):
    src = tmp_path / "t.txt"
    src.write_text("short\n" + "word " * 600 + "\n", encoding="utf-8")
    rc, _, err = run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"))
    assert rc == 0 and np.load(tmp_path / "v.npy").shape == (2, 384)
    lines = [line for line in err.splitlines() if "warning" in line.lower()]
    want = ("bertkit: warning: 1 text(s) longer than 256 tokens were truncated (this warning is shown once; "
            "--windows embeds them whole)")
    assert lines == [want]


def test_embed_of_an_empty_file_warns(tmp_path, capsys):
    src = tmp_path / "empty.txt"
    src.write_text("", encoding="utf-8")
    rc, out, err = run(capsys, "embed", "-i", str(src), "-o", str(tmp_path / "v.npy"))
    assert rc == 0 and np.load(tmp_path / "v.npy").shape == (0, 384) and "0 x 384" in out
    assert f"bertkit: warning: {src} has no lines: the output holds no vectors" in err.splitlines()


def test_library_warnings_name_the_callers_line(tmp_path):
    from bertkit.errors import BertkitWarning
    from bertkit.tasks.tables import read_table

    f = tmp_path / "t.tsv"
    f.write_text("label\tsentence\n1\tgood film\n\n")
    source = Path(__file__).read_text().splitlines()
    with pytest.warns(BertkitWarning, match="skipped 1 bad row") as rec:
        read_table(f)  # two calls deep inside bertkit, the warning still points here
    assert rec[0].filename == __file__ and "read_table(f)" in source[rec[0].lineno - 1]
    with pytest.warns(BertkitWarning, match="truncated") as rec:
        bertkit.load().embed(["word " * 600])  # through torch.inference_mode()'s wrapper of embed
    assert rec[0].filename == __file__ and ".embed(" in source[rec[0].lineno - 1]


def test_missing_input_and_model(tmp_path, capsys):
    rc, _, err = run(capsys, "embed", "-i", str(tmp_path / "none.txt"), "-o", str(tmp_path / "v.npy"))
    assert rc == 2 and "input file not found" in err
    rc, _, err = run(capsys, "info", str(tmp_path / "nope"))
    assert rc == 2 and "checkpoint folder not found" in err


def test_info(capsys, minilm_path):
    rc, out, _ = run(capsys, "info", str(minilm_path))
    assert rc == 0
    assert "BertModel" in out and "22,713,216" in out and "30,522" in out and "6 x hidden 384" in out


def test_tokenize(capsys):
    rc, out, _ = run(capsys, "tokenize", "let us start pretraining the model")
    assert rc == 0 and "##train" in out


def test_fill_mask_matches_transformers(capsys, mlm_folder):
    import transformers as T

    text = "paris is the [MASK] of france."
    rc, out, _ = run(capsys, "fill-mask", str(mlm_folder), text, "-k", "3")
    assert rc == 0
    tok = T.AutoTokenizer.from_pretrained(mlm_folder)
    ref = T.BertForMaskedLM.from_pretrained(mlm_folder).eval()
    ids = tok(text, return_tensors="pt")
    with torch.no_grad():
        logits = ref(**ids).logits[0, (ids["input_ids"][0] == tok.mask_token_id).nonzero()[0, 0]]
    top = logits.softmax(-1).topk(3)
    lines = [ln.split() for ln in out.splitlines()[1:4]]
    assert [ln[1] for ln in lines] == tok.convert_ids_to_tokens(top.indices.tolist())
    np.testing.assert_allclose([float(ln[0]) for ln in lines], top.values.numpy(), atol=1e-4)


def test_fill_mask_errors(capsys, mlm_folder, minilm_path):
    rc, _, err = run(capsys, "fill-mask", str(mlm_folder), "no mask here")
    assert rc == 2 and "no [MASK] token" in err
    rc, _, err = run(capsys, "fill-mask", str(minilm_path), "a [MASK] b")
    assert rc == 2 and "no trained weights for the 'mlm' head" in err


def test_fill_mask_past_the_models_length(capsys, mlm_folder):
    """The tiny model has 64 positions: a mask past them is an error naming the limit, not an empty answer."""
    long = "the cat sat on the mat . " * 12
    rc, out, err = run(capsys, "fill-mask", str(mlm_folder), long + "[MASK] end")
    assert rc == 2 and out == ""
    assert "past the model's limit of 64 tokens; shorten the text before the mask" in err
    rc, out, err = run(capsys, "fill-mask", str(mlm_folder), "a [MASK] " + long + "[MASK] end")
    assert rc == 0 and "mask 1:" in out and "mask 2:" not in out
    assert "bertkit: warning:" in err and "1 of its 2 [MASK] tokens lie past it and are not predicted" in err


def test_convert_bin_to_safetensors(tmp_path, capsys, mlm_folder):
    import shutil

    import transformers as T

    src = tmp_path / "bin"
    shutil.copytree(mlm_folder, src)
    ref = T.BertForMaskedLM.from_pretrained(src).eval()
    (src / "model.safetensors").unlink()
    torch.save(ref.state_dict(), src / "pytorch_model.bin")
    rc, out, _ = run(capsys, "convert", str(src), str(tmp_path / "st"))
    assert rc == 0 and (tmp_path / "st" / "model.safetensors").is_file() and (tmp_path / "st" / "vocab.txt").is_file()
    back = T.BertForMaskedLM.from_pretrained(tmp_path / "st").eval()
    ids = torch.randint(1000, 2000, (2, 7))
    with torch.no_grad():
        torch.testing.assert_close(back(ids).logits, ref(ids).logits)


def test_convert_keeps_the_sentence_transformers_modules(tmp_path, capsys, minilm_path):
    rc, _, _ = run(capsys, "convert", str(minilm_path), str(tmp_path / "c"))
    assert rc == 0
    for name in ("modules.json", "1_Pooling/config.json", "sentence_bert_config.json"):
        assert (tmp_path / "c" / name).read_text() == (minilm_path / name).read_text()
    texts = ["A man is eating food.", "a second, longer sentence about something else"]
    np.testing.assert_allclose(bertkit.load(tmp_path / "c").embed(texts), bertkit.load().embed(texts), atol=1e-6)
    assert bertkit.load(tmp_path / "c").normalize is True


def test_demo_finds_the_right_sentences(capsys):
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    rc, out, _ = run(capsys, "demo", str(root / "examples/sample.txt"), "--queries", str(root / "examples/queries.txt"),
                     "-k", "1")
    assert rc == 0
    blocks = out.split("query: ")[1:]
    best = {b.splitlines()[0]: b.splitlines()[1] for b in blocks}
    assert "Paris is the capital" in best["What is the capital of France?"]
    assert "photosynthesis" in best["How do plants make their food?"]
    assert "Mona Lisa" in best["a famous painting in a museum"] or "Starry Night" in best["a famous painting in a museum"]
    assert "BERT is pretrained" in best["how is BERT trained?"]


def test_console_script_error_has_no_traceback(tmp_path):
    r = subprocess.run([sys.executable, "-m", "bertkit.cli", "info", str(tmp_path / "missing")],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"bertkit: error: checkpoint folder not found: {tmp_path / 'missing'}"]


def test_finetune_sbert_is_reachable_under_finetune(capsys):
    with pytest.raises(SystemExit) as e:
        main(["finetune", "sbert", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: bertkit finetune-sbert") and "softmax,regression,triplet,mnrl" in out
