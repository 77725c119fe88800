"""`bertkit video ...` end to end on 3 tiny rendered videos: render, train the extractor, build the codebook,
tokenize; the JSONL matches the library's own features and codebook."""
from __future__ import annotations

import json

import pytest

from bertkit.cli.main import main
from bertkit.errors import InputError
from bertkit.video.codebook import Codebook
from bertkit.video.features import extract_features, load_extractor
from bertkit.video.io import read_clips
from bertkit.video.pipeline import read_captions
from bertkit.video.synthetic import COLOURS, MOTIONS, SHAPES


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_render_train_codebook_tokenize(tmp_path, capsys):
    vids = tmp_path / "vids"
    rc, out, _ = run(capsys, "video", "render-synthetic", "--out", str(vids), "--videos", "3", "--seed", "4",
                     "--clips-per-video", "2", "--size", "16")
    assert rc == 0 and "wrote 3 videos (6 clips)" in out
    records = [json.loads(line) for line in (vids / "captions.jsonl").read_text().splitlines()]
    assert [r["video"] for r in records] == ["video_00000.mp4", "video_00001.mp4", "video_00002.mp4"]
    for r in records:
        words = r["caption"].split()
        assert words[0] == "a" and words[1] in COLOURS and words[2] in SHAPES and " ".join(words[3:]) in MOTIONS
    caps = str(vids / "captions.jsonl")
    corpus = ["--videos", str(vids), "--captions", caps]
    ext = tmp_path / "ext"
    rc, out, _ = run(capsys, "video", "train-extractor", *corpus, "--out", str(ext), "--steps", "3",
                     "--size", "16", "--width", "4", "--dim", "8")
    assert rc == 0 and "step 3" in out
    cbf = tmp_path / "cb.safetensors"
    rc, out, _ = run(capsys, "video", "codebook", *corpus, "--extractor", str(ext), "--out", str(cbf),
                     "-k", "2", "--depth", "2")
    assert rc == 0 and "4 visual words" in out
    tok = tmp_path / "tokens.jsonl"
    rc, out, _ = run(capsys, "video", "tokenize", *corpus, "--extractor", str(ext), "--codebook", str(cbf),
                     "--out", str(tok))
    assert rc == 0 and "wrote 3 records" in out
    lines = [json.loads(line) for line in tok.read_text().splitlines()]
    extractor, cb = load_extractor(ext), Codebook.load(cbf)
    for r, line in zip(records, lines):
        assert set(line) == {"video", "caption", "visual_tokens"}
        assert (line["video"], line["caption"]) == (r["video"], r["caption"])
        expected = cb.assign(extract_features(extractor, read_clips(vids / r["video"], size=16))).tolist()
        assert line["visual_tokens"] == expected and len(expected) == 2
        assert all(0 <= t < 4 for t in expected)


def test_caption_file_naming_missing_videos(tmp_path, capsys):
    vids = tmp_path / "v"
    vids.mkdir()
    (vids / "here.mp4").write_bytes(b"x")
    caps = tmp_path / "c.jsonl"
    caps.write_text("".join(json.dumps({"video": v, "caption": "a red circle moves left"}) + "\n"
                            for v in ["here.mp4", "gone1.mp4", "sub/gone2.mp4"]))
    with pytest.raises(InputError, match=r"c\.jsonl names 2 video\(s\) missing under .*v: gone1\.mp4, "
                                         r"sub/gone2\.mp4$"):
        read_captions(caps, vids)
    rc, _, err = run(capsys, "video", "tokenize", "--videos", str(vids), "--captions", str(caps),
                     "--extractor", str(tmp_path), "--codebook", str(tmp_path / "cb"), "--out", str(tmp_path / "t"))
    assert rc == 2 and "names 2 video(s) missing" in err and err.count("\n") == 1
    caps.write_text('{"video": "here.mp4"}\n')
    with pytest.raises(InputError, match=r'line 1 needs string fields "video" and "caption"$'):
        read_captions(caps, vids)
