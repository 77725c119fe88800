"""Knowledge distillation losses (DistilBERT, TinyBERT, BERT -> BiLSTM) and the objectives that compose them.

Losses are plain functions of tensors, each with its formula. The objectives follow the trainer's contract
`forward(model, batch) -> {"loss": ..., parts...}`, where `model` is the student; the teacher is held by the
objective, frozen (no gradients, eval mode: no dropout) and kept out of the objective's parameters and
state_dict, so the trainer neither optimises nor checkpoints it.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bertkit.errors import InputError
from bertkit.objectives.masking import IGNORE
from bertkit.objectives.mlm import masked_cross_entropy

Batch = dict[str, Any]


# ---- losses ----------------------------------------------------------------------------------------------------
def _keep_rows(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(..., C) -> (N, C): the rows where `mask` (the leading shape, True = keep) holds; all rows without one."""
    return x.reshape(-1, x.shape[-1]) if mask is None else x[mask.bool()]


def soft_target_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """DistilBERT's L_ce: T² · (1/N) Σ_n KL(p_t,n ‖ p_s,n), p = softmax(z / T), over the N rows kept.

    KL(p_t ‖ p_s) = Σ_v p_t(v) (log p_t(v) − log p_s(v)). Logits are (..., V); `mask` (the leading shape, True =
    keep, e.g. `labels != -100` for MLM logits (B, T, V)) drops ignored positions; without it every row counts.
    The T² factor keeps the gradient's scale independent of T (Hinton et al. 2015). 0 when no row is kept.
    """
    s = _keep_rows(student_logits, mask).float() / temperature
    t = _keep_rows(teacher_logits, mask).float() / temperature
    kl = F.kl_div(F.log_softmax(s, dim=-1), F.log_softmax(t, dim=-1), reduction="sum", log_target=True)
    return kl / max(s.shape[0], 1) * temperature ** 2


def cosine_hidden_loss(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor,
                       attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """DistilBERT's L_cos: (1/N) Σ_n (1 − cos(h_s,n, h_t,n)) over the N non-padded tokens.

    Hidden states (B, T, H) of the same width; `attention_mask` (B, T) 1/0 (None: every token). This is
    torch's CosineEmbeddingLoss with target +1, aligning the directions of student and teacher vectors.
    """
    s, t = _keep_rows(student_hidden, attention_mask).float(), _keep_rows(teacher_hidden, attention_mask).float()
    if s.shape[0] == 0:
        return s.sum()
    return (1.0 - F.cosine_similarity(s, t, dim=-1)).mean()


def projected_mse(student: torch.Tensor, teacher: torch.Tensor, proj: nn.Module | None = None,
                  attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """TinyBERT's embedding and hidden-state losses: MSE(X_s W, X_t) = (1/(N·d)) Σ_n ‖x_s,n W − x_t,n‖².

    X_s (B, T, d') the student's embeddings (L_embd, W = W_e) or a layer's output (L_hidn, W = W_h), X_t (B, T, d)
    the teacher's; W is a learned d' -> d linear map without bias (`proj`; None: the identity, equal widths).
    `attention_mask` (B, T) restricts the mean to non-padded tokens (None: every token, as TinyBERT's code).
    """
    s = student if proj is None else proj(student)
    return F.mse_loss(_keep_rows(s, attention_mask).float(), _keep_rows(teacher, attention_mask).float())


def attention_score_loss(student_scores: torch.Tensor, teacher_scores: torch.Tensor,
                         attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """TinyBERT's L_attn for one layer: (1/(B·h·T·T)) Σ_{b,i,q,k} (A_s − A_t)², A the unnormalised scores
    q k^T / sqrt(d_k) of each head i (before the softmax; Model(..., output_attentions="scores")).

    Scores (B, h, T, T); student and teacher have the same number of heads. As in TinyBERT's implementation,
    scores at padded keys (`attention_mask` (B, T) == 0; they hold the mask bias, not a score) are set to 0 in
    both, so they add nothing, and the mean is over all B·h·T·T entries (padded query rows included).
    """
    s, t = student_scores.float(), teacher_scores.float()
    if attention_mask is not None:
        keep = attention_mask[:, None, None, :].bool()
        s, t = torch.where(keep, s, torch.zeros_like(s)), torch.where(keep, t, torch.zeros_like(t))
    return F.mse_loss(s, t)


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
                       mask: torch.Tensor | None = None) -> torch.Tensor:
    """TinyBERT's prediction loss: (1/N) Σ_n −Σ_c softmax(z_t,n / T)_c · log softmax(z_s,n / T)_c.

    Logits (..., C); `mask` (leading shape, True = keep) drops rows (padded tokens of token logits). (TinyBERT's
    code takes the mean over the N·C entries instead, this divided by C.) 0 when no row is kept.
    """
    s = _keep_rows(student_logits, mask).float() / temperature
    t = _keep_rows(teacher_logits, mask).float() / temperature
    return -(F.softmax(t, dim=-1) * F.log_softmax(s, dim=-1)).sum() / max(s.shape[0], 1)


def logit_distill_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                       alpha: float = 0.5) -> torch.Tensor:
    """Tang et al. (2019), BERT -> BiLSTM: L = α · CE(z_s, y) + (1 − α) · MSE(z_s, z_t).

    CE(z_s, y) = −(1/B) Σ_b log softmax(z_s,b)_{y_b} against the hard labels y (B,); MSE(z_s, z_t) =
    (1/(B·C)) Σ_{b,c} (z_s,b,c − z_t,b,c)², the mean over the (B, C) logits (the paper's ‖z_t − z_s‖² per
    example is C times it). Labels of -100 (examples with no gold label, e.g. augmented ones) drop out of CE.
    """
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}")
    s = student_logits.float()
    mse = F.mse_loss(s, teacher_logits.float())
    if alpha == 0.0:
        return mse
    keep = labels != IGNORE
    ce = F.cross_entropy(s[keep], labels[keep], reduction="sum") / max(int(keep.sum()), 1)
    return alpha * ce + (1.0 - alpha) * mse


def layer_map(student_layers: int, teacher_layers: int) -> list[int]:
    """TinyBERT's uniform layer map for m = 0 .. M: student layer m (1-based; 0 is the embeddings) learns from
    teacher layer g(m); index m of the list is g(m), which indexes `hidden_states` (embeddings + every layer).

    g(m) = m · N / M when M divides N (4 of 12: [0, 3, 6, 9, 12]), else the nearest layer, halves rounded up:
    g(m) = floor(m · N / M + 1/2) (4 of 6: [0, 2, 3, 5, 6]). Either way g(0) = 0 (embeddings from embeddings),
    g(M) = N (last from last) and g is strictly increasing (the steps N / M are >= 1), so no teacher layer
    teaches two student layers. InputError when M < 1 or M > N.
    """
    m, n = student_layers, teacher_layers
    if m < 1:
        raise InputError(f"the student needs at least one layer, got {m}")
    if m > n:
        raise InputError(f"a student of {m} layers is deeper than its {n}-layer teacher; the layer map "
                         f"g(m) = m*N/M gives each student layer its own teacher layer (at most {n})")
    return [(2 * i * n + m) // (2 * m) for i in range(m + 1)]  # floor(i*n/m + 1/2) in integers (exact)


def check_vocabularies(student_vocab: int, teacher_vocab: int) -> None:
    """InputError when student and teacher do not share a vocabulary (their predictions are compared token by
    token and they read the same input ids)."""
    if student_vocab != teacher_vocab:
        raise InputError(f"mismatched vocabularies: the student has {student_vocab} tokens, the teacher "
                         f"{teacher_vocab}; distillation needs the teacher's tokenizer for both")


# ---- objectives ------------------------------------------------------------------------------------------------
class _TeacherHolder(nn.Module):
    """Holds a frozen teacher outside the module tree: not a parameter of the objective (the trainer's optimizer
    and checkpoints skip it), kept in eval mode, run without gradients, moved to the batch's device on use."""

    def __init__(self, teacher: nn.Module, student: nn.Module) -> None:
        super().__init__()
        for name, m in (("teacher", teacher), ("student", student)):
            if not hasattr(m, "config") or not hasattr(m.config, "vocab_size"):
                raise InputError(f"the {name} must be a bertkit encoder Model, got {type(m).__name__}")
        check_vocabularies(student.config.vocab_size, teacher.config.vocab_size)
        teacher.eval().requires_grad_(False)
        self._teacher = [teacher]  # a list: not registered as a submodule

    @property
    def teacher(self) -> nn.Module:
        return self._teacher[0]

    def _run_teacher(self, device: torch.device, *args: Any, **kw: Any):
        t = self.teacher
        p = next(t.parameters(), None)
        if p is not None and p.device != device:
            t.to(device)
        t.eval()
        with torch.no_grad():
            return t(*args, **kw)


def _mlm_logits(out) -> torch.Tensor:
    logits = out.prediction_logits if out.prediction_logits is not None else out.logits
    if logits is None:
        raise InputError("the model has no MLM head (task 'mlm' or 'pretraining'); DistilBERT's soft targets are "
                         "the masked-LM predictions")
    return logits


class DistilBertObjective(_TeacherHolder):
    """DistilBERT (Sanh et al. 2019): L = α · L_ce + β · L_mlm + γ · L_cos.

    L_ce = soft_target_kl at temperature T (× T²) between the student's and teacher's MLM predictions at the
    masked positions; L_mlm the student's masked-LM cross entropy against the original tokens; L_cos =
    cosine_hidden_loss between the last hidden states over non-padded tokens. Defaults are DistilBERT's:
    α = 5, β = 2, γ = 1, T = 2. Inputs: a batch of PretrainCollator (input_ids corrupted, labels at the masked
    positions, optional attention_mask / token_type_ids). Student and teacher: encoders with an MLM head (task
    "mlm" or "pretraining") and one vocabulary; the cosine term needs equal widths.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, alpha: float = 5.0, beta: float = 2.0,
                 gamma: float = 1.0, temperature: float = 2.0) -> None:
        super().__init__(teacher, student)
        if min(alpha, beta, gamma) < 0 or alpha + beta + gamma == 0:
            raise InputError(f"loss weights must be >= 0 and not all 0, got alpha={alpha}, beta={beta}, gamma={gamma}")
        if not temperature > 0:
            raise InputError(f"the temperature must be > 0, got {temperature}")
        for name, m in (("teacher", teacher), ("student", student)):
            if "mlm" not in getattr(m, "heads", {}):
                raise InputError(f"the {name} has no MLM head (task {getattr(m, 'task', None)!r}); DistilBERT "
                                 "distils masked-LM predictions: load it with task 'mlm' or 'pretraining'")
        if gamma and student.config.hidden_size != teacher.config.hidden_size:
            raise InputError(f"the cosine loss compares hidden states of one width; the student's is "
                             f"{student.config.hidden_size}, the teacher's {teacher.config.hidden_size} "
                             "(set gamma=0 or use TinyBERT's projected losses)")
        self.alpha, self.beta, self.gamma, self.temperature = alpha, beta, gamma, temperature

    def forward(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        ids, att, types, labels = batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), \
            batch["labels"]
        pos = labels != IGNORE
        out_s = model(ids, att, types, masked_positions=pos)
        out_t = self._run_teacher(ids.device, ids, att, types, masked_positions=pos)
        s_logits, t_logits = _mlm_logits(out_s), _mlm_logits(out_t)  # (M, V)
        ce = soft_target_kl(s_logits, t_logits, self.temperature)
        mlm = masked_cross_entropy(s_logits, labels[pos])
        cos = cosine_hidden_loss(out_s.last_hidden_state, out_t.last_hidden_state, att)
        loss = self.alpha * ce + self.beta * mlm + self.gamma * cos
        return {"loss": loss, "ce_loss": ce, "mlm_loss": mlm, "cos_loss": cos}


class LogitKDObjective(_TeacherHolder):
    """Task distillation of a classifier (Hinton et al. 2015; DistilBERT's task-specific variant):
    L = α · soft_target_kl(z_s, z_t, T) + (1 − α) · CE(z_s, y).

    z_s, z_t: the student's and the frozen teacher's (B, C) classification logits; soft_target_kl is T² times
    the mean over the B rows of KL(softmax(z_t / T) ‖ softmax(z_s / T)); CE the mean cross entropy over the
    rows with a gold label (labels != -100). Rows without one (augmented text) add only to the KL term; a batch
    without any gold label gives L = α · KL. Inputs: input_ids, labels (B,), optional attention_mask /
    token_type_ids. Student and teacher: classification Models with one vocabulary and the same labels.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, alpha: float = 0.5, temperature: float = 2.0) -> None:
        super().__init__(teacher, student)
        if not 0.0 <= alpha <= 1.0:
            raise InputError(f"alpha must be in [0, 1], got {alpha}")
        if not temperature > 0:
            raise InputError(f"the temperature must be > 0, got {temperature}")
        for name, m in (("teacher", teacher), ("student", student)):
            if getattr(m, "task", None) != "classification":
                raise InputError(f"the {name} must be a classification model, got task {getattr(m, 'task', None)!r}")
        if student.config.num_labels != teacher.config.num_labels:
            raise InputError(f"the student has {student.config.num_labels} labels, the teacher "
                             f"{teacher.config.num_labels}; soft targets compare the same classes")
        self.alpha, self.temperature = alpha, temperature

    def forward(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        ids, att, types, labels = batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"), \
            batch["labels"]
        s = model(ids, att, types).logits.float()  # (B, C)
        t = self._run_teacher(ids.device, ids, att, types).logits.float()
        kl = soft_target_kl(s, t, self.temperature)
        keep = labels != IGNORE
        ce = F.cross_entropy(s[keep], labels[keep], reduction="sum") / max(int(keep.sum()), 1)
        return {"loss": self.alpha * kl + (1.0 - self.alpha) * ce, "kd_loss": kl, "ce_loss": ce}


TINYBERT_STAGES = ("intermediate", "prediction")


class TinyBertObjective(_TeacherHolder):
    """TinyBERT (Jiao et al. 2020), one of its two stages.

    stage "intermediate": L = L_embd + Σ_{m=1..M} (L_hidn(m) + L_attn(m)) with the layer map g (layer_map):
        L_embd  = projected_mse(E_s, E_t, W_e)                      (embedding outputs, hidden_states[0])
        L_hidn  = projected_mse(H_s,m, H_t,g(m), W_h)               (one W_h for every layer, as the paper)
        L_attn  = attention_score_loss(A_s,m, A_t,g(m))             (pre-softmax scores, per head)
      W_e, W_h: nn.Linear(student width -> teacher width, bias=False), parameters of this objective that the
      trainer trains with the student. Hidden-state losses average over non-padded tokens.
    stage "prediction": L = soft_cross_entropy(z_s, z_t, T) of the task logits (classification (B, C);
      token classification (B, T, C) over non-padded tokens; QA: the mean over start and end logits).
    General distillation runs "intermediate" on a corpus; task distillation runs "intermediate" then
    "prediction" with a fine-tuned teacher. Inputs: input_ids, optional attention_mask / token_type_ids.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, stage: str = "intermediate",
                 temperature: float = 1.0) -> None:
        super().__init__(teacher, student)
        if stage not in TINYBERT_STAGES:
            raise InputError(f"stage must be one of {', '.join(TINYBERT_STAGES)}, got {stage!r}")
        if not temperature > 0:
            raise InputError(f"the temperature must be > 0, got {temperature}")
        cs, ct = student.config, teacher.config
        self.stage, self.temperature = stage, temperature
        self.map = layer_map(cs.num_layers, ct.num_layers)
        if stage == "intermediate":
            if cs.num_heads != ct.num_heads:
                raise InputError(f"the attention loss compares heads one to one; the student has {cs.num_heads} "
                                 f"heads, the teacher {ct.num_heads}")
            self.w_e = nn.Linear(cs.hidden_size, ct.hidden_size, bias=False)
            self.w_h = nn.Linear(cs.hidden_size, ct.hidden_size, bias=False)
            for w in (self.w_e, self.w_h):
                nn.init.normal_(w.weight, std=0.02)
        elif student.task != teacher.task or student.task not in ("classification", "token_classification", "qa"):
            raise InputError(f"the prediction stage needs a student and teacher with the same task head "
                             f"(classification, token_classification or qa); got {student.task!r} and "
                             f"{teacher.task!r}")

    def forward(self, model: nn.Module, batch: Batch) -> dict[str, torch.Tensor]:
        ids, att, types = batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids")
        if self.stage == "prediction":
            return self._prediction(model, ids, att, types)
        # an MLM head would project every position onto the vocabulary: give it no position to predict
        none = torch.zeros_like(ids, dtype=torch.bool)
        kw = {"output_hidden_states": True, "output_attentions": "scores", "masked_positions": none}
        out_s = model(ids, att, types, **kw)
        out_t = self._run_teacher(ids.device, ids, att, types, **kw)
        hs, ht, as_, at = out_s.hidden_states, out_t.hidden_states, out_s.attentions, out_t.attentions
        if len(as_) != len(hs) - 1 or len(at) != len(ht) - 1:
            raise InputError("the attention loss needs one attention per layer (ALBERT groups with several inner "
                             "blocks have more)")
        emb = projected_mse(hs[0], ht[0], self.w_e, att)
        hidden = sum(projected_mse(hs[m], ht[g], self.w_h, att) for m, g in enumerate(self.map) if m)
        attn = sum(attention_score_loss(as_[m - 1], at[g - 1], att) for m, g in enumerate(self.map) if m)
        return {"loss": emb + hidden + attn, "emb_loss": emb, "hidden_loss": hidden, "attention_loss": attn}

    def _prediction(self, model: nn.Module, ids, att, types) -> dict[str, torch.Tensor]:
        out_s = model(ids, att, types)
        out_t = self._run_teacher(ids.device, ids, att, types)
        t = self.temperature
        if out_s.logits is not None:
            keep = att.bool() if att is not None and out_s.logits.dim() == 3 else None
            loss = soft_cross_entropy(out_s.logits, out_t.logits, t, keep)
        else:
            pad = None if att is None else att == 0
            s0, s1, t0, t1 = (x.float() if pad is None else x.float().masked_fill(pad, -1e4)
                              for x in (out_s.start_logits, out_s.end_logits, out_t.start_logits, out_t.end_logits))
            loss = (soft_cross_entropy(s0, t0, t) + soft_cross_entropy(s1, t1, t)) / 2
        return {"loss": loss, "pred_loss": loss}
