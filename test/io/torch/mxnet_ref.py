"""Our own PyTorch definition of the official MobileNeXt (`MXNet` / `SGBlock` of codebase/models/mnext.py),
written from spec/mobilenext.md §1.2, with the same module tree (so the same state_dict keys) as the official
code. Used by the export tests: mnext writes a .pth, this model loads it with strict=True and must give the
same logits.

Run as a script: `python3 mxnet_ref.py <request.json>...` where each request names the weights file, the model
(`mnext` or `mbv2` = torchvision mobilenet_v2) with width / classes / identity_div, and a raw float32 NCHW
input file; prints a JSON list with each request's logits.
"""
import json
import math
import sys

import torch
from torch import nn


def make_divisible(v, divisor, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True))


class SGBlock(nn.Module):
    def __init__(self, inp, oup, stride, t, keep_3x3=False, identity_div=1):
        super().__init__()
        hidden = inp // t
        if hidden < oup / 6.0:
            hidden = make_divisible(math.ceil(oup / 6.0), 16)
        self.identity = False
        self.identity_div = identity_div
        if t == 2:  # type A
            layers = [
                nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup),
            ]
        elif inp != oup and stride == 1 and not keep_3x3:  # type B
            layers = [
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
            ]
        elif inp != oup and stride == 2 and not keep_3x3:  # type C
            layers = [
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, stride, 1, groups=oup, bias=False), nn.BatchNorm2d(oup),
            ]
        else:  # type D
            if inp == oup and stride == 1 and not keep_3x3:
                self.identity = True
            layers = [
                nn.Conv2d(inp, inp, 3, 1, 1, groups=inp, bias=False), nn.BatchNorm2d(inp), nn.ReLU6(inplace=True),
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup), nn.ReLU6(inplace=True),
                nn.Conv2d(oup, oup, 3, 1, 1, groups=oup, bias=False), nn.BatchNorm2d(oup),
            ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv(x)
        if self.identity:
            shape = x.shape
            keep = shape[1] // self.identity_div
            out = out.clone()
            out[:, :keep] = out[:, :keep] + x[:, :keep]
        return out


class MXNet(nn.Module):
    CFGS = [(2, 96, 1, 2), (6, 144, 1, 1), (6, 192, 3, 2), (6, 288, 3, 2),
            (6, 384, 4, 1), (6, 576, 4, 2), (6, 960, 3, 1), (6, 1280, 1, 1)]

    def __init__(self, num_classes=1000, width_mult=1.0, identity_div=1):
        super().__init__()
        divisor = 4 if width_mult == 0.1 else 8
        input_channel = make_divisible(32 * width_mult, divisor)
        layers = [conv_bn(3, input_channel, 2)]
        for t, c, n, s in self.CFGS:
            output_channel = c if c == 1280 and width_mult < 1 else make_divisible(c * width_mult, divisor)
            for i in range(n):
                keep_3x3 = i == 0 and n == 1 and s == 1
                layers.append(SGBlock(input_channel, output_channel, s if i == 0 else 1, t, keep_3x3, identity_div))
                input_channel = output_channel
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(make_divisible(input_channel, 4), num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def build(request):
    if request["model"] == "mbv2":
        import torchvision
        return torchvision.models.mobilenet_v2(width_mult=request["width"], num_classes=request["num_classes"])
    return MXNet(request["num_classes"], request["width"], request.get("identity_div", 1))


def run(request):
    model = build(request)
    state = torch.load(request["weights"], map_location="cpu")
    model.load_state_dict(state, strict=True)
    model.eval()
    shape = request["input_shape"]
    with open(request["input"], "rb") as f:
        x = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(shape)
    with torch.no_grad():
        logits = model(x)
    return {"logits": logits.tolist(), "keys": len(state)}


def main():
    """One python start (importing torch takes seconds) for any number of requests."""
    results = []
    for path in sys.argv[1:]:
        with open(path) as f:
            results.append(run(json.load(f)))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
