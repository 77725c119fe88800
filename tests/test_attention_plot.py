"""Attention heat maps: the probabilities drawn are transformers' output_attentions for the same model and text; the
PNG is written and not blank; out-of-range layers and heads are one-line errors."""
from __future__ import annotations

import pytest
import torch

from bertkit.attention_plot import attention_map, attention_weights
from bertkit.cli.main import main
from bertkit.errors import InputError


def test_weights_are_transformers_attentions(minilm_path):
    from transformers import AutoModel, AutoTokenizer

    tokens, att = attention_weights(minilm_path, "The cat sat on the mat", pair="It was tired")
    ref_tok = AutoTokenizer.from_pretrained(minilm_path)
    enc = ref_tok("The cat sat on the mat", "It was tired", return_tensors="pt")
    ref = AutoModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    with torch.no_grad():
        want = torch.stack([a[0] for a in ref(**enc, output_attentions=True).attentions])
    assert tokens == ref_tok.convert_ids_to_tokens(enc["input_ids"][0])
    assert att.shape == want.shape == (6, 12, len(tokens), len(tokens))
    torch.testing.assert_close(att, want, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(att.sum(-1), torch.ones(att.shape[:-1]), atol=1e-5, rtol=0)


def test_png_one_head_and_all_heads(minilm_path, tmp_path, capsys):
    import matplotlib.image

    one = attention_map(minilm_path, "The cat sat on the mat", tmp_path / "one.png", layer=2, head=3)
    img = matplotlib.image.imread(one)
    assert img.shape[0] >= 250 and img[..., :3].std() > 0.05
    assert main(["attention", str(minilm_path), "The cat sat on the mat", "--layer", "-1", "-o",
                 str(tmp_path / "all.png")]) == 0
    grid = matplotlib.image.imread(tmp_path / "all.png")
    assert grid.shape[1] > 3 * img.shape[1]  # 12 heads: four panels a row
    with pytest.raises(InputError, match="layer 6 is out of range: the model has 6 layers"):
        attention_map(minilm_path, "x", tmp_path / "x.png", layer=6)
    with pytest.raises(InputError, match="head 12 is out of range: each layer has 12 heads"):
        attention_map(minilm_path, "x", tmp_path / "x.png", head=12)
    with pytest.raises(InputError, match="non-empty text"):
        attention_weights(minilm_path, "  ")
