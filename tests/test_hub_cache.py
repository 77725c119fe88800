"""Model ids resolve offline through a Hugging Face hub cache laid out as huggingface_hub writes it."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import bertkit
from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.hub.cache import hub_cache_dir, parse_model_id
from bertkit.hub.default import resolve_model_path

REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def add_snapshot(cache: Path, repo: str, commit: str, src: Path) -> Path:
    """Put `src`'s files in `cache` as the hub does: content in blobs/<sha256>, the snapshot made of relative
    symlinks into blobs/ (subfolders like 1_Pooling/ too)."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snap = repo_dir / "snapshots" / commit
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        data = f.read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / f.relative_to(src)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snap


def set_ref(cache: Path, repo: str, commit: str, ref: str = "main") -> None:
    ref_file = cache / ("models--" + repo.replace("/", "--")) / "refs" / ref
    ref_file.parent.mkdir(parents=True, exist_ok=True)
    ref_file.write_text(commit)  # the hub writes the bare hash, no newline


@pytest.fixture(scope="module")
def tiny_dir(tiny):
    """The tiny random model (tests/conftest.py): a second model, easy to tell from MiniLM."""
    return tiny


@pytest.fixture(scope="module")
def cache(tmp_path_factory, minilm_path, tiny_dir):
    """A hub cache holding MiniLM at COMMIT_A (refs/main) and the tiny model at COMMIT_B (refs/tiny)."""
    c = tmp_path_factory.mktemp("hub")
    add_snapshot(c, REPO, COMMIT_A, minilm_path)
    add_snapshot(c, REPO, COMMIT_B, tiny_dir)
    set_ref(c, REPO, COMMIT_A)
    set_ref(c, REPO, COMMIT_B, "tiny")
    return c


@pytest.fixture
def use_cache(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)  # no local folder named like the id
    return cache


def test_snapshot_files_are_symlinks_into_blobs(cache):
    snap = cache / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / COMMIT_A
    assert (snap / "model.safetensors").is_symlink() and (snap / "1_Pooling" / "config.json").is_symlink()
    assert (snap / "model.safetensors").resolve().parent.name == "blobs"


def test_load_by_id_embeds_like_the_folder(use_cache, minilm_path):
    texts = ["A man is eating food.", "The cat sits on the mat."]
    by_id = bertkit.load(REPO)
    want = bertkit.load(minilm_path).embed(texts)
    np.testing.assert_array_equal(by_id.embed(texts), want)
    assert by_id.name == REPO  # not the snapshot's commit hash
    assert by_id.path == use_cache / "models--sentence-transformers--all-MiniLM-L6-v2" / "snapshots" / COMMIT_A
    assert by_id.pooling == "mean" and by_id.normalize  # 1_Pooling/ and 2_Normalize read through the symlinks


def test_from_pretrained_and_tokenizer_by_id(use_cache, minilm_path):
    model, ref = bertkit.from_pretrained(REPO), bertkit.from_pretrained(minilm_path)
    assert model.config.hidden_size == 384 and model.config.num_layers == 6
    for (k, a), (_, b) in zip(model.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    assert model.pretrained_path.name == COMMIT_A
    text = "Hugging Face caches files under blobs/"
    assert bertkit.Tokenizer.from_pretrained(REPO).encode(text) == \
        bertkit.Tokenizer.from_pretrained(minilm_path).encode(text)


def test_refs_main_picks_the_snapshot(cache, monkeypatch, tmp_path):
    c = tmp_path / "hub"
    shutil.copytree(cache, c, symlinks=True)  # relative links stay valid in the copy
    monkeypatch.setenv("HF_HUB_CACHE", str(c))
    monkeypatch.chdir(tmp_path)
    assert bertkit.from_pretrained(REPO).config.hidden_size == 384  # refs/main -> COMMIT_A
    set_ref(c, REPO, COMMIT_B)
    assert bertkit.from_pretrained(REPO).config.hidden_size == 32  # refs/main moved to the other snapshot
    # @revision: a branch under refs/, or a commit hash
    assert resolve_model_path(f"{REPO}@tiny").name == COMMIT_B
    assert bertkit.from_pretrained(f"{REPO}@{COMMIT_A}").config.hidden_size == 384


def test_hf_hub_cache_beats_hf_home(cache, minilm_path, tiny_dir, monkeypatch, tmp_path):
    home = tmp_path / "hf_home"
    add_snapshot(home / "hub", REPO, COMMIT_B, tiny_dir)
    set_ref(home / "hub", REPO, COMMIT_B)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert hub_cache_dir() == cache
    assert bertkit.from_pretrained(REPO).config.hidden_size == 384
    monkeypatch.delenv("HF_HUB_CACHE")
    assert hub_cache_dir() == home / "hub"
    assert bertkit.from_pretrained(REPO).config.hidden_size == 32
    monkeypatch.delenv("HF_HOME")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert hub_cache_dir() == tmp_path / "user" / ".cache" / "huggingface" / "hub"


def test_missing_id_names_the_paths_looked_for(use_cache, tmp_path):
    repo_dir = use_cache / "models--org--absent"
    with pytest.raises(InputError) as e:
        bertkit.load("org/absent")
    msg = str(e.value)
    assert str(tmp_path / "org" / "absent") in msg and str(repo_dir) in msg
    assert "never downloads" in msg and "\n" not in msg
    # a cached model without that revision: the ref and the snapshot looked for are named
    with pytest.raises(InputError) as e:
        bertkit.Tokenizer.from_pretrained(f"{REPO}@v9")
    base = use_cache / "models--sentence-transformers--all-MiniLM-L6-v2"
    assert str(base / "refs" / "v9") in str(e.value) and str(base / "snapshots" / "v9") in str(e.value)
    # refs/main naming a snapshot that is not there (an interrupted download)
    with pytest.raises(InputError, match=r"snapshots/deadbeef"):
        set_ref(use_cache, "org/broken", "deadbeef")
        resolve_model_path("org/broken")


def test_local_folder_named_like_an_id_wins(use_cache, tiny_dir, tmp_path):
    shutil.copytree(tiny_dir, tmp_path / "sentence-transformers" / "all-MiniLM-L6-v2")
    assert resolve_model_path(REPO) == Path(REPO)
    assert bertkit.from_pretrained(REPO).config.hidden_size == 32  # the cache holds the 384-wide MiniLM
    # a path that is no id is left to the caller, whose error names the folder
    with pytest.raises(bertkit.CheckpointError, match="checkpoint folder not found"):
        bertkit.from_pretrained(tmp_path / "a" / "b" / "c")


def test_cli_model_ids(use_cache, capsys):
    assert main(["info", REPO]) == 0
    out = capsys.readouterr().out
    assert COMMIT_A in out and "6 x hidden 384" in out
    assert main(["tokenize", "--model", f"{REPO}@tiny", "hello world"]) == 0
    assert "7592" in capsys.readouterr().out  # "hello" in the MiniLM vocabulary
    assert main(["info", "org/absent"]) == 2
    assert "models--org--absent" in capsys.readouterr().err


@pytest.mark.parametrize(("name", "want"), [
    ("org/name", ("org/name", "main")), ("name", ("name", "main")), ("org/na.me-2@v1.0", ("org/na.me-2", "v1.0")),
    ("./name", None), ("../x", None), ("/abs/dir", None), ("a/b/c", None), ("~/m", None), ("org/name@", None),
])
def test_parse_model_id(name, want):
    assert parse_model_id(name) == want
