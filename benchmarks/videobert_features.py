"""Clip throughput of the VideoBERT feature pipeline: decode (PyAV, 20 fps resampling, resize) and features (the
clip extractor), in clips per second, plus how well the features separate what captions name (leave-one-out
1-nearest-neighbour accuracy of colour, shape and motion over clips, against chance).

    bertkit video render-synthetic --out /tmp/vb --videos 200
    python benchmarks/videobert_features.py --videos /tmp/vb --captions /tmp/vb/captions.jsonl [--extractor runs/ext]

Without --extractor an untrained ClipEncoder is timed (the same cost as a trained one) and no probe is printed.
"""
from __future__ import annotations

import argparse
import os
import time

import torch

from bertkit.video.features import ClipEncoder, extract_features, load_extractor
from bertkit.video.pipeline import iter_clips, read_captions


def knn_accuracy(feats: torch.Tensor, labels: list[str]) -> float:
    """Leave-one-out 1-NN accuracy (Euclidean) of `labels` from `feats` (N, D)."""
    d = torch.cdist(feats, feats)
    d.fill_diagonal_(float("inf"))
    nn_idx = d.argmin(1).tolist()
    return sum(labels[i] == labels[j] for i, j in enumerate(nn_idx)) / len(labels)


def measure_pipeline(records: list[dict], videos: str, ext: torch.nn.Module, batch_size: int = 64
                     ) -> tuple[list[torch.Tensor], dict]:
    """Decode every record's clips, then extract their features, timing the two stages apart. Returns (one (N_i, D)
    feature matrix per record, {"clips", "decode_s", "features_s"})."""
    t0 = time.perf_counter()
    clips = list(iter_clips(records, videos, ext.size, progress=False))
    t_decode = time.perf_counter() - t0
    t0 = time.perf_counter()
    feats = [extract_features(ext, c, batch_size) for c in clips]
    t_feat = time.perf_counter() - t0
    return feats, {"clips": sum(c.shape[0] for c in clips), "decode_s": t_decode, "features_s": t_feat}


def throughput_table(t: dict) -> str:
    n, dec, feat = t["clips"], t["decode_s"], t["features_s"]
    return ("| stage | seconds | clips/s |\n|---|---:|---:|\n"
            f"| decode | {dec:.2f} | {n / dec:.1f} |\n"
            f"| features | {feat:.2f} | {n / feat:.1f} |\n"
            f"| decode + features | {dec + feat:.2f} | {n / (dec + feat):.1f} |")


def probe_table(feats: torch.Tensor, captions: list[str]) -> str:
    """Leave-one-out 1-NN accuracy of each caption attribute (colour, shape, motion) over clips, one caption
    per clip, against the majority class."""
    words = [c.split() for c in captions]
    rows = ["| caption attribute | 1-NN accuracy | chance |", "|---|---:|---:|"]
    for name, labels in [("colour", [w[1] for w in words]), ("shape", [w[2] for w in words]),
                         ("motion", [" ".join(w[3:]) for w in words])]:
        chance = max(labels.count(v) for v in set(labels)) / len(labels)
        rows.append(f"| {name} | {knn_accuracy(feats, labels):.3f} | {chance:.3f} (majority) |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", required=True)
    ap.add_argument("--captions", required=True)
    ap.add_argument("--extractor", default=None, help="folder from `bertkit video train-extractor`")
    ap.add_argument("--size", type=int, default=32, help="frame size when no --extractor is given")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    records = read_captions(args.captions, args.videos)
    ext = load_extractor(args.extractor) if args.extractor else ClipEncoder(size=args.size).eval()
    feats, t = measure_pipeline(records, args.videos, ext, args.batch_size)
    print(f"{len(records)} videos, {t['clips']} clips of 30 frames at {ext.size}x{ext.size}; torch threads "
          f"{torch.get_num_threads()}, CPU count {os.cpu_count()}")
    print(throughput_table(t))
    if args.extractor:
        caps = [r["caption"] for r, f in zip(records, feats) for _ in range(f.shape[0])]
        print("\n" + probe_table(torch.cat(feats), caps))


if __name__ == "__main__":
    main()
