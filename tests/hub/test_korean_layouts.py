"""The hub folder layouts of skt/kobert-base-v1, skt/kogpt2-base-v2 and gogamza/kobart-base-v2, built tiny here:
bertkit must load the model to the same outputs as transformers and the tokenizer to the same ids as the tokenizer
transformers loads from the same folder, on Korean text (hangul, emoji, runs of spaces)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

WORDS = ["영화", "정말", "재밌어요", "최고", "배우", "연기", "스토리", "너무", "지루하다", "감동", "다시", "보고", "싶다",
         "별로", "ㅋㅋ", "ㅠㅠ", "좋았다", "음악", "결말", "최악", "이", "가", "는", "을", "의", "도", "한국어", "모델"]
SAMPLES = ["이 영화 정말 재밌어요", "최고의 영화 😀👍  굿", "  배우들   연기가 너무 좋았다 ㅋㅋ ", "지루하다.. 별로 ㅠㅠ",
           "결말이 감동😭이었다!", "한국어 모델을 공유합니다.", "뷁 똠방각하 😤:)", "정말\t최악"]


def korean_lines(n: int = 300) -> list[str]:
    g = torch.Generator().manual_seed(0)
    lines = []
    for _ in range(n):
        k = int(torch.randint(3, 9, (1,), generator=g))
        idx = torch.randint(0, len(WORDS), (k,), generator=g).tolist()
        lines.append(" ".join(WORDS[i] for i in idx) + (" 😀" if k % 3 == 0 else "."))
    return lines + SAMPLES[:5]


def _save_weights(model, folder: Path) -> None:
    """config.json + pytorch_model.bin, as the three hub folders ship them."""
    model.config.save_pretrained(folder)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "pytorch_model.bin")


def _ids_batch(rows: list[list[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(map(len, rows))
    ids = torch.tensor([r + [pad] * (n - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (n - len(r)) for r in rows])
    return ids, mask


# ---- KoBERT: BertModel + spiece.model + an XLNetTokenizer-style tokenizer_config.json ----------------------------

@pytest.fixture(scope="module")
def kobert_dir(tmp_path_factory) -> Path:
    spm = pytest.importorskip("sentencepiece")
    folder = tmp_path_factory.mktemp("kobert")
    text = folder.parent / "kobert_train.txt"
    text.write_text("\n".join(korean_lines()) + "\n", encoding="utf-8")
    # KoBERT's piece layout: [UNK]=0 [PAD]=1 [CLS]=2 [SEP]=3 [MASK]=4, written by the sentencepiece library
    spm.SentencePieceTrainer.train(input=str(text), model_prefix=str(folder / "spiece"), vocab_size=120,
                                   model_type="unigram", unk_id=0, pad_id=1, bos_id=-1, eos_id=-1,
                                   unk_piece="[UNK]", pad_piece="[PAD]",
                                   user_defined_symbols=["[CLS]", "[SEP]", "[MASK]"], hard_vocab_limit=False,
                                   minloglevel=2, num_threads=1)
    (folder / "spiece.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "do_lower_case": False, "remove_space": True, "keep_accents": False, "bos_token": "[CLS]",
        "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]", "cls_token": "[CLS]",
        "mask_token": {"content": "[MASK]", "single_word": False, "lstrip": True, "rstrip": False,
                       "normalized": True, "__type": "AddedToken"},
        "additional_special_tokens": None, "sp_model_kwargs": {}, "tokenizer_class": "XLNetTokenizer"}))
    n = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model")).get_piece_size()
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37, max_position_embeddings=64, pad_token_id=1,
                                  architectures=["BertModel"])
    _save_weights(transformers.BertModel(cfg).eval(), folder)
    return folder


def _kobert_reference(folder: Path):
    """What skt's KoBERTTokenizer runs: the sentencepiece library on the text (XLNet's NFKD step is undone by
    the model's NFKC normalizer) and [CLS] A [SEP]. transformers 5's XLNetTokenizer is no reference for Korean:
    it always applies NFKD + StripAccents in its normalizer and leaves hangul as separate jamo."""
    from transformers.tokenization_python import AddedToken
    from transformers.tokenization_utils_sentencepiece import SentencePieceBackend

    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    return SentencePieceBackend(vocab_file=str(folder / "spiece.model"), unk_token=cfg["unk_token"],
                                pad_token=cfg["pad_token"], cls_token=cfg["cls_token"], sep_token=cfg["sep_token"],
                                mask_token=AddedToken("[MASK]", lstrip=True, rstrip=False))


def test_kobert_tokenizer_matches_sentencepiece_reference(kobert_dir):
    pytest.importorskip("google.protobuf")
    from bertkit import Tokenizer

    ours, ref = Tokenizer.from_pretrained(kobert_dir), _kobert_reference(kobert_dir)
    assert (ours.unk_token_id, ours.pad_token_id, ours.cls_token_id, ours.sep_token_id, ours.mask_token_id) == \
        (0, 1, 2, 3, 4)
    assert ours.vocab_size == ref.vocab_size
    for text in SAMPLES + ["이 영화 [MASK] 최고", "[CLS] 정말 [SEP]"]:
        want = ref(text, add_special_tokens=False)["input_ids"]
        assert ours.encode(text, add_special_tokens=False) == want, text
        assert ours.encode(text) == [2, *want, 3], text  # KoBERTTokenizer.build_inputs_with_special_tokens
        b = ref("다시 보고 싶다", add_special_tokens=False)["input_ids"]
        assert ours.encode(text, "다시 보고 싶다") == [2, *want, 3, *b, 3]
    assert any(0 in ours.encode(t) for t in SAMPLES)  # the unseen 뷁 / emoji really hit [UNK]


def test_kobert_model_matches_transformers(kobert_dir, tmp_path):
    import bertkit
    from bertkit import Tokenizer

    tok = Tokenizer.from_pretrained(kobert_dir)
    ids, mask = _ids_batch([tok.encode(t) for t in SAMPLES], tok.pad_token_id)
    ref = transformers.BertModel.from_pretrained(kobert_dir).eval()
    ours = bertkit.hub.from_pretrained(kobert_dir)
    with torch.no_grad():
        r, o = ref(input_ids=ids, attention_mask=mask), ours(input_ids=ids, attention_mask=mask)
    keep = mask.bool()
    torch.testing.assert_close(o.last_hidden_state[keep], r.last_hidden_state[keep], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(o.pooler_output, r.pooler_output, atol=1e-4, rtol=1e-4)
    # saved again, the folder keeps KoBERT's tokenizer layout
    bertkit.hub.save_pretrained(ours, tmp_path / "again")
    assert (tmp_path / "again" / "spiece.model").is_file()
    assert Tokenizer.from_pretrained(tmp_path / "again").encode(SAMPLES[2]) == tok.encode(SAMPLES[2])


def test_kobert_layout_trained_by_bertkit(tmp_path):
    """`bertkit tokenizer train --algo unigram --layout kobert` writes the same layout."""
    pytest.importorskip("sentencepiece")
    from bertkit import Tokenizer
    from bertkit.tokenizers.train import train_tokenizer

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(korean_lines()) + "\n", encoding="utf-8")
    tok = train_tokenizer([corpus], "unigram", 120, layout="kobert")
    tok.save_pretrained(tmp_path / "tok")
    assert (tmp_path / "tok" / "spiece.model").is_file()
    cfg = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    assert (cfg["tokenizer_class"], cfg["do_lower_case"], cfg["keep_accents"]) == ("XLNetTokenizer", False, False)
    again = Tokenizer.from_pretrained(tmp_path / "tok")
    assert again.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"]
    ref = _kobert_reference(tmp_path / "tok")
    for text in SAMPLES:
        assert again.encode(text) == [2, *ref(text, add_special_tokens=False)["input_ids"], 3], text


# ---- KoGPT2 and KoBART: tokenizer.json (SentencePiece-style BPE of the tokenizers library) -----------------------

KOGPT2_SPECIALS = ["</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]
KOBART_SPECIALS = ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]


def _write_tokenizer_json(folder: Path, specials: list[str], legacy: bool) -> None:
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.SentencePieceBPETokenizer(unk_token="<unk>")
    tok.train_from_iterator(korean_lines(), vocab_size=150, min_frequency=2, special_tokens=specials,
                            show_progress=False)
    tok.save(str(folder / "tokenizer.json"))
    if legacy:  # the 2021 files: Metaspace with add_prefix_space instead of prepend_scheme
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        for key in ("pre_tokenizer", "decoder"):
            data[key] = {"type": "Metaspace", "replacement": "▁", "add_prefix_space": True}
        (folder / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module", params=[False, True], ids=["current", "legacy-json"])
def kogpt2_dir(request, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kogpt2")
    _write_tokenizer_json(folder, KOGPT2_SPECIALS, request.param)
    n = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=len(n), n_embd=32, n_layer=2, n_head=4, n_positions=64,
                                  bos_token_id=0, eos_token_id=0, pad_token_id=2, architectures=["GPT2LMHeadModel"])
    _save_weights(transformers.GPT2LMHeadModel(cfg).eval(), folder)
    return folder


def test_kogpt2_tokenizer_matches_transformers(kogpt2_dir):
    from transformers import PreTrainedTokenizerFast

    from bertkit import Tokenizer

    ours = Tokenizer.from_pretrained(kogpt2_dir)
    # the model card's way of loading it: the folder names no special tokens
    ref = PreTrainedTokenizerFast.from_pretrained(kogpt2_dir, bos_token="</s>", eos_token="</s>", unk_token="<unk>",
                                                  pad_token="<pad>", mask_token="<mask>")
    assert (ours.bos_token, ours.eos_token, ours.unk_token, ours.pad_token, ours.mask_token) == \
        ("</s>", "</s>", "<unk>", "<pad>", "<mask>")
    assert (ours.eos_token_id, ours.pad_token_id, ours.unk_token_id) == (0, 2, 4)
    assert len(ref) == ours.vocab_size
    for text in SAMPLES + ["</s>이 영화<pad> <mask> 최고", "<usr> 안녕 <sys> 반가워"]:
        assert ours.encode(text) == ref(text)["input_ids"], text
        assert ours.tokenize(text) == ref.tokenize(text), text
    assert any(4 in ours.encode(t) for t in SAMPLES)  # unseen characters are <unk>
    assert ours.decode(ours.encode("이 영화 정말 재밌어요")) == ref.decode(ref("이 영화 정말 재밌어요")["input_ids"])


def test_kogpt2_model_matches_transformers(kogpt2_dir):
    import bertkit
    from bertkit import Tokenizer

    tok = Tokenizer.from_pretrained(kogpt2_dir)
    ids, mask = _ids_batch([tok.encode(t) for t in SAMPLES], tok.pad_token_id)
    ref = transformers.GPT2LMHeadModel.from_pretrained(kogpt2_dir).eval()
    ours = bertkit.hub.from_pretrained(kogpt2_dir)
    with torch.no_grad():
        r, o = ref(input_ids=ids, attention_mask=mask), ours(input_ids=ids, attention_mask=mask)
    keep = mask.bool()
    torch.testing.assert_close(o.logits[keep], r.logits[keep], atol=1e-4, rtol=1e-4)
    prompt = torch.tensor([tok.encode("이 영화 정말")])
    want = ref.generate(prompt, max_new_tokens=8, do_sample=False, pad_token_id=2)
    assert ours.generate(prompt, max_new_tokens=8).tolist() == want.tolist()


@pytest.fixture(scope="module")
def kobart_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("kobart")
    _write_tokenizer_json(folder, KOBART_SPECIALS, legacy=False)
    n = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast",
                                                              "bos_token": "<s>", "eos_token": "</s>",
                                                              "unk_token": "<unk>", "pad_token": "<pad>",
                                                              "mask_token": "<mask>"}))
    torch.manual_seed(0)
    cfg = transformers.BartConfig(vocab_size=len(n), d_model=32, encoder_layers=2, decoder_layers=2,
                                  encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=37,
                                  decoder_ffn_dim=37, max_position_embeddings=64, bos_token_id=0, eos_token_id=1,
                                  pad_token_id=3, decoder_start_token_id=1, forced_eos_token_id=1,
                                  architectures=["BartForConditionalGeneration"])
    _save_weights(transformers.BartForConditionalGeneration(cfg).eval(), folder)
    return folder


def test_kobart_tokenizer_and_model_match_transformers(kobart_dir):
    import bertkit
    from bertkit import Tokenizer

    ours = Tokenizer.from_pretrained(kobart_dir)
    ref = transformers.AutoTokenizer.from_pretrained(kobart_dir)
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id, ours.unk_token_id, ours.mask_token_id) == \
        (0, 1, 3, 5, 6)
    for text in SAMPLES + ["<s>이 영화 <mask> 최고</s>"]:
        assert ours.encode(text) == ref(text)["input_ids"], text
    # KoBART's users put <s> and </s> around the text themselves
    rows = [[0, *ours.encode(t), 1] for t in SAMPLES]
    ids, mask = _ids_batch(rows, ours.pad_token_id)
    hf = transformers.BartForConditionalGeneration.from_pretrained(kobart_dir).eval()
    model = bertkit.hub.from_pretrained(kobart_dir)
    with torch.no_grad():
        r, o = hf(input_ids=ids, attention_mask=mask, labels=ids), model(input_ids=ids, attention_mask=mask,
                                                                           labels=ids)
    keep = mask.bool()
    torch.testing.assert_close(o.logits[keep], r.logits[keep], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(o.encoder_last_hidden_state[keep], r.encoder_last_hidden_state[keep], atol=1e-4,
                               rtol=1e-4)
