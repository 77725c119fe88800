"""Questions over your own documents (ktrain's SimpleQA): retrieve paragraphs with the embedding index, read the
answer out of them with an extractive QA model.

    bertkit.DocumentQA.build("my_docs/", "qa_index/")                      # paragraphs -> embedding index
    qa = bertkit.DocumentQA.load("qa_index/", qa_model="runs/squad-model")
    qa.ask("When was the tower built?")   # [{"answer", "score", "file", "line", "context", ...}, ...]

Folder written by `build`: the index files of `embed/index.py` (embeddings of the paragraphs, one a line), plus
`paragraphs.jsonl` (per paragraph: file relative to the documents folder, first line (1-based), text as written)
and `docqa.json` (format, documents folder, counts).
"""
from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from typing import Any

from bertkit.errors import InputError

FORMAT = "bertkit-docqa"
SUFFIXES = (".txt", ".md")
MAX_CHARS = 1500  # a longer paragraph is cut at sentence ends into pieces of about this size
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def split_paragraphs(text: str, max_chars: int = MAX_CHARS) -> list[tuple[int, str]]:
    """Blank-line separated paragraphs of `text` as (first line, 1-based; paragraph text with its own line breaks).
    A paragraph over max_chars is cut after sentence ends into consecutive pieces of at most about max_chars (a
    sentence longer than that stays whole); each piece keeps the line it starts on."""
    out: list[tuple[int, str]] = []
    lines = text.splitlines()
    block: list[str] = []
    start = 0
    for i, line in enumerate([*lines, ""]):
        if line.strip():
            if not block:
                start = i + 1
            block.append(line)
            continue
        if block:
            out.extend(_pieces(start, "\n".join(block).strip(), max_chars))
            block = []
    return out


def _pieces(first_line: int, para: str, max_chars: int) -> list[tuple[int, str]]:
    if len(para) <= max_chars:
        return [(first_line, para)]
    bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(para)] + [len(para)]
    pieces, a = [], 0
    for prev, b in itertools.pairwise(bounds):
        if b - a > max_chars and prev > a:  # the piece so far ends at the previous sentence end
            pieces.append((a, prev))
            a = prev
    pieces.append((a, len(para)))
    return [(first_line + para[:s].count("\n"), para[s:e].strip()) for s, e in pieces if para[s:e].strip()]


class DocumentQA:
    """An index over paragraphs of a folder of documents and an extractive QA Predictor to read answers."""

    def __init__(self, path: Path, paragraphs: list[dict[str, Any]], index: Any, predictor: Any) -> None:
        self.path, self.paragraphs, self.index, self.predictor = path, paragraphs, index, predictor

    @staticmethod
    def build(docs_dir: str | Path, out_dir: str | Path, model: str | Path | None = None,
              max_chars: int = MAX_CHARS, batch_size: int = 32, progress: bool = True) -> Path:
        """Split every .txt/.md file under docs_dir (recursively, in sorted order) into paragraphs and embed them
        with `model` (default: the bundled MiniLM) into an index at out_dir; returns out_dir."""
        from bertkit.embed.index import build_index

        docs = Path(docs_dir)
        if not docs.is_dir():
            raise InputError(f"documents folder {docs} does not exist")
        out = Path(out_dir)
        if docs.resolve() == out.resolve() or out.resolve() in docs.resolve().parents:
            raise InputError(f"the index folder {out} would hold the documents folder {docs} (the index build "
                             "replaces its folder): write the index elsewhere")
        inside = out.resolve()
        files = sorted(p for p in docs.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                       and inside not in p.resolve().parents)  # an index written inside the documents: not a doc
        if not files:
            raise InputError(f"{docs} holds no {' or '.join(SUFFIXES)} files")
        paras = []
        for f in files:
            try:
                text = f.read_text(encoding="utf-8")
            except UnicodeDecodeError as e:
                raise InputError(f"{f} is not UTF-8 text: {e}") from None
            rel = f.relative_to(docs).as_posix()
            paras.extend({"file": rel, "line": line, "text": p} for line, p in split_paragraphs(text, max_chars))
        if not paras:
            raise InputError(f"the {len(files)} file(s) under {docs} are empty: no paragraph to index")
        build_index([" ".join(p["text"].split()) for p in paras], out, model=model, batch_size=batch_size,
                    show_progress=progress)
        with (out / "paragraphs.jsonl").open("w", encoding="utf-8") as fh:
            for p in paras:
                fh.write(json.dumps(p, ensure_ascii=False) + "\n")
        (out / "docqa.json").write_text(json.dumps({"format": FORMAT, "documents": str(docs.resolve()),
                                                    "files": len(files), "paragraphs": len(paras),
                                                    "max_chars": max_chars}, indent=2) + "\n", encoding="utf-8")
        return out

    @classmethod
    def load(cls, index_dir: str | Path, qa_model: str | Path | Any, embed_model: str | Path | None = None
             ) -> DocumentQA:
        """Open a folder written by `build`; qa_model: a folder of `bertkit finetune qa` (Predictor.save) or a
        Predictor of task qa. embed_model overrides the index's own model for the questions."""
        from bertkit.embed.index import load_index
        from bertkit.tasks.predictor import Predictor

        path = Path(index_dir)
        meta = path / "docqa.json"
        if not meta.is_file():
            raise InputError(f"{path} is not a document-QA index (no docqa.json): build it with `bertkit ask build`")
        pred = qa_model if isinstance(qa_model, Predictor) else Predictor.load(qa_model)
        if pred.task != "qa":
            raise InputError(f"the QA model must be an extractive QA model with a span head (task qa), got a "
                             f"{pred.task} model")
        with (path / "paragraphs.jsonl").open(encoding="utf-8") as fh:
            paras = [json.loads(line) for line in fh]
        index = load_index(path, embed_model)
        if len(index) != len(paras):
            raise InputError(f"{path}: {len(index)} embeddings but {len(paras)} paragraphs (a damaged index)")
        return cls(path, paras, index, pred)

    def retrieve(self, questions: list[str], k: int = 5) -> list[list[tuple[int, float]]]:
        """Per question the k best paragraphs as (paragraph index, cosine), best first."""
        scores, ids = self.index.search_vectors(self.index.embed_queries(questions), k)
        return [[(int(i), float(s)) for s, i in zip(sr, ir)] for sr, ir in zip(scores, ids)]

    def ask(self, question: str, k: int = 5, n_answers: int = 3) -> list[dict[str, Any]]:
        """The n_answers best answers to `question` from its k nearest paragraphs, best first. Each: answer, score
        (the span's start + end logit, comparable across paragraphs: the ranking key), probability (the span's
        softmax share within its paragraph's candidates), file, line (where the answer starts), paragraph_index,
        retrieval_score (cosine of question and paragraph) and context (the paragraph)."""
        return self.ask_many([question], k, n_answers)[0]

    def ask_many(self, questions: list[str], k: int = 5, n_answers: int = 3) -> list[list[dict[str, Any]]]:
        """`ask` for several questions, the QA model run over all their (question, paragraph) pairs in one batch."""
        from bertkit.tasks.qa import QAExample

        if k < 1 or n_answers < 1:
            raise InputError(f"k and n_answers must be >= 1, got {k} and {n_answers}")
        if not questions or any(not isinstance(q, str) or not q.strip() for q in questions):
            raise InputError("a question must be a non-empty string")
        hits = self.retrieve(questions, k)
        examples, owners = [], []
        for qi, (q, hs) in enumerate(zip(questions, hits)):
            for pi, cos in hs:
                examples.append(QAExample(f"{qi}:{pi}", q, self.paragraphs[pi]["text"]))
                owners.append((qi, pi, cos))
        pred = self.predictor
        spans = pred.decode(pred.encode(examples))
        answers: list[list[dict[str, Any]]] = [[] for _ in questions]
        for (qi, pi, cos), span in zip(owners, spans):
            if not span["answer"]:
                continue
            para = self.paragraphs[pi]
            answers[qi].append({"answer": span["answer"], "score": span["n_best"][0]["logit"],
                                "probability": span["score"], "file": para["file"],
                                "line": para["line"] + para["text"][:span["start"]].count("\n"),
                                "paragraph_index": pi, "retrieval_score": cos, "context": para["text"]})
        return [sorted(a, key=lambda r: -r["score"])[:n_answers] for a in answers]
