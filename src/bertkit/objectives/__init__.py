"""Pretraining and sequence-to-sequence objectives: maskers (pure functions on ids) and losses (model outputs + batch
-> named losses)."""
from __future__ import annotations

from bertkit.objectives.bart_noise import NoiseConfig, NoiseVocab
from bertkit.objectives.clm import CausalLMObjective, next_token_loss
from bertkit.objectives.denoising import DenoisingObjective
from bertkit.objectives.distill import DistilBertObjective, TinyBertObjective, layer_map
from bertkit.objectives.electra import ElectraObjective, build_electra_pair, electra_generator
from bertkit.objectives.masking import (MaskingConfig, Vocab, continuation_table, mask_spans, mask_tokens,
                                        mask_whole_words)
from bertkit.objectives.mlm import MLMObjective
from bertkit.objectives.sbo import SpanBertObjective, SpanBoundaryHead
from bertkit.objectives.sentence import SentencePairObjective
from bertkit.objectives.seq2seq import LabelSmoothedCrossEntropy, label_smoothed_nll

__all__ = ["MaskingConfig", "Vocab", "continuation_table", "mask_tokens", "mask_whole_words", "mask_spans",
           "MLMObjective", "SentencePairObjective", "SpanBertObjective", "SpanBoundaryHead", "ElectraObjective",
           "build_electra_pair", "electra_generator", "LabelSmoothedCrossEntropy", "label_smoothed_nll",
           "CausalLMObjective", "next_token_loss", "NoiseConfig", "NoiseVocab", "DenoisingObjective",
           "DistilBertObjective", "TinyBertObjective", "layer_map"]
