"""ktrain's workflow: lr_find (range test, suggestions, model untouched), fit_onecycle / autofit on the one Trainer,
validate's per-class report and confusion matrix (against scikit-learn), and the CLI's --lr-find / --schedule."""
from __future__ import annotations

import hashlib
import json
import math
import random

import numpy as np
import pytest

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.tasks.lr_find import LRFind, smooth

POS, NEG = ["great", "wonderful", "loved", "superb"], ["awful", "terrible", "hated", "boring"]


def _reviews(path, n, seed, flip_every=0):
    """n reviews; with flip_every k, every k-th label is the wrong one (so a dev report has errors to count)."""
    r = random.Random(seed)
    rows = ["review\tsentiment"]
    for i in range(n):
        y = r.choice(["pos", "neg"])
        word = r.choice(POS if y == "pos" else NEG)
        if flip_every and i % flip_every == 0:
            y = "neg" if y == "pos" else "pos"
        rows.append(f"the song was {word}, {r.choice(['yes', 'ok'])}\t{y}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("learner")
    return _reviews(d / "train.tsv", 96, 0), _reviews(d / "dev.tsv", 30, 1, flip_every=4), d


def _digest(folder) -> str:
    return hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_suggestions_are_read_off_the_smoothed_curve():
    lrs = [10.0 ** k for k in range(-6, 2)]  # 1e-6 ... 10
    sm = [2.0, 1.98, 1.9, 1.5, 0.9, 0.6, 0.8, 3.0]  # steepest between 1e-3 and 1e-2, minimum at 1e-1
    found = LRFind(lrs, sm, smoothed=sm)
    assert found.min_loss_lr == pytest.approx(1e-1)
    assert found.suggested == pytest.approx(1e-2)
    # central slopes per decade: at 1e-5 -0.05, 1e-4 -0.24, 1e-3 -0.5, 1e-2 -0.45, then rising: steepest at 1e-3
    assert found.steepest == pytest.approx(1e-3)
    assert LRFind([1e-3, 1e-2], [1.0, 2.0], smoothed=[1.0, 2.0]).steepest is None  # the minimum comes first
    with pytest.raises(InputError, match="no finite loss"):
        LRFind([1e-3, 1e-2], [math.nan, math.inf]).min_loss_lr
    assert smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])  # bias-corrected average


def test_lr_find_sweeps_geometrically_and_leaves_the_model_alone(tiny, files, tmp_path):
    train, _, _ = files
    before = _digest(tiny)
    found = bertkit.lr_find("classify", train, model=tiny, start_lr=1e-6, end_lr=1.0, steps=25, batch_size=8,
                            precision="fp32", divergence=None, plot=tmp_path / "lr.png", progress=False)
    assert len(found.lrs) == len(found.losses) == 25 and not found.diverged
    ratios = np.asarray(found.lrs[1:]) / np.asarray(found.lrs[:-1])
    np.testing.assert_allclose(ratios, 10 ** (6 / 24), rtol=1e-9)  # the same factor every step, 1e-6 -> 1
    assert found.lrs[0] == pytest.approx(1e-6) and found.lrs[-1] == pytest.approx(1.0)
    assert found.losses[0] == pytest.approx(math.log(2), abs=0.2)  # a fresh 2-way head starts near ln 2
    assert found.smoothed == pytest.approx(smooth(found.losses))
    assert found.lrs[0] <= found.suggested < found.min_loss_lr
    assert (tmp_path / "lr.png").stat().st_size > 5000
    assert _digest(tiny) == before
    with pytest.raises(InputError, match="start_lr 1 must be > 0 and below end_lr 0.1"):
        bertkit.lr_find("classify", train, model=tiny, start_lr=1.0, end_lr=0.1)
    with pytest.raises(InputError, match="at least 3 steps"):
        bertkit.lr_find("classify", train, model=tiny, steps=2)
    with pytest.raises(InputError, match="unknown argument.*epochs"):
        bertkit.lr_find("classify", train, model=tiny, epochs=3)


def test_lr_find_stops_when_the_loss_diverges(tiny, files):
    train, _, _ = files
    found = bertkit.lr_find("classify", train, model=tiny, start_lr=1e-4, end_lr=1e4, steps=120, batch_size=8,
                            precision="fp32", progress=False)
    assert found.diverged and len(found.losses) < 120
    assert found.smoothed[-1] > 4 * min(found.smoothed[:-1])


def test_learner_fits_onecycle_then_continues_and_validates(tiny, files):
    from sklearn.metrics import classification_report, confusion_matrix

    train, dev, d = files
    learner = bertkit.Learner("classify", train, dev=dev, model=tiny, out=d / "run", batch_size=8,
                              precision="fp32", progress=False)
    first_loss = learner.lr_find(start_lr=1e-6, end_lr=1e-5, steps=4, divergence=None).losses[0]
    rep = learner.fit_onecycle(1e-2, epochs=3)
    steps = rep["steps"]
    assert rep["schedule"] == "onecycle" and steps == 36  # 96 rows / 8 x 3 epochs, no early stop
    log = [json.loads(x) for x in (d / "run" / "fit1" / "training" / "log.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["lr"] for r in log if "lr" in r}  # logged every 1 step here: the rate each step ran at
    warm = int(0.3 * steps)
    assert lrs[1] == pytest.approx(1e-2 / 25)
    assert max(lrs.values()) == pytest.approx(1e-2) == lrs[warm + 1]
    assert lrs[steps] == pytest.approx(1e-2 * (1e-4 + (1 - 1e-4) * (1 + math.cos(math.pi * (steps - 1 - warm) /
                                                                                    (steps - warm))) / 2))
    # the next sweep starts from the fitted model: its first loss is far below a fresh head's
    assert learner.lr_find(start_lr=1e-6, end_lr=1e-5, steps=4, divergence=None).losses[0] < 0.75 * first_loss
    res = learner.validate()
    preds = [p["label"] for p in learner.predictor.predict([r.split("\t")[0] for r in
                                                            dev.read_text().splitlines()[1:]])]
    gold = [r.split("\t")[1] for r in dev.read_text().splitlines()[1:]]
    labels = learner.predictor.labels
    ref = classification_report(gold, preds, labels=labels, output_dict=True, zero_division=0)
    for name in labels + ["macro avg", "weighted avg"]:
        for k, ours in (("precision", "precision"), ("recall", "recall"), ("f1-score", "f1"), ("support", "support")):
            assert res["report"][name][ours] == pytest.approx(ref[name][k]), (name, k)
    assert res["confusion"] == confusion_matrix(gold, preds, labels=labels).tolist()
    assert res["accuracy"] == pytest.approx(ref["accuracy"])
    assert "accuracy" in res["text"] and all(lab in res["text"] for lab in labels)
    import matplotlib.image

    img = matplotlib.image.imread(res["png"])
    assert img.shape[0] > 200 and img.shape[1] > 200 and img[..., :3].std() > 0.05  # drawn, not blank
    rep2 = learner.autofit(1e-3, epochs=2)  # continues from fit1 into fit2
    assert rep2["schedule"] == "triangular" and (d / "run" / "fit2" / "config.json").is_file()
    assert rep2["history"][0]["eval_accuracy"] >= rep["best"]["eval_accuracy"] - 0.1


def test_autofit_halves_the_rate_on_a_plateau_and_needs_a_dev_set(tiny, files):
    train, dev, d = files
    with pytest.raises(InputError, match="give the learner a dev set"):
        bertkit.Learner("classify", train, model=tiny, out=d / "nodev", progress=False).autofit(1e-3)
    learner = bertkit.Learner("classify", train, dev=dev, model=tiny, out=d / "plateau", batch_size=8,
                              precision="fp32", progress=False)
    rep = learner.fit(1e-6, epochs=4, schedule="triangular", reduce_on_plateau=1, patience=None)
    accs = [h["eval_accuracy"] for h in rep["history"]]
    log = [json.loads(x) for x in (d / "plateau" / "fit1" / "training" / "log.jsonl").read_text().splitlines()]
    lrs = {r["step"]: r["lr"] for r in log if "lr" in r}
    # one triangular cycle an epoch (12 steps): epoch e's step k runs at 1e-6 * tri(k) * 0.5^(misses so far)
    misses, expected = 0, {}
    best = -1.0
    for e in range(4):
        for k in range(12):
            t = k / 12
            expected[e * 12 + k + 1] = 1e-6 * (0.1 + 0.9 * (1 - abs(2 * t - 1))) * 0.5 ** misses
        if accs[e] > best:
            best = accs[e]
        else:
            misses += 1
    assert [lrs[s] for s in sorted(lrs)] == pytest.approx([expected[s] for s in sorted(lrs)])
    with pytest.raises(InputError, match="schedule must be one of linear, onecycle, triangular, got 'cyclic'"):
        bertkit.finetune("classify", train, model=tiny, schedule="cyclic")


def test_cli_lr_find_and_schedule(tiny, files, tmp_path, capsys):
    train, dev, _ = files
    out = tmp_path / "cli"
    assert main(["finetune", "classify", "--train", str(train), "--model", str(tiny), "--out", str(out),
                 "--lr-find", "--lr-find-steps", "20", "--batch-size", "8", "--precision", "fp32", "--quiet"]) == 0
    text = capsys.readouterr().out
    rec = json.loads((out / "lr_find.json").read_text())
    assert len(rec["lrs"]) == len(rec["losses"]) <= 20 and f"suggested (min / 10) {rec['suggested']:.2e}" in text
    assert (out / "lr_find.png").is_file() and not (out / "config.json").exists()  # swept, not trained
    assert main(["finetune", "classify", "--train", str(train), "--dev", str(dev), "--model", str(tiny), "--out",
                 str(out / "m"), "--schedule", "onecycle", "--epochs", "1", "--lr", "1e-3", "--batch-size", "8",
                 "--precision", "fp32", "--quiet"]) == 0
    assert json.loads((out / "m" / "metrics.json").read_text())["schedule"] == "onecycle"
