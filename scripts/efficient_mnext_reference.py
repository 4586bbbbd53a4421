"""Independent PyTorch definition of the EfficientNet-style MobileNeXt (mnext_s = i2rnet-b0, mnext_l = i2rnet-b1
with grouped 1x1 convs), written from spec/mobilenext.md §1.3. scripts/torch_reference.py builds it for
`--model mnext_s | mnext_l` and writes parity fixtures from it; its docstring records how closely this definition
reproduces the official mnext_s fixture.
"""
import math

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
