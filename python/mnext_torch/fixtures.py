"""Parity fixtures (what `mnext parity` reads): a JSON manifest of the state_dict's float32 tensors, an NCHW input
batch and the model's eval-mode logits, with the raw float32 bytes in <name>.weights.bin beside it. The official
fixtures in this format were made with the official PyTorch code; `check_fixture` runs one through these models.
`make_fixture` writes new ones (the test suite's reference fixtures, test/reference-fixtures.ts), optionally with
the same weights as `torch.save` files.
"""
import json
import math

import numpy as np
import torch
from torch import nn

from .models import EfficientMnext, create_model


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
                module.reset_running_stats()
            elif isinstance(module, nn.Linear):
                module.weight.normal_(0, 0.1, generator=generator)
                module.bias.normal_(0, 0.1, generator=generator)
        measure_bn_statistics(net, generator, input_size, batches=3)
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.add_(torch.randn(module.running_mean.shape, generator=generator) * 0.05)
                module.running_var.mul_(torch.empty(module.running_var.shape).uniform_(0.8, 1.25, generator=generator))


def calibrate(net, generator, input_size):
    """For mnext_s / mnext_l, whose convs and classifier keep PyTorch's default initialisation (the official model
    has no init code; it draws from the global generator, seeded by make_fixture): random BN affine parameters,
    then running statistics from one random batch. The net comes from fixture_model, so drop-connect is off.
    """
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.uniform_(-0.2, 0.2, generator=generator)
                module.reset_running_stats()
        measure_bn_statistics(net, generator, input_size, batches=1)


def measure_bn_statistics(net, generator, input_size, batches):
    """Running statistics as the cumulative average over random batches of 4 in train mode; leaves net in eval."""
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = None
    net.train()
    for _ in range(batches):
        net(torch.randn(4, 3, input_size, input_size, generator=generator))
    net.eval()


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


def write_torch_files(stem, net):
    """The state_dict as `<stem>.pth` (zip torch.save, the `torch.save(model.state_dict())` of a release) and
    `<stem>.ckpt.pth.tar`: a legacy-format training checkpoint as the official trainer saves it (DataParallel
    `module.` keys, the same tensors as EMA weights, optimizer state, epoch, arch, version)."""
    state = net.state_dict()
    torch.save(state, f'{stem}.pth')
    wrapped = {f'module.{name}': value for name, value in state.items()}
    checkpoint = {'epoch': 7, 'arch': 'mnext', 'state_dict': wrapped, 'state_dict_ema': dict(wrapped),
                  'optimizer': {'state': {}, 'param_groups': [{'lr': 0.1}]}, 'version': 2}
    torch.save(checkpoint, f'{stem}.ckpt.pth.tar', _use_new_zipfile_serialization=False)


def make_fixture(path, model, width=1.0, num_classes=1000, input_size=224, tensor_multiplier=1, batch=2, seed=0,
                 torch_files=False):
    """A fixture with random (BN-calibrated) weights and a random batch, reproducible from the seed; with
    torch_files also its state_dict as <stem>.pth and <stem>.ckpt.pth.tar."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the default initialisation that mnext_s / mnext_l keep
    meta = {'model': model, 'width': width, 'num_classes': num_classes}
    if tensor_multiplier != 1:
        meta['tensor_multiplier'] = tensor_multiplier
    net = fixture_model(meta)
    if isinstance(net, EfficientMnext):
        calibrate(net, generator, input_size)
    else:
        randomise(net, generator, input_size)
    x = torch.randn(batch, 3, input_size, input_size, generator=generator)
    write_fixture(path, meta, net, x)
    if torch_files:
        write_torch_files(path[:-len('.json')], net)


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
    """Max |Δ| between these models' logits and the fixture's, and whether the fixture's tensors are these models'
    state_dict (names, shapes and order, num_batches_tracked left out)."""
    meta, net, x = load_fixture(path)
    with torch.no_grad():
        ours = net(x).numpy()
    expected = [(name, list(value.shape)) for name, value in net.state_dict().items()
                if not name.endswith('num_batches_tracked')]
    return {'maxAbsDiff': float(np.abs(ours - np.array(meta['logits'])).max()),
            'sameStateDict': expected == [(t['name'], t['shape']) for t in meta['tensors']]}
