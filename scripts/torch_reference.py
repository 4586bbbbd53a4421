#!/usr/bin/env python3
"""Parity fixtures from the PyTorch models of python/mnext_torch (the official module trees under mnext's names).

`check` proves the models against the official fixtures (weights, input and logits saved by the official PyTorch
code) before they are trusted to make new ones; `make` writes a new fixture with random weights
(python/mnext_torch/fixtures.py has the format), `make-set` several in one process: it makes the test suite's
reference fixtures (test/reference-fixtures.ts).

`check` run by hand on 2026-12-03 on the official fixtures (PyTorch 1.13, Debian python3-torch), max |logit
difference| to the official logits: mnext_050_64_c10 4.8e-7, mnext_100_64_c10_tm2 4.4e-7, mnext_100_224 5.0e-7,
mobilenetv2_100_224 5.0e-7, mnext_s_224 8.9e-7, each with the official state_dict names, shapes and order
(sameStateDict).

    python3 scripts/torch_reference.py check official/mnext_050_64_c10.json
    python3 scripts/torch_reference.py make --model mnext --width 0.75 --num-classes 7 --input-size 31 \
        --tensor-multiplier 3 --batch 2 --seed 1 --out /tmp/fx/mnext_075_31.json
    python3 scripts/torch_reference.py make-set fixtures.json /tmp/fx
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
    check = sub.add_parser('check', help='run a fixture through these models; print max |diff| to its logits and '
                                         'whether its tensors are their state_dict')
    check.add_argument('fixture')
    make = sub.add_parser('make', help='write a new fixture with random weights')
    make.add_argument('--model', choices=['mnext', 'mbv2', 'mnext_s', 'mnext_l'], default='mnext')
    make.add_argument('--width', type=float, default=1.0)
    make.add_argument('--num-classes', type=int, default=1000)
    make.add_argument('--input-size', type=int, default=224)
    make.add_argument('--tensor-multiplier', type=int, default=1)
    make.add_argument('--batch', type=int, default=2)
    make.add_argument('--seed', type=int, default=0)
    make.add_argument('--torch-files', action='store_true', help='also write <name>.pth and <name>.ckpt.pth.tar')
    make.add_argument('--out', required=True)
    make_set = sub.add_parser('make-set', help='write several fixtures in one process (importing torch is the slow part)')
    make_set.add_argument('set', help='JSON object: fixture name -> make_fixture keyword arguments')
    make_set.add_argument('out_dir')
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.cmd == 'check':
        print(json.dumps(check_fixture(args.fixture)))
    elif args.cmd == 'make':
        make_fixture(args.out, args.model, args.width, args.num_classes, args.input_size, args.tensor_multiplier,
                     args.batch, args.seed, args.torch_files)
    else:
        with open(args.set) as f:
            for name, options in json.load(f).items():
                make_fixture(os.path.join(args.out_dir, f'{name}.json'), **options)
    return 0


if __name__ == '__main__':
    sys.exit(main())
