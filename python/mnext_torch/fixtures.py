"""Parity fixtures (what `mnext parity` reads): a JSON manifest of the state_dict's float32 tensors, an NCHW input
batch and the model's eval-mode logits, with the raw float32 bytes in <name>.weights.bin beside it. The official
fixtures in this format were made with the official PyTorch code; `check_fixture` runs one through these models.
"""
import json
import math

import numpy as np
import torch
from torch import nn

from .models import create_model


def randomise(net, generator, input_size):
    """Random weights, BN affine parameters and BN statistics (so BN handling is exercised).

    The running statistics are first calibrated on random inputs (a cumulative average in train mode) and
    then perturbed, so activations stay O(1) through the depth as in a trained network, and the logits have
    the scale of the official fixtures.
    """
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.Conv2d):
                fan_in = module.weight[0].numel()
                module.weight.normal_(0, math.sqrt(2.0 / fan_in), generator=generator)
                if module.bias is not None:
                    module.bias.normal_(0, 0.1, generator=generator)
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0, 0.2, generator=generator)
                module.momentum = None
                module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.1, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
        net.train()
        for _ in range(3):
            net(torch.randn(4, 3, input_size, input_size, generator=generator))
        net.eval()
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.add_(torch.randn(module.running_mean.shape, generator=generator) * 0.05)
                module.running_var.mul_(torch.empty(module.running_var.shape).uniform_(0.8, 1.25, generator=generator))


def fixture_model(meta):
    """The eval-mode model a fixture's manifest names (`mnext`/`mbv2`/`mnext_s`/... as mnext resolves them)."""
    return create_model(meta['model'], num_classes=meta['num_classes'], width=meta['width'],
                        tensor_multiplier=meta.get('tensor_multiplier', 1), drop_connect_rate=0.0).eval()


def write_fixture(path, meta, net, x):
    tensors, offset, chunks = [], 0, []
    for name, value in net.state_dict().items():
        if name.endswith('num_batches_tracked'):
            continue
        array = value.detach().float().contiguous().numpy()
        tensors.append({'name': name, 'shape': list(array.shape), 'offset': offset})
        chunks.append(array.tobytes())
        offset += array.nbytes
    with torch.no_grad():
        logits = net(x).numpy()
    chunks.append(x.numpy().astype('<f4').tobytes())
    with open(path.replace('.json', '.weights.bin'), 'wb') as f:
        f.write(b''.join(chunks))
    meta = dict(meta, input_shape=list(x.shape), layout='NCHW', tensors=tensors, input_offset=offset,
                logits=logits.astype(float).tolist())
    with open(path, 'w') as f:
        json.dump(meta, f)


def make_fixture(path, model, width, num_classes, input_size, tensor_multiplier=1, batch=2, seed=0):
    """A fixture with random (BN-calibrated) weights and a random batch, reproducible from the seed."""
    generator = torch.Generator().manual_seed(seed)
    meta = {'model': model, 'width': width, 'num_classes': num_classes}
    if tensor_multiplier != 1:
        meta['tensor_multiplier'] = tensor_multiplier
    net = fixture_model(meta)
    randomise(net, generator, input_size)
    x = torch.randn(batch, 3, input_size, input_size, generator=generator)
    write_fixture(path, meta, net, x)


def load_fixture(path):
    """(manifest, model with the fixture's weights, input batch)."""
    with open(path) as f:
        meta = json.load(f)
    with open(path.replace('.json', '.weights.bin'), 'rb') as f:
        blob = f.read()
    net = fixture_model(meta)

    def floats(offset, shape):
        count = int(np.prod(shape)) if shape else 1
        return torch.from_numpy(np.frombuffer(blob, '<f4', count, offset).reshape(shape).copy())

    state = {t['name']: floats(t['offset'], t['shape']) for t in meta['tensors']}
    result = net.load_state_dict(state, strict=False)
    # Fixtures leave out num_batches_tracked only; anything else missing or extra is a different model.
    missing = [k for k in result.missing_keys if not k.endswith('num_batches_tracked')]
    if missing or result.unexpected_keys:
        raise ValueError(f'{path} does not fit {meta["model"]}: missing {missing[:5]}, unexpected {result.unexpected_keys[:5]}')
    return meta, net, floats(meta['input_offset'], meta['input_shape'])


def check_fixture(path):
    """Max |Δ| between these models' logits and the fixture's."""
    meta, net, x = load_fixture(path)
    with torch.no_grad():
        ours = net(x).numpy()
    return float(np.abs(ours - np.array(meta['logits'])).max())
