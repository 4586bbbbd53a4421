#!/usr/bin/env bash
# Builds the two class-subset datasets of the fine-tuning table (docs/accuracy.md) from a Fashion-MNIST folder
# made by `mnext data fashion-mnist`:
#   <out>/pretrain:  classes 0-4, every training and validation image of them;
#   <out>/target-N:  classes 5-9, the first N training images of each (file-name order, i.e. IDX order) and
#                    every validation image of them.
# Usage: scripts/fashion-mnist-subsets.sh [source=data/fashion-mnist-full] [out=data/fm-transfer] [N=50]
set -euo pipefail
SRC=${1:-data/fashion-mnist-full}
OUT=${2:-data/fm-transfer}
PER_CLASS=${3:-50}
PRETRAIN=(0-tshirt-top 1-trouser 2-pullover 3-dress 4-coat)
TARGET=(5-sandal 6-shirt 7-sneaker 8-bag 9-ankle-boot)
for class in "${PRETRAIN[@]}" "${TARGET[@]}"; do
  [ -d "$SRC/train/$class" ] && [ -d "$SRC/val/$class" ] || { echo "$SRC has no train/$class and val/$class (run mnext data fashion-mnist)" >&2; exit 2; }
done
for dir in "$OUT/pretrain" "$OUT/target-$PER_CLASS"; do
  [ -e "$dir" ] && { echo "$dir exists; remove it first" >&2; exit 2; }
done
for class in "${PRETRAIN[@]}"; do
  for split in train val; do
    mkdir -p "$OUT/pretrain/$split"
    cp -r "$SRC/$split/$class" "$OUT/pretrain/$split/"
  done
done
for class in "${TARGET[@]}"; do
  mkdir -p "$OUT/target-$PER_CLASS/train/$class" "$OUT/target-$PER_CLASS/val"
  # sed, not head: head exits early and pipefail would turn sort's SIGPIPE into a failure.
  find "$SRC/train/$class" -maxdepth 1 -type f -name '*.png' | sort | sed -n "1,${PER_CLASS}p" | xargs cp -t "$OUT/target-$PER_CLASS/train/$class"
  cp -r "$SRC/val/$class" "$OUT/target-$PER_CLASS/val/"
done
for dir in "$OUT/pretrain" "$OUT/target-$PER_CLASS"; do
  echo "$dir: $(find "$dir/train" -type f | wc -l) training, $(find "$dir/val" -type f | wc -l) validation images"
done
