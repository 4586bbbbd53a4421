"""How far BN's training statistics computed in float32 land from the exact ones, on a model's real BN inputs.

    PYTHONPATH=python python3 scripts/bn-statistics-error.py PARITY_DIR [SIDE]

Loads the end state of SIDE (default: wasm) of an `mnext parity-train` folder into the twin's model, runs the
folder's last recorded batch through it in train mode, and for every BN input (NHWC rows x channels, the layout
mnext's kernels read) compares with the float64 variance:
  two-pass   mnext's channel_moments now: float32 sums per 64 rows into double, the mean, then squared deviations
  one-pass   the form taken back in 9d3dd26: sums of d and d^2, d = x - (the first row), float32 per 64 rows
  torch      PyTorch's own float32 batch variance (what the twin trains with)
Prints, per form, the largest relative variance error and the layer and channel it is in.
"""
import json
import os
import sys

import numpy as np
import torch

from mnext_torch.config import resolve_config
from mnext_torch.replay import normalised
from mnext_torch.train import build_model

BLOCK = 64


def block_sums(values):
    """Per channel: float32 running sums within blocks of 64 rows (one SIMD lane each), blocks added in double."""
    total = np.zeros(values.shape[1], dtype=np.float64)
    for start in range(0, values.shape[0], BLOCK):
        total += np.add.accumulate(values[start:start + BLOCK], axis=0, dtype=np.float32)[-1].astype(np.float64)
    return total


def two_pass(x):
    mean = (block_sums(x) / len(x)).astype(np.float32)
    d = x - mean
    return (block_sums(d * d) / len(x)).astype(np.float32)


def one_pass(x):
    shift = x[0]
    d = x - shift
    s1, s2 = block_sums(d) / len(x), block_sums(d * d) / len(x)
    return np.maximum(s2 - s1 * s1, 0).astype(np.float32)


def main(folder, side='wasm'):
    config = resolve_config(os.path.join(folder, 'args.yaml'))
    meta = json.load(open(os.path.join(folder, 'parity.json')))
    model = build_model(config, config['num_classes'])
    state = np.load(os.path.join(folder, side, 'state.npz'))
    model.load_state_dict({k[len('model/'):]: torch.from_numpy(state[k]) for k in state.files if k.startswith('model/')}, strict=False)
    model.train()
    inputs = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.register_forward_hook(lambda m, args, out, name=name: inputs.__setitem__(name, args[0].detach()))
    images = np.load(os.path.join(meta['batches'], 'images.npy'), mmap_mode='r')
    with torch.no_grad():
        model(normalised(images[meta['steps'] - 1], config['mean'], config['std']))
    worst = {form: (0.0, '') for form in ('two-pass', 'one-pass', 'torch')}
    for name, x in inputs.items():
        rows = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1]).numpy()
        exact = rows.astype(np.float64).var(axis=0)
        torch_var = x.var(dim=(0, 2, 3), unbiased=False).numpy()
        for form, var in (('two-pass', two_pass(rows)), ('one-pass', one_pass(rows)), ('torch', torch_var)):
            error = np.abs(var - exact) / np.maximum(exact, 1e-30)
            channel = int(error.argmax())
            shift = abs(rows[0, channel] - rows[:, channel].mean()) / max(np.sqrt(exact[channel]), 1e-30)
            if error[channel] > worst[form][0]:
                worst[form] = (float(error[channel]), f'{name} channel {channel} ({rows.shape[0]} rows, |x0 - mean| = {shift:.1f} std)')
    for form, (error, where) in worst.items():
        print(f'{form:9s} largest relative variance error {error:.2e}  {where}')


if __name__ == '__main__':
    main(*sys.argv[1:])
