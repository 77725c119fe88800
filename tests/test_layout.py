"""nn/layout.decode_layout: the same model with decoding-friendly strides (and one q/k/v product), never other values."""
from __future__ import annotations

import torch

import bertkit
from bertkit.nn.layout import decode_layout
from tests.hf_tiny import V, make


def _pair(tmp_path):
    ref = make("GPT2LMHeadModel", tmp_path)
    return ref, bertkit.from_pretrained(tmp_path).eval(), bertkit.from_pretrained(tmp_path).eval()


def test_layout_keeps_values_outputs_and_the_saved_checkpoint(tmp_path):
    ref, model, plain = _pair(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    decode_layout(model)
    attn = model.backbone.decoder.blocks[0].attn
    assert attn._fused_live() and not attn.q.weight.is_contiguous()
    assert model.input_embeddings().weight.stride() == (1, model.config.vocab_size)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    ids = torch.randint(3, V, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(ids).logits, plain(ids).logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model(ids).logits, ref(input_ids=ids).logits, rtol=1e-4, atol=1e-4)
    out = tmp_path / "saved"
    bertkit.save_pretrained(model, out)
    from transformers import GPT2LMHeadModel

    again = GPT2LMHeadModel.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(again(input_ids=ids).logits, ref(input_ids=ids).logits, rtol=0, atol=0)


def test_generate_uses_it_and_gives_transformers_tokens(tmp_path):
    ref, model, _ = _pair(tmp_path)
    ids = torch.randint(3, V, (3, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, :2] = 0  # a left-padded row
    ours = model.generate(ids, mask, max_new_tokens=12)
    assert model.backbone.decoder.blocks[1].attn._fused_live()  # generate() laid the weights out
    with torch.no_grad():
        theirs = ref.generate(input_ids=ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                              pad_token_id=ref.config.eos_token_id)
    assert torch.equal(ours, theirs)
    assert torch.equal(model.generate(ids, mask, max_new_tokens=12, use_cache=False), ours)


def test_training_after_layout_writes_through_and_a_cast_turns_fusion_off(tmp_path):
    _, model, _ = _pair(tmp_path)
    decode_layout(model)
    attn = model.backbone.decoder.blocks[0].attn
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.randint(3, V, (2, 8))
    model(ids).logits.square().mean().backward()
    opt.step()
    w, _ = attn.fused_qkv
    n = attn.q.out_features
    assert torch.equal(w[:, n:2 * n].t(), attn.k.weight) and attn._fused_live()  # the update reached the fused copy
    model.eval().to(torch.float64)
    assert not attn._fused_live()
    with torch.no_grad():
        x = torch.randn(1, 4, attn.q.in_features, dtype=torch.float64)
        out, _ = attn(x)
        q = attn._heads(attn.q(x))
        assert out.dtype == torch.float64 and q.dtype == torch.float64
