#!/usr/bin/env bash
# KoBART-style model from scratch (chapter 10): a byte-level BPE vocabulary with KoBART's special tokens
# (<s> </s> <usr> <pad> <sys> <unk> <mask>) and emoticons/emoji kept whole, then BART pretraining with text
# infilling as its ONLY noising function (Poisson(3) spans covering 30% of the tokens, each one <mask>; no
# sentence permutation, as in KoBART) on Korean movie reviews (NSMC-derived), one review a document.
# The folder loads in transformers' BartForConditionalGeneration. docs/chapters/10-korean.md has one run.
#   bash examples/kobart_nsmc.sh ../shared/data/nsmc            # a few minutes (SIZE=tiny STEPS=200)
#   STEPS=5000 SIZE=mini bash examples/kobart_nsmc.sh DATA      # longer
set -euo pipefail
DATA=${1:-${DATA:-../shared/data/nsmc}}
OUT=${OUT:-runs/kobart}
SIZE=${SIZE:-tiny}                                   # tiny (128x2) | mini (256x4) | small (512x4) | ...
STEPS=${STEPS:-200}
LR=${LR:-5e-4}
mkdir -p "$OUT"
tail -n +2 "$DATA/nsmc_rawderived_train.txt" | cut -f2 > "$OUT/reviews.txt"
[ -f "$OUT/tok/vocab.json" ] || python -m bertkit.cli tokenizer train --algo bytebpe --layout kobart \
  --vocab-size 8000 -i "$OUT/reviews.txt" -o "$OUT/tok"
python -m bertkit.cli pretrain --arch bart --noise infill --noise-ratio 0.3 --poisson-lambda 3 --size "$SIZE" \
  --tokenizer "$OUT/tok" --corpus "$DATA/nsmc_rawderived_train.txt" \
  --eval-corpus "$DATA/nsmc_rawderived_dev_sample.txt" --max-length 128 --batch-size 32 --steps "$STEPS" \
  --lr "$LR" --warmup $((STEPS / 20)) --eval-every $((STEPS / 3)) --eval-at-start --save-every $((STEPS / 3)) \
  --log-every 25 --out "$OUT/model" ${RESUME:+--resume}
