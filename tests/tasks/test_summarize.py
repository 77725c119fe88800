"""`bertkit summarize --abstractive` on a BART folder: the same summaries as transformers' generate with the same
settings, sources longer than the model's positions cut to fit."""
from __future__ import annotations

import json

import torch

from tests.pretrain_fixtures import write_corpus


def test_abstractive_summaries_equal_transformers_generate(tmp_path):
    import transformers as T

    from bertkit.cli.main import main
    from bertkit.tokenizers.train import train_bytebpe

    corpus = write_corpus(tmp_path / "c.txt", 30)
    tok = train_bytebpe(corpus.read_text().splitlines(), 300, layout="roberta")  # <s> <pad> </s> <unk> <mask>
    torch.manual_seed(0)
    cfg = T.BartConfig(vocab_size=len(tok.get_vocab()), d_model=32, encoder_layers=2, decoder_layers=2,
                       encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64,
                       max_position_embeddings=64, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                       eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.eos_token_id,
                       forced_eos_token_id=tok.eos_token_id)
    ref = T.BartForConditionalGeneration(cfg).eval()
    ref.save_pretrained(tmp_path / "bart")
    tok.save_pretrained(tmp_path / "bart")
    texts = corpus.read_text().splitlines()[:3]
    texts.append(" ".join(texts) * 3)  # longer than the 64 positions: cut to fit
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": str(i), "article": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "out.jsonl"
    assert main(["summarize", str(tmp_path / "bart"), "-i", str(docs), "-o", str(out), "--abstractive", "--quiet",
                 "--num-beams", "2", "--max-new-tokens", "8", "--min-new-tokens", "3", "--batch-size", "1"]) == 0
    got = [json.loads(x)["summary"] for x in out.read_text().splitlines()]
    want = []
    for t in texts:
        ids = tok.encode(t)
        ids = ids[:63] + ids[-1:] if len(ids) > 64 else ids
        with torch.no_grad():
            gen = ref.generate(torch.tensor([ids]), num_beams=2, max_new_tokens=8, min_new_tokens=3,
                               no_repeat_ngram_size=3, length_penalty=1.0, early_stopping=True, do_sample=False)
        row = gen[0, 1:].tolist()
        row = row[:row.index(tok.eos_token_id)] if tok.eos_token_id in row else row
        want.append(tok.decode(row, skip_special_tokens=True).strip())
    assert got == want and all(got)
    assert len(tok.encode(texts[-1])) > 64
