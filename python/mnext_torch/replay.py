"""The twin's side of mnext's training-parity harness (`mnext parity-train`, src/train/parity.ts).

    PYTHONPATH=python python3 -m mnext_torch.replay OUT [--dtype float64]
        trains the recipe in OUT/args.yaml from OUT/init.pth on the recorded batches (OUT/parity.json names them),
        with the trainer's own optimiser, schedule, label smoothing and EMA, and writes OUT/twin/losses.json (loss
        and lr per step) and OUT/twin/state.npz (model/, momentum/, ema/ tensors, float32, PyTorch layout).
        With --dtype float64 the same in double precision, into OUT/reference/: the trajectory float32 rounding
        perturbs, which both sides' drift is measured against.

    PYTHONPATH=python python3 -m mnext_torch.replay record --config configs/fashion_mnist.yaml --steps 300 --out DIR
        the reverse: the batches torchvision's transforms make (RandomResizedCrop, flip, jitter on PIL images, the
        trainer's loader and seeds), written as DIR/images.npy (uint8 [steps, batch, size, size, 3]), DIR/labels.npy
        (int64 [steps, batch]) and DIR/batches.json, for `mnext parity-train --batches DIR`.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F
from torchvision import transforms

from .config import ConfigError, resolve_config
from .data import DataError, ImageDataset, Replicas, make_loader, open_splits, train_transform
from .ema import ModelEma
from .optim import create_optimizer
from .scheduler import step_learning_rate
from .train import build_model, epoch_seed


def normalised(images, mean, std, dtype=torch.float32):
    """uint8 NHWC → float NCHW as ToTensor + Normalize compute it."""
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).to(dtype).div(255)
    return (x - torch.tensor(mean, dtype=dtype)[None, :, None, None]) / torch.tensor(std, dtype=dtype)[None, :, None, None]


def end_state(model, optimizer, ema):
    """model/, momentum/ and ema/ tensors as float32 numpy arrays (num_batches_tracked left out)."""
    state = {f'model/{k}': v for k, v in model.state_dict().items() if v.is_floating_point()}
    state.update({f'ema/{k}': v for k, v in ema.module.state_dict().items() if v.is_floating_point()})
    for name, param in model.named_parameters():
        buffer = optimizer.state.get(param, {}).get('momentum_buffer')
        if buffer is not None:
            state[f'momentum/{name}'] = buffer
    return {k: v.detach().cpu().float().numpy() for k, v in state.items()}


def replay(out, dtype='float32', log=lambda message: None):
    config = resolve_config(os.path.join(out, 'args.yaml'))
    with open(os.path.join(out, 'parity.json')) as f:
        meta = json.load(f)
    steps, steps_per_epoch = meta['steps'], meta['stepsPerEpoch']
    images = np.load(os.path.join(meta['batches'], 'images.npy'), mmap_mode='r')
    labels = np.load(os.path.join(meta['batches'], 'labels.npy'))
    model = build_model(config, config['num_classes'])
    missing, unexpected = model.load_state_dict(torch.load(os.path.join(out, 'init.pth')), strict=False)
    if unexpected or any(not k.endswith('num_batches_tracked') for k in missing):
        raise ConfigError(f'init.pth does not fit {config["model"]}: missing {missing}, unexpected {unexpected}')
    model.to(getattr(torch, dtype)).train()
    optimizer = create_optimizer(model, config)
    ema = ModelEma(model, config['model_ema_decay'])
    losses, lrs, started = [], [], time.perf_counter()
    for i in range(steps):
        lr = step_learning_rate(config, i // steps_per_epoch, i % steps_per_epoch, steps_per_epoch)
        for group in optimizer.param_groups:
            group['lr'] = lr
        x = normalised(images[i], config['mean'], config['std'], getattr(torch, dtype))
        loss = F.cross_entropy(model(x), torch.from_numpy(labels[i]), label_smoothing=config['smoothing'])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(model)
        losses.append(loss.item())
        lrs.append(lr)
        log(f'step {i + 1}/{steps} loss {loss.item():.6f}')
    seconds = time.perf_counter() - started
    twin = os.path.join(out, 'twin' if dtype == 'float32' else 'reference')
    os.makedirs(twin, exist_ok=True)
    np.savez(os.path.join(twin, 'state.npz'), **end_state(model, optimizer, ema))
    with open(os.path.join(twin, 'losses.json'), 'w') as f:
        json.dump({'loss': losses, 'lr': lrs, 'seconds': seconds, 'threads': torch.get_num_threads()}, f)
        f.write('\n')


def uint8_transform(config):
    """The trainer's train transform up to the PIL image (normalisation is the replaying side's)."""
    if config['reprob'] > 0:
        raise ConfigError('reprob: random erasing happens after the recorded batches; set reprob 0')
    steps = [t for t in train_transform(config).transforms if not isinstance(t, (transforms.ToTensor, transforms.Normalize))]
    return transforms.Compose(steps + [np.asarray])


def record(config, steps, out, log=lambda message: None):
    if config['mixup'] > 0:
        raise ConfigError('mixup: the training-parity harness replays images as recorded; set mixup 0')
    train_list, _ = open_splits(config)
    loader = make_loader(ImageDataset(train_list, uint8_transform(config)), config, Replicas(), train=True)
    size, batch = config['img_size'], config['batch_size']
    os.makedirs(out, exist_ok=True)
    images = np.lib.format.open_memmap(os.path.join(out, 'images.npy'), mode='w+', dtype=np.uint8, shape=(steps, batch, size, size, 3))
    labels = np.zeros((steps, batch), dtype=np.int64)
    recorded, epoch = 0, 0
    while recorded < steps:
        torch.manual_seed(epoch_seed(config['seed'], epoch, 0))
        loader.sampler.set_epoch(epoch)
        for x, y in loader:
            images[recorded], labels[recorded] = x.numpy(), y.numpy()
            recorded += 1
            log(f'step {recorded}/{steps}')
            if recorded == steps:
                break
        epoch += 1
    images.flush()
    np.save(os.path.join(out, 'labels.npy'), labels)
    with open(os.path.join(out, 'batches.json'), 'w') as f:
        json.dump({'stepsPerEpoch': len(loader), 'source': 'torchvision'}, f)
        f.write('\n')


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    try:
        if argv[:1] == ['record']:
            parser = argparse.ArgumentParser(prog='python -m mnext_torch.replay record', allow_abbrev=False)
            parser.add_argument('--config', required=True)
            parser.add_argument('--steps', type=int, required=True)
            parser.add_argument('--out', required=True)
            args, rest = parser.parse_known_args(argv[1:])
            flags = dict(zip([r[2:] for r in rest[::2]], rest[1::2]))
            record(resolve_config(args.config, flags), args.steps, args.out, log)
        else:
            parser = argparse.ArgumentParser(prog='python -m mnext_torch.replay', description=__doc__.split('\n\n')[0])
            parser.add_argument('out', help='the folder mnext parity-train prepared')
            parser.add_argument('--dtype', choices=('float32', 'float64'), default='float32')
            args = parser.parse_args(argv)
            replay(args.out, args.dtype, log)
    except (ConfigError, DataError) as error:
        log(f'mnext_torch.replay: {error}')
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main())
