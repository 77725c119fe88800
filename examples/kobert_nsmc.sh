#!/usr/bin/env bash
# KoBERT-style model from scratch (chapter 10): a SentencePiece unigram vocabulary of 8,002 pieces laid out as
# skt/kobert-base-v1 ([UNK]=0 [PAD]=1 [CLS]=2 [SEP]=3 [MASK]=4, spiece.model + an XLNetTokenizer-style
# tokenizer_config.json), then BERT masked-LM pretraining on Korean movie reviews (NSMC-derived), one review a
# document. The folder loads in transformers' BertModel. docs/chapters/10-korean.md has one run of this script.
#   bash examples/kobert_nsmc.sh ../shared/data/nsmc            # a few minutes (STEPS=300)
#   STEPS=5000 SIZE=small bash examples/kobert_nsmc.sh DATA      # longer
set -euo pipefail
DATA=${1:-${DATA:-../shared/data/nsmc}}
OUT=${OUT:-runs/kobert}
SIZE=${SIZE:-mini}                                   # tiny (128x2) | mini (256x4) | small (512x4) | ...
STEPS=${STEPS:-300}
LR=${LR:-5e-4}
mkdir -p "$OUT"
tail -n +2 "$DATA/nsmc_rawderived_train.txt" | cut -f2 > "$OUT/reviews.txt"           # review text only
[ -f "$OUT/tok/spiece.model" ] || python -m bertkit.cli tokenizer train --algo unigram --layout kobert \
  --vocab-size 8002 -i "$OUT/reviews.txt" -o "$OUT/tok"
# The TSV itself is the corpus: its `document` column gives one document per review.
python -m bertkit.cli pretrain --arch bert --objective mlm --size "$SIZE" --tokenizer "$OUT/tok" \
  --corpus "$DATA/nsmc_rawderived_train.txt" --eval-corpus "$DATA/nsmc_rawderived_dev_sample.txt" \
  --max-length 128 --batch-size 32 --steps "$STEPS" --lr "$LR" --warmup $((STEPS / 20)) \
  --eval-every $((STEPS / 3)) --eval-at-start --save-every $((STEPS / 3)) --log-every 25 --out "$OUT/model" \
  ${RESUME:+--resume}
python -m bertkit.cli fill-mask "$OUT/model" "이 영화 정말 [MASK] 봤어요" 2>/dev/null || true
