"""initial_checkpoint, as timm's --initial-checkpoint and mnext train's fine-tuning start (src/train/finetune.ts):
a fresh run starts from a PyTorch file's weights instead of the seeded init. The file is a bare state_dict (what
`mnext export --to pytorch` writes) or a training checkpoint (`state_dict`, or `state_dict_ema` with use_ema);
DataParallel's `module.` prefixes are dropped. A classifier for another class count is re-initialised as the run's
own init made it (as mnext does for .pth files, which record no class names); any other missing, extra or
mis-shaped key is an error that lists them (the strict load of timm's load_checkpoint).
"""
import os

import torch
from torch import nn

from .config import ConfigError

WRAPPER_PREFIX = 'module.'


def classifier_name(model):
    """The state_dict prefix of the model's classifier: every family ends in one linear layer."""
    return [name for name, module in model.named_modules() if isinstance(module, nn.Linear)][-1]


def read_weights(path, use_ema):
    if not os.path.isfile(path):
        raise ConfigError(f'initial_checkpoint: {path} does not exist')
    try:
        saved = torch.load(path, map_location='cpu')
    except Exception as error:  # torch.load raises anything from pickle, zipfile and its own checks
        raise ConfigError(f'initial_checkpoint: {path} is not a readable PyTorch file ({error})') from None
    entry = 'state_dict_ema' if use_ema else 'state_dict'
    if isinstance(saved, dict) and entry in saved:
        saved = saved[entry]
    elif use_ema:
        raise ConfigError(f'use_ema: {path} has no EMA weights (no state_dict_ema entry); set use_ema: false')
    if not (isinstance(saved, dict) and saved and all(torch.is_tensor(v) for v in saved.values())):
        raise ConfigError(f'initial_checkpoint: {path} holds no state_dict (a dict of tensors, or a checkpoint with a state_dict entry)')
    return {k[len(WRAPPER_PREFIX):] if k.startswith(WRAPPER_PREFIX) else k: v for k, v in saved.items()}


def listed(what, names):
    """`missing 120 (a, b, ..., h, …)`: the count, then the first few."""
    shown = ', '.join(names[:8]) + (', …' if len(names) > 8 else '')
    return f'{what} {len(names)} ({shown})' if names else ''


def mismatch(model_state, weights):
    missing = [k for k in model_state if k not in weights]
    unexpected = [k for k in weights if k not in model_state]
    shapes = [f'{k} {list(weights[k].shape)} (model: {list(v.shape)})' for k, v in model_state.items()
              if k in weights and weights[k].shape != v.shape]
    parts = [listed('missing', missing), listed('unexpected', unexpected), listed('wrongly shaped', shapes)]
    return '; '.join(p for p in parts if p)


def load_initial_weights(model, config, log):
    """Loads initial_checkpoint into the freshly initialised model; logs where the weights came from."""
    path = config['initial_checkpoint']
    weights = read_weights(path, config['use_ema'])
    own = model.state_dict()
    head = classifier_name(model)
    rows = weights.get(f'{head}.weight')
    reinitialised = rows is not None and rows.ndim == 2 and rows.shape[0] != own[f'{head}.weight'].shape[0]
    if reinitialised:
        for key in (f'{head}.weight', f'{head}.bias'):
            weights[key] = own[key]
    problem = mismatch(own, weights)
    if problem:
        raise ConfigError(f"initial_checkpoint: {path} does not fit {config['model']} (width {config['width'] or 'default'}, "
                          f"tensor_multiplier {config['tensor_multiplier']}): {problem}")
    model.load_state_dict(weights, strict=True)
    log(f"initial weights: {path}{' (EMA)' if config['use_ema'] else ''}")
    if reinitialised:
        log(f"classifier re-initialised: {rows.shape[0]} → {own[f'{head}.weight'].shape[0]} classes")
