#!/usr/bin/env bash
# Demonstration 1: a WordPiece vocabulary and a small BERT trained from scratch on Korean movie reviews
# (NSMC-derived, ../shared/data/nsmc) in about 20 minutes of CPU time; MLM loss curve and fill-mask.
set -euo pipefail
DATA=${DATA:-../shared/data/nsmc}
OUT=${OUT:-runs/ko-bert}
STEPS=${STEPS:-150}                                  # 4000 fits in ~10 minutes on an idle 2-core CPU
SIZE=${SIZE:-tiny}                                   # tiny (128x2) | mini (256x4) | small | ...
LR=${LR:-1e-3}
mkdir -p "$OUT"
tail -n +2 "$DATA/nsmc_rawderived_train.txt" | cut -f2 > "$OUT/reviews.txt"           # review text only
head -1001 "$DATA/nsmc_rawderived_dev_sample.txt" > "$OUT/dev1000.tsv"                 # 1,000 held-out reviews
[ -f "$OUT/tok/vocab.txt" ] || python -m bertkit.cli tokenizer train --algo wordpiece --vocab-size 8000 -i "$OUT/reviews.txt" -o "$OUT/tok"
python -m bertkit.cli pretrain --arch bert --objective mlm --packing full --size "$SIZE" --tokenizer "$OUT/tok" \
  --corpus "$OUT/reviews.txt" --eval-corpus "$OUT/dev1000.tsv" --max-length 64 --batch-size 64 \
  --steps "$STEPS" --lr "$LR" --warmup $((STEPS / 10)) --precision bf16 --eval-every $((STEPS / 3)) --eval-at-start \
  --log-every 5 --save-every $((STEPS / 3)) --out "$OUT/model"
for text in "이 영화 정말 [MASK] 있어요" "배우들 [MASK] 너무 좋았다" "스토리가 너무 [MASK]" "최악의 [MASK] 이다"; do
  python -m bertkit.cli fill-mask "$OUT/model" "$text" -k 5
done
