"""TextEncoder.embed(lang=...): an XLM model embeds each text with its language's vector, as transformers does."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import bertkit
from bertkit.errors import InputError

from .conftest import TOKENIZER_FILES

TEXTS = ["the cat sat on the mat .", "a dog", "zwei hunde spielen im schnee und laufen herum"]


@pytest.fixture(scope="module")
def xlm_dir(tmp_path_factory, minilm_path):
    import transformers as T

    folder = tmp_path_factory.mktemp("tiny_xlm")
    torch.manual_seed(0)
    cfg = T.XLMConfig(vocab_size=30522, emb_dim=32, n_layers=2, n_heads=4, n_langs=3, use_lang_emb=True,
                      max_position_embeddings=64, pad_index=0, pad_token_id=0,
                      lang2id={"de": 0, "en": 1, "ko": 2}, id2lang={"0": "de", "1": "en", "2": "ko"})
    model = T.XLMModel(cfg).eval()
    with torch.no_grad():  # transformers initialises the language table small; make it matter
        model.lang_embeddings.weight.normal_(0, 1.0)
    model.save_pretrained(folder)
    for f in TOKENIZER_FILES:
        if (minilm_path / f).is_file():
            shutil.copy(minilm_path / f, folder / f)
    return folder


def _reference(folder, lang: int | None, layer: int) -> np.ndarray:
    import transformers as T

    ref = T.XLMModel.from_pretrained(folder).eval()
    tok = T.AutoTokenizer.from_pretrained(folder)
    enc = tok(TEXTS, padding=True, return_tensors="pt")
    langs = None if lang is None else torch.full_like(enc["input_ids"], lang)
    with torch.no_grad():
        h = ref(enc["input_ids"], attention_mask=enc["attention_mask"], langs=langs,
                output_hidden_states=True).hidden_states[layer]
    m = enc["attention_mask"].unsqueeze(-1).float()
    return ((h * m).sum(1) / m.sum(1)).numpy()


@pytest.mark.parametrize("layer", [-1, 1])
def test_embed_with_a_language_matches_transformers(xlm_dir, layer):
    enc = bertkit.load(xlm_dir)
    de = enc.embed(TEXTS, pooling="mean", layers=layer, lang="de")
    np.testing.assert_allclose(de, _reference(xlm_dir, 0, layer), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(enc.embed(TEXTS, pooling="mean", layers=layer, lang=2),
                               _reference(xlm_dir, 2, layer), atol=1e-4, rtol=1e-4)
    none = enc.embed(TEXTS, pooling="mean", layers=layer)
    np.testing.assert_allclose(none, _reference(xlm_dir, None, layer), atol=1e-4, rtol=1e-4)
    assert np.abs(de - none).max() > 1e-2  # the language vector was added


def test_lang_errors(xlm_dir, tiny_dir):
    enc = bertkit.load(xlm_dir)
    with pytest.raises(InputError) as e:
        enc.embed(TEXTS, lang="fr")
    assert str(e.value) == "language 'fr' is not one of the model's languages (de, en, ko)"
    with pytest.raises(InputError) as e:
        enc.embed(TEXTS, lang=3)
    assert str(e.value) == "language id 3 is outside the model's n_langs=3 languages (0..2)"
    with pytest.raises(InputError) as e:
        bertkit.load(tiny_dir).embed(TEXTS, lang="en")
    assert str(e.value) == "lang= is for XLM models (language embeddings); this bert model has none"
