"""`bertkit summarize MODEL -i docs.jsonl -o out.jsonl`: one summary record per document, resumable."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bertkit.cli.options import non_negative_int, positive_int, real


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summarize", help="summarise the documents of a JSONL file (BERTSUM or BART)",
                       description="One output record per input line: {id, summary} plus the chosen sentence "
                                   "indices (extractive) or {id, skipped: reason} for an empty article. The model "
                                   "folder decides the kind: a `bertkit finetune extsum` folder is extractive, an "
                                   "encoder-decoder (BART) abstractive.")
    p.add_argument("model", help="a BERTSUM folder (bertkit finetune extsum) or a BART checkpoint folder")
    p.add_argument("-i", "--input", required=True, help="JSONL, one document per line")
    p.add_argument("-o", "--output", required=True, help="JSONL out")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--extractive", action="store_const", const="extractive", dest="mode",
                      help="require a BERTSUM folder")
    kind.add_argument("--abstractive", action="store_const", const="abstractive", dest="mode",
                      help="require an encoder-decoder")
    p.add_argument("--text-col", default="article", help="the document field (default: article)")
    p.add_argument("--id-col", default="id", help="the id field copied to the output (default: id; else the "
                                                  "line number)")
    p.add_argument("--top-k", type=positive_int, help="extractive: sentences kept (default: the folder's)")
    p.add_argument("--no-trigram-blocking", action="store_true", help="extractive: no trigram blocking")
    p.add_argument("--num-beams", type=positive_int, default=4, help="abstractive: beam width")
    p.add_argument("--max-new-tokens", type=positive_int, default=128, help="abstractive: longest summary")
    p.add_argument("--min-new-tokens", type=non_negative_int, default=0, help="abstractive: shortest summary")
    p.add_argument("--length-penalty", type=real, default=1.0,
                   help="abstractive: beam scores divided by length ** this (> 0 favours longer summaries)")
    p.add_argument("--no-repeat-ngram-size", type=non_negative_int, default=3,
                   help="abstractive: no n-gram of this size twice (0: off)")
    p.add_argument("--batch-size", type=positive_int, default=8)
    p.add_argument("--chunk", type=positive_int, default=64, help="documents written (and resumable) at a time")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run with the same arguments")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _read(path: Path, text_col: str, id_col: str) -> list[tuple[str, str]]:
    from bertkit.errors import InputError
    from bertkit.textio import iter_records

    if not path.is_file():
        raise InputError(f"{path}: no such file")
    return [(str(rec.get(id_col, f"line {n}")), rec[text_col]) for n, rec in iter_records(path, text_col)]


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from bertkit.errors import InputError, warn
    from bertkit.resumable import Progress, input_signature
    from bertkit.tasks.extsum import split_sentences
    from bertkit.tasks.summarize import load_summarizer

    src, out_path = Path(args.input), Path(args.output)
    docs = _read(src, args.text_col, args.id_col)
    gen = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens, "min_new_tokens": args.min_new_tokens,
           "length_penalty": args.length_penalty, "no_repeat_ngram_size": args.no_repeat_ngram_size}
    kind, summ = load_summarizer(args.model, args.mode, **gen)
    opts = {"kind": kind, "top_k": args.top_k, "trigram_blocking": not args.no_trigram_blocking} \
        if kind == "extractive" else {"kind": kind, **gen}
    tmp = out_path.with_name(out_path.name + ".partial")
    progress = Progress(out_path.with_name(out_path.name + ".partial.json"), {
        **input_signature(src), "model": str(Path(args.model).resolve()), "text_col": args.text_col, **opts,
        "chunk": args.chunk})
    done, size = 0, 0
    if args.resume:
        state = progress.resume("summarize run")
        done, size = state["rows"], state.get("bytes", 0)
        if not tmp.is_file() or tmp.stat().st_size < size:
            raise InputError(f"nothing to resume: {tmp} is missing or shorter than recorded; run without --resume")
    elif tmp.exists():
        warn(f"{tmp} holds an interrupted run; starting over (the same command with --resume continues it)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    f = open(tmp, "r+b" if args.resume else "wb")  # noqa: SIM115 (closed by the `with` below)
    f.truncate(size)
    f.seek(size)
    progress.commit(done, bytes=size)
    skipped = {"empty": 0, "one sentence": 0}
    bar = tqdm(total=len(docs), initial=done, desc="summarize", unit="doc", disable=args.quiet)
    try:
        with bar, f:
            while done < len(docs):
                part = docs[done:done + args.chunk]
                recs: list[dict | None] = [None] * len(part)
                todo = []
                for j, (rid, text) in enumerate(part):
                    sents = split_sentences(text)
                    if not sents:
                        recs[j] = {"id": rid, "summary": None, "skipped": "empty article"}
                        skipped["empty"] += 1
                    else:
                        skipped["one sentence"] += len(sents) == 1
                        todo.append((j, sents, text))
                if todo and kind == "extractive":
                    res = summ.summarize_sentences([s for _, s, _ in todo], args.top_k,
                                                   None if not args.no_trigram_blocking else False, args.batch_size)
                    for (j, _, _), r in zip(todo, res):
                        recs[j] = {"id": part[j][0], "summary": r.text, "sentences": r.indices}
                elif todo:
                    res = summ.summarize([t for _, _, t in todo], batch_size=args.batch_size)
                    for (j, _, _), r in zip(todo, res):
                        recs[j] = {"id": part[j][0], "summary": r}
                f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
                done += len(part)
                progress.commit(done, bytes=f.tell())
                bar.update(len(part))
        tmp.replace(out_path)
        progress.remove()
    except BaseException:
        if done:
            print(f"bertkit: stopped after {done} of {len(docs)} documents; the same command with --resume "
                  "continues from there", file=sys.stderr)
        else:
            tmp.unlink(missing_ok=True)
            progress.remove()
        raise
    note = ""
    if skipped["empty"]:
        note = f"; skipped {skipped['empty']} empty article(s) (records with \"skipped\")"
    if skipped["one sentence"]:
        note += f"; {skipped['one sentence']} one-sentence document(s) are their own summary"
    print(f"wrote {out_path}: {len(docs)} records ({kind}){note}")
    return 0
