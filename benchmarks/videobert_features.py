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
    t0 = time.perf_counter()
    clips = list(iter_clips(records, args.videos, ext.size, progress=False))
    t_decode = time.perf_counter() - t0
    n = sum(c.shape[0] for c in clips)
    t0 = time.perf_counter()
    feats = [extract_features(ext, c, args.batch_size) for c in clips]
    t_feat = time.perf_counter() - t0
    print(f"{len(records)} videos, {n} clips of 30 frames at {ext.size}x{ext.size}; torch threads "
          f"{torch.get_num_threads()}, CPU count {os.cpu_count()}")
    print("| stage | seconds | clips/s |\n|---|---:|---:|")
    print(f"| decode | {t_decode:.2f} | {n / t_decode:.1f} |")
    print(f"| features | {t_feat:.2f} | {n / t_feat:.1f} |")
    print(f"| decode + features | {t_decode + t_feat:.2f} | {n / (t_decode + t_feat):.1f} |")
    if args.extractor:
        allf = torch.cat(feats)
        words = [r["caption"].split() for r, c in zip(records, clips) for _ in range(c.shape[0])]
        print("\n| caption attribute | 1-NN accuracy | chance |\n|---|---:|---:|")
        for name, labels in [("colour", [w[1] for w in words]), ("shape", [w[2] for w in words]),
                             ("motion", [" ".join(w[3:]) for w in words])]:
            chance = max(labels.count(v) for v in set(labels)) / len(labels)
            print(f"| {name} | {knn_accuracy(allf, labels):.3f} | {chance:.3f} (majority) |")


if __name__ == "__main__":
    main()
