"""VideoBERT end to end on rendered synthetic video (issue #22): render, split by video, train the clip extractor,
build the codebook and pretrain VideoBERT on the training videos only, then measure on the held-out videos:

- alignment accuracy (each held-out video with its own caption and with another held-out video's, balanced);
- text -> video retrieval recall@1 / @5 among N held-out videos of distinct captions (chance 1/N, 5/N);
- next visual token top-3 (the clip after a prefix of the video, given the caption);
- video cloze top-3 (each clip masked in turn, the caption and the video's other clips visible);
- zero-shot caption classification (the best of all colour x shape x motion captions, no further training);
- clip throughput of the feature pipeline (decode, features) in clips/s.

Each downstream figure is set against chance and against text-only baselines that never see a visual token of the
held-out video (fitted on the training split): for next visual token, the 3 words most often at that clip position
in training videos with the same caption (backing off to the position's most frequent words; "position prior" is
that back-off alone); for video cloze, the caption's 3 most frequent training words (and, as a check that the
model does more than copy, the most frequent words of the video's other clips); for alignment, retrieval and zero-shot, a scorer that sees no video scores every video alike,
so it gets exactly chance (ties broken at random: tasks.videobert.rank_metrics), and zero-shot can at best guess
the most frequent training caption ("caption prior").

    python benchmarks/videobert_results.py --out /work/runs/video/vb --videos 1000 --steps 3000

Every stage writes its result under --out and is skipped when that is there, so a rerun continues where the last
one stopped (a changed setting needs a new --out, or delete that stage's files). Prints markdown tables and
writes OUT/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from videobert_features import measure_pipeline, probe_table, throughput_table

from bertkit.hub.default import default_model_path
from bertkit.models.videobert import load_videobert
from bertkit.tasks.videobert import (
    alignment_scores,
    classify_captions,
    next_visual_tokens,
    rank_metrics,
    retrieve_videos,
    video_cloze,
)
from bertkit.tokenizers import Tokenizer
from bertkit.training.videobert import pretrain_videobert
from bertkit.video.codebook import Codebook
from bertkit.video.features import load_extractor
from bertkit.video.pipeline import read_captions, train_extractor
from bertkit.video.synthetic import COLOURS, MOTIONS, SHAPES, Scene, render_corpus


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").is_file() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


class Stages:
    """Runs named stages once: a stage whose marker file is in --out is skipped; wall and CPU seconds are kept."""

    def __init__(self, out: Path) -> None:
        self.out, self.times = out, {}
        f = out / "stage_times.json"
        if f.is_file():
            self.times = json.loads(f.read_text())

    def run(self, name: str, marker: Path, fn) -> None:
        if marker.exists():
            print(f"[{name}] cached ({marker})", flush=True)
            return
        print(f"[{name}] ...", flush=True)
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        self.times[name] = {"wall_s": round(time.perf_counter() - w0, 1), "cpu_s": round(time.process_time() - c0, 1)}
        (self.out / "stage_times.json").write_text(json.dumps(self.times, indent=2) + "\n")
        print(f"[{name}] done in {self.times[name]['wall_s']} s", flush=True)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def split_videos(records: list[dict], heldout: float, seed: int) -> tuple[list[dict], list[dict]]:
    """By video: a seeded permutation, the first `heldout` fraction held out."""
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    n = max(1, round(heldout * len(records)))
    return [records[i] for i in sorted(order[n:])], [records[i] for i in sorted(order[:n])]


def all_captions() -> list[str]:
    return [Scene(c, s, m).caption for c in COLOURS for s in SHAPES for m in MOTIONS]


def attributes(caption: str) -> tuple[str, str, str]:
    w = caption.split()
    return w[1], w[2], " ".join(w[3:])


# ---- evaluation ---------------------------------------------------------------------------------------------

def eval_alignment(model, layout, tok, test: list[dict], seed: int) -> dict:
    """Each held-out video with its caption (label 1) and with the caption of another held-out video whose
    caption differs (label 0); p(aligned) > 0.5 is the prediction."""
    g = torch.Generator().manual_seed(seed)
    neg = []
    for e in test:
        while True:
            o = test[int(torch.randint(len(test), (1,), generator=g))]
            if o["caption"] != e["caption"]:
                neg.append(o["caption"])
                break
    vids = [e["visual_tokens"] for e in test]
    pos_p = alignment_scores(model, layout, tok, [e["caption"] for e in test], vids)
    neg_p = alignment_scores(model, layout, tok, neg, vids)
    acc = (float((pos_p > 0.5).float().sum()) + float((neg_p <= 0.5).float().sum())) / (2 * len(test))
    return {"accuracy": acc, "true_pairs_accepted": float((pos_p > 0.5).float().mean()),
            "false_pairs_rejected": float((neg_p <= 0.5).float().mean()), "pairs": 2 * len(test)}


def eval_retrieval(model, layout, tok, test: list[dict], n_max: int) -> dict:
    """Among held-out videos with distinct captions (the first video of each caption), up to n_max."""
    seen, pool = set(), []
    for e in test:
        if e["caption"] not in seen:
            seen.add(e["caption"])
            pool.append(e)
    pool = pool[:n_max]
    r = retrieve_videos(model, layout, tok, [e["caption"] for e in pool], [e["visual_tokens"] for e in pool])
    n = len(pool)
    blind = rank_metrics(torch.zeros(n, n))          # a scorer that sees no video: every video scores the same
    return {"n": n, "recall@1": r["recall@1"], "recall@5": r["recall@5"], "chance@1": 1 / n, "chance@5": min(1, 5 / n),
            "text_only@1": blind["recall@1"], "text_only@5": blind["recall@5"],
            "mean_rank": sum(r["ranks"]) / n}


def eval_next_token(model, layout, tok, train: list[dict], test: list[dict], k: int = 3) -> dict:
    """For each held-out video and each clip j >= 1: is clip j's word among the top k given the caption and
    clips 0..j-1? Baselines from training counts: per (caption, j) (text only) and per j (position prior)."""
    by_pos: dict[int, Counter] = {}
    by_cap: dict[tuple[str, int], Counter] = {}
    for e in train:
        for j, w in enumerate(e["visual_tokens"]):
            by_pos.setdefault(j, Counter())[w] += 1
            by_cap.setdefault((e["caption"], j), Counter())[w] += 1

    def top(counter: Counter | None, backoff: Counter) -> list[int]:
        out = [w for w, _ in (counter or Counter()).most_common(k)]
        return out + [w for w, _ in backoff.most_common() if w not in out][:k - len(out)]

    hits = {"videobert": 0, "text_only": 0, "position_prior": 0}
    n = 0
    for e in test:
        v = e["visual_tokens"]
        for j in range(1, len(v)):
            pred, _ = next_visual_tokens(model, layout, tok, e["caption"], v[:j], k=k)
            prior = by_pos.get(j, Counter())
            hits["videobert"] += v[j] in pred
            hits["text_only"] += v[j] in top(by_cap.get((e["caption"], j)), prior)
            hits["position_prior"] += v[j] in top(None, prior)
            n += 1
    return {**{f"{m}@{k}": h / n for m, h in hits.items()}, "chance": k / layout.visual_vocab_size,
            "predictions": n}


def eval_video_cloze(model, layout, tok, train: list[dict], test: list[dict], k: int = 3) -> dict:
    """Every clip of every held-out video masked in turn (caption and the other clips visible): is its word in the
    top k? Baselines from training counts: the caption's k most frequent words (text only) and the k most frequent
    words overall (unigram prior)."""
    r = video_cloze(model, layout, tok, [e["caption"] for e in test], [e["visual_tokens"] for e in test], k=k,
                    progress=True)
    overall = Counter(w for e in train for w in e["visual_tokens"])
    by_cap: dict[str, Counter] = {}
    for e in train:
        by_cap.setdefault(e["caption"], Counter()).update(e["visual_tokens"])

    def top(c: Counter | None) -> list[int]:
        out = [w for w, _ in (c or Counter()).most_common(k)]
        return out + [w for w, _ in overall.most_common() if w not in out][:k - len(out)]

    text_only = sum(w in top(by_cap.get(e["caption"])) for e in test for w in e["visual_tokens"])
    # copy the neighbours: the words of the video's other clips, most frequent first, then the caption's
    copy = 0
    for e in test:
        v = e["visual_tokens"]
        for j, w in enumerate(v):
            c = Counter(v[:j] + v[j + 1:])
            guess = [x for x, _ in c.most_common(k)]
            guess += [x for x in top(by_cap.get(e["caption"])) if x not in guess][:k - len(guess)]
            copy += w in guess
    prior = sum(w in top(None) for e in test for w in e["visual_tokens"])
    n = r["predictions"]
    return {f"videobert@{k}": r[f"top{k}"], "videobert@1": r["top1"], f"text_only@{k}": text_only / n,
            f"unigram_prior@{k}": prior / n, f"copy_neighbours@{k}": copy / n, "chance": k / layout.visual_vocab_size, "predictions": n}


def eval_zero_shot(model, layout, tok, train: list[dict], test: list[dict]) -> dict:
    """Every held-out video against all colour x shape x motion captions; accuracy of the full caption and of
    each attribute of the chosen caption. Caption prior: always the most frequent training caption."""
    cands = all_captions()
    pred, _ = classify_captions(model, layout, tok, [e["visual_tokens"] for e in test], cands)
    prior = Counter(e["caption"] for e in train).most_common(1)[0][0]
    out = {"candidates": len(cands), "chance": 1 / len(cands)}
    truth = [e["caption"] for e in test]
    chosen = [cands[p] for p in pred]
    out["caption"] = sum(a == b for a, b in zip(chosen, truth)) / len(test)
    out["caption_prior"] = sum(prior == t for t in truth) / len(test)
    for i, name in enumerate(("colour", "shape", "motion")):
        out[name] = sum(attributes(a)[i] == attributes(b)[i] for a, b in zip(chosen, truth)) / len(test)
        maj = Counter(attributes(e["caption"])[i] for e in train).most_common(1)[0][0]
        out[f"{name}_prior"] = sum(attributes(t)[i] == maj for t in truth) / len(test)
        out[f"{name}_chance"] = 1 / len((COLOURS, SHAPES, MOTIONS)[i])
    return out


def tables(res: dict) -> str:
    a, r, nt, z = res["alignment"], res["retrieval"], res["next_token"], res["zero_shot"]
    vc = res["video_cloze"]
    def f(x: float) -> str:
        return f"{x:.3f}"

    rows = ["| held-out figure | VideoBERT | text-only baseline | chance | target |", "|---|---:|---:|---:|---|",
            f"| alignment accuracy ({a['pairs']} balanced pairs) | **{f(a['accuracy'])}** | 0.500 | 0.500 | >= 0.90 |",
            (f"| text -> video retrieval@1 (N = {r['n']}) | **{f(r['recall@1'])}** | {f(r['text_only@1'])} | "
             f"{f(r['chance@1'])} | |"),
            (f"| text -> video retrieval@5 (N = {r['n']}) | **{f(r['recall@5'])}** | {f(r['text_only@5'])} | "
             f"{f(r['chance@5'])} | |"),
            (f"| next visual token top-3 ({nt['predictions']} predictions) | **{f(nt['videobert@3'])}** | "
             f"{f(nt['text_only@3'])} (position prior {f(nt['position_prior@3'])}) | {f(nt['chance'])} | |"),
            (f"| video cloze top-3, each clip masked in turn ({vc['predictions']} predictions) | "
             f"**{f(vc['videobert@3'])}** | {f(vc['text_only@3'])} (unigram prior {f(vc['unigram_prior@3'])}; copy the "
             f"video's other clips {f(vc['copy_neighbours@3'])}) | "
             f"{f(vc['chance'])} | |"),
            (f"| zero-shot caption ({z['candidates']} candidates) | **{f(z['caption'])}** | "
             f"{f(z['caption_prior'])} (caption prior) | {f(z['chance'])} | |")]
    for name in ("colour", "shape", "motion"):
        rows.append(f"| zero-shot: {name} of the chosen caption | {f(z[name])} | {f(z[name + '_prior'])} "
                    f"(majority) | {f(z[name + '_chance'])} | |")
    return "\n".join(rows)


# ---- main ---------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="working folder (videos, extractor, codebook, model, results)")
    ap.add_argument("--videos", type=int, default=1000, help="synthetic videos to render (4 clips each)")
    ap.add_argument("--clips-per-video", type=int, default=4)
    ap.add_argument("--heldout", type=float, default=0.2, help="fraction of videos held out of all training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extractor-steps", type=int, default=600)
    ap.add_argument("--dim", type=int, default=64, help="clip feature size")
    ap.add_argument("-k", "--k", type=int, default=12, help="codebook clusters per level")
    ap.add_argument("--depth", type=int, default=2, help="codebook levels (V = k ** depth)")
    ap.add_argument("--steps", type=int, default=3000, help="VideoBERT pretraining steps")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--size", default="tiny", help="VideoBERT size preset, from scratch (with --init: ignored)")
    ap.add_argument("--init", default=None, help="start VideoBERT from this BERT folder (default: from scratch, "
                                                 "with the bundled MiniLM's WordPiece tokenizer)")
    ap.add_argument("--weights", default="1,1,1", help="text cloze, video cloze, alignment loss weights")
    ap.add_argument("--retrieval-n", type=int, default=100, help="at most this many held-out videos to retrieve among")
    args = ap.parse_args()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    st = Stages(out)
    vids = out / "videos"
    st.run("render", vids / "captions.jsonl",
           lambda: render_corpus(vids, args.videos, seed=args.seed, clips_per_video=args.clips_per_video))

    def split() -> None:
        train, test = split_videos(read_captions(vids / "captions.jsonl", vids), args.heldout, args.seed)
        write_jsonl(out / "test_captions.jsonl", test)
        write_jsonl(out / "train_captions.jsonl", train)
    st.run("split", out / "train_captions.jsonl", split)

    ext_dir = out / "extractor"

    def extractor() -> None:  # the training videos only
        m = train_extractor(vids, out / "train_captions.jsonl", ext_dir, steps=args.extractor_steps, dim=args.dim,
                            seed=args.seed, resume=True)
        (ext_dir / "done.json").write_text(json.dumps(m, default=str) + "\n")
    st.run("extractor", ext_dir / "done.json", extractor)

    def features() -> None:  # every video once: timed, and the features kept for the codebook and the tokens
        records = read_jsonl(out / "train_captions.jsonl") + read_jsonl(out / "test_captions.jsonl")
        feats, t = measure_pipeline(records, str(vids), load_extractor(ext_dir))
        t.update(threads=torch.get_num_threads(), size=load_extractor(ext_dir).size)
        torch.save({r["video"]: f for r, f in zip(records, feats)}, out / "features.pt")
        (out / "throughput.json").write_text(json.dumps(t, indent=2) + "\n")
    st.run("features", out / "throughput.json", features)

    def codebook() -> None:  # fitted on the training videos' clips only
        feats = torch.load(out / "features.pt")
        x = torch.cat([feats[r["video"]] for r in read_jsonl(out / "train_captions.jsonl")])
        Codebook.fit(x, k=args.k, depth=args.depth, seed=args.seed).save(out / "codebook.safetensors")
    st.run("codebook", out / "codebook.json", codebook)

    def tokens() -> None:
        feats, cb = torch.load(out / "features.pt"), Codebook.load(out / "codebook.safetensors")
        for part in ("train", "test"):
            recs = read_jsonl(out / f"{part}_captions.jsonl")
            write_jsonl(out / f"tokens_{part}.jsonl",
                        [{**r, "visual_tokens": cb.assign(feats[r["video"]]).tolist()} for r in recs])
    st.run("tokens", out / "tokens_test.jsonl", tokens)

    v = Codebook.load(out / "codebook.safetensors").size
    model_dir = out / "videobert"

    def pretrain() -> None:  # the training videos only; no held-out data reaches the Trainer
        m = pretrain_videobert(read_jsonl(out / "tokens_train.jsonl"), out=model_dir, visual_vocab=v,
                               tokenizer=None if args.init else default_model_path(), init=args.init,
                               size=args.size, weights=args.weights, max_length=32, steps=args.steps,
                               batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, seed=args.seed,
                               log_every=max(1, args.steps // 30), resume=True)
        (model_dir / "done.json").write_text(json.dumps(m, default=str) + "\n")
    st.run("pretrain", model_dir / "done.json", pretrain)

    train, test = read_jsonl(out / "tokens_train.jsonl"), read_jsonl(out / "tokens_test.jsonl")

    evaluators = {"alignment": lambda m, lay, tok: eval_alignment(m, lay, tok, test, args.seed),
                  "retrieval": lambda m, lay, tok: eval_retrieval(m, lay, tok, test, args.retrieval_n),
                  "next_token": lambda m, lay, tok: eval_next_token(m, lay, tok, train, test),
                  "video_cloze": lambda m, lay, tok: eval_video_cloze(m, lay, tok, train, test),
                  "zero_shot": lambda m, lay, tok: eval_zero_shot(m, lay, tok, train, test)}
    done = json.loads((out / "eval.json").read_text()) if (out / "eval.json").is_file() else {}

    def evaluate() -> None:  # only the figures eval.json lacks (a figure added later runs alone)
        model, layout = load_videobert(model_dir)
        tok = Tokenizer.from_pretrained(model_dir)
        for name, fn in evaluators.items():
            if name not in done:
                torch.manual_seed(args.seed)
                done[name] = fn(model, layout, tok)
                (out / "eval.json").write_text(json.dumps(done, indent=2) + "\n")
    missing = [n for n in evaluators if n not in done]
    st.run("evaluate" if len(missing) == len(evaluators) else "evaluate " + ",".join(missing),
           out / "eval.json" if not missing else out / "missing-eval", evaluate)

    res = json.loads((out / "eval.json").read_text())
    t = json.loads((out / "throughput.json").read_text())
    feats = torch.load(out / "features.pt")
    test_clips = torch.cat([feats[r["video"]] for r in test])
    test_caps = [r["caption"] for r in test for _ in range(feats[r["video"]].shape[0])]
    log = read_jsonl(model_dir / "log.jsonl")
    last = [x for x in log if "align_acc" in x][-1]
    used = Counter(w for e in train for w in e["visual_tokens"])
    summary = {"cpu": cpu_name(), "torch_threads": torch.get_num_threads(), "args": vars(args),
               "videos": {"train": len(train), "heldout": len(test)}, "visual_vocab": v,
               "visual_words_used_in_train": len(used), "throughput": t, "stage_times": st.times,
               "last_train_log": last, **res}
    (out / "results.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\n{cpu_name()}, torch threads {torch.get_num_threads()}; {len(train)} training videos, {len(test)} "
          f"held-out videos ({args.clips_per_video} clips each); codebook k={args.k}, depth={args.depth}: V={v} "
          f"({len(used)} used by training clips); VideoBERT {args.init or args.size}, {args.steps} steps x "
          f"{args.batch_size}, lr {args.lr}")
    print(f"last training log (step {last['step']}): " + ", ".join(
        f"{k} {last[k]:.3f}" for k in ("text_cloze_loss", "video_cloze_loss", "align_loss", "align_acc") if k in last))
    print("\n" + tables(res))
    print(f"\nfeature pipeline over all {t['clips']} clips ({t['size']}x{t['size']} frames):\n" + throughput_table(t))
    print("\nheld-out clip features, leave-one-out 1-NN:\n" + probe_table(test_clips, test_caps))
    print("\n| stage | wall s | CPU s (this process) |\n|---|---:|---:|")
    for name, s in st.times.items():
        print(f"| {name} | {s['wall_s']} | {s['cpu_s']} |")


if __name__ == "__main__":
    main()
