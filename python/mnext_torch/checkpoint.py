"""Training checkpoints in timm's format: `torch.save` of a dict with `epoch`, `arch`, `state_dict`, `optimizer`,
`args` (the resolved config as a plain dict, so no pickled classes are needed to read it), `version` 2 (resume
starts at epoch + 1), `metric`, `classes` (the label names) and, with EMA, `state_dict_ema`; plus the summary rows and the best epoch, so a
resumed run's summary.csv equals an uninterrupted run's. A run keeps `last/` and `best/`, one file each.
"""
import os

import torch

from .config import ConfigError
from .files import write_atomic

CHECKPOINT_FILE = 'checkpoint.pth.tar'
REQUIRED = ('epoch', 'state_dict', 'optimizer', 'args')


def save_checkpoint(folder, state):
    os.makedirs(folder, exist_ok=True)
    write_atomic(os.path.join(folder, CHECKPOINT_FILE), lambda f: torch.save(state, f))


def checkpoint_state(model, optimizer, ema, config, epoch, metric, rows, best, classes=None):
    state = {'epoch': epoch, 'arch': config['model'], 'state_dict': model.state_dict(),
             'optimizer': optimizer.state_dict(), 'args': dict(config), 'version': 2, 'metric': metric,
             'summary': rows, 'best': best}
    if classes is not None:
        state['classes'] = list(classes)  # for `mnext import` (label names in label order)
    if ema is not None:
        state['state_dict_ema'] = ema.module.state_dict()
    return state


def resume_file(path):
    """(checkpoint file, run directory) for a run directory, its last/ or best/ folder, or a checkpoint file."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        return path, os.path.dirname(os.path.dirname(path))
    for folder, run_dir in ((path, os.path.dirname(path)), (os.path.join(path, 'last'), path)):
        if os.path.isfile(os.path.join(folder, CHECKPOINT_FILE)):
            return os.path.join(folder, CHECKPOINT_FILE), run_dir
    if not os.path.exists(path):
        raise ConfigError(f'resume: {path} does not exist')
    raise ConfigError(f'resume: {path} holds no last/{CHECKPOINT_FILE}')


def load_checkpoint(path):
    try:
        state = torch.load(path, map_location='cpu')
    except Exception as error:  # torch.load raises anything from pickle, zipfile and its own checks
        raise ConfigError(f'resume: {path} is not a readable PyTorch checkpoint ({error})') from None
    missing = [k for k in REQUIRED if not (isinstance(state, dict) and k in state)]
    if missing:
        raise ConfigError(f"resume: {path} is not a training checkpoint of mnext_torch.train (no {', '.join(missing)})")
    return state


def saved_run_config(path):
    """The resolved config the run at `path` was last trained with (its last checkpoint's args)."""
    return load_checkpoint(resume_file(path)[0])['args']
