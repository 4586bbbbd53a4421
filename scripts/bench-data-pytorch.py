#!/usr/bin/python3
"""Baseline for `mnext bench data`: torchvision ImageFolder + DataLoader + PIL with the training transforms of the
official recipe (RandomResizedCrop with per-image random bilinear/bicubic, horizontal flip, ColorJitter 0.4, uint8
CHW tensor). Prints {"mode": "data", "images", "imgPerSec", "epochs", "epochImgPerSec", "workers", "cpuMsPerImage"}
as JSON; cpuMsPerImage is the CPU time of the main process and its DataLoader workers per timed image, like
`mnext bench data` reports. Timed epochs run until both --epochs epochs and --min-seconds seconds have passed
(mnext's default, 5 s); epochImgPerSec is the median, slowest and fastest epoch.

usage: scripts/bench-data-pytorch.py --data DIR [--workers N] [--batch-size B] [--image-size S] [--epochs E]
       [--min-seconds S]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torchvision import datasets, transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
from mnext_torch.data import RandomResizedCropAndInterpolation  # noqa: E402


def to_uint8_chw(img):
    """timm's ToNumpy followed by torch.from_numpy: uint8 CHW without float conversion (normalised later)."""
    array = np.asarray(img, dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def process_cpu_seconds(pids):
    """user + system CPU time of live processes, from /proc (persistent workers are never reaped, so getrusage's
    RUSAGE_CHILDREN would not see them)."""
    ticks = os.sysconf('SC_CLK_TCK')
    total = 0
    for pid in pids:
        with open(f'/proc/{pid}/stat') as stat:
            fields = stat.read().rsplit(')', 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def collate(batch):
    images = torch.stack([b[0] for b in batch])
    labels = torch.tensor([b[1] for b in batch], dtype=torch.int64)
    return images, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', required=True)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--image-size', type=int, default=224)
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--min-seconds', type=float, default=5.0)
    args = parser.parse_args()

    root = os.path.join(args.data, 'train') if os.path.isdir(os.path.join(args.data, 'train')) else args.data
    transform = transforms.Compose([
        RandomResizedCropAndInterpolation(args.image_size, (0.08, 1.0), (3 / 4, 4 / 3), 'random'),
        transforms.RandomHorizontalFlip(0.5),
        transforms.ColorJitter(0.4, 0.4, 0.4),
        to_uint8_chw,
    ])
    dataset = datasets.ImageFolder(root, transform=transform, loader=lambda p: Image.open(p).convert('RGB'))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.workers, collate_fn=collate,
                                         persistent_workers=args.workers > 0)
    # Warm-up pass over a few batches so worker start-up is not counted (mnext's bench does the same).
    pids = [os.getpid()]
    iterator = iter(loader)
    pids += [worker.pid for worker in getattr(iterator, '_workers', [])]
    for _ in iterator:
        pass
    images = 0
    rates = []
    start = time.perf_counter()
    cpu_start = process_cpu_seconds(pids)
    while len(rates) < args.epochs or time.perf_counter() - start < args.min_seconds:
        epoch_start = time.perf_counter()
        epoch_images = sum(batch.shape[0] for batch, _ in loader)
        images += epoch_images
        rates.append(epoch_images / (time.perf_counter() - epoch_start))
    elapsed = time.perf_counter() - start
    cpu = process_cpu_seconds(pids) - cpu_start
    spread = {'median': float(np.median(rates)), 'min': min(rates), 'max': max(rates)}
    print(json.dumps({'mode': 'data', 'images': images, 'imgPerSec': images / elapsed, 'epochs': len(rates),
                      'epochImgPerSec': spread, 'workers': args.workers,
                      'seconds': elapsed, 'cpuMsPerImage': cpu * 1000 / images, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
