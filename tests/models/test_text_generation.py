"""`bertkit generate`: the text streamed piece by piece is the text generate() makes, and that is transformers'
(the repetition settings included); an encoder model is a one-line error."""
from __future__ import annotations

import pytest
import torch

from bertkit.cli.main import main
from bertkit.text_generation import TextGenerator
from bertkit.tokenizers.train import train_tokenizer

TEXT = ["the cat sat on the mat and the dog sat on the log",
        "a bird sang in the tree while the cat slept in the sun",
        "über den Wolken muss die Freiheit wohl grenzenlos sein"]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A tiny random GPT-2 (transformers) with a byte-level BPE tokenizer trained by bertkit."""
    import transformers as T

    d = tmp_path_factory.mktemp("gpt2")
    (d / "corpus.txt").write_text("\n".join(TEXT * 3) + "\n", encoding="utf-8")
    tok = train_tokenizer([d / "corpus.txt"], "bytebpe", 320)
    cfg = T.GPT2Config(vocab_size=tok.vocab_size, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                       bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    ref = T.GPT2LMHeadModel(cfg).eval()
    ref.save_pretrained(d / "model")
    tok.save_pretrained(d / "model")
    return ref, tok, d / "model"


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize("extra", [{}, {"repetition_penalty": 1.6}, {"no_repeat_ngram_size": 2}])
def test_streamed_text_is_transformers_generation(gpt2_folder, extra):
    ref, tok, folder = gpt2_folder
    gen = TextGenerator(folder)
    pieces: list[str] = []
    text = gen("the cat", stream=pieces.append, max_new_tokens=20, **extra)
    assert len(pieces) > 3 and "".join(pieces) == text  # streamed as it came, nothing lost or repeated
    ids = torch.tensor([tok.encode("the cat", add_special_tokens=False)])
    with torch.no_grad():
        want = ref.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=20, do_sample=False,
                            pad_token_id=tok.pad_token_id, **extra)
    assert text == tok.decode(want[0, ids.shape[1]:].tolist())


def test_cli_streams_prompt_and_continuation(gpt2_folder, capsys):
    _, _, folder = gpt2_folder
    want = TextGenerator(folder)("the dog", max_new_tokens=12, repetition_penalty=1.3, no_repeat_ngram_size=3)
    rc, out, _ = run(capsys, "generate", folder, "the dog", "--max-new-tokens", 12, "--repetition-penalty", 1.3,
                     "--no-repeat-ngram-size", 3)
    assert rc == 0 and out == "the dog" + want + "\n"
    rc, beam_out, _ = run(capsys, "generate", folder, "the dog", "--max-new-tokens", 12, "--num-beams", 3)
    assert rc == 0 and beam_out == "the dog" + TextGenerator(folder)("the dog", max_new_tokens=12, num_beams=3) + "\n"
    rc, a, _ = run(capsys, "generate", folder, "a bird", "--do-sample", "--seed", 3, "--top-k", 20, "--no-stream")
    rc2, b, _ = run(capsys, "generate", folder, "a bird", "--do-sample", "--seed", 3, "--top-k", 20)
    assert rc == rc2 == 0 and a == b  # streaming changes nothing; the seed makes sampling repeatable


def test_cli_errors_are_one_line(gpt2_folder, tmp_path, capsys):
    import transformers as T

    _, tok, folder = gpt2_folder
    import pytest

    with pytest.raises(SystemExit) as stop:  # refused while parsing (cli/options.py), before the model loads
        run(capsys, "generate", folder, "the cat", "--repetition-penalty", 0)
    assert stop.value.code == 2
    assert "argument --repetition-penalty: must be > 0, got 0" in capsys.readouterr().err
    rc, _, err = run(capsys, "generate", folder, "the cat", "--max-new-tokens", 500)
    assert rc == 2 and "positions; the model has 128" in err
    T.BertForMaskedLM(T.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=4, intermediate_size=37)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    capsys.readouterr()  # transformers' save progress bar
    rc, _, err = run(capsys, "generate", tmp_path, "the cat")
    assert rc == 2 and "needs a GPT-2, BART or translation" in err and len(err.strip().splitlines()) == 1
