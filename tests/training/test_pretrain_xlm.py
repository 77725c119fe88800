"""`bertkit pretrain --arch xlm`: MLM+TLM from the CLI lowers the loss and saves an XLMWithLMHeadModel folder that
transformers reloads to the same logits with langs; CLM; resume; the errors."""
from __future__ import annotations

import json
import random

import pytest
import torch

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tokenizers.multilingual import train_multilingual
from bertkit.training.pretrain import PretrainSpec, pretrain
from tests.pretrain_fixtures import assert_resume_matches

DE = {"dog": "hund", "cat": "katze", "bird": "vogel", "table": "tisch", "house": "haus", "tree": "baum"}


def _sentences(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    en, de = [], []
    for _ in range(n):
        a, b = rng.choice(["dog", "cat", "bird"]), rng.choice(["table", "house", "tree"])
        en.append(f"the {a} sat on the {b} .")
        de.append(f"der {DE[a]} sass auf dem {DE[b]} .")
    return en, de


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("xlm")
    en, de = _sentences(80, 0)
    (d / "mono.en").write_text("\n".join(en[:40]) + "\n")
    (d / "mono.de").write_text("\n".join(de[40:]) + "\n")
    (d / "para.en").write_text("\n".join(en) + "\n")
    (d / "para.de").write_text("\n".join(de) + "\n")
    dev_en, dev_de = _sentences(12, 7)
    (d / "dev.en").write_text("\n".join(dev_en) + "\n")
    (d / "dev.de").write_text("\n".join(dev_de) + "\n")
    tok, _ = train_multilingual({"de": d / "para.de", "en": d / "para.en"}, "wordpiece", 60, alpha=0.5)
    tok.save_pretrained(d / "tok")
    (d / "size.json").write_text(json.dumps({"hidden_size": 32, "num_layers": 2, "num_heads": 2}))
    return d


def _args(d, out, *extra):
    return ["pretrain", "--arch", "xlm", "--langs", "de,en", "--tokenizer", str(d / "tok"), "--size",
            str(d / "size.json"), "--max-length", "32", "--batch-size", "8", "--lr", "3e-3", "--precision", "fp32",
            "--no-progress", "--out", str(out), *extra]


def test_mlm_tlm_lowers_the_loss_and_loads_in_transformers_with_the_same_logits(files, tmp_path):
    import transformers as T

    d, out = files, tmp_path / "run"
    rc = main(_args(d, out, "--objective", "mlm+tlm", "--corpus", str(d / "mono.de"), str(d / "mono.en"),
                    "--parallel", str(d / "para.de"), str(d / "para.en"), "--eval-corpus", str(d / "dev.de"),
                    str(d / "dev.en"), "--steps", "40", "--eval-every", "40", "--eval-at-start", "--warmup", "4"))
    assert rc == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in log if "eval_loss" in r]
    assert evals[-1] < 0.8 * evals[0], evals  # ln(60) = 4.09 at the start
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architectures"] == ["XLMWithLMHeadModel"] and cfg["n_langs"] == 2 and cfg["causal"] is False
    assert cfg["lang2id"] == {"de": 0, "en": 1} and cfg["id2lang"] == {"0": "de", "1": "en"}
    assert json.loads((out / "tokenizer_config.json").read_text())["languages"] == ["de", "en"]
    from bertkit.hub import from_pretrained
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(out)
    enc = tok(["the cat sat on the tree .", "der hund sass"], padding=True, return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]
    langs = torch.tensor([[1] * ids.shape[1], [0] * ids.shape[1]])
    ref = T.XLMWithLMHeadModel.from_pretrained(out).eval()
    ours = from_pretrained(out).eval()
    with torch.no_grad():
        theirs = ref(ids, attention_mask=mask, langs=langs).logits
        mine = ours(ids, mask, langs=langs).logits
        other_lang = ref(ids, attention_mask=mask, langs=1 - langs).logits
    torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)
    assert (other_lang - theirs).abs().max() > 1e-3  # the language embeddings were trained and matter


def test_clm_trains_the_causal_config(files, tmp_path):
    d = files
    metrics = pretrain(PretrainSpec(arch="xlm", objective="clm", langs=["de", "en"], tokenizer=d / "tok",
                                    corpus=[f"de={d / 'mono.de'}", f"en={d / 'mono.en'}"], size=str(d / "size.json"),
                                    out=tmp_path / "clm", steps=6, batch_size=4, max_length=32, precision="fp32",
                                    progress=False, log_every=1))
    assert metrics["step"] == 6 and "clm_loss" in metrics
    cfg = json.loads((tmp_path / "clm" / "config.json").read_text())
    assert cfg["causal"] is True and cfg["lang2id"] == {"de": 0, "en": 1}


def test_resume_matches_the_whole_run(files, tmp_path):
    d = files
    assert_resume_matches(tmp_path, arch="xlm", objective="mlm+tlm", langs=["de", "en"], tokenizer=d / "tok",
                          corpus=[d / "mono.de", d / "mono.en"], parallel=[d / "para.de", d / "para.en"],
                          size=str(d / "size.json"), steps=6, save_every=3, batch_size=4, max_length=32,
                          precision="fp32", progress=False, log_every=1)


def _err(files, tmp_path, **kw):
    d = files
    spec = {"arch": "xlm", "objective": "tlm", "langs": ["de", "en"], "tokenizer": d / "tok", "corpus": [],
            "parallel": [d / "para.de", d / "para.en"], "size": str(d / "size.json"), "out": tmp_path / "e",
            "steps": 1, "progress": False}
    spec.update(kw)
    with pytest.raises(InputError) as e:
        pretrain(PretrainSpec(**spec))
    return str(e.value)


def test_errors(files, tmp_path):
    d = files
    assert _err(files, tmp_path, parallel=[d / "para.de", d / "para.fr"]) == (
        f"--parallel {d / 'para.fr'}: language 'fr' is not one of --langs de, en (write LANG=FILE, or name the "
        "file by its language, e.g. train.de)")
    short = tmp_path / "short.en"
    short.write_text("the dog sat .\nthe cat sat .\n")
    assert _err(files, tmp_path, parallel=[d / "para.de", short]) == (
        f"--parallel files differ in length: {d / 'para.de'} has 80 lines, {short} has 2; line i of one must "
        "translate line i of the other")
    a, b = tmp_path / "a.de", tmp_path / "b.en"
    a.write_text("der hund\n\nder vogel\n")
    b.write_text("the dog\nthe cat\nthe bird\n")
    assert _err(files, tmp_path, parallel=[a, b]) == (
        f"--parallel line 2 is empty ({a}); every line pair needs text on both sides")
    assert _err(files, tmp_path, langs=["de", "en", "fr"]) == (
        f"the tokenizer {d / 'tok'} was trained for de, en, not fr; train one with `bertkit tokenizer train "
        "--lang-files` over those languages")
    assert _err(files, tmp_path, objective="mlm+tlm") == (
        "--objective mlm+tlm needs --corpus (one text file per language)")
    assert _err(files, tmp_path, objective="mlm") == "--parallel is TLM's data; --objective mlm does not use it"
    assert _err(files, tmp_path, parallel=[d / "para.de"]) == (
        "--objective tlm needs --parallel SRC TGT [SRC TGT ...] (aligned files in pairs), got 1 file")
    assert _err(files, tmp_path, parallel=[d / "para.de", d / "para.en", d / "para.de"]) == (
        "--objective tlm needs --parallel SRC TGT [SRC TGT ...] (aligned files in pairs), got 3 files")
    assert _err(files, tmp_path, parallel=[d / "para.de", d / "para.en", d / "para.de", f"de={d / 'para.en'}"]) == (
        f"--parallel {d / 'para.de'} {d / 'para.en'}: both files are 'de'; TLM pairs two languages")
    assert _err(files, tmp_path, objective="nsp") == (
        "--arch xlm trains with --objective mlm, clm, tlm, mlm+tlm, got 'nsp'")
    assert _err(files, tmp_path, arch="bert", objective=None) == (
        "--langs and --parallel are XLM settings (--arch xlm), not bert's")


def test_several_parallel_pairs_each_with_their_languages(files, tmp_path, monkeypatch):
    d = files
    short_de, short_en = tmp_path / "short.de", tmp_path / "short.en"
    short_de.write_text("der hund sass .\nder vogel sang .\nder fisch\n")
    short_en.write_text("the dog sat .\nthe bird sang .\nthe fish\n")
    out = tmp_path / "two"
    # the second pair runs en -> de, so its examples start with English: both pairs' language ids are used
    assert main(_args(d, out, "--objective", "tlm", "--parallel", str(d / "para.de"), str(d / "para.en"),
                          str(short_en), str(short_de), "--steps", "2")) == 0
    from bertkit.data.xlm import ParallelPairs
    from bertkit.training import pretrain_xlm as px

    seen = []

    class Spy(ParallelPairs):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            seen.append((len(self), self[0]["langs"][0], self[0]["langs"][-1]))

    monkeypatch.setattr(px, "ParallelPairs", Spy)
    metrics = pretrain(PretrainSpec(arch="xlm", objective="tlm", langs=["de", "en"], tokenizer=d / "tok", corpus=[],
                                    parallel=[d / "para.de", d / "para.en", short_en, short_de],
                                    size=str(d / "size.json"), out=tmp_path / "spy", steps=1, batch_size=2,
                                    max_length=32, precision="fp32", progress=False))
    assert seen == [(80, 0, 1), (3, 1, 0)]  # de=0, en=1
    assert metrics["train_examples"] == 83


def test_a_language_not_in_the_init_model(files, tmp_path):
    d = files
    pretrain(PretrainSpec(arch="xlm", objective="tlm", langs=["de", "en"], tokenizer=d / "tok", corpus=[],
                          parallel=[d / "para.de", d / "para.en"], size=str(d / "size.json"), out=tmp_path / "m",
                          steps=1, batch_size=2, max_length=32, precision="fp32", progress=False))
    (tmp_path / "tok2").mkdir()
    for f in (d / "tok").iterdir():
        (tmp_path / "tok2" / f.name).write_bytes(f.read_bytes())
    conf = json.loads((tmp_path / "tok2" / "tokenizer_config.json").read_text())
    conf["languages"] = ["de", "en", "fr"]
    (tmp_path / "tok2" / "tokenizer_config.json").write_text(json.dumps(conf))
    fr = tmp_path / "para.fr"
    fr.write_text((d / "para.en").read_text())
    msg = _err(files, tmp_path, init=tmp_path / "m", tokenizer=tmp_path / "tok2", langs=["fr", "en"],
               parallel=[fr, d / "para.en"])
    assert msg == "language 'fr' is not in the --init model's languages (de, en)"
