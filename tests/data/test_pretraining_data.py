from __future__ import annotations

import numpy as np
import torch

from bertkit.data import (PretrainCollator, Specials, StaticMasked, build_token_cache, doc_sentences, full_sentences,
                          nsp_pairs, sop_pairs)
from bertkit.data.packing import _truncate_pair
from bertkit.objectives.masking import IGNORE, Vocab
from bertkit.tokenizers import Tokenizer
from tests.pretrain_fixtures import write_corpus, write_tokenizer

SPECIALS = Specials((2,), (3,), (3,))


def _cache(tmp_path, docs=30):
    tok = Tokenizer.from_pretrained(write_tokenizer(tmp_path / "tok"))
    corpus = write_corpus(tmp_path / "c.txt", docs)
    enc = lambda t: tok(t, add_special_tokens=False, padding=False, truncation=False)["input_ids"]  # noqa: E731
    return tok, corpus, enc, build_token_cache([corpus], enc, tok.vocab_size, tmp_path / "cache", progress=False)


def test_token_cache_round_trip_and_reuse(tmp_path):
    tok, corpus, enc, cache = _cache(tmp_path)
    docs = corpus.read_text().strip().split("\n\n")
    assert cache.num_documents == len(docs) == 30
    first = docs[0].splitlines()
    assert len(cache.document_sentences(0)) == len(first)
    assert cache.sentence(0).tolist() == tok.encode(first[0], add_special_tokens=False)
    assert cache.tokens.dtype == np.uint16 and isinstance(cache.tokens, np.memmap)
    mtime = (tmp_path / "cache" / "tokens.bin").stat().st_mtime_ns
    build_token_cache([corpus], enc, tok.vocab_size, tmp_path / "cache", progress=False)
    assert (tmp_path / "cache" / "tokens.bin").stat().st_mtime_ns == mtime     # unchanged source: reused
    write_corpus(corpus, 31, seed=1)
    again = build_token_cache([corpus], enc, tok.vocab_size, tmp_path / "cache", progress=False)
    assert again.num_documents == 31                                            # changed source: rebuilt


def test_full_and_doc_sentence_packing(tmp_path):
    _, _, _, cache = _cache(tmp_path)
    full = full_sentences(cache, SPECIALS, 40)
    flat = []
    for i in range(len(full)):
        ids = full[i]["input_ids"]
        assert ids[0] == 2 and ids[-1] == 3 and len(ids) <= 40
        flat += ids[1:-1]
    assert flat == cache.tokens.tolist()                   # every token once, in order, crossing documents
    sent_ends = set(cache.sent.tolist())
    cuts = np.cumsum([len(full[i]["input_ids"]) - 2 for i in range(len(full))])
    assert all(c in sent_ends for c in cuts)               # examples end at sentence ends
    doc = doc_sentences(cache, SPECIALS, 40)
    doc_ends = {int(cache.sent[int(d)]) for d in cache.docs}
    pos = 0
    for i in range(len(doc)):
        n = len(doc[i]["input_ids"]) - 2
        nxt = min(e for e in doc_ends if e > pos)
        assert pos + n <= nxt                               # never crosses a document end
        pos += n
    assert len(doc) > len(full)


def test_nsp_and_sop_pairs(tmp_path):
    _, _, _, cache = _cache(tmp_path, docs=200)
    nsp = nsp_pairs(cache, SPECIALS, 64, seed=0)
    labels = [nsp[i]["next_sentence_label"] for i in range(len(nsp))]
    assert 0.35 < sum(labels) / len(labels) < 0.65
    ex = nsp[0]
    sep = ex["input_ids"].index(3)
    assert ex["input_ids"][0] == 2 and ex["input_ids"][-1] == 3 and len(ex["input_ids"]) <= 64
    assert ex["token_type_ids"] == [0] * (sep + 1) + [1] * (len(ex["input_ids"]) - sep - 1)
    sop = sop_pairs(cache, SPECIALS, 64, seed=0)
    swapped = [sop[i]["sentence_order_label"] for i in range(len(sop))]
    assert 0.35 < sum(swapped) / len(swapped) < 0.65
    for i in range(20):                                     # a swapped pair is the unswapped one reversed
        kind, a0, a1, b0, b1, *_ = sop.recipes[i]
        a, b = cache.span(a0, a1).tolist(), cache.span(b0, b1).tolist()
        first, second = (b, a) if swapped[i] else (a, b)
        expect = SPECIALS.pair(*_truncate_pair(first, second, 64 - 3))
        assert sop[i]["input_ids"] == expect["input_ids"]


def test_collator_dynamic_vs_static_masking():
    vocab = Vocab(4, 83, (0, 1, 2, 3, 4))
    data = [{"input_ids": [2] + list(range(5, 5 + n)) + [3], "token_type_ids": [0] * (n + 2)} for n in (20, 30)]
    coll = PretrainCollator(vocab, 0, "token")
    b1, b2 = coll(data, torch.Generator().manual_seed(1)), coll(data, torch.Generator().manual_seed(2))
    assert b1["input_ids"].shape == (2, 32) and b1["attention_mask"][0].sum() == 22
    assert b1["num_items"] == int((b1["labels"] != IGNORE).sum()) > 0
    assert (b1["labels"][0, 22:] == IGNORE).all() and (b1["input_ids"][0, 22:] == 0).all()
    assert not torch.equal(b1["labels"], b2["labels"])                 # dynamic: a new mask each time
    static = StaticMasked(data, vocab, copies=3)
    assert len(static) == 6
    assert static[0]["labels"] == static[0]["labels"] and static[0]["labels"] != static[1]["labels"]
    plain = PretrainCollator(vocab, 0, None)
    s1, s2 = plain([static[0], static[3]], torch.Generator().manual_seed(1)), plain([static[0], static[3]],
                                                                                     torch.Generator().manual_seed(2))
    assert torch.equal(s1["labels"], s2["labels"])                     # static: same mask whatever the batch
