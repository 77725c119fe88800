"""XLM batches: TLM pair construction (positions restart, languages per side, masks in both halves, padding),
CLM labels, and the objectives against transformers' XLMWithLMHeadModel."""
from __future__ import annotations

import torch

from bertkit.data.xlm import XLMCollator, pad_xlm
from bertkit.objectives.masking import IGNORE, MaskingConfig, Vocab
from bertkit.objectives.tlm import stream_example, tlm_example

CLS, SEP, PAD, MASK = 2, 3, 0, 4
VOCAB = Vocab(MASK, 40, (0, 1, 2, 3, 4))


def test_tlm_example_restarts_positions_and_tags_each_side():
    ex = tlm_example([10, 11, 12], [20, 21], 0, 1, [CLS], [SEP], max_length=16)
    assert ex["input_ids"] == [CLS, 10, 11, 12, SEP, CLS, 20, 21, SEP]
    assert ex["langs"] == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert ex["position_ids"] == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    cut = tlm_example(list(range(10, 20)), list(range(20, 30)), 1, 0, [CLS], [SEP], max_length=9)
    assert cut["input_ids"] == [CLS, 10, 11, 12, SEP, CLS, 20, 21, SEP]  # 5 + 4 positions: the source gets the odd one
    assert cut["langs"] == [1] * 5 + [0] * 4 and cut["position_ids"] == [0, 1, 2, 3, 4, 0, 1, 2, 3]


def test_padding_of_a_tlm_and_a_stream_example_against_hand_built_tensors():
    batch = pad_xlm([tlm_example([10, 11], [20], 0, 1, [CLS], [SEP], 16), stream_example([CLS, 30, SEP], 1)], PAD)
    torch.testing.assert_close(batch["input_ids"], torch.tensor([[CLS, 10, 11, SEP, CLS, 20, SEP],
                                                                [CLS, 30, SEP, PAD, PAD, PAD, PAD]]))
    torch.testing.assert_close(batch["langs"], torch.tensor([[0, 0, 0, 0, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0]]))
    torch.testing.assert_close(batch["position_ids"], torch.tensor([[0, 1, 2, 3, 0, 1, 2], [0, 1, 2, 0, 0, 0, 0]]))
    torch.testing.assert_close(batch["attention_mask"], torch.tensor([[1] * 7, [1, 1, 1, 0, 0, 0, 0]]))


def test_tlm_masking_covers_both_halves_and_never_specials_or_padding():
    src, tgt = list(range(10, 30)), list(range(30, 40))
    examples = [tlm_example(src, tgt, 0, 1, [CLS], [SEP], 64), stream_example([CLS, 11, 12, SEP], 0)]
    batch = XLMCollator(VOCAB, PAD, MaskingConfig(prob=0.3))(examples, torch.Generator().manual_seed(0))
    orig = pad_xlm(examples, PAD)
    labels = batch["labels"]
    masked = labels != IGNORE
    assert batch["num_items"] == int(masked.sum())
    torch.testing.assert_close(labels[masked], orig["input_ids"][masked])  # labels are the original ids
    first = orig["langs"][0] == 0
    assert masked[0][first].any() and masked[0][~first].any()  # masks in both halves
    specials = torch.isin(orig["input_ids"], torch.tensor(VOCAB.special_ids))
    assert not masked[specials].any()  # [CLS], [SEP] and padding are never predicted
    changed = batch["input_ids"] != orig["input_ids"]
    assert not changed[~masked].any()
    torch.testing.assert_close(batch["position_ids"], orig["position_ids"])
    torch.testing.assert_close(batch["langs"], orig["langs"])


def test_clm_labels_are_the_ids_with_padding_ignored():
    batch = XLMCollator(None, PAD, causal=True)([stream_example([CLS, 5, 6, 7], 1), stream_example([CLS, 8], 0)],
                                                torch.Generator())
    torch.testing.assert_close(batch["labels"], torch.tensor([[CLS, 5, 6, 7], [CLS, 8, IGNORE, IGNORE]]))
    torch.testing.assert_close(batch["input_ids"], torch.tensor([[CLS, 5, 6, 7], [CLS, 8, PAD, PAD]]))
    assert batch["num_items"] == 3 + 1  # next tokens predicted: 5 6 7, and 8


def _hf_xlm(causal: bool):
    import transformers as T

    torch.manual_seed(0)
    cfg = T.XLMConfig(vocab_size=40, emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=32, n_langs=2,
                      causal=causal, pad_index=PAD, pad_token_id=PAD, dropout=0.0, attention_dropout=0.0)
    return T.XLMWithLMHeadModel(cfg).eval()


def test_tlm_objective_equals_transformers_loss_with_reset_positions(tmp_path):
    from bertkit.hub import from_pretrained
    from bertkit.objectives.tlm import XLMMaskedLMObjective

    ref = _hf_xlm(False)
    ref.save_pretrained(tmp_path / "m")
    ours = from_pretrained(tmp_path / "m", task="mlm").eval()
    ex = [tlm_example(list(range(10, 18)), list(range(20, 25)), 0, 1, [CLS], [SEP], 32),
          tlm_example([11, 12], [21], 1, 0, [CLS], [SEP], 32)]
    batch = XLMCollator(VOCAB, PAD, MaskingConfig(prob=0.4))(ex, torch.Generator().manual_seed(3))
    with torch.no_grad():
        loss = XLMMaskedLMObjective()(ours, batch)["loss"]
        logits = ref(batch["input_ids"], attention_mask=batch["attention_mask"], langs=batch["langs"],
                     position_ids=batch["position_ids"]).logits
    hand = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
    torch.testing.assert_close(loss, hand, atol=1e-5, rtol=1e-5)


def test_clm_objective_equals_the_shifted_loss_of_the_causal_transformers_model(tmp_path):
    from bertkit.hub import from_pretrained
    from bertkit.objectives.xlm_clm import XLMCausalLMObjective

    ref = _hf_xlm(True)
    ref.save_pretrained(tmp_path / "c")
    ours = from_pretrained(tmp_path / "c", task="mlm").eval()
    batch = XLMCollator(None, PAD, causal=True)([stream_example([CLS, 5, 9, 7, 12], 1),
                                                 stream_example([CLS, 8, 6], 0)], torch.Generator())
    with torch.no_grad():
        loss = XLMCausalLMObjective()(ours, batch)["loss"]
        logits = ref(batch["input_ids"], attention_mask=batch["attention_mask"], langs=batch["langs"]).logits
    gold = torch.tensor([[5, 9, 7, 12], [8, 6, IGNORE, IGNORE]])
    hand = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), gold.flatten(), ignore_index=IGNORE)
    torch.testing.assert_close(loss, hand, atol=1e-5, rtol=1e-5)
