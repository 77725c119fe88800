"""Abstractive summarisation fine-tuning: BERTSUM-abs is a BART whose encoder computes what the BERT computed, the
saved folder is a BartForConditionalGeneration with the same outputs, the labels follow each family's template,
training lowers the dev loss with the encoder at its own rate, and bad input fails with a named error."""
from __future__ import annotations

import json
import re

import pytest
import torch

from tests.conftest import save_tiny

ARTICLES = [
    ("the market rose today . traders were happy . oil fell .", "the market rose today ."),
    ("a storm hit the coast . roads were closed . schools shut .", "a storm hit the coast ."),
    ("the team won the final . fans sang all night . the coach smiled .", "the team won the final ."),
    ("prices climbed again . shoppers complained . shops stayed open .", "prices climbed again ."),
    ("the minister resigned . the party met . a vote was called .", "the minister resigned ."),
    ("a new phone was shown . it is thin . it costs more .", "a new phone was shown ."),
]


@pytest.fixture(scope="module")
def bert_eps5(tmp_path_factory, minilm_path):
    """A tiny BERT with LayerNorm epsilon 1e-5 (BART's), so its encoder and the converted one agree to rounding."""
    return save_tiny(tmp_path_factory.mktemp("bert5"), minilm_path, layer_norm_eps=1e-5, dropout=0.0,
                     attention_dropout=0.0)


def test_bertsum_abs_encoder_computes_the_bert_encoder(bert_eps5):
    from bertkit.hub import from_pretrained
    from bertkit.tasks.abssum import bertsum_abs_model

    model, tok = bertsum_abs_model(bert_eps5, decoder_layers=1)
    model.eval()
    bert = from_pretrained(bert_eps5, task="base").eval()
    enc = tok(["a short one", "a somewhat longer sentence than the first one is"], padding=True, return_tensors="pt")
    with torch.no_grad():
        want = bert(enc["input_ids"], enc["attention_mask"]).last_hidden_state
        got = model.encode(enc["input_ids"], enc["attention_mask"])[0]
    keep = enc["attention_mask"].bool()
    assert (got - want)[keep].abs().max() < 1e-5
    cfg = model.config
    assert (cfg.decoder_start_token_id, cfg.eos_token_id, cfg.pad_token_id) == (tok.cls_token_id, tok.sep_token_id,
                                                                               tok.pad_token_id)
    assert cfg.decoder_layers == 1 and model.output_embeddings() is model.input_embeddings()


def test_bertsum_abs_folder_loads_in_transformers_with_the_same_logits(bert_eps5, tmp_path):
    import transformers as T

    from bertkit.hub import save_pretrained
    from bertkit.tasks.abssum import bertsum_abs_model

    model, tok = bertsum_abs_model(bert_eps5, decoder_layers=2)
    model.eval()
    save_pretrained(model, tmp_path / "abs", tokenizer=tok)
    ref = T.BartForConditionalGeneration.from_pretrained(tmp_path / "abs").eval()
    enc = tok(["the cat sat on the mat", "dogs bark"], padding=True, return_tensors="pt")
    dec = torch.tensor([[tok.cls_token_id, 2000, 2001, 2002], [tok.cls_token_id, 2003, 2004, 2005]])
    with torch.no_grad():
        want = ref(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], decoder_input_ids=dec).logits
        got = model(enc["input_ids"], enc["attention_mask"], decoder_input_ids=dec).logits
    assert (got - want).abs().max() < 1e-4
    assert T.AutoTokenizer.from_pretrained(tmp_path / "abs")("dogs bark")["input_ids"] == tok.encode("dogs bark")


def test_labels_follow_the_template_and_are_cut_ending_in_eos(bert_eps5):
    from bertkit.tasks.abssum import bertsum_abs_model, encode_example

    model, tok = bertsum_abs_model(bert_eps5, decoder_layers=1)
    src, tgt = encode_example(tok, model, "one two three four five six", "seven eight nine", 5, 3)
    full = tok.encode("one two three four five six")
    assert src == full[:4] + [tok.sep_token_id] and src[0] == tok.cls_token_id
    words = tok.encode("seven eight nine")[1:-1]  # [CLS] is the decoder's start, so the labels leave it out
    assert tgt == words[:2] + [tok.sep_token_id]
    _, tgt = encode_example(tok, model, "x", "seven eight nine", 64, 64)
    assert tgt == words + [tok.sep_token_id]


def test_training_lowers_the_dev_loss_and_saves_a_summariser(bert_eps5, tmp_path):
    from bertkit.tasks.abssum import train_abssum
    from bertkit.tasks.summarize import load_summarizer

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "article": a, "summary": s}) + "\n"
                            for i, (a, s) in enumerate(ARTICLES * 4)))
    summ = train_abssum(data, data, encoder=bert_eps5, out=tmp_path / "abs", decoder_layers=1, epochs=8,
                        lr=1e-2, encoder_lr_scale=0.5, batch_tokens=64, label_smoothing=0.0, warmup=0.0,
                        precision="fp32", progress=False)
    rep = summ.report
    first, best = rep["history"][0]["eval_nll"], rep["best"]["eval_nll"]
    assert rep["kind"] == "bertsum-abs" and len(rep["history"]) == 8
    assert best < 0.6 * first, rep["history"]
    kind, loaded = load_summarizer(tmp_path / "abs")
    assert kind == "abstractive"
    assert not (tmp_path / "abs" / "training" / "checkpoints").exists()
    out = loaded.summarize([ARTICLES[0][0]], num_beams=2, max_new_tokens=8, no_repeat_ngram_size=0)
    assert out == summ.summarize([ARTICLES[0][0]], num_beams=2, max_new_tokens=8, no_repeat_ngram_size=0)
    assert out[0]


def test_the_encoder_learns_at_its_own_rate(bert_eps5):
    from bertkit.tasks.abssum import bertsum_abs_model
    from bertkit.training.optim import param_groups

    model, _ = bertsum_abs_model(bert_eps5, decoder_layers=1)
    groups = param_groups(model, 0.01, lr_scales={"backbone.encoder": 0.1, "backbone.encoder_embeddings": 0.1})
    scale_of = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    assert scale_of[id(model.backbone.encoder.blocks[0].attn.q.weight)] == 0.1
    assert scale_of[id(model.input_embeddings().weight)] == 0.1  # the shared word table: pretrained, slow
    assert scale_of[id(model.backbone.decoder.blocks[0].cross.q.weight)] == 1.0
    assert scale_of[id(model.backbone.decoder_embeddings.position.weight)] == 1.0


def test_bad_input_is_named(bert_eps5, tmp_path, minilm_path):
    from bertkit.errors import InputError
    from bertkit.tasks.abssum import train_abssum

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"article": "words here .", "summary": "fine"}) + "\n"
                   + json.dumps({"article": "more words .", "summary": "  "}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: an empty article or summary"):
        train_abssum(bad, encoder=bert_eps5, progress=False)
    with pytest.raises(InputError, match=r"line 1 has no field 'abstract' \(it has 'article', 'summary'\)"):
        train_abssum(bad, encoder=bert_eps5, summary_col="abstract", progress=False)
    with pytest.raises(InputError, match="not both"):
        train_abssum(bad, init=bert_eps5, encoder=bert_eps5, progress=False)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"article": "words here .", "summary": "fine"}) + "\n")
    with pytest.raises(InputError, match="is a bert model for 'base'.*needs an encoder-decoder"):
        train_abssum(good, init=bert_eps5, progress=False)
    with pytest.raises(InputError, match="max_target must be an integer >= 2"):
        train_abssum(good, encoder=bert_eps5, max_target=1, progress=False)


def test_cli_finetune_abssum_then_summarize(bert_eps5, tmp_path, capsys):
    from bertkit.cli.main import main
    from bertkit.tasks.summarize import AbstractiveSummarizer

    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps({"id": str(i), "article": a, "summary": s}) + "\n"
                            for i, (a, s) in enumerate(ARTICLES)))
    out = tmp_path / "abs"
    assert main(["finetune", "abssum", "--train", str(data), "--dev-split", "0.34", "--model", str(bert_eps5),
                 "--out", str(out), "--decoder-layers", "1", "--max-steps", "3", "--batch-tokens", "64",
                 "--max-target", "16", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "(bertsum-abs, a BART folder, metrics.json)" in printed
    assert re.search(r"best evaluation \d: dev loss \d+\.\d{4} per target token", printed)
    rep = json.loads((out / "metrics.json").read_text())
    assert (rep["steps"], rep["train_documents"], rep["dev_documents"], rep["max_target"]) == (3, 4, 2, 16)
    assert rep["encoder_lr_scale"] == 0.1 and rep["lr"] == 5e-4
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"id": "a", "article": ARTICLES[1][0]}) + "\n")
    pred = tmp_path / "pred.jsonl"
    assert main(["summarize", str(out), "-i", str(docs), "-o", str(pred), "--abstractive", "--quiet",
                 "--num-beams", "2", "--max-new-tokens", "5"]) == 0
    want = AbstractiveSummarizer.load(out).summarize([ARTICLES[1][0]], num_beams=2, max_new_tokens=5)
    assert json.loads(pred.read_text())["summary"] == want[0]
    assert main(["finetune", "abssum", "--train", str(data), "--model", str(bert_eps5), "--out", str(out),
                 "--lr", "auto", "--quiet"]) != 0
    assert "--lr auto" in capsys.readouterr().err


def test_fine_tuning_a_bart_folder_lowers_the_dev_loss_and_loads_in_transformers(tmp_path):
    import transformers as T

    from bertkit.tasks.abssum import train_abssum
    from bertkit.tokenizers.train import train_bytebpe

    texts = [a for a, _ in ARTICLES] + [s for _, s in ARTICLES]
    tok = train_bytebpe(texts * 3, 300, layout="roberta")  # <s> <pad> </s> <unk> <mask>
    torch.manual_seed(0)
    cfg = T.BartConfig(vocab_size=len(tok.get_vocab()), d_model=32, encoder_layers=1, decoder_layers=1,
                       encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                       max_position_embeddings=64, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id, dropout=0.0)
    T.BartForConditionalGeneration(cfg).save_pretrained(tmp_path / "bart")
    tok.save_pretrained(tmp_path / "bart")
    pairs = ARTICLES * 4
    summ = train_abssum(pairs, pairs, init=tmp_path / "bart", out=tmp_path / "ft", epochs=6, lr=3e-3,
                        batch_tokens=128, label_smoothing=0.1, warmup=0.0, precision="fp32", progress=False)
    rep = summ.report
    assert rep["kind"] == "bart" and rep["encoder_lr_scale"] == 1.0
    assert rep["best"]["eval_nll"] < 0.7 * rep["history"][0]["eval_nll"], rep["history"]
    ref = T.BartForConditionalGeneration.from_pretrained(tmp_path / "ft").eval()
    ids = torch.tensor([tok.encode(ARTICLES[2][0])])
    labels = torch.tensor([tok.encode(ARTICLES[2][1])])  # <s> summary </s>: transformers' BART labels
    with torch.no_grad():
        want = ref(input_ids=ids, labels=labels).loss
        out = summ.model(ids, labels=labels).logits
    got = torch.nn.functional.cross_entropy(out[0], labels[0])
    assert abs(float(got) - float(want)) < 1e-4
