"""VideoBERT: id layout, batches, the three objectives, learning on a synthetic corpus, checkpoints, errors."""
from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F

from bertkit.cli.main import main
from bertkit.data.video_text import (
    VideoBertCollator,
    check_examples,
    encode_examples,
    pad_rows,
    read_token_jsonl,
)
from bertkit.errors import InputError
from bertkit.models.videobert import (
    LAYOUT_FILE,
    VideoLayout,
    build_videobert,
    encode_pair,
    load_videobert,
    save_videobert,
    videobert_from_bert,
)
from bertkit.objectives.masking import IGNORE
from bertkit.objectives.videobert import VideoBertObjective, parse_weights
from bertkit.tasks.videobert import classify_captions, next_visual_tokens, retrieve_videos, video_cloze
from bertkit.tokenizers import Tokenizer
from bertkit.training.videobert import pretrain_videobert
from tests.pretrain_fixtures import VOCAB, write_tokenizer

V = 32                     # 8 clusters of 4 visual words
WORDS = ["cat", "dog", "bird", "tree", "house", "car", "road", "mat"]
TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64, "dropout": 0.0,
        "attention_dropout": 0.0}


def corpus(n: int, seed: int) -> list[dict]:
    """Caption word i always comes with visual words of cluster i (4i .. 4i+3)."""
    r = random.Random(seed)
    return [{"video": f"s{seed}/v{j}.mp4", "caption": f"the {WORDS[j % 8]}",
             "visual_tokens": [4 * (j % 8) + r.randrange(4) for _ in range(6)]} for j in range(n)]


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    return write_tokenizer(tmp_path_factory.mktemp("vbtok") / "tok")


@pytest.fixture(scope="module")
def tok(tok_dir):
    return Tokenizer.from_pretrained(tok_dir)


@pytest.fixture(scope="module")
def layout(tok):
    return VideoLayout.from_tokenizer(tok, V)


@pytest.fixture
def one_thread():
    """Tiny models train ~30x faster on one thread when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_id_layout_and_separator_placement(tok, layout):
    n = len(VOCAB)
    assert (layout.text_vocab_size, layout.video_sep_id, layout.visual_offset, layout.vocab_size) == \
        (n, n, n + 1, n + 1 + V)
    cat, the = VOCAB.index("cat"), VOCAB.index("the")
    ids, seg = encode_pair([the, cat], [0, 31, 5], layout)
    assert ids == [2, the, cat, n, n + 1, n + 32, n + 6, 3]      # [CLS] the cat [>] v0 v31 v5 [SEP]
    assert seg == [0, 0, 0, 0, 1, 1, 1, 1]
    data = encode_examples([{"video": "a", "caption": "the cat", "visual_tokens": [0, 31, 5]},
                            {"video": "b", "caption": "the big dog", "visual_tokens": [7]}], tok)
    col = VideoBertCollator(data, layout, tuple(tok.all_special_ids), negative_rate=0.0)
    b = col(data, torch.Generator().manual_seed(0))
    assert b["align_input_ids"].tolist() == [ids, [2, the, VOCAB.index("big"), VOCAB.index("dog"), n, n + 8, 3, 0]]
    assert b["align_token_type_ids"].tolist() == [seg, [0, 0, 0, 0, 0, 1, 1, 0]]
    assert b["align_attention_mask"].tolist() == [[1] * 8, [1] * 7 + [0]]
    assert b["align_label"].tolist() == [0, 0]
    # over max_length the longer part is cut
    assert encode_pair([the, cat], list(range(10)), layout, max_length=8)[0] == [2, the, cat, n, n + 1, n + 2, n + 3, 3]


def test_video_cloze_targets_only_visual_ids_and_text_cloze_only_text(tok, layout, one_thread):
    data = encode_examples(corpus(64, 0), tok)
    col = VideoBertCollator(data, layout, tuple(tok.all_special_ids), text_prob=0.3, video_prob=0.3)
    b = col(data, torch.Generator().manual_seed(1))
    orig = pad_rows([encode_pair(e.text_ids, e.visual, layout) for e in data], 0)["input_ids"]  # unmasked
    vl, tl, x = b["video_labels"], b["text_labels"], b["input_ids"]
    vpos, tpos = vl != IGNORE, tl != IGNORE
    assert vpos.sum() > 50 and tpos.sum() > 10 and not (vpos & tpos).any()
    assert ((vl[vpos] >= layout.visual_offset) & (vl[vpos] < layout.vocab_size)).all()
    assert ((tl[tpos] >= 5) & (tl[tpos] < layout.text_vocab_size)).all()     # never [CLS]/[SEP]/[>]/padding
    assert torch.equal(vl[vpos], orig[vpos]) and torch.equal(tl[tpos], orig[tpos])  # labels: the original ids
    # a masked visual position holds [MASK], itself, or another visual word: never a text id
    v_in = x[vpos]
    assert ((v_in == layout.mask_id) | (v_in >= layout.visual_offset)).all()
    assert (v_in >= layout.visual_offset).any() and (v_in == layout.mask_id).any()
    t_in = x[tpos]
    assert (t_in < layout.text_vocab_size).all()
    # the objective predicts visual targets among the V visual ids only: its loss is that restricted softmax
    torch.manual_seed(0)
    model = build_videobert(layout, TINY, max_positions=32).eval()
    parts = VideoBertObjective(layout)(model, b)
    pos = vpos | tpos
    logits = model(x, b["attention_mask"], b["token_type_ids"], masked_positions=pos).prediction_logits
    is_v = vl[pos] != IGNORE
    want_v = F.cross_entropy(logits[is_v][:, layout.visual_offset:], vl[pos][is_v] - layout.visual_offset)
    is_t = tl[pos] != IGNORE
    want_t = F.cross_entropy(logits[is_t][:, :layout.text_vocab_size], tl[pos][is_t])
    torch.testing.assert_close(parts["video_cloze_loss"], want_v)
    torch.testing.assert_close(parts["text_cloze_loss"], want_t)
    assert not torch.allclose(want_v, F.cross_entropy(logits[is_v], vl[pos][is_v]))  # the restriction matters


def test_alignment_negatives_are_mismatched(tok, layout):
    exs = corpus(40, 3)
    data = encode_examples(exs, tok)
    col = VideoBertCollator(data, layout, tuple(tok.all_special_ids))
    by_tokens = {tuple(e["visual_tokens"]): e for e in exs}
    labels = []
    for k in range(10):
        b = col(data, torch.Generator().manual_seed(k))
        for row, seg, lab, e in zip(b["align_input_ids"], b["align_token_type_ids"], b["align_label"], exs):
            vis = tuple((row[(seg == 1)][:-1] - layout.visual_offset).tolist())
            labels.append(int(lab))
            if lab == 0:
                assert vis == tuple(e["visual_tokens"])
            else:
                other = by_tokens[vis]
                assert other["video"] != e["video"] and other["caption"] != e["caption"]
    assert 0.4 < sum(labels) / len(labels) < 0.6


def test_loss_is_the_weighted_sum_of_its_parts(tok, layout):
    data = encode_examples(corpus(16, 0), tok)
    b = VideoBertCollator(data, layout, tuple(tok.all_special_ids))(data, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = build_videobert(layout, TINY, max_positions=32).eval()
    parts = VideoBertObjective(layout)(model, b)
    w = VideoBertObjective(layout, (0.5, 2.0, 3.0))(model, b)
    want = 0.5 * parts["text_cloze_loss"] + 2.0 * parts["video_cloze_loss"] + 3.0 * parts["align_loss"]
    torch.testing.assert_close(w["loss"], want)
    align = F.cross_entropy(model(b["align_input_ids"], b["align_attention_mask"],
                                  b["align_token_type_ids"]).seq_relationship_logits, b["align_label"])
    torch.testing.assert_close(parts["align_loss"], align)
    assert {"text_cloze_loss", "video_cloze_loss", "align_loss"} <= set(w)
    assert parse_weights("1,0,2.5") == (1.0, 0.0, 2.5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tok_dir):
    """A tiny VideoBERT trained 800 steps on the synthetic corpus (about 10 s on one thread). Trained to
    convergence on purpose: 400 steps at lr 1e-2 stopped mid-way, where the figures below depended on the CPU's
    kernels (AVX2 EPYC passed, an AMX Xeon reached 5 of 16 zero-shot and 4 of 8 next-token hits)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("vbrun")
    try:
        metrics = pretrain_videobert(corpus(128, 0), out=out, visual_vocab=V, tokenizer=tok_dir, size=TINY,
                                     steps=800, batch_size=16, lr=3e-3, warmup=20, max_length=16, log_every=50,
                                     progress=False, precision="fp32", seed=0)
    finally:
        torch.set_num_threads(n)
    model, layout = load_videobert(out)
    return out, metrics, model, layout, Tokenizer.from_pretrained(out)


def test_training_learns_alignment_and_retrieval(trained):
    out, _, model, layout, tok = trained
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert {"text_cloze_loss", "video_cloze_loss", "align_loss"} <= set(log[-1])
    assert log[-1]["video_cloze_loss"] < log[0]["video_cloze_loss"]
    test = corpus(16, 1)                                   # held-out videos
    caps, vids = [e["caption"] for e in test], [e["visual_tokens"] for e in test]
    from bertkit.tasks.videobert import alignment_scores
    pos = alignment_scores(model, layout, tok, caps, vids)
    neg = alignment_scores(model, layout, tok, caps, vids[3:] + vids[:3])  # shifted by 3: always another cluster
    acc = ((pos > 0.5).float().mean() + (neg < 0.5).float().mean()) / 2
    assert acc >= 0.75, acc                                 # chance 0.5
    r = retrieve_videos(model, layout, tok, caps[:8], vids[:8])
    assert r["chance@1"] == 1 / 8 and r["recall@1"] >= 0.375, r["ranks"]  # 3x chance
    assert r["recall@5"] >= r["recall@1"]


def test_zero_shot_classification_and_next_visual_token(trained):
    _, _, model, layout, tok = trained
    test = corpus(128, 2)
    pred, scores = classify_captions(model, layout, tok, [e["visual_tokens"] for e in test],
                                     [f"the {w}" for w in WORDS])
    assert scores.shape == (128, 8)
    acc = sum(p == j % 8 for j, p in enumerate(pred)) / 128
    assert acc >= 0.375, pred                              # chance 1/8
    hits = 0
    for i, w in enumerate(WORDS):
        top, probs = next_visual_tokens(model, layout, tok, f"the {w}", [4 * i, 4 * i + 1], k=3)
        assert len(top) == 3 and all(0 <= t < V for t in top) and probs == sorted(probs, reverse=True)
        hits += all(t // 4 == i for t in top)
    assert hits >= 6, hits                                 # top-3 inside the caption's cluster


def test_video_cloze_masks_each_clip_and_matches_a_single_row(trained):
    _, _, model, layout, tok = trained
    test = corpus(16, 3)
    caps, vids = [e["caption"] for e in test], [e["visual_tokens"] for e in test]
    r = video_cloze(model, layout, tok, caps, vids, k=3, batch_size=5)   # batches that cut across videos
    assert r["predictions"] == 16 * 6 and r["truth"].tolist() == [w for v in vids for w in v]
    # words are random inside the caption's cluster of 4: a model that learnt the clusters reaches ~3/4
    assert r["top3"] >= 0.5 and r["top1"] <= r["top3"], r        # chance 3/32
    # row (video 2, clip 4) by hand: [CLS] the w [>] v0..v3 [MASK] v5 [SEP]
    ids, seg = encode_pair(tok([caps[2]], add_special_tokens=False)["input_ids"][0], vids[2], layout)
    at = ids.index(layout.video_sep_id) + 1 + 4
    ids[at] = layout.mask_id
    with torch.no_grad():
        logits = model(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long), torch.tensor([seg])
                       ).prediction_logits[0, at, layout.visual_offset:]
    assert r["topk"][2 * 6 + 4].tolist() == logits.topk(3).indices.tolist()
    with pytest.raises(InputError, match="3 captions but 2 videos"):
        video_cloze(model, layout, tok, caps[:3], vids[:2])


def test_save_load_round_trip_and_transformers_parity(tmp_path, tok, layout):
    import transformers

    torch.manual_seed(0)
    model = build_videobert(layout, TINY, max_positions=32).eval()
    save_videobert(model, layout, tmp_path, tokenizer=tok)
    saved = json.loads((tmp_path / LAYOUT_FILE).read_text())
    assert saved["video_sep_id"] == len(VOCAB) and saved["visual_offset"] == len(VOCAB) + 1
    assert saved["visual_vocab_size"] == V and saved["text_vocab_size"] == len(VOCAB)
    back, lay2 = load_videobert(tmp_path)
    assert lay2 == layout
    ids, seg = encode_pair([5, 6, 7], [1, 2, 30, 4], layout)
    x, s = torch.tensor([ids]), torch.tensor([seg])
    ours = model(x, torch.ones_like(x), s)
    again = back(x, torch.ones_like(x), s)
    torch.testing.assert_close(again.prediction_logits, ours.prediction_logits)
    hf = transformers.BertForPreTraining.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        ref = hf(input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=s)
    assert ref.prediction_logits.shape[-1] == layout.vocab_size
    torch.testing.assert_close(ref.prediction_logits, ours.prediction_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ref.seq_relationship_logits, ours.seq_relationship_logits, atol=1e-5, rtol=1e-5)


def test_init_from_bert_copies_text_rows(minilm_path):
    from bertkit.hub import from_pretrained

    src = from_pretrained(minilm_path)
    model, layout, _ = videobert_from_bert(minilm_path, 10, seed=0)
    n = src.config.vocab_size
    assert layout.text_vocab_size == n and model.config.vocab_size == n + 11
    word = model.backbone.embeddings.word.weight
    torch.testing.assert_close(word[:n], src.backbone.embeddings.word.weight)
    assert word[n:].std() > 0.005                          # fresh rows, not zeros or copies
    torch.testing.assert_close(model.backbone.encoder.blocks[3].attn.q.weight, src.backbone.encoder.blocks[3].attn.q.weight)


def test_bad_tokens_file_errors(tmp_path):
    f = tmp_path / "t.jsonl"
    good = '{"video": "a.mp4", "caption": "the cat", "visual_tokens": [1, 2]}'
    cases = [
        ('{"video": "b.mp4", "caption": "x", "visual_tokens": [3, 32]}',
         f"{f} line 2: visual token 32 is outside the visual vocabulary [0, 32)"),
        ('{"video": "b.mp4", "caption": "x", "visual_tokens": [-1]}',
         f"{f} line 2: visual token -1 is outside the visual vocabulary [0, 32)"),
        ('{"video": "b.mp4", "visual_tokens": [1]}',
         f"{f} line 2: no caption (each line needs video, caption and visual_tokens)"),
        ('{"video": "b.mp4", "caption": "x"}',
         f"{f} line 2: no visual_tokens (each line needs video, caption and visual_tokens)"),
    ]
    for line, msg in cases:
        f.write_text(good + "\n" + line + "\n")
        with pytest.raises(InputError) as e:
            read_token_jsonl(f, V)
        assert str(e.value) == msg
    with pytest.raises(InputError, match=r"^training data example 1: visual token 40 is outside"):
        check_examples([{"caption": "a", "visual_tokens": [40]}], V, "training data")
    with pytest.raises(InputError, match="--weights takes three"):
        parse_weights("1,2")


def test_cli_pretrain_videobert(tmp_path, tok_dir, capsys, one_thread):
    f = tmp_path / "tokens.jsonl"
    f.write_text("".join(json.dumps(e) + "\n" for e in corpus(16, 0)))
    out = tmp_path / "run"
    base = ["pretrain", "--arch", "videobert", "--tokens", str(f), "--tokenizer", str(tok_dir), "--steps", "2",
            "--batch-size", "4", "--max-length", "16", "--log-every", "1", "--no-progress", "--out", str(out),
            "--weights", "1,1,2", "--eval-tokens", str(f), "--eval-every", "2"]
    assert main([*base, "--visual-vocab", "32"]) == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    r = log[0]
    assert r["loss"] == pytest.approx(r["text_cloze_loss"] + r["video_cloze_loss"] + 2 * r["align_loss"], rel=1e-5)
    assert any("eval_align_loss" in x for x in log)
    model, layout = load_videobert(out)
    assert layout.visual_vocab_size == 32 and model.config.vocab_size == len(VOCAB) + 33
    capsys.readouterr()
    assert main([*base, "--visual-vocab", "20"]) == 2
    assert capsys.readouterr().err.strip() == \
        f"bertkit: error: {f} line 6: visual token 20 is outside the visual vocabulary [0, 20)"
    assert main(["pretrain", "--arch", "bert", "--tokenizer", str(tok_dir), "--tokens", str(f), "--steps", "1",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--tokens belong to --arch videobert" in capsys.readouterr().err


def test_rank_metrics_break_ties_at_random_in_expectation():
    from bertkit.tasks.videobert import rank_metrics

    # a scorer that sees no video gives every video the same score: chance, not a perfect recall
    flat = rank_metrics(torch.full((10, 10), 0.5))
    assert flat["recall@1"] == pytest.approx(0.1) and flat["recall@5"] == pytest.approx(0.5)
    assert flat["ranks"] == [5.5] * 10
    s = torch.tensor([[0.9, 0.1, 0.2],     # true video first
                      [0.7, 0.7, 0.7],     # tied with both others: rank 2, recall@1 1/3
                      [0.8, 0.9, 0.5]])    # two better: rank 3
    m = rank_metrics(s, ks=(1, 2))
    assert m["ranks"] == [1.0, 2.0, 3.0]
    assert m["recall@1"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert m["recall@2"] == pytest.approx((1 + 2 / 3 + 0) / 3)
