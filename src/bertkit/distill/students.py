"""Students for distillation: DistilBERT's (the teacher's own layers, every other one) and TinyBERT's (random, small).

    student = distilbert_student(teacher)                 # teacher block 2i -> student block i
    student = distilbert_student(teacher, [0, 5, 11])     # any layer map: student block i <- teacher block map[i]
    student = tinybert_student(teacher.config)            # 4 layers, width 312, 12 heads, feed-forward 1200

Both are bertkit Models of the teacher's family (a BERT teacher gives a BERT student), so they train on the one
Trainer and save as Hugging Face folders that transformers loads.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bertkit.errors import InputError
from bertkit.models import Model, ModelConfig
from bertkit.models.family import get_family
from bertkit.objectives.distill import check_vocabularies, layer_map


def _check_tokenizer(tokenizer: Any | None, vocab_size: int) -> None:
    if tokenizer is not None:
        check_vocabularies(len(tokenizer), vocab_size)


def _check_encoder_family(cfg: ModelConfig) -> None:
    fam = get_family(cfg.family)
    if fam.build is not None:
        raise InputError(f"distillation students are encoders of the BERT family; the teacher is a {fam.name} "
                         "model")


def every_other_layer(teacher_layers: int) -> list[int]:
    """DistilBERT's default layer map: teacher blocks 0, 2, 4, ... (student block i <- teacher block 2i)."""
    return list(range(0, teacher_layers, 2))


def _check_layer_list(layers: Sequence[int], n: int) -> list[int]:
    layers = [int(i) for i in layers]
    if not layers:
        raise InputError("the layer map is empty; give at least one teacher block for the student")
    if len(layers) > n:
        raise InputError(f"a layer map of {len(layers)} layers makes a student deeper than its {n}-layer teacher; "
                         f"each student block takes its own teacher block (at most {n})")
    for i in layers:
        if not 0 <= i < n:
            raise InputError(f"layer map index {i} is out of range for a {n}-layer teacher (blocks 0..{n - 1})")
    seen = {i for i in layers if layers.count(i) > 1}
    if seen:
        raise InputError(f"the layer map takes teacher block {min(seen)} twice; each student block takes its own")
    return layers


def distilbert_student(teacher: Model, layers: Sequence[int] | None = None, tokenizer: Any | None = None) -> Model:
    """A student initialised from the teacher (Sanh et al. 2019): the same family, task, widths and heads, with
    len(layers) blocks, student block i a copy of teacher block layers[i] (default: every_other_layer, so a
    12-layer BERT gives a 6-layer BERT); embeddings, pooler and heads are copied as they are.

    `tokenizer` (optional): the tokenizer the student will read, checked against the teacher's vocabulary.
    The student is a new model (no weight is shared with the teacher), on the teacher's device and dtype.
    """
    if not isinstance(teacher, Model):
        raise InputError(f"distilbert_student takes a bertkit encoder Model, got {type(teacher).__name__}")
    cfg = teacher.config
    _check_tokenizer(tokenizer, cfg.vocab_size)
    if cfg.family == "albert":
        raise InputError("an ALBERT teacher shares one block across its layers; there are no layers to pick "
                         "(use tinybert_student)")
    n = cfg.num_layers
    layers = _check_layer_list(every_other_layer(n) if layers is None else layers, n)
    student = Model(cfg.replace(num_layers=len(layers)), teacher.task)
    source = teacher.state_dict()
    state = {}
    for key in student.state_dict():
        name = key
        if key.startswith("backbone.encoder.blocks."):
            i, rest = key[len("backbone.encoder.blocks."):].split(".", 1)
            name = f"backbone.encoder.blocks.{layers[int(i)]}.{rest}"
        state[key] = source[name].detach().clone()
    p = next(teacher.parameters())
    student.to(device=p.device, dtype=p.dtype)
    student.load_state_dict(state, strict=True)
    student.train(teacher.training)
    if getattr(teacher, "pretrained_path", None) is not None:
        student.pretrained_path = teacher.pretrained_path  # saving brings the teacher's tokenizer files along
    return student


def tinybert_student(teacher_config: ModelConfig | Model, layers: int = 4, hidden: int = 312, heads: int = 12,
                     ffn: int = 1200, task: str = "base", tokenizer: Any | None = None) -> Model:
    """A randomly initialised TinyBERT student (Jiao et al. 2020; defaults: TinyBERT-4, 4 layers of width 312,
    12 heads, feed-forward 1200) of the teacher's family, vocabulary, positions and labels, for `task`.

    The depth must not exceed the teacher's (layer_map: g(m) = m*N/M, rounded when M does not divide N); the heads must match the
    teacher's for the attention loss (TinyBertObjective checks that) and divide the width. Factorised
    embeddings (ALBERT, ELECTRA) become full width. `teacher_config` may be the teacher Model itself.
    """
    tc = teacher_config.config if isinstance(teacher_config, Model) else teacher_config
    if not isinstance(tc, ModelConfig):
        raise InputError(f"tinybert_student takes the teacher's ModelConfig (or Model), got {type(tc).__name__}")
    _check_encoder_family(tc)
    _check_tokenizer(tokenizer, tc.vocab_size)
    layer_map(layers, tc.num_layers)
    for name, v in (("hidden", hidden), ("heads", heads), ("ffn", ffn)):
        if v < 1:
            raise InputError(f"{name} must be >= 1, got {v}")
    if hidden % heads:
        raise InputError(f"a width of {hidden} does not split into {heads} heads; choose a multiple of {heads}")
    cfg = tc.replace(num_layers=layers, hidden_size=hidden, num_heads=heads, intermediate_size=ffn,
                     embedding_size=None, num_hidden_groups=1, inner_group_num=1)
    return Model(cfg, task)


__all__ = ["distilbert_student", "every_other_layer", "tinybert_student"]
