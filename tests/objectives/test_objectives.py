from __future__ import annotations

import torch
import torch.nn.functional as F

from bertkit.data.collate import PretrainCollator
from bertkit.models import Model
from bertkit.objectives import (ElectraObjective, MLMObjective, SentencePairObjective, SpanBertObjective, Vocab,
                                build_electra_pair)
from tests.objectives.test_masking import TOKENS
from bertkit.objectives.masking import continuation_table
from tests.training.tiny_run import tiny_config

V = 99
VOCAB = Vocab(4, V, (0, 1, 2, 3, 4), continuation_table(TOKENS[:V], "wordpiece"))


def _examples(n=4, length=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"input_ids": [2] + torch.randint(5, V, (length,), generator=g).tolist() + [3],
             "token_type_ids": [0] * (length + 2), "next_sentence_label": i % 2} for i in range(n)]


def test_mlm_loss_only_at_masked_positions_equals_full_vocab_cross_entropy():
    torch.manual_seed(0)
    model = Model(tiny_config(), "mlm").eval()
    batch = PretrainCollator(VOCAB, 0, "token")(_examples(), torch.Generator().manual_seed(1))
    loss = MLMObjective()(model, batch)["loss"]
    full = model(batch["input_ids"], batch.get("attention_mask")).logits        # (B, T, V): head everywhere
    ref = F.cross_entropy(full.reshape(-1, V), batch["labels"].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(loss, ref)


def test_nsp_objective_adds_the_pair_cross_entropy():
    torch.manual_seed(0)
    model = Model(tiny_config(), "pretraining").eval()
    batch = PretrainCollator(VOCAB, 0, "token")(_examples(), torch.Generator().manual_seed(1))
    out = SentencePairObjective("nsp")(model, batch)
    logits = model(batch["input_ids"], batch.get("attention_mask")).seq_relationship_logits
    torch.testing.assert_close(out["nsp_loss"], F.cross_entropy(logits, batch["next_sentence_label"]))
    torch.testing.assert_close(out["loss"], out["mlm_loss"] + out["nsp_loss"])


def test_span_boundary_objective_uses_boundaries_and_relative_positions():
    torch.manual_seed(0)
    model = Model(tiny_config(), "mlm").eval()
    batch = PretrainCollator(VOCAB, 0, "span")(_examples(length=60), torch.Generator().manual_seed(2))
    obj = SpanBertObjective(32, V).eval()
    out = obj(model, batch)
    h = model(batch["input_ids"], batch.get("attention_mask")).last_hidden_state
    rows, pos = batch["sbo_row"], batch["sbo_pos"]
    assert (batch["labels"][rows, pos] != -100).all() and len(rows) == int((batch["labels"] != -100).sum())
    # boundaries are the tokens just outside each span, and rel counts from 0 at the span start
    assert (batch["labels"][rows, batch["sbo_left"]] == -100).all()
    assert (pos - batch["sbo_rel"] - 1 == batch["sbo_left"]).all()
    x = torch.cat([h[rows, batch["sbo_left"]], h[rows, batch["sbo_right"]], obj.head.position(batch["sbo_rel"])], -1)
    logits = obj.head.mlp(x) @ model.input_embeddings().weight.T + obj.head.bias
    torch.testing.assert_close(out["sbo_loss"], F.cross_entropy(logits, batch["labels"][rows, pos]))
    assert isinstance(obj.head.mlp[1], torch.nn.GELU) and isinstance(obj.head.mlp[2], torch.nn.LayerNorm)


def test_electra_pair_shares_embeddings_and_weights_the_discriminator_by_50():
    disc, gen = build_electra_pair(tiny_config(hidden_size=64, num_heads=4, intermediate_size=128,
                                               embedding_size=32))
    assert gen.config.hidden_size == 16 and gen.config.intermediate_size == 32
    assert gen.backbone.embeddings.word.weight is disc.backbone.embeddings.word.weight
    obj = ElectraObjective(gen)
    batch = PretrainCollator(VOCAB, 0, "token")(_examples(), torch.Generator().manual_seed(3))
    torch.manual_seed(5)
    out = obj(disc, batch)
    torch.testing.assert_close(out["loss"], out["gen_loss"] + 50 * out["disc_loss"])
    out["loss"].backward()
    assert gen.heads["mlm"].dense.weight.grad.abs().sum() > 0          # generator learns from its MLM loss
    assert disc.heads["rtd"].out.weight.grad.abs().sum() > 0
    names = {n for n, _ in torch.nn.ModuleDict({"d": disc, "o": obj}).named_parameters()}
    assert "o.generator.backbone.embeddings.word.weight" not in names   # one shared tensor, counted once
