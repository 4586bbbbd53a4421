#!/usr/bin/python3
"""PyTorch side of `mnext bench train|infer`: the same workload (MobileNeXt from spec/mobilenext.md §1.2,
random data, SGD momentum step per batch, label smoothing 0.1) so the tfjs/PyTorch ratio can be measured back
to back. Prints one JSON object with the keys `mnext bench --json` prints.

    python3 scripts/bench-pytorch.py train --width 1.0 --input-size 64 --batch 16 --threads 2
    python3 scripts/bench-pytorch.py infer --width 1.0 --input-size 224 --batch 1 --threads 2
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn


def make_divisible(v, divisor=8):
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def conv_bn(inp, oup, kernel, stride, groups=1, relu6=False):
    layers = [nn.Conv2d(inp, oup, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(oup)]
    return layers + [nn.ReLU6(inplace=True)] if relu6 else layers


class SandglassBlock(nn.Module):
    """Types A-D of §1.2 (the branch is chosen by t, inp/oup, stride and keep_3x3)."""

    def __init__(self, inp, oup, stride, t, keep_3x3):
        super().__init__()
        hidden = inp // t
        if hidden < oup / 6.0:
            hidden = make_divisible(math.ceil(oup / 6.0), 16)
        self.identity = inp == oup and stride == 1 and not keep_3x3
        pointwise = conv_bn(inp, hidden, 1, 1) + conv_bn(hidden, oup, 1, 1, relu6=True)
        if t == 2:
            layers = conv_bn(inp, inp, 3, 1, inp, True) + pointwise + conv_bn(oup, oup, 3, stride, oup)
        elif inp != oup and stride == 1 and not keep_3x3:
            layers = pointwise
        elif inp != oup and stride == 2 and not keep_3x3:
            layers = pointwise + conv_bn(oup, oup, 3, 2, oup)
        else:
            layers = conv_bn(inp, inp, 3, 1, inp, True) + pointwise + conv_bn(oup, oup, 3, 1, oup)
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv(x)
        return out + x if self.identity else out


STAGES = [(2, 96, 1, 2), (6, 144, 1, 1), (6, 192, 3, 2), (6, 288, 3, 2), (6, 384, 4, 1), (6, 576, 4, 2), (6, 960, 3, 1), (6, 1280, 1, 1)]


class MobileNeXt(nn.Module):
    def __init__(self, num_classes=1000, width=1.0):
        super().__init__()
        divisor = 4 if width == 0.1 else 8
        inp = make_divisible(32 * width, divisor)
        layers = conv_bn(3, inp, 3, 2, relu6=True)
        for t, c, n, s in STAGES:
            oup = 1280 if c == 1280 and width < 1 else make_divisible(c * width, divisor)
            for i in range(n):
                layers.append(SandglassBlock(inp, oup, s if i == 0 else 1, t, n == 1 and s == 1 and i == 0))
                inp = oup
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(make_divisible(inp, 4), num_classes))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["train", "infer"])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--batch", type=int)
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int)
    args = parser.parse_args()
    train = args.mode == "train"
    size = args.input_size or (64 if train else 224)
    batch = args.batch or (16 if train else 1)
    steps = args.steps or (10 if train else 50)
    warmup = args.warmup if args.warmup is not None else (2 if train else 5)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    model = MobileNeXt(args.num_classes, args.width)
    images = torch.randn(batch, 3, size, size)
    labels = torch.randint(0, args.num_classes, (batch,))
    if train:
        model.train()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=4e-5)
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(images), labels).backward()
            optimizer.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(images)

    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    ms = (time.perf_counter() - start) * 1000 / steps
    print(json.dumps({
        "mode": args.mode, "model": "mobilenext", "width": args.width, "inputSize": size, "batch": batch,
        "backend": f"pytorch-{torch.__version__}", "workers": args.threads, "imgPerSec": batch * 1000 / ms,
        "msPerStep": ms, "peakRssMb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "tensorsBefore": None, "tensorsAfter": None, "tensorsLeaked": None,
    }, indent=2))


if __name__ == "__main__":
    main()
