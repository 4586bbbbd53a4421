#!/usr/bin/env python3
"""Parity fixtures from the PyTorch models of python/mnext_torch (the official module trees under mnext's names).

`check` proves the models against the shipped official fixtures before they are trusted to make new ones;
`make` writes a new fixture with random weights (python/mnext_torch/fixtures.py has the format).

    python3 scripts/torch_reference.py check ../shared/fixtures/mnext_050_64_c10.json
    python3 scripts/torch_reference.py make --model mnext --width 0.75 --num-classes 7 --input-size 31 \
        --tensor-multiplier 3 --batch 2 --seed 1 --out /tmp/fx/mnext_075_31.json
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'python'))
import torch  # noqa: E402
from mnext_torch.fixtures import check_fixture, make_fixture  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest='cmd', required=True)
    check = sub.add_parser('check', help='run a fixture through this reference; print max |diff| to its logits')
    check.add_argument('fixture')
    make = sub.add_parser('make', help='write a new fixture with random weights')
    make.add_argument('--model', choices=['mnext', 'mbv2', 'mnext_s', 'mnext_l'], default='mnext')
    make.add_argument('--width', type=float, default=1.0)
    make.add_argument('--num-classes', type=int, default=1000)
    make.add_argument('--input-size', type=int, default=224)
    make.add_argument('--tensor-multiplier', type=int, default=1)
    make.add_argument('--batch', type=int, default=2)
    make.add_argument('--seed', type=int, default=0)
    make.add_argument('--out', required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cmd == 'check':
        print(json.dumps({'maxAbsDiff': check_fixture(args.fixture)}))
        return 0
    make_fixture(args.out, args.model, args.width, args.num_classes, args.input_size, args.tensor_multiplier,
                 args.batch, args.seed)
    return 0


if __name__ == '__main__':
    sys.exit(main())
