"""Task-specific distillation (distill_task, `bertkit distill --train`) of a tiny 6-layer classifier teacher into
DistilBERT, TinyBERT and labels-only students, TinyBERT general distillation on a toy corpus, and the errors."""
from __future__ import annotations

import json
import math
import random
import shutil
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import bertkit
from bertkit.distill.task import build_student, distill_task, load_classifier
from bertkit.errors import InputError
from bertkit.objectives.distill import LogitKDObjective, TinyBertObjective, layer_map
from bertkit.tasks.batching import pad_batch
from bertkit.tasks.predictor import Predictor
from tests.conftest import save_tiny
from tests.pretrain_fixtures import write_corpus, write_tokenizer

FAST = {"batch_size": 8, "lr": 3e-3, "precision": "fp32", "progress": False, "seed": 0}
TINY_TB = {"student_layers": 4, "hidden": 16, "ffn": 20, "intermediate_steps": 8, "prediction_steps": 8}


def _rows(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a = rng.choice(["cat", "dog", "bird", "car"])
        out.append((f"the {rng.choice(['big', 'small', 'red'])} {a} sat on the {rng.choice(['mat', 'road'])}",
                    "pos" if a in ("cat", "dog") else "neg"))
    return out


def _write(path, rows, header="text\tlabel"):
    path.write_text("\n".join([header] + ["\t".join(r) for r in rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory, minilm_path):
    """A 6-layer tiny BERT classifier saved as `bertkit finetune classify` saves one (initialised sharper than
    0.02 so its soft targets carry something), a train/dev table and an augmented table without labels."""
    from bertkit.models.model import init_weights

    root = tmp_path_factory.mktemp("task")
    torch.manual_seed(0)
    cfg = bertkit.ModelConfig(vocab_size=30522, hidden_size=32, num_layers=6, num_heads=4, intermediate_size=37,
                              max_positions=128, num_labels=2, id2label={0: "neg", 1: "pos"})
    model = bertkit.build_model(cfg, "classification")
    init_weights(model, std=0.2)
    settings = {"labels": ["neg", "pos"], "kind": "single_label", "text_col": "text", "text2_col": None,
                "label_col": "label", "max_length": 32, "precision": "fp32"}
    Predictor("classify", model, bertkit.Tokenizer.from_pretrained(minilm_path), settings).save(root / "teacher")
    return SimpleNamespace(root=root, teacher=root / "teacher", train=_write(root / "train.tsv", _rows(40, 0)),
                           dev=_write(root / "dev.tsv", _rows(16, 1)),
                           aug=_write(root / "aug.tsv", [(t, "") for t, _ in _rows(8, 2)] + [("the cat ran", "pos")],
                                      "text\tlabel"))


def _batches(data, tok):
    rows = _rows(40, 0)
    enc = tok([t for t, _ in rows], max_length=32, truncation=True, padding=False)
    feats = [{"input_ids": i, "token_type_ids": s, "labels": int(lab == "pos")}
             for i, s, (_, lab) in zip(enc["input_ids"], enc["token_type_ids"], rows)]
    return [pad_batch(feats[k:k + 10], tok.pad_token_id or 0) for k in range(0, 40, 10)]


def _mean_loss(objective, model, batches) -> float:
    model.eval()
    with torch.no_grad():
        return sum(float(objective(model, b)["loss"]) for b in batches) / len(batches)


def test_layer_map_four_of_six(data):
    assert layer_map(4, 6) == [0, 2, 3, 5, 6]
    teacher, _, _ = load_classifier(data.teacher)
    student = bertkit.build_model(teacher.config.replace(num_layers=4, hidden_size=16, intermediate_size=20),
                                  "classification")
    assert TinyBertObjective(teacher, student).map == [0, 2, 3, 5, 6]


class _Fixed(nn.Module):
    """A 'model' answering fixed (B, C) logits: the objective's arithmetic on its own."""

    task = "classification"

    def __init__(self, logits):
        super().__init__()
        self.config = SimpleNamespace(vocab_size=10, num_labels=3)
        self.logits = torch.tensor(logits)

    def forward(self, *args, **kw):
        return SimpleNamespace(logits=self.logits)


def test_logit_kd_objective_equals_the_hand_computed_value():
    zs, zt = [[1.0, 2.0, 0.0], [0.5, -1.0, 1.5]], [[2.0, 0.0, 1.0], [0.0, 0.0, 3.0]]
    T, alpha = 2.0, 0.3
    obj = LogitKDObjective(_Fixed(zt), _Fixed(zs), alpha=alpha, temperature=T)
    batch = {"input_ids": torch.zeros(2, 3, dtype=torch.long), "labels": torch.tensor([2, -100])}
    got = obj(_Fixed(zs), batch)

    def softmax(z):
        e = [math.exp(x) for x in z]
        return [x / sum(e) for x in e]

    kl = 0.0
    for s, t in zip(zs, zt):
        ps, pt = softmax([x / T for x in s]), softmax([x / T for x in t])
        kl += sum(a * (math.log(a) - math.log(b)) for a, b in zip(pt, ps))
    kl = kl / 2 * T * T
    ce = -math.log(softmax(zs[0])[2])  # row 1 has no gold label: the KL term only
    assert float(got["kd_loss"]) == pytest.approx(kl, rel=1e-5)
    assert float(got["ce_loss"]) == pytest.approx(ce, rel=1e-5)
    assert float(got["loss"]) == pytest.approx(alpha * kl + (1 - alpha) * ce, rel=1e-5)
    no_gold = obj(_Fixed(zs), {**batch, "labels": torch.tensor([-100, -100])})
    assert float(no_gold["loss"]) == pytest.approx(alpha * kl, rel=1e-5)


@pytest.mark.parametrize("method", ["distilbert", "tinybert", "labels"])
def test_task_distillation_lowers_the_loss_and_saves_a_folder_with_the_same_logits(data, tmp_path, method):
    transformers = pytest.importorskip("transformers")
    from bertkit.objectives.task_losses import single_label_loss

    out = tmp_path / method
    kw = dict(FAST, **(TINY_TB if method == "tinybert" else {"steps": 20 if method == "labels" else 10}))  # CE alone learns slower
    student = distill_task(data.teacher, data.train, out, method, dev=data.dev,
                           augmented=None if method == "labels" else data.aug, **kw)
    teacher, _, _ = load_classifier(data.teacher)
    tok = bertkit.Tokenizer.from_pretrained(data.teacher)
    kind = "tinybert" if method == "tinybert" else "distilbert"
    start = build_student(kind, teacher, tok, student_layers=4, hidden=16, ffn=20, seed=0)
    loss = {"distilbert": LogitKDObjective(teacher, start, 0.5, 2.0),
            "tinybert": TinyBertObjective(teacher, start, "prediction", 1.0), "labels": single_label_loss}[method]
    batches = _batches(data, tok)
    before, after = _mean_loss(loss, start, batches), _mean_loss(loss, student, batches)
    assert after < before - 0.01, (before, after)

    report = json.loads((out / "metrics.json").read_text())
    assert report["method"] == method and report["student_layers"] == (4 if method == "tinybert" else 3)
    assert report["steps"] == {"distilbert": 10, "tinybert": 16, "labels": 20}[method]
    assert report["student_parameters"] < report["teacher_parameters"]
    assert 0.0 <= report["dev_accuracy"] <= 1.0 and report["dev_examples"] == 16
    assert report["augmented_examples"] == (0 if method == "labels" else 9)
    # only a labels-only run is anyone's twin; the resume fingerprint says the same
    run = json.loads((out / "training" / "run.json").read_text())
    assert report["twin_of"] == run["twin_of"] == ("distilbert" if method == "labels" else None)

    loaded = Predictor.load(out)
    assert loaded.labels == ["neg", "pos"]
    enc = tok(["the big cat sat on the mat", "the red car sat"], padding=True, return_tensors="pt")
    student.eval()
    with torch.no_grad():
        want = student(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
        got = loaded.model(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"]).logits
        hf = transformers.BertForSequenceClassification.from_pretrained(out).eval()
        theirs = hf(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                    token_type_ids=enc["token_type_ids"]).logits
    torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(theirs, want, atol=1e-4, rtol=1e-4)
    assert loaded.predict(["the big cat sat on the mat"])[0]["label"] in ("neg", "pos")


def test_tinybert_resumed_after_stage_one_ends_with_the_same_weights(data, tmp_path):
    tb = {**TINY_TB, "intermediate_steps": 4, "prediction_steps": 4}
    whole = distill_task(data.teacher, data.train, tmp_path / "a", "tinybert", augmented=data.aug,
                         **FAST, **tb)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "b" / "training" / "stage2")  # stopped after stage 1
    log1 = (tmp_path / "b" / "training" / "stage1" / "log.jsonl").read_text()
    resumed = distill_task(data.teacher, data.train, tmp_path / "b", "tinybert", augmented=data.aug, resume=True,
                           **FAST, **tb)
    assert (tmp_path / "b" / "training" / "stage1" / "log.jsonl").read_text() == log1  # stage 1 not rerun
    a, b = whole.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    with pytest.raises(InputError, match="these differ"):
        distill_task(data.teacher, data.train, tmp_path / "b", "tinybert", augmented=data.aug, resume=True,
                     **{**FAST, "lr": 1e-3}, **tb)


def test_general_tinybert_on_a_corpus_gives_a_student_init(data, tmp_path):
    from bertkit.cli.main import main

    corpus = write_corpus(tmp_path / "c.txt", 10)
    init = tmp_path / "general"
    rc = main(["distill", "--method", "tinybert", "--teacher", str(data.teacher), "--corpus", str(corpus), "-o",
               str(init), "--student-layers", "3", "--hidden", "16", "--ffn", "20", "--steps", "6",
               "--batch-size", "4", "--max-length", "32", "--lr", "3e-3", "--precision", "fp32", "--quiet"])
    assert rc == 0
    report = json.loads((init / "metrics.json").read_text())
    assert report["method"] == "tinybert" and report["layer_map"] == [0, 2, 4, 6] and report["steps"] == 6
    assert report["loss_last"] < report["loss_first"]
    cfg = json.loads((init / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 3 and cfg["hidden_size"] == 16 and cfg["num_attention_heads"] == 4
    general = bertkit.from_pretrained(init)
    out = tmp_path / "task"
    student = distill_task(data.teacher, data.train, out, "tinybert", student_init=init,
                           **{**FAST, "intermediate_steps": 2, "prediction_steps": 2})
    assert student.config.num_layers == 3
    report = json.loads((out / "metrics.json").read_text())
    assert report["student_init"] == str(init)
    # the encoder started from the general-distilled one (4 steps at 3e-3 move it little), not a random one
    key = "backbone.embeddings.word.weight"
    moved = (student.state_dict()[key] - general.state_dict()[key]).abs().max()
    assert moved < 0.05, moved


def test_errors_are_one_line_and_come_first(data, tmp_path, minilm_path, capsys):
    from bertkit.cli.main import main

    base = save_tiny(tmp_path / "base", minilm_path, num_layers=2)
    with pytest.raises(InputError, match=r"^the teacher .*base has no classification head; distil from a model "
                                         r"fine-tuned by `bertkit finetune classify`$"):
        distill_task(base, data.train, tmp_path / "o1", "distilbert")
    toy = tmp_path / "toy"
    write_tokenizer(toy)
    cfg = bertkit.ModelConfig(vocab_size=83, hidden_size=16, num_layers=2, num_heads=4, intermediate_size=20,
                              max_positions=64)
    bertkit.save_pretrained(bertkit.build_model(cfg, "base"), toy, tokenizer=bertkit.Tokenizer.from_pretrained(toy))
    with pytest.raises(InputError, match=r"^mismatched vocabularies: the student has 83 tokens, the teacher 30522; "
                                         r"distillation needs the teacher's tokenizer for both$"):
        distill_task(data.teacher, data.train, tmp_path / "o2", "tinybert", student_init=toy)
    empty = tmp_path / "empty.tsv"
    empty.write_text("text\tlabel\n")
    with pytest.raises(InputError, match=r"empty.tsv: no usable rows$"):
        distill_task(data.teacher, empty, tmp_path / "o3", "distilbert")
    bad = _write(tmp_path / "bad.tsv", [("the cat sat", "maybe")])
    with pytest.raises(InputError, match=r"label\(s\) 'maybe' \(line 2\) do not occur in the teacher's labels"):
        distill_task(data.teacher, bad, tmp_path / "o4", "distilbert")
    for out in ("o1", "o2", "o3", "o4"):
        assert not (tmp_path / out).exists()

    capsys.readouterr()
    rc = main(["distill", "--teacher", str(data.teacher), "--train", str(data.train), "--corpus", "c.txt",
               "-o", str(tmp_path / "o5")])
    err = capsys.readouterr().err
    assert rc == 2 and err == ("bertkit: error: give --corpus (general distillation) or --train (task "
                               "distillation), not both\n")
    rc = main(["distill", "-o", str(tmp_path / "o6")])
    assert rc == 2 and "give --corpus FILES (general distillation) or --train FILE" in capsys.readouterr().err
    rc = main(["distill", "--train", str(data.train), "-o", str(tmp_path / "o7")])
    assert rc == 2 and "task distillation needs --teacher" in capsys.readouterr().err


def test_a_distilbert_twin_from_student_init_inherits_nothing_from_the_teacher(data, tmp_path, minilm_path):
    """student_init for a DistilBERT-shaped student: blocks `layers` and the embeddings of that pretrained
    folder, a fresh classifier head, the teacher's labels; none of the fine-tuned teacher's weights."""
    pre = save_tiny(tmp_path / "pre", minilm_path, seed=3, num_layers=6, intermediate_size=37)
    teacher, _, _ = load_classifier(data.teacher)
    tok = bertkit.Tokenizer.from_pretrained(data.teacher)
    init = bertkit.from_pretrained(pre)
    student = build_student("distilbert", teacher, tok, layers=[0, 2, 4], student_init=pre)
    assert student.config.num_layers == 3 and student.config.num_labels == 2
    assert student.config.id2label == teacher.config.id2label
    s, p, t = student.state_dict(), init.state_dict(), teacher.state_dict()
    blocks = "backbone.encoder.blocks."
    for key, w in s.items():
        if key.startswith(blocks):
            i, rest = key[len(blocks):].split(".", 1)
            src = f"{blocks}{[0, 2, 4][int(i)]}.{rest}"
            assert torch.equal(w, p[src]), key
        elif key.startswith("backbone."):  # embeddings, pooler
            assert torch.equal(w, p[key]), key
        if w.dim() == 2:  # every matrix, the fresh classifier head's too, differs from the teacher's
            assert not torch.equal(w, t[key]), key
    assert any(not k.startswith("backbone.") for k in s)
    with pytest.raises(InputError, match=r"^student_init folder not found: .*nowhere$"):
        build_student("distilbert", teacher, tok, student_init=tmp_path / "nowhere")
