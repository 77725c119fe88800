"""`bertkit pretrain --arch gpt2`: eos-separated blocks, the next-token loss, the GPT-2 / KoGPT2 byte-level
tokenizer layouts, and a from-scratch model that transformers' GPT2LMHeadModel reloads to identical logits."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertkit.cli.main import main
from bertkit.data.packing import CausalBlocks
from bertkit.data.token_cache import TokenCache, build_token_cache
from bertkit.errors import InputError
from bertkit.objectives.clm import CausalLMObjective, next_token_loss
from bertkit.tokenizers import Tokenizer
from bertkit.tokenizers.train import train_bytebpe
from bertkit.training.pretrain import PretrainSpec, pretrain
from tests.pretrain_fixtures import assert_resume_matches, write_corpus, write_tokenizer


@pytest.fixture(scope="module")
def gpt2_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpt2")
    corpus = write_corpus(d / "train.txt", 40)
    dev = write_corpus(d / "dev.txt", 6, seed=5)
    tok = train_bytebpe(corpus.read_text().splitlines(), 300, layout="gpt2")
    tok.save_pretrained(d / "tok")
    return d / "tok", corpus, dev


def test_gpt2_layout_tokenizer_loads_in_transformers_with_the_same_ids(gpt2_files):
    from transformers import AutoTokenizer

    tok_dir, corpus, _ = gpt2_files
    ours = Tokenizer.from_pretrained(tok_dir)
    theirs = AutoTokenizer.from_pretrained(tok_dir)
    assert ours.eos_token == ours.bos_token == "<|endoftext|>" and ours.pad_token_id is None
    for line in corpus.read_text().splitlines()[:20] + ["the cat<|endoftext|>sat", "Ünïcode ✓"]:
        assert ours.encode(line) == theirs(line)["input_ids"]  # nothing added around the text
    assert theirs.eos_token_id == ours.eos_token_id


def test_kogpt2_layout_keeps_emoticons_and_emoji_whole():
    lines = ["영화 정말 재밌어요 ㅋㅋ 😀", "배우 연기 최고 ^^", "스토리가 별로 ㅠㅠ"] * 20
    tok = train_bytebpe(lines, 700, layout="kogpt2", extra_tokens=["🎬"])
    ids = tok.encode("최고 ㅋㅋ😀🎬^^", add_special_tokens=False)
    pieces = tok.convert_ids_to_tokens(ids)
    assert {"ㅋㅋ", "😀", "🎬", "^^"} <= set(pieces)
    assert tok.decode(ids) == "최고 ㅋㅋ😀🎬^^"
    assert tok.eos_token == tok.bos_token == "</s>" and tok.pad_token == "<pad>" and tok.mask_token == "<mask>"
    one_emoji = tok.encode("😀", add_special_tokens=False)
    assert len(one_emoji) == 1  # byte-level BPE alone would give the emoji's 4 bytes
    with pytest.raises(InputError, match="unknown byte-level layout 'gpt3'"):
        train_bytebpe(lines, 700, layout="gpt3")


def test_causal_blocks_join_documents_with_eos_and_cut_exact_blocks(tmp_path):
    docs = tmp_path / "c.txt"
    docs.write_text("1 2\n3\n\n4 5 6\n\n7\n")  # three documents: [1 2 3] [4 5 6] [7]
    enc = lambda texts: [[int(w) for w in t.split()] for t in texts]
    cache = build_token_cache([docs], enc, 100, tmp_path / "cache", tokenizer_id="t", progress=False)
    assert isinstance(cache, TokenCache) and cache.num_documents == 3
    blocks = CausalBlocks(cache, eos_id=0, block=4)
    stream = [1, 2, 3, 0, 4, 5, 6, 0, 7, 0]
    assert len(blocks) == 2  # 10 tokens -> two blocks of 4, the last 2 dropped
    assert [blocks[k]["input_ids"] for k in range(2)] == [stream[0:4], stream[4:8]]
    three = CausalBlocks(cache, eos_id=0, block=3)
    assert [three[k]["input_ids"] for k in range(len(three))] == [stream[0:3], stream[3:6], stream[6:9]]
    with pytest.raises(InputError, match="fewer than one block of 64"):
        CausalBlocks(cache, eos_id=0, block=64)


def test_next_token_loss_equals_transformers_gpt2_loss():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=32, n_layer=2, n_head=2, n_positions=16)).eval()
    ids = torch.randint(0, 50, (3, 10))
    labels = ids.clone()
    labels[1, 6:] = -100  # padding is not predicted
    with torch.no_grad():
        out = hf(input_ids=ids, labels=labels)
        total, n = next_token_loss(out.logits, labels)
    assert int(n) == 3 * 9 - 4
    torch.testing.assert_close(total / n, out.loss, rtol=1e-6, atol=1e-6)
    hand = -torch.log_softmax(out.logits[0, 2], -1)[ids[0, 3]]  # one term by hand
    assert hand.item() > 0 and torch.isfinite(total)


def test_pretrain_gpt2_lowers_the_loss_and_loads_in_transformers_with_identical_logits(gpt2_files, tmp_path):
    from transformers import GPT2LMHeadModel

    tok_dir, corpus, dev = gpt2_files
    out = tmp_path / "run"
    rc = main(["pretrain", "--arch", "gpt2", "--tokenizer", str(tok_dir), "--corpus", str(corpus),
               "--eval-corpus", str(dev), "--steps", "40", "--batch-size", "8", "--lr", "3e-3", "--warmup", "4",
               "--max-length", "32", "--eval-every", "40", "--eval-at-start", "--log-every", "5",
               "--precision", "fp32", "--out", str(out), "--no-progress"])
    assert rc == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in log if "eval_loss" in r]
    assert evals[-1] < 0.6 * evals[0], evals  # the grammar of the toy corpus is learnable
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "gpt2" and cfg["n_positions"] == 32 and cfg["architectures"] == ["GPT2LMHeadModel"]
    from bertkit import from_pretrained

    ours = from_pretrained(out).eval()
    hf = GPT2LMHeadModel.from_pretrained(out).eval()
    ids = torch.tensor([Tokenizer.from_pretrained(out).encode("the big cats sat on the")])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, hf(input_ids=ids).logits, rtol=1e-5, atol=1e-5)
        a = ours.generate(ids, max_new_tokens=6)
        b = hf.generate(ids, max_new_tokens=6, do_sample=False, pad_token_id=hf.config.eos_token_id)
    assert a.tolist() == b.tolist()


def test_gpt2_resume_continues_from_the_checkpoint(gpt2_files, tmp_path):

    tok_dir, corpus, _ = gpt2_files
    base = dict(arch="gpt2", tokenizer=tok_dir, corpus=[corpus], batch_size=4, lr=1e-3, max_length=16, steps=6,
                save_every=3, precision="fp32", log_every=1, progress=False)
    assert_resume_matches(tmp_path, **base)


def test_gpt2_bad_input_is_one_clear_error(gpt2_files, tmp_path):
    tok_dir, corpus, _ = gpt2_files
    spec = lambda **kw: PretrainSpec(**{**dict(arch="gpt2", tokenizer=tok_dir, corpus=[corpus],
                                                out=tmp_path / "x", steps=1, progress=False), **kw})
    with pytest.raises(InputError, match="--arch gpt2 trains with --objective clm only"):
        pretrain(spec(objective="mlm"))
    with pytest.raises(InputError, match="needs a decoder: --arch gpt2; bert is an encoder"):
        pretrain(spec(arch="bert", objective="clm"))
    with pytest.raises(InputError, match="--masking wwm is a masked-LM setting"):
        pretrain(spec(masking="wwm"))
    with pytest.raises(InputError, match="--packing causal is for decoders"):
        pretrain(spec(arch="roberta", packing="causal"))
    wordpiece = write_tokenizer(tmp_path / "wp")  # BERT specials: no eos
    with pytest.raises(InputError, match="has no eos token"):
        pretrain(spec(tokenizer=wordpiece))
    assert not (tmp_path / "x").exists()  # refused before any work


def test_block_loss_is_what_the_objective_trains(gpt2_files):
    """The objective on a collated batch of blocks equals the mean next-token loss over all block positions."""
    from bertkit.data.collate import CausalCollator
    from bertkit.models.family import get_family
    from bertkit.training.pretrain import _gpt2_config

    tok_dir, corpus, _ = gpt2_files
    tok = Tokenizer.from_pretrained(tok_dir)
    cfg = _gpt2_config(PretrainSpec(arch="gpt2", tokenizer=tok_dir, corpus=[corpus], out="-", max_length=16),
                       {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}, tok)
    model = get_family("gpt2").build(cfg, "lm").eval()
    batch = CausalCollator(tok.eos_token_id)([{"input_ids": list(range(5, 21))}, {"input_ids": list(range(7, 19))}])
    assert batch["num_items"] == 15 + 11 and batch["labels"][1, 12:].eq(-100).all()
    loss = CausalLMObjective()(model, dict(batch))["loss"]
    logits = model(batch["input_ids"], batch["attention_mask"]).logits
    terms = [-torch.log_softmax(logits[b, t], -1)[batch["input_ids"][b, t + 1]]
             for b, n in ((0, 16), (1, 12)) for t in range(n - 1)]
    torch.testing.assert_close(loss, torch.stack(terms).mean(), rtol=1e-5, atol=1e-6)
    assert np.isfinite(loss.item())
