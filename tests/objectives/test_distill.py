"""Distillation losses against numbers worked out by explicit loops, the layer map, the DistilBERT and TinyBERT
objectives' wiring (teacher frozen and kept out of training), and a tiny DistilBERT run on the Trainer."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from bertkit.errors import InputError
from bertkit.models import Model
from bertkit.models.model import init_weights
from bertkit.objectives.distill import (DistilBertObjective, TinyBertObjective, attention_score_loss,
                                        cosine_hidden_loss, layer_map, logit_distill_loss, projected_mse,
                                        soft_cross_entropy, soft_target_kl)
from tests.training.tiny_run import collate, static_mlm_data, tiny_config


def _softmax(row: list[float], t: float = 1.0) -> list[float]:
    e = [math.exp(v / t) for v in row]
    return [v / sum(e) for v in e]


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---- losses ----------------------------------------------------------------------------------------------------
def test_soft_target_kl_is_t_squared_mean_kl_over_kept_positions():
    s, t = _rand(2, 3, 4, seed=1), _rand(2, 3, 4, seed=2)
    labels = torch.tensor([[-100, 7, 2], [5, -100, -100]])  # MLM labels: three positions count
    T = 2.0
    total, rows = 0.0, 0
    for b in range(2):
        for i in range(3):
            if labels[b, i] == -100:
                continue
            ps, pt = _softmax(s[b, i].tolist(), T), _softmax(t[b, i].tolist(), T)
            total += sum(pt[v] * (math.log(pt[v]) - math.log(ps[v])) for v in range(4))
            rows += 1
    want = T * T * total / rows
    assert soft_target_kl(s, t, T, mask=labels != -100).item() == pytest.approx(want, rel=1e-5)
    # gathered rows (the objective's (M, V) logits) give the same without a mask
    keep = labels != -100
    assert soft_target_kl(s[keep], t[keep], T).item() == pytest.approx(want, rel=1e-5)
    assert soft_target_kl(t, t, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    assert soft_target_kl(s, t, mask=torch.zeros(2, 3, dtype=torch.bool)).item() == 0.0


def test_cosine_loss_is_mean_one_minus_cosine_over_real_tokens():
    s, t = _rand(2, 3, 5, seed=3), _rand(2, 3, 5, seed=4)
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    terms = []
    for b in range(2):
        for i in range(3):
            if mask[b, i]:
                x, y = s[b, i].tolist(), t[b, i].tolist()
                dot = sum(a * c for a, c in zip(x, y))
                terms.append(1 - dot / (math.sqrt(sum(a * a for a in x)) * math.sqrt(sum(c * c for c in y))))
    assert cosine_hidden_loss(s, t, mask).item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert cosine_hidden_loss(s, 3.0 * s).item() == pytest.approx(0.0, abs=1e-6)  # direction only
    assert cosine_hidden_loss(s, -s).item() == pytest.approx(2.0, rel=1e-6)


def test_projected_mse_maps_student_width_to_teacher_width():
    s, t = _rand(2, 3, 2, seed=5), _rand(2, 3, 3, seed=6)
    w = torch.nn.Linear(2, 3, bias=False)
    with torch.no_grad():
        w.weight.copy_(torch.tensor([[1.0, 2.0], [0.5, -1.0], [0.0, 3.0]]))  # (teacher 3, student 2)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    total, n = 0.0, 0
    for b in range(2):
        for i in range(3):
            if not mask[b, i]:
                continue
            for j in range(3):
                proj = sum(s[b, i, k].item() * w.weight[j, k].item() for k in range(2))
                total += (proj - t[b, i, j].item()) ** 2
                n += 1
    assert projected_mse(s, t, w, mask).item() == pytest.approx(total / n, rel=1e-5)
    same = _rand(2, 3, 3, seed=7)
    assert projected_mse(same, t).item() == pytest.approx(((same - t) ** 2).mean().item(), rel=1e-6)


def test_attention_loss_zeroes_padded_keys_and_averages_over_every_entry():
    B, H, T = 2, 2, 3
    s, t = _rand(B, H, T, T, seed=8), _rand(B, H, T, T, seed=9)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    low = torch.finfo(torch.float32).min
    s[1, :, :, 2], t[1, :, :, 2] = low, low  # what the model returns at a padded key: the bias
    total = 0.0
    for b in range(B):
        for h in range(H):
            for q in range(T):
                for k in range(T):
                    if mask[b, k]:
                        total += (s[b, h, q, k].item() - t[b, h, q, k].item()) ** 2
    want = total / (B * H * T * T)
    got = attention_score_loss(s, t, mask)
    assert math.isfinite(got.item()) and got.item() == pytest.approx(want, rel=1e-5)
    # TinyBERT's implementation: scores <= -1e2 (masked) set to zero in both, then nn.MSELoss
    z = lambda a: torch.where(a <= -1e2, torch.zeros_like(a), a)  # noqa: E731
    assert got.item() == pytest.approx(F.mse_loss(z(s), z(t)).item(), rel=1e-6)


def test_soft_cross_entropy_at_temperature():
    s, t = _rand(3, 4, seed=10), _rand(3, 4, seed=11)
    T = 1.5
    want = 0.0
    for n in range(3):
        ps, pt = _softmax(s[n].tolist(), T), _softmax(t[n].tolist(), T)
        want -= sum(pt[c] * math.log(ps[c]) for c in range(4))
    assert soft_cross_entropy(s, t, T).item() == pytest.approx(want / 3, rel=1e-5)
    # token logits: padded rows drop out
    tok_s, tok_t = _rand(1, 2, 4, seed=12), _rand(1, 2, 4, seed=13)
    only_first = soft_cross_entropy(tok_s[:, :1], tok_t[:, :1])
    torch.testing.assert_close(soft_cross_entropy(tok_s, tok_t, mask=torch.tensor([[True, False]])), only_first)


def test_logit_distill_loss_mixes_hard_ce_and_logit_mse():
    s, t = _rand(3, 2, seed=14), _rand(3, 2, seed=15)
    y = torch.tensor([1, 0, -100])  # the third example has no gold label (augmented)
    ce = -sum(math.log(_softmax(s[n].tolist())[int(y[n])]) for n in range(2)) / 2
    mse = sum((s[n, c].item() - t[n, c].item()) ** 2 for n in range(3) for c in range(2)) / 6
    assert logit_distill_loss(s, t, y, alpha=0.3).item() == pytest.approx(0.3 * ce + 0.7 * mse, rel=1e-5)
    assert logit_distill_loss(s, t, y, alpha=0.0).item() == pytest.approx(mse, rel=1e-5)
    assert logit_distill_loss(s, t, y, alpha=1.0).item() == pytest.approx(ce, rel=1e-5)
    with pytest.raises(InputError, match=r"alpha must be in \[0, 1\]"):
        logit_distill_loss(s, t, y, alpha=1.5)


def test_layer_map_is_m_times_n_over_m_rounded_and_refuses_what_it_cannot_map():
    assert layer_map(4, 12) == [0, 3, 6, 9, 12]
    assert layer_map(6, 12) == [0, 2, 4, 6, 8, 10, 12]
    assert layer_map(3, 3) == [0, 1, 2, 3]
    assert layer_map(1, 4) == [0, 4]
    assert layer_map(4, 6) == [0, 2, 3, 5, 6]  # floor(m*6/4 + 1/2): 1.5 -> 2, 3, 4.5 -> 5, 6
    assert layer_map(5, 12) == [0, 2, 5, 7, 10, 12]  # 2.4, 4.8, 7.2, 9.6
    assert layer_map(3, 4) == [0, 1, 3, 4]  # 1.33, 2.67
    for n in range(1, 25):
        for m in range(1, n + 1):
            g = layer_map(m, n)
            assert g[0] == 0 and g[-1] == n and all(g[i] < g[i + 1] for i in range(m))
    with pytest.raises(InputError, match="a student of 8 layers is deeper than its 4-layer teacher"):
        layer_map(8, 4)
    with pytest.raises(InputError, match="at least one layer"):
        layer_map(0, 4)


# ---- objectives ------------------------------------------------------------------------------------------------
def _pair(teacher_layers=4, student_layers=2, task="mlm", **student_kw):
    torch.manual_seed(0)
    teacher = Model(tiny_config(num_layers=teacher_layers), task)
    student = Model(tiny_config(num_layers=student_layers, **student_kw), task)
    return teacher, student


def _batch(n=4, pad=True):
    batch = collate(static_mlm_data(n))
    batch.pop("num_items")
    if pad:
        batch["attention_mask"][1, 11:] = 0
        batch["attention_mask"][3, 6:] = 0
        batch["labels"][batch["attention_mask"] == 0] = -100
    return batch


def test_distilbert_objective_is_alpha_kl_plus_beta_mlm_plus_gamma_cos():
    teacher, student = _pair()
    student.eval()
    obj = DistilBertObjective(teacher, student, alpha=0.7, beta=0.2, gamma=0.1, temperature=3.0)
    batch = _batch()
    out = obj(student, batch)
    ids, att, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    with torch.no_grad():  # full-vocabulary logits at every position, then the masked ones picked by the mask
        fs, ft = student(ids, att), teacher.eval()(ids, att)
    keep = labels != -100
    kl = soft_target_kl(fs.logits, ft.logits, 3.0, mask=keep)
    mlm = F.cross_entropy(fs.logits.reshape(-1, 99), labels.reshape(-1), ignore_index=-100)
    cos = cosine_hidden_loss(fs.last_hidden_state, ft.last_hidden_state, att)
    torch.testing.assert_close(out["ce_loss"], kl, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["mlm_loss"], mlm, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["cos_loss"], cos, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["loss"], 0.7 * kl + 0.2 * mlm + 0.1 * cos, atol=1e-6, rtol=1e-5)


def test_teacher_is_frozen_in_eval_mode_and_outside_the_objectives_state():
    teacher, student = _pair()
    teacher.train()
    obj = DistilBertObjective(teacher, student)
    obj.train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert list(obj.parameters()) == [] and list(obj.state_dict()) == []
    out = obj(student.train(), _batch())
    out["loss"].backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert student.backbone.encoder.blocks[0].attn.q.weight.grad.abs().sum() > 0
    assert not teacher.training  # a dropout-free teacher: its targets do not change between calls
    with torch.no_grad():
        again = obj(student.eval(), _batch())
        twice = obj(student, _batch())
    torch.testing.assert_close(again["loss"], twice["loss"])


def test_distilbert_objective_refuses_what_it_cannot_distil():
    teacher, _ = _pair()
    with pytest.raises(InputError, match="mismatched vocabularies: the student has 50 tokens, the teacher 99"):
        DistilBertObjective(teacher, Model(tiny_config(vocab_size=50), "mlm"))
    with pytest.raises(InputError, match="the student has no MLM head"):
        DistilBertObjective(teacher, Model(tiny_config(), "classification"))
    with pytest.raises(InputError, match="one width; the student's is 16, the teacher's 32"):
        DistilBertObjective(teacher, Model(tiny_config(hidden_size=16), "mlm"))
    DistilBertObjective(teacher, Model(tiny_config(hidden_size=16), "mlm"), gamma=0.0)  # no cosine: any width
    with pytest.raises(InputError, match="temperature must be > 0"):
        DistilBertObjective(teacher, teacher, temperature=0)


def test_tinybert_intermediate_sums_embedding_hidden_and_attention_losses_by_the_layer_map():
    teacher, student = _pair(task="base", student_layers=2, hidden_size=16, intermediate_size=20)
    obj = TinyBertObjective(teacher, student.eval())
    assert obj.map == [0, 2, 4] and obj.w_e.weight.shape == (32, 16) and obj.w_h.bias is None
    batch = _batch()
    out = obj(student, batch)
    ids, att = batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        s = student(ids, att, output_hidden_states=True, output_attentions="scores")
        t = teacher(ids, att, output_hidden_states=True, output_attentions="scores")
    keep = att.bool()

    def mse(x, y):  # over real tokens, written out as a sum of squares
        d = (x - y)[keep]
        return (d ** 2).sum() / d.numel()

    emb = mse(s.hidden_states[0] @ obj.w_e.weight.T, t.hidden_states[0])
    hid = mse(s.hidden_states[1] @ obj.w_h.weight.T, t.hidden_states[2]) \
        + mse(s.hidden_states[2] @ obj.w_h.weight.T, t.hidden_states[4])
    att_loss = attention_score_loss(s.attentions[0], t.attentions[1], att) \
        + attention_score_loss(s.attentions[1], t.attentions[3], att)
    torch.testing.assert_close(out["emb_loss"], emb, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["hidden_loss"], hid, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["attention_loss"], att_loss, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out["loss"], emb + hid + att_loss, atol=1e-6, rtol=1e-5)
    out["loss"].backward()  # W_e and W_h learn with the student
    assert obj.w_e.weight.grad.abs().sum() > 0 and obj.w_h.weight.grad.abs().sum() > 0
    assert sorted(obj.state_dict()) == ["w_e.weight", "w_h.weight"]


def test_tinybert_prediction_stage_is_soft_cross_entropy_of_task_logits():
    teacher, student = _pair(task="classification", student_layers=1)
    obj = TinyBertObjective(teacher, student.eval(), stage="prediction", temperature=2.0)
    batch = _batch()
    out = obj(student, batch)
    with torch.no_grad():
        zs = student(batch["input_ids"], batch["attention_mask"]).logits
        zt = teacher(batch["input_ids"], batch["attention_mask"]).logits
    want = -(F.softmax(zt / 2, -1) * F.log_softmax(zs / 2, -1)).sum(-1).mean()
    torch.testing.assert_close(out["loss"], want, atol=1e-6, rtol=1e-5)
    assert list(obj.parameters()) == []


def test_tinybert_objective_errors():
    teacher, _ = _pair(task="base")
    assert TinyBertObjective(teacher, Model(tiny_config(num_layers=3), "base")).map == [0, 1, 3, 4]
    with pytest.raises(InputError, match="a student of 5 layers is deeper than its 4-layer teacher"):
        TinyBertObjective(teacher, Model(tiny_config(num_layers=5), "base"))
    with pytest.raises(InputError, match="student has 2 heads, the teacher 4"):
        TinyBertObjective(teacher, Model(tiny_config(num_heads=2), "base"))
    with pytest.raises(InputError, match="stage must be one of intermediate, prediction"):
        TinyBertObjective(teacher, Model(tiny_config(), "base"), stage="general")
    with pytest.raises(InputError, match="same task head"):
        TinyBertObjective(teacher, Model(tiny_config(), "classification"), stage="prediction")
    with pytest.raises(InputError, match="mismatched vocabularies"):
        TinyBertObjective(teacher, Model(tiny_config(vocab_size=98), "base"))


# ---- end to end ------------------------------------------------------------------------------------------------
def test_twenty_trainer_steps_of_distilbert_lower_the_distillation_loss(tmp_path):
    """A 4-layer teacher, its every-other-layer student, DistilBERT's objective on the one Trainer over a toy
    corpus: the held-out loss (same masks before and after) falls; the teacher does not move."""
    from bertkit.data.collate import PretrainCollator
    from bertkit.distill import distilbert_student
    from bertkit.tokenizers import Tokenizer
    from bertkit.training import TrainConfig, Trainer
    from bertkit.training.pretrain import masking_vocab
    from tests.pretrain_fixtures import write_corpus, write_tokenizer

    tok = Tokenizer.from_pretrained(write_tokenizer(tmp_path / "tok"))
    lines = [x for x in write_corpus(tmp_path / "c.txt", 12).read_text().splitlines() if x]
    ids = tok(lines, truncation=True, max_length=24)["input_ids"]
    data = [{"input_ids": x, "token_type_ids": [0] * len(x)} for x in ids]
    torch.manual_seed(0)
    teacher = Model(tiny_config(vocab_size=tok.vocab_size, num_layers=4), "mlm").eval()
    init_weights(teacher, std=0.2)  # BERT's 0.02 predicts near-uniformly: soft targets with nothing to learn
    student = distilbert_student(teacher)  # teacher blocks 0 and 2: its predictions differ from the teacher's
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    collate_fn = PretrainCollator(masking_vocab(tok), tok.pad_token_id)
    cfg = TrainConfig(out_dir=tmp_path / "run", max_steps=20, batch_size=8, lr=3e-3, log_every=5, eval_every=20,
                      eval_at_start=True, progress=False, save_final=False, checkpoint_at_end=False)
    metrics = Trainer(student, DistilBertObjective(teacher, student), data, config=cfg, collate_fn=collate_fn,
                      eval_data=data[:32]).fit()
    assert metrics["step"] == 20
    assert metrics["eval_loss"] < 0.8 * metrics["initial_eval_loss"]
    assert metrics["eval_ce_loss"] < 0.5 * metrics["initial_eval_ce_loss"]  # the student learnt the soft targets
    assert metrics["eval_cos_loss"] < metrics["initial_eval_cos_loss"]
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {"ce_loss", "mlm_loss", "cos_loss"} <= set(log[1])
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, before[k]), k
