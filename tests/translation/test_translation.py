"""Translation (chapter 1): the label-smoothed loss against a hand computation, length-grouped token batches, a tiny
Transformer that learns to reverse sequences through `bertkit train-translation`, the folder that reloads and
translates the same (`bertkit translate`, BLEU against sacrebleu), resumption, and bad input as one-line errors."""
from __future__ import annotations

import json
import math
import random

import pytest
import torch

from bertkit.cli.main import main
from bertkit.objectives.seq2seq import LabelSmoothedCrossEntropy, label_smoothed_nll
from bertkit.translation import Translator, bleu, read_parallel, token_batches
from bertkit.translation.data import collate_pairs

WORDS = ["ab", "cd", "ef", "gh", "ij", "kl", "mn", "op"]


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def _write(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _reverse_corpus(folder, n=200, seed=0):
    """n pairs 'w1 w2 ... wk' -> 'wk ... w2 w1' over 8 words, 2 to 6 words each."""
    r = random.Random(seed)
    src = [" ".join(r.choice(WORDS) for _ in range(r.randint(2, 6))) for _ in range(n)]
    tgt = [" ".join(reversed(s.split())) for s in src]
    return _write(folder / "train.src", src), _write(folder / "train.tgt", tgt), src, tgt


TINY = ["--vocab-size", 300, "--d-model", 32, "--layers", 2, "--heads", 4, "--ffn", 64, "--dropout", 0,
        "--max-tokens", 100, "--warmup", 30, "--lr", 0.1, "--beams", 3, "--threads", 1, "--no-progress"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny Transformer trained 20 epochs (~10 s) to reverse 200 sequences; validation = 30 of them."""

    d = tmp_path_factory.mktemp("reverse")
    s, t, src, tgt = _reverse_corpus(d)
    _write(d / "val.src", src[:30])
    _write(d / "val.tgt", tgt[:30])
    rc = main([str(a) for a in ["train-translation", "--src", s, "--tgt", t, "--val-src", d / "val.src", "--val-tgt",
                                d / "val.tgt", "--test-src", d / "val.src", "--test-tgt", d / "val.tgt", "--out",
                                d / "run", "--epochs", 20, *TINY]])
    assert rc == 0
    return d, src, tgt


def test_label_smoothing_against_a_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 1, -100])
    eps = 0.1
    loss, nll = label_smoothed_nll(logits, labels, eps)
    want_loss = want_nll = 0.0
    for row, y in ((logits[0].tolist(), 0), (logits[1].tolist(), 1)):
        z = math.log(sum(math.exp(v) for v in row))
        logp = [v - z for v in row]
        want_nll += -logp[y]
        want_loss += (1 - eps) * -logp[y] + eps * sum(-p for p in logp) / 3
    assert nll.item() == pytest.approx(want_nll, rel=1e-6) and loss.item() == pytest.approx(want_loss, rel=1e-6)
    ref = torch.nn.functional.cross_entropy(logits, labels, label_smoothing=eps, reduction="sum")
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)  # PyTorch's definition is the same
    assert label_smoothed_nll(logits, labels, 0.0)[0].item() == pytest.approx(want_nll, rel=1e-6)


def test_objective_averages_over_target_tokens(tmp_path):
    from bertkit.models.marian import transformer_config
    from bertkit.models.seq2seq import TRANSFORMER_LAYOUT, Seq2SeqLM

    torch.manual_seed(0)
    model = Seq2SeqLM(transformer_config(20, d_model=32, layers=2, heads=4, ffn=64, dropout=0.0, pad_token_id=1),
                      "lm", TRANSFORMER_LAYOUT)
    batch = collate_pairs([([5, 6, 7, 2], [8, 2]), ([9, 2], [10, 11, 12, 2])], pad_id=1)
    assert batch["num_items"] == 6 and batch["labels"][0].tolist() == [8, 2, -100, -100]
    out = LabelSmoothedCrossEntropy(0.1)(model, batch)
    logits = model(batch["input_ids"], batch["attention_mask"], labels=batch["labels"]).logits
    ref = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), label_smoothing=0.1)
    torch.testing.assert_close(out["loss"], ref)
    with pytest.raises(Exception, match="epsilon must be in"):
        LabelSmoothedCrossEntropy(1.0)


def test_token_batches_group_lengths_under_the_budget():
    r = random.Random(0)
    pairs = [([1] * r.randint(1, 30), [1] * r.randint(1, 30)) for _ in range(500)]
    batches = token_batches(pairs, max_tokens=200, seed=3)
    assert sorted(i for b in batches for i in b) == list(range(500))  # every pair once
    for b in batches:
        rows = [pairs[i] for i in b]
        assert len(b) * (max(len(s) for s, _ in rows) + max(len(t) for _, t in rows)) <= 200 or len(b) == 1
    spread = [max(len(pairs[i][1]) for i in b) - min(len(pairs[i][1]) for i in b) for b in batches]
    assert max(spread) <= 1  # sorted by target length: a batch holds one or two target lengths
    assert batches == token_batches(pairs, max_tokens=200, seed=3) != token_batches(pairs, max_tokens=200, seed=4)


def test_tiny_transformer_learns_to_reverse(trained):
    d, src, tgt = trained
    report = json.loads((d / "run" / "results.json").read_text())
    assert report["epochs"] == 20 and len(report["curve"]) == 20
    assert report["curve"][0]["val_bleu"] < 10 and report["best_val_bleu"] >= 90
    assert report["test_model"].endswith("best") and report["test_bleu"] >= 90
    hyps = Translator.load(d / "run" / "best").translate(src[:50], num_beams=3)
    assert sum(h == t for h, t in zip(hyps, tgt[:50])) >= 45
    assert (d / "run" / "test.hyp.txt").read_text().splitlines() == \
        Translator.load(d / "run" / "best").translate(src[:30])


def test_saved_folder_reloads_and_translates_the_same(trained, tmp_path, capsys):
    d, src, _ = trained
    tr = Translator.load(d / "run" / "best")
    first = tr.translate(src[:12], num_beams=3)
    tr.save(tmp_path / "copy")
    again = Translator.load(tmp_path / "copy")
    assert again.translate(src[:12], num_beams=3) == first
    assert again.settings == tr.settings and again.settings.num_beams == 3
    import transformers as T  # the folder is a MarianMT checkpoint

    ref = T.MarianMTModel.from_pretrained(tmp_path / "copy").eval()
    ids = torch.tensor([tr.encode_sources([src[0]])[0]])
    with torch.no_grad():
        hf = ref.generate(input_ids=ids, num_beams=3, max_new_tokens=20, do_sample=False)
    assert tr.decode(hf[0, 1:].tolist()) == first[0]
    rc, out, _ = run(capsys, "translate", d / "run" / "best", *src[:3], "--beams", 3)
    assert rc == 0 and out.splitlines() == first[:3]


def test_translate_cli_scores_bleu_as_sacrebleu(trained, capsys):
    import sacrebleu

    d, _, tgt = trained
    rc, out, err = run(capsys, "translate", d / "run" / "best", "--input", d / "val.src", "--references",
                       d / "val.tgt", "--beams", 1)
    assert rc == 0
    hyps = out.splitlines()
    want = sacrebleu.corpus_bleu(hyps, [tgt[:30]]).score
    assert f"BLEU {want:.2f}" in err and bleu(hyps, tgt[:30])[0] == pytest.approx(want)


def test_budget_stop_then_resume_finishes_the_run(tmp_path, capsys):
    s, t, _, _ = _reverse_corpus(tmp_path, n=60)
    args = ["train-translation", "--src", s, "--tgt", t, "--out", tmp_path / "run", "--epochs", 4, *TINY]
    rc, out, _ = run(capsys, *args, "--time-budget", 1e-6)
    report = json.loads(out)
    assert rc == 0 and report["out_of_time"] and report["steps"] == 1
    rc, out, _ = run(capsys, *args, "--resume")
    assert rc == 0 and out.startswith("resumed from") and json.loads(out[out.index("{"):])["epochs"] == 4
    rc, _, err = run(capsys, *args, "--resume", "--d-model", 64)
    assert rc == 2 and "d_model: 32 then, 64 now" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("case", ["counts", "empty_pair", "empty_side", "missing"])
def test_bad_parallel_corpus_is_a_one_line_error(tmp_path, capsys, case):
    src = _write(tmp_path / "a.en", ["A man rides a bike.", "Two dogs play.", "A girl sings."])
    tgt = _write(tmp_path / "a.de", ["Ein Mann fährt Rad.", "Zwei Hunde spielen.", "Ein Mädchen singt."])
    if case == "counts":
        _write(tgt, ["Ein Mann fährt Rad.", "Zwei Hunde spielen."])
        want = f"{src} has 3 lines but {tgt} has 2"
    elif case == "empty_pair":
        _write(src, ["A man rides a bike.", "", "A girl sings."])
        _write(tgt, ["Ein Mann fährt Rad.", "  ", "Ein Mädchen singt."])
        want = "line 2 is empty in both files"
    elif case == "empty_side":
        _write(tgt, ["Ein Mann fährt Rad.", "Zwei Hunde spielen.", ""])
        want = f"line 3 is empty in {tgt}"
    else:
        src = tmp_path / "nope.en"
        want = f"parallel corpus file not found: {src}"
    rc, _, err = run(capsys, "train-translation", "--src", src, "--tgt", tgt, "--out", tmp_path / "run", *TINY)
    assert rc == 2 and want in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run" / "checkpoints").exists()
    with pytest.raises(Exception, match=want.split(":")[0]):
        read_parallel(src, tgt)


def test_translate_errors_are_one_line(trained, tmp_path, capsys):
    d, _, _ = trained
    rc, _, err = run(capsys, "translate", tmp_path / "nothing", "hello")
    assert rc == 2 and "checkpoint folder not found" in err
    with pytest.raises(SystemExit) as stop:  # refused while parsing (cli/options.py)
        run(capsys, "translate", d / "run" / "best", "ab cd", "--beams", 0)
    assert stop.value.code == 2 and "argument --beams: must be >= 1, got 0" in capsys.readouterr().err
    rc, _, err = run(capsys, "translate", d / "run" / "best", "--input", d / "val.src", "--references",
                     d / "train.src")
    assert rc == 2 and "has 200 lines for 30 texts" in err
    assert Translator.load(d / "run" / "best").translate(["", "  "]) == ["", ""]


def test_generate_streams_a_translation(trained, capsys):
    d, src, _ = trained
    want = Translator.load(d / "run" / "best").translate(src[:1], num_beams=1)[0]
    rc, out, _ = run(capsys, "generate", d / "run" / "best", src[0], "--max-new-tokens", 30)
    assert rc == 0 and out == want + "\n"


@pytest.mark.parametrize("vocab", [["--separate-vocab"], ["--tokenizer-algo", "unigram", "--vocab-size", 40]])
def test_separate_vocabularies_and_sentencepiece_save_and_reload(tmp_path, capsys, vocab):
    s, t, src, tgt = _reverse_corpus(tmp_path, n=60)
    _write(t, [line.upper() + " ZZ" for line in tgt])  # another alphabet on the target side: other vocabularies
    rc, out, _ = run(capsys, "train-translation", "--src", s, "--tgt", t, "--out", tmp_path / "run", "--epochs", 2,
                     *TINY, *vocab)
    assert rc == 0, out
    tr = Translator.load(tmp_path / "run")
    assert (tmp_path / "run" / "target_tokenizer").is_dir() == (vocab[0] == "--separate-vocab")
    assert tr.shared_vocabulary == (vocab[0] != "--separate-vocab")
    if not tr.shared_vocabulary:
        assert tr.model.target_vocab_size == tr.target_tokenizer.vocab_size != tr.model.config.vocab_size
    else:  # SentencePiece with BERT's specials: sentences end in [SEP], the decoder starts from [PAD]
        assert tr.settings.eos_token_id == tr.source_tokenizer.sep_token_id
        assert tr.model.config.decoder_start_token_id == tr.source_tokenizer.pad_token_id
    first = tr.translate(src[:5])
    tr.save(tmp_path / "copy")
    assert Translator.load(tmp_path / "copy").translate(src[:5]) == first
