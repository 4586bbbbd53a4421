"""The EfficientNet-style MobileNeXt `mnext_s` (= i2rnet-b0) and `mnext_l` (= i2rnet-b1, grouped 1x1 convs) of the
official efficient_mnext/model.py (`EfficientNet` + `MBConvBlockV1`, spec §1.3), with the official module names
(`_conv_stem`, `_bn0`, `_blocks.<i>.features`, `_se_reduce`, `_se_expand`, the unused `_bn1`, `_fc`).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from .mobilenext import make_divisible, sandglass_kind

# (k, t, s, c, n) before depth scaling; t is a reduction ratio (hidden = in // t). Every stage has se0.25.
STAGES = [(3, 2, 1, 96, 1), (3, 6, 2, 144, 1), (5, 6, 2, 192, 3), (3, 6, 2, 288, 3),
          (5, 6, 1, 384, 4), (5, 6, 2, 576, 4), (3, 6, 1, 960, 3), (3, 6, 1, 1280, 1)]
# depth: repeats become ceil(depth * n); image_size: every conv's static padding is computed from it;
# groups: groups of both 1x1 convs of type A and D blocks (`mgroup`).
VARIANTS = {'mnext_s': dict(depth=1.0, image_size=224, groups=1), 'mnext_l': dict(depth=1.1, image_size=240, groups=2)}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
SE_RATIO = 0.25


class StaticSameConv(nn.Conv2d):
    """TF "SAME" padding computed once from the nominal image size, as Conv2dStaticSamePadding does."""

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


def bn(channels):
    """BN eps 1e-3, momentum 0.01: the TF decay 0.99 of GlobalParams."""
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def block_layers(inp, oup, hidden, k, s, kind, image_size, groups):
    """`MBConvBlockV1.features`: Swish modules occupy Sequential slots (2/7 in A and D, 4 in B and C)."""
    def conv(i, o, kernel=1, stride=1, g=1):
        return StaticSameConv(i, o, kernel, image_size, stride, g)

    if kind in ('B', 'C'):
        layers = [conv(inp, hidden), bn(hidden), conv(hidden, oup), bn(oup), Swish()]
        return layers if kind == 'B' else layers + [conv(oup, oup, k, s, oup), bn(oup)]
    # A carries the stage stride on its last depthwise conv; D never strides.
    return [conv(inp, inp, k, 1, inp), bn(inp), Swish(), conv(inp, hidden, g=groups), bn(hidden),
            conv(hidden, oup, g=groups), bn(oup), Swish(), conv(oup, oup, k, s if kind == 'A' else 1, oup), bn(oup)]


class MBConvBlockV1(nn.Module):
    def __init__(self, inp, oup, k, s, t, first_of_stage, image_size, groups, drop_connect_rate, identity_div):
        super().__init__()
        # The official rule without MobileNeXt's keep_3x3 case; the "at least oup / 6" floor is dead code there.
        kind = sandglass_kind(inp, oup, s, t, False)
        self.features = nn.Sequential(*block_layers(inp, oup, make_divisible(inp // t, 2), k, s, kind, image_size, groups))
        squeezed = max(1, int(oup / t * SE_RATIO))
        self._se_reduce = StaticSameConv(oup, squeezed, 1, image_size, bias=True)
        self._se_expand = StaticSameConv(squeezed, oup, 1, image_size, bias=True)
        # A stage's first block stores its stride as a list, which never equals 1 in the official residual test.
        self.residual = kind == 'D' and not first_of_stage and s == 1 and inp == oup
        self.drop_connect_rate = drop_connect_rate
        self.identity_div = identity_div

    def forward(self, x):
        y = self.features(x)
        gate = self._se_expand(F.silu(self._se_reduce(F.adaptive_avg_pool2d(y, 1))))
        y = torch.sigmoid(gate) * y
        if not self.residual:
            return y
        if self.training and self.drop_connect_rate > 0:
            keep = 1 - self.drop_connect_rate
            mask = torch.floor(keep + torch.rand(y.shape[0], 1, 1, 1, dtype=y.dtype, device=y.device))
            y = y / keep * mask
        if self.identity_div == 1:
            return y + x
        channels = x.shape[1] // self.identity_div
        return torch.cat([y[:, :channels] + x[:, :channels], y[:, channels:]], 1)


class EfficientMnext(nn.Module):
    """No init code, as in the official model: PyTorch's default initialisation."""

    # Modules forward() never calls: their parameters get no gradient (DistributedDataParallel must be told).
    unused_modules = ('_bn1',)

    def __init__(self, variant, num_classes=1000, drop_rate=0.2, drop_connect_rate=0.2, identity_div=1):
        super().__init__()
        cfg = VARIANTS[variant]
        size = cfg['image_size']
        self._conv_stem = StaticSameConv(3, STEM_CHANNELS, 3, size, stride=2)
        self._bn0 = bn(STEM_CHANNELS)
        configs, inp = [], STEM_CHANNELS
        for k, t, s, c, n in STAGES:
            for i in range(math.ceil(cfg['depth'] * n)):
                configs.append((inp if i == 0 else c, c, k, s if i == 0 else 1, t, i == 0))
            inp = c
        # Block i of N drops its residual branch with p = rate * i / N (`extract_features`).
        self._blocks = nn.ModuleList(
            MBConvBlockV1(*block, size, cfg['groups'], drop_connect_rate * i / len(configs), identity_div)
            for i, block in enumerate(configs))
        self._bn1 = bn(HEAD_CHANNELS)  # created, never used (as in the official head)
        self._dropout = nn.Dropout(drop_rate)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def forward(self, x):
        x = F.silu(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return self._fc(self._dropout(F.adaptive_avg_pool2d(x, 1).flatten(1)))
