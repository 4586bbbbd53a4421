#!/usr/bin/env bash
# Reproduces the issue-4 accuracy table: configs/fashion_mnist.yaml on Fashion-MNIST (10,000 training images,
# the 10,000 test images as val) for MobileNeXt-1.0 and MobileNetV2-1.0 over several seeds, then prints
# final top-1 mean ± spread and the wall time per run. Usage: scripts/fashion-mnist-accuracy.sh [seeds...]
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-42 43 44}")
DATA=data/fashion-mnist
OUT=output/fashion-mnist-accuracy
[ -d "$DATA/train" ] || npx mnext data fashion-mnist --limit-train 10000 --out "$DATA"
mkdir -p "$OUT"
for model in mobilenext mobilenetv2; do
  for seed in ${SEEDS[@]}; do
    start=$(date +%s)
    npx mnext train --config configs/fashion_mnist.yaml --data "$DATA" --output "$OUT/$model" --model "$model" \
      --seed "$seed" --no-progress --json > "$OUT/$model-$seed.json"
    echo "$model seed $seed: $(( $(date +%s) - start )) s" | tee -a "$OUT/times.txt"
  done
done
node -e '
const fs = require("fs");
for (const model of ["mobilenext", "mobilenetv2"]) {
  const runs = fs.readdirSync(process.argv[1]).filter((f) => f.startsWith(model + "-") && f.endsWith(".json"))
    .map((f) => JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8")));
  const top1 = runs.map((r) => r.summary[r.summary.length - 1].eval_top1);
  const mean = top1.reduce((a, b) => a + b, 0) / top1.length;
  const spread = (Math.max(...top1) - Math.min(...top1)) / 2;
  console.log(`${model}: final top-1 ${mean.toFixed(2)} ± ${spread.toFixed(2)} % over ${top1.length} seeds (${top1.map((t) => t.toFixed(2)).join(", ")})`);
}' "$OUT"
