"""The model zoo, as mnext registers it (src/models/registry.ts): the same family names, aliases, paper widths
and defaults. `create_model(name, **overrides)` is the one door, as in timm; every model has the official
module tree, so its state_dict is the official one and what `mnext export --to pytorch` writes.
"""
import math
import re
from dataclasses import dataclass
from typing import Callable

from .efficient import EfficientMnext
from .mobilenetv2 import mobilenetv2
from .mobilenext import MXNet

__all__ = ['create_model', 'list_models', 'resolve_model_name', 'MXNet', 'EfficientMnext']

# Widths with registered names (`mobilenext_075` = MobileNeXt at width 0.75).
PAPER_WIDTHS = (1.4, 1.0, 0.75, 0.5, 0.35)


@dataclass(frozen=True)
class Family:
    arch: str
    build: Callable  # (num_classes, width, identity_div, drop_rate, drop_connect_rate) -> nn.Module
    any_width: bool
    aliases: tuple
    drop_connect_rate: float = 0.0
    drop_rate: float = 0.2


def _mobilenext(num_classes, width, identity_div, drop_rate, _drop_connect_rate):
    return MXNet(num_classes, width, identity_div, drop_rate)


def _mobilenetv2(num_classes, width, identity_div, drop_rate, _drop_connect_rate):
    return mobilenetv2(num_classes, width, identity_div, drop_rate)


def _efficient(variant):
    def build(num_classes, _width, identity_div, drop_rate, drop_connect_rate):
        return EfficientMnext(variant, num_classes, drop_rate, drop_connect_rate, identity_div)
    return build


FAMILIES = (
    Family('mobilenext', _mobilenext, True, ('mnext', 'mnext_mbv2_cfg', 'i2rnetv3')),
    Family('mobilenetv2', _mobilenetv2, True, ('mbv2', 'mobilenet_v2')),
    Family('mnext_s', _efficient('mnext_s'), False,
           ('i2rnet-b0', 'i2rnet_b0', 'efficienti2rnet_b0', 'mnext-b0', 'mnext_efficient_s'), drop_connect_rate=0.2),
    Family('mnext_l', _efficient('mnext_l'), False,
           ('i2rnet-b1', 'i2rnet_b1', 'efficienti2rnet_b1', 'mnext-b1', 'mnext_efficient_l'), drop_connect_rate=0.2),
)


def width_suffix(width):
    return str(math.floor(width * 100 + 0.5)).zfill(3)  # JavaScript Math.round, as mnext names them


def list_models(pattern=''):
    """Every registered name: `<family>_<width*100>` at the paper widths, or the family for fixed-width ones."""
    names = []
    for family in FAMILIES:
        names += [f'{family.arch}_{width_suffix(w)}' for w in PAPER_WIDTHS] if family.any_width else [family.arch]
    return [n for n in names if re.search(pattern, n)]


def resolve_model_name(name):
    """`mobilenext_075` -> (mobilenext family, 0.75); `mnext` -> (mobilenext family, None)."""
    lower = name.lower()
    for family in FAMILIES:
        if lower == family.arch or lower in family.aliases:
            return family, None
        match = re.fullmatch(rf'{re.escape(family.arch)}_(\d{{3}})', lower)
        if match and family.any_width:
            return family, int(match.group(1)) / 100
    raise ValueError(f"unknown model '{name}'; known models: {', '.join(list_models())} (or a family name with a width)")


def create_model(name, num_classes=1000, width=None, tensor_multiplier=1, drop_rate=None, drop_connect_rate=None):
    """A model by mnext's name with mnext's overrides; errors as mnext words them (src/models/registry.ts)."""
    family, implied = resolve_model_name(name)
    if implied is not None and width is not None and width != implied:
        raise ValueError(f"model '{name}' implies width {implied} but width {width} was given")
    width = width if width is not None else implied if implied is not None else 1.0
    if not family.any_width and width != 1.0:
        raise ValueError(f'{family.arch} has a fixed width of 1; got width {width}')
    if not width > 0:
        raise ValueError(f'width: expected a positive number, got {width}')
    if not (isinstance(num_classes, int) and num_classes > 0):
        raise ValueError(f'num_classes: expected a positive integer, got {num_classes}')
    if not (isinstance(tensor_multiplier, int) and tensor_multiplier > 0):
        raise ValueError(f'tensor multiplier: expected a positive integer, got {tensor_multiplier}')
    drop_rate = family.drop_rate if drop_rate is None else drop_rate
    drop_connect_rate = family.drop_connect_rate if drop_connect_rate is None else drop_connect_rate
    return family.build(num_classes, width, tensor_multiplier, drop_rate, drop_connect_rate)
