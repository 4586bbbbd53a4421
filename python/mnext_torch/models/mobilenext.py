"""The official MobileNeXt (`MXNet` in codebase/models/mnext.py, spec/mobilenext.md §1.2), module for module, so
its state_dict keys are the official ones. The partial identity `identity_div` (the README's "tensor
multiplier" k) is a constructor argument here; the official code sets it to 1 inside `SGBlock`.
"""
import math

from torch import nn

# (t, c, n, s): t is a *reduction* ratio (hidden = in // t); mnext's src/models/mobilenext.ts holds the same table.
STAGES = [[2, 96, 1, 2], [6, 144, 1, 1], [6, 192, 3, 2], [6, 288, 3, 2],
          [6, 384, 4, 1], [6, 576, 4, 2], [6, 960, 3, 1], [6, 1280, 1, 1]]


def make_divisible(v, divisor, min_value=None):
    """Rounds to the nearest multiple of divisor, never below min_value nor more than 10 % below v."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_3x3_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


def sandglass_layers(inp, oup, hidden, stride, kind):
    """The official Sequential of a block type (A–D): ReLU6 modules occupy slots, so the indices match."""
    pointwise = [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                 nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True)]
    if kind == 'B':
        return pointwise
    if kind == 'C':
        return pointwise + [nn.Conv2d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup)]
    # A carries the stage stride on its last depthwise conv; D hard-codes stride 1 there.
    last_stride = stride if kind == 'A' else 1
    return ([nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True)]
            + pointwise + [nn.Conv2d(oup, oup, 3, last_stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup)])


def sandglass_kind(inp, oup, stride, expand_ratio, keep_3x3):
    if expand_ratio == 2:
        return 'A'
    if inp != oup and stride == 1 and not keep_3x3:
        return 'B'
    if inp != oup and stride == 2 and not keep_3x3:
        return 'C'
    return 'D'


class SGBlock(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio, keep_3x3=False, identity_div=1):
        super().__init__()
        hidden_dim = inp // expand_ratio
        if hidden_dim < oup / 6.0:
            hidden_dim = make_divisible(math.ceil(oup / 6.0), 16)
        kind = sandglass_kind(inp, oup, stride, expand_ratio, keep_3x3)
        self.identity = kind == 'D' and not keep_3x3
        self.identity_div = identity_div
        self.expand_ratio = expand_ratio
        self.conv = nn.Sequential(*sandglass_layers(inp, oup, hidden_dim, stride, kind))

    def forward(self, x):
        out = self.conv(x)
        if self.identity:
            # The official in-place add onto the first C // identity_div channels.
            shape = x.shape
            id_tensor = x[:, : shape[1] // self.identity_div, :, :]
            out[:, : shape[1] // self.identity_div, :, :] = out[:, : shape[1] // self.identity_div, :, :] + id_tensor
        return out


class MXNet(nn.Module):
    cfgs = STAGES

    def __init__(self, num_classes=1000, width_mult=1.0, identity_div=1, drop_rate=0.2):
        super().__init__()
        divisor = 4 if width_mult == 0.1 else 8
        input_channel = make_divisible(32 * width_mult, divisor)
        layers = [conv_3x3_bn(3, input_channel, 2)]
        for t, c, n, s in self.cfgs:
            # The last stage keeps 1280 channels at widths below 1 (official special case).
            output_channel = 1280 if c == 1280 and width_mult < 1 else make_divisible(c * width_mult, divisor)
            layers.append(SGBlock(input_channel, output_channel, s, t, n == 1 and s == 1, identity_div))
            input_channel = output_channel
            for _ in range(n - 1):
                layers.append(SGBlock(input_channel, output_channel, 1, t, identity_div=identity_div))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(drop_rate), nn.Linear(make_divisible(input_channel, 4), num_classes))
        self._initialize_weights()

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(x.view(x.size(0), -1))

    def _initialize_weights(self):
        """Official init: conv N(0, sqrt(2 / (k·k·out))), BN γ = 1 and β = 0, linear N(0, 0.01) with zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / n))
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.weight.data.normal_(0, 0.01)
                m.bias.data.zero_()
