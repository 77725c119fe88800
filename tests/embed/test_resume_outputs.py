"""`bertkit embed` and `bertkit index build` keep their finished chunks when stopped, and --resume (resume=True)
continues after the last one with the output an uninterrupted run writes; other arguments or a changed input
are refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bertkit.cli.main import main
from bertkit.embed.encoder import TextEncoder
from bertkit.embed.index import Index, build_index
from bertkit.errors import InputError
from tests.embed.test_index import CORPUS


def stop_on_call(monkeypatch, k: int) -> list[int]:
    """TextEncoder.embed raises KeyboardInterrupt (a Ctrl-C) on its k-th call; returns the call counter."""
    real, calls = TextEncoder.embed, [0]

    def embed(self, texts, *a, **kw):
        calls[0] += 1
        if calls[0] == k:
            raise KeyboardInterrupt
        return real(self, texts, *a, **kw)
    monkeypatch.setattr(TextEncoder, "embed", embed)
    return calls


def test_embed_resumes_after_ctrl_c_to_the_same_file(tmp_path, capsys, monkeypatch):
    src = tmp_path / "t.txt"
    src.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    args = ["embed", "-i", str(src), "--normalize", "--batch-size", "2", "--chunk", "3"]
    assert main(args + ["-o", str(tmp_path / "whole.npy")]) == 0
    out = tmp_path / "v.npy"
    with monkeypatch.context() as m:
        stop_on_call(m, 4)  # the probe, chunks 1 and 2, then Ctrl-C in chunk 3
        assert main(args + ["-o", str(out)]) == 130
    err = capsys.readouterr().err
    assert "stopped after 6 of 10 texts; the same command with --resume" in err
    assert not out.exists() and json.loads((tmp_path / "v.npy.partial.json").read_text())["rows"] == 6

    assert main(args + ["-o", str(out), "--pooling", "cls", "--resume"]) == 2
    assert "pooling: None then, 'cls' now" in capsys.readouterr().err
    partial = (tmp_path / "v.npy.partial").read_bytes()
    (tmp_path / "v.npy.partial").write_bytes(partial[:-100])  # rows the record counts are not all there
    assert main(args + ["-o", str(out), "--resume"]) == 2
    assert "shorter than the 6 rows its record says are done" in capsys.readouterr().err
    (tmp_path / "v.npy.partial").write_bytes(partial)
    with monkeypatch.context() as m:
        calls = stop_on_call(m, 0)
        assert main(args + ["-o", str(out), "--resume"]) == 0
    assert calls == [1 + 2]  # the probe and the two chunks left
    np.testing.assert_array_equal(np.load(out), np.load(tmp_path / "whole.npy"))
    assert not (tmp_path / "v.npy.partial").exists() and not (tmp_path / "v.npy.partial.json").exists()

    assert main(args + ["-o", str(out), "--resume"]) == 2  # finished: nothing to resume
    assert "nothing to resume" in capsys.readouterr().err
    with monkeypatch.context() as m:
        stop_on_call(m, 3)
        assert main(args + ["-o", str(out)]) == 130
    src.write_text("\n".join(CORPUS[::-1]) + "\n", encoding="utf-8")  # the input changed since
    assert main(args + ["-o", str(out), "--resume"]) == 2
    assert "mtime_ns" in capsys.readouterr().err


def test_index_build_resumes_after_ctrl_c(minilm_path, tmp_path, capsys, monkeypatch):
    src = tmp_path / "corpus.txt"
    src.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    whole = build_index(src, tmp_path / "whole", model=minilm_path, chunk_size=4)
    with monkeypatch.context() as m:
        stop_on_call(m, 3)  # the pooling check, chunk 1, then Ctrl-C in chunk 2
        with pytest.raises(KeyboardInterrupt):
            build_index(src, tmp_path / "idx", model=minilm_path, chunk_size=4)
    assert not (tmp_path / "idx").exists()
    assert json.loads((tmp_path / ".idx.partial" / "progress.json").read_text())["rows"] == 4
    with pytest.raises(InputError, match=r"chunk_size: 4 then, 5 now"):
        build_index(src, tmp_path / "idx", model=minilm_path, chunk_size=5, resume=True)
    with monkeypatch.context() as m:
        calls = stop_on_call(m, 0)
        assert main(["index", "build", "-i", str(src), "-o", str(tmp_path / "idx"), "--model", str(minilm_path),
                     "--chunk", "4", "--resume"]) == 0
    assert calls == [1 + 2]  # the pooling check and the two chunks left
    idx = Index.load(tmp_path / "idx")
    np.testing.assert_array_equal(np.load(tmp_path / "idx" / "embeddings.npy"), np.load(tmp_path / "whole" / "embeddings.npy"))
    assert [idx.text(i) for i in range(len(CORPUS))] == [whole.text(i) for i in range(len(CORPUS))] == CORPUS
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert not (tmp_path / ".idx.partial").exists()
    with pytest.raises(InputError, match="nothing to resume"):
        build_index(src, tmp_path / "idx", model=minilm_path, chunk_size=4, resume=True)


def test_embed_precision_auto_probes_the_first_texts(tmp_path, monkeypatch):
    import bertkit.embed.encoder as E

    seen = []

    def choose(encoder, probe):
        seen.append([encoder.tokenizer.decode(ids, skip_special_tokens=True) for ids in probe])
        return "fp32"
    monkeypatch.setattr(E, "choose_precision", choose)
    src = tmp_path / "t.txt"
    src.write_text("\n".join(CORPUS) + "\n", encoding="utf-8")
    assert main(["embed", "-i", str(src), "-o", str(tmp_path / "v.npy"), "--precision", "auto",
                 "--batch-size", "4"]) == 0
    assert seen == [[t.lower() for t in CORPUS[:4]]]  # once, on the first batch of the file (not on "")
