#!/usr/bin/env bash
# KoGPT2-style model from scratch (chapter 10): a byte-level BPE vocabulary with KoGPT2's special tokens and its
# emoticon/emoji tokens kept whole, then GPT-2 pretraining (next-token loss) on Korean movie reviews
# (NSMC-derived, ../shared/data/nsmc), one review a document. Then held-out perplexity (bertkit and transformers'
# GPT2LMHeadModel on the same blocks) and continuations of Korean prompts. docs/chapters/10-korean.md has the
# figures of one run of this script.
set -euo pipefail
DATA=${DATA:-../shared/data/nsmc}
OUT=${OUT:-runs/kogpt2}
SIZE=${SIZE:-mini}                                   # tiny (128x2) | mini (256x4) | small (512x4) | ...
STEPS=${STEPS:-1500}                                 # mini: ~12 minutes in bf16 on a 2-core AVX512-BF16 EPYC
LR=${LR:-1e-3}
mkdir -p "$OUT"
tail -n +2 "$DATA/nsmc_rawderived_train.txt" | cut -f2 > "$OUT/reviews.txt"           # review text only
[ -f "$OUT/tok/vocab.json" ] || python -m bertkit.cli tokenizer train --algo bytebpe --layout kogpt2 \
  --vocab-size 8000 -i "$OUT/reviews.txt" -o "$OUT/tok"
# The TSV itself is the corpus: its `document` column gives one document per review, joined by </s>.
python -m bertkit.cli pretrain --arch gpt2 --size "$SIZE" --tokenizer "$OUT/tok" \
  --corpus "$DATA/nsmc_rawderived_train.txt" --eval-corpus "$DATA/nsmc_rawderived_dev_sample.txt" \
  --max-length 128 --batch-size 32 --steps "$STEPS" --lr "$LR" --warmup $((STEPS / 20)) \
  --eval-every $((STEPS / 5)) --eval-at-start --save-every $((STEPS / 5)) --log-every 25 --out "$OUT/model" \
  ${RESUME:+--resume}
python benchmarks/kogpt2_eval.py "$OUT/model" --dev "$DATA/nsmc_rawderived_dev_sample.txt"
python -m bertkit.cli generate "$OUT/model" "이 영화 정말" --max-new-tokens 40 --do-sample --top-p 0.9 \
  --temperature 0.8 --repetition-penalty 1.2
