#!/usr/bin/env bash
# Reproduces the fine-tuning table of docs/accuracy.md: a MobileNeXt-1.0 trained on the 30,000 training images of
# Fashion-MNIST classes 0-4 (configs/fashion_mnist_full.yaml, seed 42), then configs/fashion_mnist_finetune.yaml on
# classes 5-9 with 50 training images each, from scratch, fine-tuned (--initial-checkpoint), and fine-tuned with
# --freeze-backbone, per seed.
# Prints final top-1 per seed and the mean per row, and the wall time of every run.
# Usage: scripts/fashion-mnist-finetune.sh [seeds...]   (default 42 43 44)
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-42 43 44}")
OUT=output/fm-transfer
[ -d data/fashion-mnist-full/train ] || npx mnext data fashion-mnist --out data/fashion-mnist-full
[ -d data/fm-transfer/target-50 ] || scripts/fashion-mnist-subsets.sh data/fashion-mnist-full data/fm-transfer 50
mkdir -p "$OUT"
timed() {
  local name=$1; shift
  local start; start=$(date +%s)
  npx mnext "$@" --no-progress --json > "$OUT/$name.json" 2> "$OUT/$name.log"
  echo "$name: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
}
[ -f "$OUT/pretrain.json" ] || timed pretrain train --config configs/fashion_mnist_full.yaml --data data/fm-transfer/pretrain --num-classes 5 \
  --output "$OUT/pretrain" --seed 42
PRETRAINED=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).bestDir)' "$OUT/pretrain.json")
for seed in ${SEEDS[@]}; do
  timed "scratch-$seed" train --config configs/fashion_mnist_finetune.yaml --output "$OUT/scratch" --seed "$seed"
  timed "finetune-$seed" train --config configs/fashion_mnist_finetune.yaml --output "$OUT/finetune" --seed "$seed" \
    --initial-checkpoint "$PRETRAINED"
  timed "frozen-$seed" train --config configs/fashion_mnist_finetune.yaml --output "$OUT/frozen" --seed "$seed" \
    --initial-checkpoint "$PRETRAINED" --freeze-backbone
done
node -e '
const fs = require("fs");
for (const row of ["scratch", "finetune", "frozen"]) {
  const runs = fs.readdirSync(process.argv[1]).filter((f) => f.startsWith(row + "-") && f.endsWith(".json")).sort()
    .map((f) => [f.slice(row.length + 1, -5), JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8"))]);
  const top1 = runs.map(([, r]) => r.summary[r.summary.length - 1].eval_top1);
  const mean = top1.reduce((a, b) => a + b, 0) / top1.length;
  console.log(`${row}: final top-1 ${mean.toFixed(2)} mean over ${top1.length} seeds (${runs.map(([seed], i) => `${top1[i].toFixed(2)} seed ${seed}`).join(", ")})`);
}' "$OUT"
