"""One configuration dataclass for every encoder in the BERT family, with named size presets."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

CLASSIFIER_POOLINGS = ("cls", "mean")
TASKS = ("base", "mlm", "pretraining", "classification", "token_classification", "qa", "rtd")


@dataclass
class ModelConfig:
    """Sizes and switches of a model. Family presets (models/bert.py, albert.py, ...) fill the switches.

    For BART the encoder sizes are the plain fields and the decoder's the `decoder_*` ones; GPT-2's decoder
    uses the plain fields."""

    family: str = "bert"                 # bert | roberta | xlm-roberta | xlm | albert | electra | distilbert | gpt2 | bart | marian
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    type_vocab_size: int = 2             # segments (XLM: languages, indexed by `langs`)
    embedding_size: int | None = None    # factorized embeddings (ALBERT, ELECTRA): E != H adds a projection
    hidden_act: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    classifier_dropout: float | None = None
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0         # None: no padding token (GPT-2)
    position_offset: bool = False        # RoBERTa/XLM-R: positions start after the padding index
    sinusoidal: bool = False             # fixed sinusoidal positions (Transformer, DistilBERT option)
    causal: bool = False                 # XLM's CLM checkpoints: an encoder whose self-attention looks only back
                                         # (and, as in transformers, not at the padding mask)
    num_hidden_groups: int = 1           # ALBERT cross-layer sharing: groups of shared layers
    inner_group_num: int = 1
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    problem_type: str | None = None      # single_label_classification | multi_label_classification | regression
    decoder_layers: int | None = None    # encoder-decoder (BART): the decoder's sizes
    decoder_heads: int | None = None
    decoder_intermediate_size: int | None = None
    decoder_vocab_size: int | None = None  # encoder-decoder with separate vocabularies: the target's (None: shared)
    scale_embedding: bool = False        # BART: token vectors times sqrt(hidden_size)
    bos_token_id: int | None = None      # generation (GPT-2, BART)
    eos_token_id: int | None = None
    decoder_start_token_id: int | None = None
    forced_eos_token_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # other config.json keys, written back on save

    @property
    def emb_dim(self) -> int:
        return self.embedding_size or self.hidden_size

    @property
    def classifier_pooling(self) -> str:
        """How the sequence classifier reads the text: "cls" (the first token, through the pooler where the
        family has one, as in transformers) or "mean" (the mean of the unpadded token vectors). Stored in
        config.json as `classifier_pooling` only when "mean"; transformers ignores that key and would read
        the first token, so a mean-pooled classifier gives its predictions only in bertkit."""
        pooling = self.extra.get("classifier_pooling", "cls")
        if pooling not in CLASSIFIER_POOLINGS:
            from bertkit.errors import InputError

            raise InputError(f"classifier_pooling must be one of {', '.join(CLASSIFIER_POOLINGS)}, "
                             f"got {pooling!r}")
        return str(pooling)

    @property
    def head_dropout(self) -> float:
        return self.dropout if self.classifier_dropout is None else self.classifier_dropout

    def replace(self, **kw: Any) -> ModelConfig:
        return dataclasses.replace(self, **kw)


# Named sizes for pretraining from scratch (Turc et al. 2019 "well-read students" grid and BERT-base).
SIZES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=128, num_layers=2, num_heads=2, intermediate_size=512),
    "mini": dict(hidden_size=256, num_layers=4, num_heads=4, intermediate_size=1024),
    "small": dict(hidden_size=512, num_layers=4, num_heads=8, intermediate_size=2048),
    "medium": dict(hidden_size=512, num_layers=8, num_heads=8, intermediate_size=2048),
    "base": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
}
