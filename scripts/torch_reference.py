#!/usr/bin/env python3
"""PyTorch reference models and a parity-fixture writer.

`MXNet` below is a transcription of the official MobileNeXt (mnext.py, spec/mobilenext.md §1.2) with the
partial identity (`identity_div`, the "tensor multiplier") as a constructor argument; MobileNetV2 is
torchvision's own `mobilenet_v2`; mnext_s / mnext_l are efficient_mnext_reference.py's `EfficientMnext`.

These definitions are what ties the test suite's fixtures (written here at test time, test/reference-fixtures.ts)
to the official code. `check` loads an official fixture (weights, input and logits saved by the official
PyTorch code) into them; run by hand on 2026-12-03 with PyTorch 1.13 (Debian python3-torch), max |logit
difference| to the official logits: mnext_050_64_c10 4.8e-7, mnext_100_64_c10_tm2 4.4e-7, mnext_100_224 5.0e-7,
mobilenetv2_100_224 5.0e-7, mnext_s_224 8.9e-7, each with the official state_dict names, shapes and order.

    python3 scripts/torch_reference.py check official/mnext_050_64_c10.json
    python3 scripts/torch_reference.py make --model mnext --width 0.75 --num-classes 7 --input-size 31 \
        --tensor-multiplier 3 --batch 2 --seed 1 --out /tmp/fx/mnext_075_31.json
    python3 scripts/torch_reference.py make-set fixtures.json /tmp/fx
"""
import argparse
import json
import math
import sys

import numpy as np
import torch
from torch import nn


def make_divisible(v, divisor, min_value=None):
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_3x3_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class SGBlock(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, keep_3x3=False, identity_div=1):
        super().__init__()
        hidden_dim = inp // expand_ratio
        if hidden_dim < oup / 6.0:
            hidden_dim = make_divisible(math.ceil(oup / 6.0), 16)
        self.identity = False
        self.identity_div = identity_div
        self.expand_ratio = expand_ratio
        if expand_ratio == 2:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup))
        elif inp != oup and stride == 1 and not keep_3x3:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))
        elif inp != oup and stride == 2 and not keep_3x3:
            self.conv = nn.Sequential(
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup))
        else:
            if not keep_3x3:
                self.identity = True
            self.conv = nn.Sequential(
                nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
                nn.Conv2d(inp, hidden_dim, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, 1, 1, groups=oup, bias=False), nn.BatchNorm2d(oup))

    def forward(self, x):
        out = self.conv(x)
        if self.identity:
            shape = x.shape
            id_tensor = x[:, : shape[1] // self.identity_div, :, :]
            out[:, : shape[1] // self.identity_div, :, :] = out[:, : shape[1] // self.identity_div, :, :] + id_tensor
        return out


class MXNet(nn.Module):
    cfgs = [[2, 96, 1, 2], [6, 144, 1, 1], [6, 192, 3, 2], [6, 288, 3, 2],
            [6, 384, 4, 1], [6, 576, 4, 2], [6, 960, 3, 1], [6, 1280, 1, 1]]

    def __init__(self, num_classes=1000, width_mult=1.0, identity_div=1):
        super().__init__()
        divisor = 4 if width_mult == 0.1 else 8
        input_channel = make_divisible(32 * width_mult, divisor)
        layers = [conv_3x3_bn(3, input_channel, 2)]
        for t, c, n, s in self.cfgs:
            output_channel = make_divisible(c * width_mult, divisor)
            if c == 1280 and width_mult < 1:
                output_channel = 1280
            layers.append(SGBlock(input_channel, output_channel, s, t, n == 1 and s == 1, identity_div))
            input_channel = output_channel
            for _ in range(n - 1):
                layers.append(SGBlock(input_channel, output_channel, 1, t, identity_div=identity_div))
                input_channel = output_channel
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(make_divisible(input_channel, 4), num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.view(x.size(0), -1))


EFFICIENT_MODELS = ['mnext_s', 'mnext_l']
MODELS = ['mnext', 'mbv2', *EFFICIENT_MODELS]


def build(model, width, num_classes, tensor_multiplier):
    if model == 'mnext':
        return MXNet(num_classes, width, tensor_multiplier)
    if model == 'mbv2':
        from torchvision.models import mobilenet_v2
        return mobilenet_v2(width_mult=width, num_classes=num_classes)
    if model in EFFICIENT_MODELS:
        if width != 1.0 or tensor_multiplier != 1:
            raise SystemExit(f'{model} has a fixed width and no tensor multiplier')
        from efficient_mnext_reference import EfficientMnext  # imported here so that MXNet alone needs this file only
        return EfficientMnext(model[-1], num_classes)
    raise SystemExit(f'unknown model {model}')


def randomise(net, generator, input_size):
    """Random weights, BN affine parameters and BN statistics (so BN handling is exercised).

    The running statistics are first calibrated on random inputs (a cumulative average in train mode) and
    then perturbed, so activations stay O(1) through the depth as in a trained network, and the logits have
    the scale of the official fixtures.
    """
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, math.sqrt(2.0 / fan_in), generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.2, generator=generator)
                module.momentum = None
                module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.1, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
        net.train()
        for _ in range(3):
            net(torch.randn(4, 3, input_size, input_size, generator=generator))
        net.eval()
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.add_(torch.randn(module.running_mean.shape, generator=generator) * 0.05)
                module.running_var.mul_(torch.empty(module.running_var.shape).uniform_(0.8, 1.25, generator=generator))


def write_fixture(path, meta, net, x):
    tensors, offset, chunks = [], 0, []
    for name, value in net.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        array = value.detach().float().contiguous().numpy()
        tensors.append({'name': name, 'shape': list(array.shape), 'offset': offset})
        chunks.append(array.tobytes())
        offset += array.nbytes
    with torch.no_grad():
        logits = net(x).numpy()
    chunks.append(x.numpy().astype('<f4').tobytes())
    with open(path.replace('.json', '.weights.bin'), 'wb') as f:
        f.write(b''.join(chunks))
    meta = dict(meta, input_shape=list(x.shape), layout='NCHW', tensors=tensors, input_offset=offset,
                logits=logits.astype(float).tolist())
    with open(path, 'w') as f:
        json.dump(meta, f)


def write_torch_files(stem, net):
    """The state_dict as `<stem>.pth` (zip torch.save, the `torch.save(model.state_dict())` of a release) and
    `<stem>.ckpt.pth.tar`: a legacy-format training checkpoint as the official trainer saves it (DataParallel
    `module.` keys, the same tensors as EMA weights, optimizer state, epoch, arch, version)."""
    state = net.state_dict()
    torch.save(state, f'{stem}.pth')
    wrapped = {f'module.{name}': value for name, value in state.items()}
    checkpoint = {'epoch': 7, 'arch': 'mnext', 'state_dict': wrapped, 'state_dict_ema': dict(wrapped),
                  'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]}, 'version': 2}
    torch.save(checkpoint, f'{stem}.ckpt.pth.tar', _use_new_zipfile_serialization=False)


def make_fixture(out, model, width=1.0, num_classes=1000, input_size=224, tensor_multiplier=1, batch=2, seed=0,
                 torch_files=False):
    """A fixture with random weights; with torch_files also its state_dict as .pth and .ckpt.pth.tar."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # default inits (EfficientMnext's convs) draw from the global generator
    net = build(model, width, num_classes, tensor_multiplier).eval()
    if model in EFFICIENT_MODELS:
        from efficient_mnext_reference import calibrate  # PyTorch's default conv init, drop-connect off while calibrating
        calibrate(net, input_size, generator)
    else:
        randomise(net, generator, input_size)
    x = torch.randn(batch, 3, input_size, input_size, generator=generator)
    meta = {'model': model, 'width': width, 'num_classes': num_classes}
    if tensor_multiplier != 1:
        meta['tensor_multiplier'] = tensor_multiplier
    write_fixture(out, meta, net, x)
    if torch_files:
        write_torch_files(out[:-len('.json')], net)


def load_fixture(path):
    meta = json.load(open(path))
    blob = open(path.replace('.json', '.weights.bin'), 'rb').read()
    net = build(meta['model'], meta['width'], meta['num_classes'], meta.get('tensor_multiplier', 1)).eval()
    state = {}
    for t in meta['tensors']:
        count = int(np.prod(t['shape'])) if t['shape'] else 1
        state[t['name']] = torch.from_numpy(np.frombuffer(blob, '<f4', count, t['offset']).reshape(t['shape']).copy())
    net.load_state_dict(state, strict=False)
    count = int(np.prod(meta['input_shape']))
    x = torch.from_numpy(np.frombuffer(blob, '<f4', count, meta['input_offset']).reshape(meta['input_shape']).copy())
    return meta, net, x


def check(path):
    """Max |logit difference| on a fixture, and whether its tensors are our state_dict's (names, shapes, order)."""
    meta, net, x = load_fixture(path)
    with torch.no_grad():
        ours = net(x).numpy()
    expected = [(name, list(value.shape)) for name, value in net.state_dict().items() if not name.endswith('num_batches_tracked')]
    return {'maxAbsDiff': float(np.abs(ours - np.array(meta['logits'])).max()),
            'sameStateDict': expected == [(t['name'], t['shape']) for t in meta['tensors']]}


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest='cmd', required=True)
    check_parser = sub.add_parser('check', help='run a fixture through this reference; print max |diff| to its logits')
    check_parser.add_argument('fixture')
    make = sub.add_parser('make', help='write a new fixture with random weights')
    make.add_argument('--model', choices=MODELS, default='mnext')
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
        print(json.dumps(check(args.fixture)))
    elif args.cmd == 'make':
        make_fixture(args.out, args.model, args.width, args.num_classes, args.input_size, args.tensor_multiplier,
                     args.batch, args.seed, args.torch_files)
    else:
        with open(args.set) as f:
            for name, options in json.load(f).items():
                make_fixture(f'{args.out_dir}/{name}.json', **options)
    return 0


if __name__ == '__main__':
    sys.exit(main())
