#!/usr/bin/env bash
# Reproduces the three-seed table of docs/accuracy.md ("Both engines, several seeds"): the same Fashion-MNIST
# recipes trained by `mnext train` and by the PyTorch twin (`python3 -m mnext_torch.train`, Debian's python3-torch
# and python3-torchvision), configs/fashion_mnist.yaml as it is and at --width 0.5 --epochs 5, then prints every
# seed's final top-1 and train loss, the mean per side and each side's range.
# Usage: scripts/fashion-mnist-seeds.sh [seeds...]   (default 42 43 44; OUT=folder, default output/fm-seeds)
# With SKIP_TRAINING=1 it only prints the table of the runs already in OUT. mnext runs one engine (--replicas 1),
# so that BN sees the whole batch as in the twin; its threads do not change the numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=("${@:-42 43 44}")
DATA=data/fashion-mnist
OUT=${OUT:-output/fm-seeds}
PYTHON=${MNEXT_PYTHON:-/usr/bin/python3}
declare -A RECIPES=([fm]="" [w05]="--width 0.5 --epochs 5")
if [ "${SKIP_TRAINING:-0}" != 1 ]; then
  [ -d "$DATA/train" ] || npx mnext data fashion-mnist --limit-train 10000 --out "$DATA"
  for recipe in fm w05; do
    for seed in ${SEEDS[@]}; do
      # ${RECIPES[...]} is unquoted on purpose: it holds zero or more flags.
      npx mnext train --config configs/fashion_mnist.yaml --data "$DATA" ${RECIPES[$recipe]} --seed "$seed" \
        --replicas 1 --no-progress --output "$OUT/mnext-$recipe"
      PYTHONPATH=python "$PYTHON" -m mnext_torch.train --config configs/fashion_mnist.yaml --data "$DATA" \
        ${RECIPES[$recipe]} --seed "$seed" --output "$OUT/twin-$recipe"
    done
  done
fi
node - "$OUT" <<'EOF'
const fs = require('fs');
const path = require('path');
const out = process.argv[2];
const lastRow = (file) => {
  const [header, ...rows] = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(','));
  return Object.fromEntries(header.map((h, i) => [h, Number(rows.at(-1)[i])]));
};
for (const recipe of ['fm', 'w05']) {
  for (const side of ['mnext', 'twin']) {
    const dir = path.join(out, `${side}-${recipe}`);
    if (!fs.existsSync(dir)) continue;
    // Finished runs only: the last summary row is the last epoch.
    const runs = fs.readdirSync(dir).filter((r) => fs.existsSync(path.join(dir, r, 'summary.csv'))).sort().map((r) => {
      const args = fs.readFileSync(path.join(dir, r, 'args.yaml'), 'utf8');
      const epochs = Number(/^epochs: (\d+)/m.exec(args)[1]);
      return { seed: /^seed: (\d+)/m.exec(args)[1], epochs, ...lastRow(path.join(dir, r, 'summary.csv')) };
    }).filter((r) => r.epoch === r.epochs - 1);
    if (runs.length === 0) continue;
    const top1 = runs.map((r) => r.eval_top1);
    const mean = top1.reduce((a, b) => a + b, 0) / top1.length;
    console.log(`${recipe} ${side}: mean top-1 ${mean.toFixed(2)} (range ${Math.min(...top1).toFixed(2)}–${Math.max(...top1).toFixed(2)}); ` +
      runs.map((r) => `seed ${r.seed} ${r.eval_top1.toFixed(2)} % (train loss ${r.train_loss.toFixed(3)})`).join(', '));
  }
}
EOF
