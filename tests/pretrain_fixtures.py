"""A hand-made WordPiece vocabulary (83 tokens) and a toy corpus for pretraining tests."""
from __future__ import annotations

import random
from pathlib import Path

WORDS = "the cat dog sat on mat ran fast slow big small red blue bird sang song tree house car drove road".split()
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS + ["##s", "##ing", "##ed"]
         + list("abcdefghijklmnopqrstuvwxyz")
         + ["##" + c if c != "s" else "[unused0]" for c in "abcdefghijklmnopqrstuvwxyz"]  # ##s is listed above
         + [".", ","])


def write_tokenizer(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return folder


def write_corpus(path: Path, docs: int = 30, seed: int = 0) -> Path:
    """Documents of 3-8 sentences; sentences follow a fixed grammar so MLM can learn them."""
    rng = random.Random(seed)
    out = []
    for _ in range(docs):
        for _ in range(rng.randint(3, 8)):
            a, b = rng.choice(["cat", "dog", "bird"]), rng.choice(["mat", "road", "tree", "house"])
            out.append(f"the {rng.choice(['big', 'small', 'red'])} {a}s sat on the {b} .")
        out.append("")
    path.write_text("\n".join(out) + "\n")
    return path


def assert_resume_matches(tmp_path, **spec):
    """Train `spec` to its end in tmp_path/a; copy it to tmp_path/b without its last checkpoint (as if stopped at
    the one before), resume there, and check the resumed run ends at the same step with the same loss."""
    import shutil

    from bertkit.training.pretrain import PretrainSpec, pretrain

    whole = pretrain(PretrainSpec(out=tmp_path / "a", **spec))
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    last = max((tmp_path / "b" / "checkpoints").iterdir())
    shutil.rmtree(last)
    resumed = pretrain(PretrainSpec(out=tmp_path / "b", resume=True, **spec))
    assert resumed["step"] == whole["step"]
    assert abs(resumed["loss"] - whole["loss"]) < 1e-6
