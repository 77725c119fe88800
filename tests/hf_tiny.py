"""Tiny random Hugging Face models (hidden 32, 2 layers, vocab 99) written by transformers itself: the BERT family,
XLM, GPT-2 and BART."""
from __future__ import annotations

import torch

V = 99


def _base(**kw):
    d = dict(vocab_size=V, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
             max_position_embeddings=64, type_vocab_size=2)
    d.update(kw)
    return d


def cases():
    import transformers as T

    rob = dict(pad_token_id=1, type_vocab_size=1, max_position_embeddings=66)
    dist = dict(vocab_size=V, dim=32, n_layers=2, n_heads=4, hidden_dim=37, max_position_embeddings=64)
    gpt2 = dict(vocab_size=V, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0)
    bart = dict(vocab_size=V, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64)
    xlm = dict(vocab_size=V, emb_dim=32, n_layers=2, n_heads=4, max_position_embeddings=64, n_langs=2,
               lang2id={"en": 0, "fr": 1}, id2lang={0: "en", 1: "fr"})
    return {
        "BertModel": (T.BertConfig(**_base()), T.BertModel),
        "BertForMaskedLM": (T.BertConfig(**_base()), T.BertForMaskedLM),
        "BertForPreTraining": (T.BertConfig(**_base()), T.BertForPreTraining),
        "BertForSequenceClassification": (T.BertConfig(**_base(num_labels=3)), T.BertForSequenceClassification),
        "BertForTokenClassification": (T.BertConfig(**_base(num_labels=5)), T.BertForTokenClassification),
        "BertForQuestionAnswering": (T.BertConfig(**_base()), T.BertForQuestionAnswering),
        "RobertaModel": (T.RobertaConfig(**_base(**rob)), T.RobertaModel),
        "RobertaForMaskedLM": (T.RobertaConfig(**_base(**rob)), T.RobertaForMaskedLM),
        "RobertaForSequenceClassification": (T.RobertaConfig(**_base(**rob, num_labels=2)),
                                             T.RobertaForSequenceClassification),
        "XLMRobertaForMaskedLM": (T.XLMRobertaConfig(**_base(**rob)), T.XLMRobertaForMaskedLM),
        "XLMModel": (T.XLMConfig(**xlm), T.XLMModel),
        "XLMWithLMHeadModel": (T.XLMConfig(**xlm), T.XLMWithLMHeadModel),
        "AlbertForMaskedLM": (T.AlbertConfig(**_base(embedding_size=16)), T.AlbertForMaskedLM),
        "AlbertForPreTraining": (T.AlbertConfig(**_base(embedding_size=16)), T.AlbertForPreTraining),
        "AlbertModel(groups=2,inner=2)": (T.AlbertConfig(**_base(embedding_size=16, num_hidden_layers=4,
                                                                 num_hidden_groups=2, inner_group_num=2)),
                                          T.AlbertModel),
        "AlbertModel(E=H)": (T.AlbertConfig(**_base(embedding_size=32)), T.AlbertModel),
        "ElectraForPreTraining": (T.ElectraConfig(**_base(embedding_size=16)), T.ElectraForPreTraining),
        "ElectraForMaskedLM": (T.ElectraConfig(**_base(embedding_size=16)), T.ElectraForMaskedLM),
        "ElectraForSequenceClassification": (T.ElectraConfig(**_base(embedding_size=16, num_labels=3)),
                                             T.ElectraForSequenceClassification),
        "DistilBertForMaskedLM": (T.DistilBertConfig(**dist), T.DistilBertForMaskedLM),
        "DistilBertForSequenceClassification": (T.DistilBertConfig(**dist, num_labels=2),
                                                T.DistilBertForSequenceClassification),
        "DistilBertForQuestionAnswering": (T.DistilBertConfig(**dist), T.DistilBertForQuestionAnswering),
        "GPT2LMHeadModel": (T.GPT2Config(**gpt2), T.GPT2LMHeadModel),
        "GPT2Model": (T.GPT2Config(**gpt2), T.GPT2Model),
        "BartForConditionalGeneration": (T.BartConfig(**bart), T.BartForConditionalGeneration),
        "BartModel": (T.BartConfig(**bart), T.BartModel),
    }


def make(name: str, folder) -> torch.nn.Module:
    cfg, cls = cases()[name]
    torch.manual_seed(0)
    ref = cls(cfg).eval()
    ref.save_pretrained(folder)
    return ref


def inputs(name: str) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, V, (3, 11), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    mask[2, 5:] = 0
    kw = {"input_ids": ids, "attention_mask": mask}
    if name.startswith(("Bert", "Albert", "Electra")):
        tt = torch.zeros_like(ids)
        tt[:, 6:] = 1
        kw["token_type_ids"] = tt
    if name.startswith(("XLMModel", "XLMWith")):
        kw["langs"] = (torch.arange(ids.shape[1]) >= 6).long().expand_as(ids).clone()  # two languages, as in a TLM pair
    if name.startswith("Bart"):
        kw["decoder_input_ids"] = torch.randint(5, V, (3, 7), generator=g)
    return kw
