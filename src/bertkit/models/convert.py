"""Move a model between BERT-family members whose encoders compute the same function.

An ELECTRA encoder whose embedding size equals its hidden size (no E -> H projection) is exactly a BERT
encoder without the pooler: same embeddings, same post-LN blocks. So an ELECTRA discriminator can be
fine-tuned or served as a BERT, and a BERT masked-LM checkpoint can start ELECTRA pretraining (its MLM head is
an ELECTRA generator head when the activation is GELU).

    bert = convert_family(electra_disc, "bert", task="base")   # the pooler is newly initialised
"""
from __future__ import annotations

from bertkit import errors
from bertkit.errors import InputError
from bertkit.models.config import TASKS
from bertkit.models.family import get_family
from bertkit.models.model import Model

# families with the same embeddings and blocks (no position offset, no cross-layer sharing)
COMPATIBLE = frozenset({"bert", "electra"})
FAMILY_KEYS = frozenset({"embedding_size", "model_type", "architectures"})


def _default_task(task: str, family: str) -> str:
    """The target task when none is given: the same one, or its nearest equivalent in `family`."""
    fam = get_family(family)
    if task == "rtd" and "rtd" not in fam.pretraining_heads:
        return "base"
    if task == "pretraining" and fam.pretraining_heads == ("rtd",):
        return "mlm"
    return task


def convert_family(model: Model, family: str, task: str | None = None, warn: bool = True) -> Model:
    """A new Model of `family` (and `task`, default: the nearest to model.task) holding `model`'s weights.
    Any family can change task (family = its own); between families only BERT <-> ELECTRA without
    factorized embeddings.

    The encoder is copied exactly; head weights are copied where the target has the same head with the same
    shapes and activation, and everything else (e.g. BERT's pooler) is newly initialised, with a warning
    naming it unless warn=False."""
    src = model.family.name
    target = get_family(family).name
    cfg = model.config
    if target != src:  # between families (within one, only the heads change)
        if src not in COMPATIBLE or target not in COMPATIBLE:
            raise InputError(f"cannot convert {src} to {family}: only {' and '.join(sorted(COMPATIBLE))} share one "
                             "encoder layout")
        if cfg.emb_dim != cfg.hidden_size:
            raise InputError(f"cannot convert {src} to {family}: its embeddings are factorized (embedding size "
                             f"{cfg.emb_dim}, hidden size {cfg.hidden_size}); BERT has no projection")
    task = task or _default_task(model.task, target)
    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; expected one of {TASKS}")
    if task == "rtd" and target != "electra":
        raise InputError("task 'rtd' (replaced-token detection) needs family electra")
    if task == "pretraining" and get_family(target).pretraining_heads == ("rtd",):
        raise InputError("ELECTRA pretraining is two models: convert to task 'rtd' (discriminator) and 'mlm' "
                         "(generator)")
    if target == src:
        new_cfg = cfg
    else:
        extra = {k: v for k, v in cfg.extra.items() if k not in FAMILY_KEYS}  # the target family writes its own
        new_cfg = cfg.replace(family=target, embedding_size=cfg.hidden_size if target == "electra" else None,
                              extra=extra)
    new = Model(new_cfg, task)
    src_fam, dst_fam = model.family, new.family
    own, theirs = new.state_dict(), model.state_dict()
    same_mlm_act = src_fam.mlm_act(cfg) == dst_fam.mlm_act(new_cfg)
    state, fresh = {}, []
    for name, t in own.items():
        s = theirs.get(name)
        ok = s is not None and tuple(s.shape) == tuple(t.shape)
        if ok and name.startswith("heads."):
            head = name.split(".")[1]
            ok = head != "classification" or src_fam.classifier_act == dst_fam.classifier_act
            ok = ok and (head != "mlm" or same_mlm_act)
        if ok:
            state[name] = s.detach().clone()
        else:
            fresh.append(name)
    lost = [n for n in fresh if n.startswith("backbone.") and not n.startswith("backbone.pooler")]
    if lost:  # cannot happen for COMPATIBLE families; guards against a future layout change
        raise AssertionError(f"encoder weight {lost[0]} did not carry over from {src} to {target}")
    new.load_state_dict(state, strict=False)
    new.train(model.training)
    if fresh and warn:
        parts = sorted({n.split(".")[1] for n in fresh})
        errors.warn(f"{len(fresh)} weights newly initialised converting {src} ({model.task}) to {target} "
                    f"({task}): {', '.join(parts)}")
    return new
