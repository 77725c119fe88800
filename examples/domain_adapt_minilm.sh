#!/usr/bin/env bash
# Demonstration 2: domain-adaptive pretraining. Continue MLM training of the bundled all-MiniLM-L6-v2
# (its MLM head is missing and gets initialised) on BBC tech + business news, keeping its vocabulary
# (the BioBERT recipe), and watch the held-out MLM loss.
set -euo pipefail
DATA=${DATA:-../shared/data/bbc_summary}
OUT=${OUT:-runs/minilm-bbc}
STEPS=${STEPS:-30}
MINILM=$(python -c "import bertkit; print(bertkit.default_model_path())")
python examples/domain_corpus.py "$DATA/train.jsonl" --categories tech business \
  --train "$OUT/train.txt" --dev "$OUT/dev.txt" --held-out 15
python -m bertkit.cli pretrain --arch bert --objective mlm --packing doc --init "$MINILM" --tokenizer "$MINILM" \
  --corpus "$OUT/train.txt" --eval-corpus "$OUT/dev.txt" --max-length 128 --batch-size 8 \
  --steps "$STEPS" --lr 1e-4 --warmup $((STEPS / 10)) --precision bf16 --eval-every $((STEPS / 3)) --eval-at-start --log-every 5 --out "$OUT/model"
