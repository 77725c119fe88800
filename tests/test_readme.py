"""The README: each section once, and the server's request/response JSON documented."""
from __future__ import annotations

from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_each_section_appears_once():
    headings = [line for line in README.splitlines() if line.startswith("## ")]
    assert len(headings) == len(set(headings)), headings
    assert README.count("Runtime: `torch`") == 1


def test_server_json_is_documented():
    for text in ('POST /embed        {"texts": [', '"embeddings": [[', 'POST /similarity   {"a": [', '"scores": [[',
                 '{"error": '):
        assert text in README, text
