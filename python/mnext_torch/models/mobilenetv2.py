"""MobileNetV2 as torchvision builds it (the paper's baseline, spec §1.4), with mnext's optional partial identity:
at tensor multiplier k > 1 the residual adds onto the first C // k channels only, as in MobileNeXt.
"""
import torch
from torchvision.models import mobilenet_v2
from torchvision.models.mobilenetv2 import InvertedResidual


class PartialIdentityResidual(InvertedResidual):
    """torchvision's InvertedResidual whose shortcut covers the first C // identity_div channels."""

    identity_div = 1

    def forward(self, x):
        out = self.conv(x)
        if not self.use_res_connect:
            return out
        channels = x.shape[1] // self.identity_div
        return torch.cat([out[:, :channels] + x[:, :channels], out[:, channels:]], 1)


def mobilenetv2(num_classes=1000, width_mult=1.0, identity_div=1, drop_rate=0.2):
    model = mobilenet_v2(width_mult=width_mult, num_classes=num_classes, dropout=drop_rate)
    if identity_div != 1:
        # Same modules and state_dict, only the forward differs: swap the class of each residual block.
        for block in model.modules():
            if isinstance(block, InvertedResidual):
                block.__class__ = PartialIdentityResidual
                block.identity_div = identity_div
    return model
