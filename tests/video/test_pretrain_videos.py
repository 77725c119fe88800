"""`bertkit pretrain --arch videobert --videos ...`: tokenizes through the video pipeline into OUT/tokens.jsonl
(the same ids `bertkit video tokenize` writes) and trains; --videos without the extractor/codebook is refused."""
from __future__ import annotations

import json

import pytest
import torch

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.training.pretrain import PretrainSpec, pretrain
from bertkit.video.pipeline import build_codebook, tokenize_corpus, train_extractor
from bertkit.video.synthetic import render_corpus
from tests.pretrain_fixtures import write_tokenizer


def test_pretrain_from_videos(tmp_path, capsys):
    torch.set_num_threads(1)
    vids = tmp_path / "vids"
    render_corpus(vids, 3, seed=4, clips_per_video=2, size=16)
    caps = vids / "captions.jsonl"
    ext, cbf = tmp_path / "ext", tmp_path / "cb.safetensors"
    train_extractor(vids, caps, ext, steps=2, size=16, width=4, dim=8, progress=False)
    build_codebook(vids, caps, ext, cbf, k=2, depth=2, progress=False)
    ref = tmp_path / "ref.jsonl"
    tokenize_corpus(vids, caps, ext, cbf, ref, progress=False)
    tok = write_tokenizer(tmp_path / "tok")
    out = tmp_path / "run"
    rc = main(["pretrain", "--arch", "videobert", "--videos", str(vids), "--captions", str(caps),
               "--extractor", str(ext), "--codebook", str(cbf), "--tokenizer", str(tok), "--out", str(out),
               "--steps", "2", "--batch-size", "2", "--max-length", "16", "--no-progress", "--precision", "fp32",
               "--size", "tiny"])
    assert rc == 0
    assert (out / "tokens.jsonl").read_text() == ref.read_text()
    vb = json.loads((out / "videobert.json").read_text())
    assert 4 in vb.values() or any(v == 4 for v in vb.values() if isinstance(v, int))


def test_videos_needs_extractor_and_codebook(tmp_path):
    spec = PretrainSpec(arch="videobert", tokenizer=tmp_path, corpus=[], out=tmp_path / "o", videos=tmp_path,
                        captions=tmp_path / "c.jsonl")
    with pytest.raises(InputError, match=r"^--videos needs --extractor, --codebook \(tokenize with a trained "
                                         r"extractor and codebook\)$"):
        pretrain(spec)
    spec = PretrainSpec(arch="videobert", tokenizer=tmp_path, corpus=[], out=tmp_path / "o", codebook=tmp_path)
    with pytest.raises(InputError, match="go with --videos DIR$"):
        pretrain(spec)
