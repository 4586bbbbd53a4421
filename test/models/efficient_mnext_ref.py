"""Independent PyTorch definition of the EfficientNet-style MobileNeXt (mnext_s = i2rnet-b0, mnext_l = i2rnet-b1
with grouped 1x1 convs), written from spec/mobilenext.md §1.3, used by test/models/efficient-mnext.test.ts.

  efficient_mnext_ref.py <out_dir> <official_fixture.json> <variant>:<input_size>:<num_classes> ...
      Loads the official fixture (mnext_s) into this definition and prints {"maxAbsDiff": ...} (the definition
      reproduces the official model), then for every spec writes <out_dir>/mnext_<variant>_<size>.json +
      .weights.bin in the parity-fixture format: random weights (BN statistics calibrated on random inputs), a
      random batch of 2 and the eval-mode logits. One process for all of it: importing torch is the slow part.
"""
import json
import math
import sys

import torch
from torch import nn
from torch.nn import functional as F

# (k, t, s, c, n) before depth scaling; t is a reduction ratio (hidden = in // t).
STAGES = [(3, 2, 1, 96, 1), (3, 6, 2, 144, 1), (5, 6, 2, 192, 3), (3, 6, 2, 288, 3),
          (5, 6, 1, 384, 4), (5, 6, 2, 576, 4), (3, 6, 1, 960, 3), (3, 6, 1, 1280, 1)]
VARIANTS = {'s': dict(depth=1.0, image_size=224, groups=1), 'l': dict(depth=1.1, image_size=240, groups=2)}


def make_divisible(v, divisor):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class StaticSameConv(nn.Conv2d):
    """TF 'SAME' padding computed once from the nominal image size, as Conv2dStaticSamePadding does."""

    def __init__(self, inp, out, k, image_size, stride=1, groups=1, bias=False):
        super().__init__(inp, out, k, stride=stride, groups=groups, bias=bias)
        o = math.ceil(image_size / stride)
        total = max((o - 1) * stride + k - image_size, 0)
        self.static_pad = (total // 2, total - total // 2, total // 2, total - total // 2)

    def forward(self, x):
        return super().forward(F.pad(x, self.static_pad))


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


def bn(c):
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class Block(nn.Module):
    def __init__(self, inp, oup, k, s, t, first, image_size, groups):
        super().__init__()
        h = make_divisible(inp // t, 2)
        conv = lambda i, o, kk=1, ss=1, g=1: StaticSameConv(i, o, kk, image_size, ss, g)
        if t == 2:
            layers = [conv(inp, inp, k, 1, inp), bn(inp), Swish(), conv(inp, h, g=groups), bn(h),
                      conv(h, oup, g=groups), bn(oup), Swish(), conv(oup, oup, k, s, oup), bn(oup)]
        elif inp != oup and s == 1:
            layers = [conv(inp, h), bn(h), conv(h, oup), bn(oup), Swish()]
        elif inp != oup and s == 2:
            layers = [conv(inp, h), bn(h), conv(h, oup), bn(oup), Swish(), conv(oup, oup, k, s, oup), bn(oup)]
        else:
            layers = [conv(inp, inp, k, 1, inp), bn(inp), Swish(), conv(inp, h, g=groups), bn(h),
                      conv(h, oup, g=groups), bn(oup), Swish(), conv(oup, oup, k, 1, oup), bn(oup)]
        self.features = nn.Sequential(*layers)
        r = max(1, int(oup / t * 0.25))
        self._se_reduce = StaticSameConv(oup, r, 1, image_size, bias=True)
        self._se_expand = StaticSameConv(r, oup, 1, image_size, bias=True)
        self.residual = t != 2 and inp == oup and s == 1 and not first

    def forward(self, x, p):
        y = self.features(x)
        gate = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(y, 1))))
        y = torch.sigmoid(gate) * y
        if not self.residual:
            return y
        if self.training and p > 0:
            keep = 1 - p
            y = y / keep * torch.floor(keep + torch.rand(y.shape[0], 1, 1, 1))
        return y + x


class EfficientMnext(nn.Module):
    def __init__(self, variant, num_classes):
        super().__init__()
        cfg = VARIANTS[variant]
        size = cfg['image_size']
        self._conv_stem = StaticSameConv(3, 32, 3, size, stride=2)
        self._bn0 = bn(32)
        blocks, inp = [], 32
        for k, t, s, c, n in STAGES:
            for i in range(math.ceil(cfg['depth'] * n)):
                blocks.append(Block(inp if i == 0 else c, c, k, s if i == 0 else 1, t, i == 0, size, cfg['groups']))
            inp = c
        self._blocks = nn.ModuleList(blocks)
        self._bn1 = bn(1280)  # created, never used (as in the official head)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = F.silu(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x = block(x, 0.2 * i / len(self._blocks))
        x = F.dropout(F.adaptive_avg_pool2d(x, 1).flatten(1), 0.2, self.training)
        return self._fc(x)


def calibrate(model, size, generator):
    """Random affine BN params, then running statistics from a random batch (eval activations stay O(1))."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5, generator=generator)
            m.bias.data.uniform_(-0.2, 0.2, generator=generator)
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        # One random batch; drop-connect off (p = 0); the head has no BN that is used.
        y = F.silu(model._bn0(model._conv_stem(torch.randn(4, 3, size, size, generator=generator))))
        for block in model._blocks:
            y = block(y, 0.0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.01
    model.eval()


def export(variant, out_json, size, num_classes, seed):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = EfficientMnext(variant, num_classes)
    calibrate(model, size, generator)
    x = torch.randn(2, 3, size, size, generator=generator)
    with torch.no_grad():
        logits = model(x)
    tensors, chunks, offset = [], [], 0
    for name, value in model.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        data = value.detach().float().contiguous().numpy().tobytes()
        tensors.append({'name': name, 'shape': list(value.shape), 'offset': offset})
        chunks.append(data)
        offset += len(data)
    chunks.append(x.numpy().tobytes())
    with open(out_json.replace('.json', '.weights.bin'), 'wb') as f:
        f.write(b''.join(chunks))
    meta = {'model': f'mnext_{variant}', 'width': 1.0, 'num_classes': num_classes, 'input_shape': list(x.shape),
            'layout': 'NCHW', 'tensors': tensors, 'input_offset': offset, 'logits': logits.tolist()}
    with open(out_json, 'w') as f:
        json.dump(meta, f)


def check(fixture_json):
    meta = json.load(open(fixture_json))
    raw = open(fixture_json.replace('.json', '.weights.bin'), 'rb').read()
    floats = lambda off, shape: torch.frombuffer(bytearray(raw[off:off + 4 * math.prod(shape)]), dtype=torch.float32).reshape(shape)
    model = EfficientMnext(meta['model'][-1], meta['num_classes'])
    state = {t['name']: floats(t['offset'], t['shape']) for t in meta['tensors']}
    missing = model.load_state_dict(state, strict=False)
    assert all(k.endswith('num_batches_tracked') for k in missing.missing_keys) and not missing.unexpected_keys, missing
    model.eval()
    with torch.no_grad():
        logits = model(floats(meta['input_offset'], meta['input_shape']))
    print(json.dumps({'maxAbsDiff': (logits - torch.tensor(meta['logits'])).abs().max().item()}))


if __name__ == '__main__':
    out_dir, official = sys.argv[1], sys.argv[2]
    check(official)
    for i, spec in enumerate(sys.argv[3:]):
        variant, size, classes = spec.split(':')
        export(variant, f'{out_dir}/mnext_{variant}_{size}.json', int(size), int(classes), seed=i + 1)
