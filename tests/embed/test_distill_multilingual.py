"""Multilingual distillation: the two-term MSE against the teacher's source vector, on the shared Trainer."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import bertkit
from bertkit.embed.distill_multilingual import (DistillCollator, DistillObjective, read_parallel, teacher_examples)
from bertkit.embed.evaluate import StsData, cross_lingual
from bertkit.errors import InputError

EN = ["A man is eating.", "Two dogs play in the snow.", "A woman rides a bike.", "Children are singing.",
      "The sun is setting.", "A cat sleeps on a sofa.", "He reads the paper.", "They walk to school."]
DE = ["Ein Mann isst.", "Zwei Hunde spielen im Schnee.", "Eine Frau fährt Fahrrad.", "Kinder singen.",
      "Die Sonne geht unter.", "Eine Katze schläft auf einem Sofa.", "Er liest die Zeitung.", "Sie gehen zur Schule."]


def test_objective_is_mse_src_plus_mse_tgt_against_teacher(tiny_dir, minilm_path):
    teacher = bertkit.load(minilm_path)
    ex = teacher_examples(teacher, list(zip(EN[:3], DE[:3])))
    np.testing.assert_allclose(np.stack([e.target for e in ex]), teacher.embed(EN[:3], normalize=False), atol=1e-6)
    student = bertkit.load(minilm_path)  # a student of the teacher's width, starting from the teacher
    batch = DistillCollator(student.tokenizer, 32)(ex)
    out = DistillObjective("mean")(student.model, batch)
    s, t = student.embed(EN[:3], normalize=False), student.embed(DE[:3], normalize=False)
    tgt = teacher.embed(EN[:3], normalize=False)
    ref = ((s - tgt) ** 2).mean() + ((t - tgt) ** 2).mean()
    assert out["loss"].item() == pytest.approx(float(ref), rel=1e-4, abs=1e-7)
    assert out["mse_src"].item() < 1e-9  # student = teacher on the source side before training
    assert out["mse_tgt"].item() > 1e-4


def test_cli_distillation_lowers_the_loss(tiny_dir, tmp_path):
    import shutil

    import transformers as T

    from bertkit.cli.main import main

    student = tmp_path / "student"  # a second tiny model, different init, same 32-d width as the teacher
    torch.manual_seed(1)
    T.BertModel(T.BertConfig.from_pretrained(tiny_dir)).save_pretrained(student)
    for f in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_dir / f).is_file():
            shutil.copy(tiny_dir / f, student / f)
    (tmp_path / "en.txt").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE) + "\n", encoding="utf-8")
    out = tmp_path / "ml"
    rc = main(["distill-multilingual", "--src", str(tmp_path / "en.txt"), "--tgt", str(tmp_path / "de.txt"),
               "--teacher", str(tiny_dir), "--student", str(student), "-o", str(out), "--max-steps", "12",
               "--batch-size", "4", "--lr", "1e-3", "--dev-src", str(tmp_path / "en.txt"),
               "--dev-tgt", str(tmp_path / "de.txt"), "--eval-every", "6"])
    assert rc == 0
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    evals = [r["eval_loss"] for r in log if "eval_loss" in r]
    assert len(evals) == 2 and evals[-1] < evals[0]
    assert bertkit.load(out).pooling == "mean" and (out / "modules.json").is_file()


def test_parallel_reading_and_cross_lingual_pairs(tmp_path):
    (tmp_path / "a").write_text("x\ny\n", encoding="utf-8")
    (tmp_path / "b").write_text("only one\n", encoding="utf-8")
    with pytest.raises(InputError, match="must align"):
        read_parallel(tmp_path / "a", tmp_path / "b")
    en = StsData(["a1", "a2"], ["b1", "b2"], [1.0, 2.0])
    de = StsData(["A1", "A2"], ["B1", "B2"], [1.0, 2.0])
    x = cross_lingual(en, de)
    assert (x.sentences1, x.sentences2, x.scores) == (["a1", "a2"], ["B1", "B2"], [1.0, 2.0])
    with pytest.raises(InputError, match="row-aligned"):
        cross_lingual(en, StsData(["A1", "A2"], ["B1", "B2"], [1.0, 3.0]))
