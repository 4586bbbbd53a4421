"""The PyTorch twin of `mnext train`: the same YAML recipes and keys, the same optimiser, schedule, smoothing, EMA
and transforms (timm's, through torchvision), the same run folder — output/<date>-<model>-<img_size>/ with
args.yaml, classes.txt, summary.csv, last/ and best/ (timm-format checkpoints).

    PYTHONPATH=python python3 -m mnext_torch.train --config configs/fashion_mnist.yaml --data DIR [--key value ...]
    PYTHONPATH=python torchrun --nproc_per_node=N -m mnext_torch.train --config ... (data parallel: distributed.py)

Every random draw of an epoch comes from seeds of (seed, epoch), so `--resume RUN` repeats an uninterrupted run.
With `--resume RUN` the run's own config supplies every key not given; what a resume may change is resume.py's.
"""
import argparse
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

import torch
from torch.nn import functional as F

from .checkpoint import checkpoint_state, load_checkpoint, resume_file, save_checkpoint
from .config import KEYS, SCHEMA, ConfigError, config_to_yaml, default_config, kebab, resolve_config, set_key
from .data import DataError, ImageDataset, ImageError, eval_transform, make_loader, mixup_batch, open_splits, train_transform
from .distributed import (Launch, end_launch, env_int, from_primary, share_primary_state, single_process, start_launch,
                          sum_over_processes, unwrapped, wrap_model)
from .ema import ModelEma
from .finetune import load_initial_weights
from .files import write_text_atomic
from .models import create_model
from .optim import create_optimizer
from .resume import check_run_classes, continued_config
from .scheduler import step_learning_rate, total_epochs
from .summary import write_summary


class Diverged(RuntimeError):
    """The loss is not finite: the run stops, the last good checkpoint stays (exit code 1)."""


@dataclass
class Run:
    config: dict
    classes: list
    num_classes: int
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    ema: ModelEma
    train_loader: torch.utils.data.DataLoader
    val_loader: torch.utils.data.DataLoader
    run_dir: str
    launch: Launch
    start_epoch: int = 0
    rows: list = field(default_factory=list)
    best: Optional[dict] = None

    @property
    def device(self):
        return self.launch.device


def build_model(config, num_classes):
    try:
        return create_model(config['model'], num_classes=num_classes, width=config['width'],
                            tensor_multiplier=config['tensor_multiplier'], drop_rate=config['drop'],
                            drop_connect_rate=config['drop_connect'])
    except ValueError as error:
        raise ConfigError(f"model '{config['model']}': {error}") from None


def run_dir_name(config):
    return f"{datetime.now():%Y%m%d-%H%M%S}-{config['model']}-{config['img_size']}"


def create_run_dir(config):
    """A fresh run directory under `output`, checked writable before any training starts."""
    base = os.path.abspath(config['output'])
    name = run_dir_name(config)
    path, i = os.path.join(base, name), 1
    while os.path.exists(path):
        path, i = os.path.join(base, f'{name}-{i}'), i + 1
    try:
        os.makedirs(path)
    except OSError as error:
        raise ConfigError(f'output: cannot write to {base} ({error.strerror})') from None
    return path


def epoch_seed(seed, epoch, rank):
    """The torch seed of one epoch of one process: crops, flips, jitter, erasing, dropout, mixup."""
    return (seed * 1_000_003 + epoch) * 1009 + rank


@dataclass
class Resumed:
    """A run being continued: its last checkpoint, where it lives, and the config it continues with."""
    path: str
    run_dir: str
    state: dict
    config: dict


def resume_run(config):
    path, run_dir = resume_file(config['resume'])
    state = load_checkpoint(path)
    return Resumed(path, run_dir, state, continued_config(state['args'], config))


def nothing_left(resumed):
    """Why a resumed run has nothing left to train (mnext's sentence), or None when it has."""
    done, epochs = resumed.state['epoch'] + 1, total_epochs(resumed.config)
    if done < epochs:
        return None
    if done == epochs:
        return f'finished at epoch {done} of {epochs}; pass --epochs N to continue'
    return f'at epoch {done}, past the {epochs} epochs asked for; pass --epochs N to continue'


def run_classes(run_dir):
    try:
        with open(os.path.join(run_dir, 'classes.txt')) as f:
            return [line for line in f.read().splitlines() if line]
    except FileNotFoundError:
        raise ConfigError(f'resume: {run_dir} has no classes.txt (not a run folder of mnext_torch.train)') from None


def open_splits_of(config, resumed):
    if resumed and not os.path.exists(config['data']):
        raise DataError(f"dataset {config['data']} does not exist (the run's data: --data DIR if it moved)")
    train_list, val_list = open_splits(config)
    if resumed:
        check_run_classes(run_classes(resumed.run_dir), train_list.classes, config['data'])
    return train_list, val_list


def open_run(config, resumed, launch, log):
    replicas = launch.replicas
    if resumed:
        config = resumed.config
        log(f"Resuming {resumed.path} after epoch {resumed.state['epoch']}")
    build_model(config, config['num_classes'] or 1000)  # an unknown model fails before any data is read
    train_list, val_list = open_splits_of(config, resumed)
    num_classes = config['num_classes'] or len(train_list.classes)
    if num_classes < len(train_list.classes):
        raise ConfigError(f"num_classes: expected at least the dataset's {len(train_list.classes)} classes, got {num_classes}")
    torch.manual_seed(config['seed'])
    model = build_model(config, num_classes).to(launch.device)
    if config['initial_checkpoint'] and not resumed:
        load_initial_weights(model, config, log)
    optimizer = create_optimizer(model, config)
    if resumed:
        model.load_state_dict(resumed.state['state_dict'])
        optimizer.load_state_dict(resumed.state['optimizer'])
    # Every process keeps a copy for evaluation; only rank 0's is updated and saved (share_primary_state).
    ema = ModelEma(model, config['model_ema_decay']) if config['model_ema'] else None
    if ema and resumed and 'state_dict_ema' in resumed.state:
        ema.module.load_state_dict(resumed.state['state_dict_ema'])
    run_dir = resumed.run_dir if resumed else from_primary(create_run_dir(config) if replicas.is_primary else None, launch)
    run = Run(config, train_list.classes, num_classes, wrap_model(model, launch), optimizer, ema,
              make_loader(ImageDataset(train_list, train_transform(config)), config, replicas, train=True),
              make_loader(ImageDataset(val_list, eval_transform(config)), config, replicas, train=False),
              run_dir, launch)
    if len(run.train_loader) == 0:
        raise DataError(f"{config['data']}: {len(train_list.samples)} training images make no full batch of {config['batch_size']}")
    if resumed:
        run.start_epoch, run.rows, run.best = resumed.state['epoch'] + 1, resumed.state['summary'], resumed.state['best']
    if replicas.is_primary:
        # A resumed run's args.yaml records the schedule and data it now continues with.
        write_text_atomic(os.path.join(run.run_dir, 'args.yaml'), config_to_yaml(config))
        if not resumed:
            write_text_atomic(os.path.join(run.run_dir, 'classes.txt'), '\n'.join(train_list.classes) + '\n')
    return run


def training_loss(run, logits, labels, targets):
    if targets is not None:
        return torch.sum(-targets * F.log_softmax(logits, dim=1), dim=1).mean()
    return F.cross_entropy(logits, labels, label_smoothing=run.config['smoothing'])


def train_epoch(run, epoch, progress):
    """One epoch of optimiser steps; returns (mean train loss, img/s, the last step's lr), over every process."""
    config, model, optimizer, launch = run.config, run.model, run.optimizer, run.launch
    model.train()
    run.train_loader.sampler.set_epoch(epoch)
    steps = len(run.train_loader)
    loss_sum, images, lr, started = 0.0, 0, config['lr'], time.perf_counter()
    for step, (x, labels) in enumerate(run.train_loader):
        lr = step_learning_rate(config, epoch, step, steps)
        for group in optimizer.param_groups:
            group['lr'] = lr
        x, labels = x.to(launch.device, non_blocking=True), labels.to(launch.device, non_blocking=True)
        targets = None
        if config['mixup'] > 0:
            x, targets = mixup_batch(x, labels, run.num_classes, config['mixup'], config['smoothing'])
        loss = training_loss(run, model(x), labels, targets)
        # Summed over the processes every step: the global batch's loss, and a non-finite loss on any process
        # stops them all at the same step.
        step_loss, step_images = sum_over_processes([loss.item() * len(labels), len(labels)], launch)
        if not math.isfinite(step_loss):
            raise Diverged(f'training diverged: the loss is {step_loss / step_images} at epoch {epoch}, step {step} (lr {lr:.4g}); '
                           f"the last good checkpoint is {os.path.join(run.run_dir, 'last')} — lower lr or check the data")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if run.ema and launch.replicas.is_primary:
            run.ema.update(unwrapped(model))
        loss_sum += step_loss
        images += int(step_images)
        progress(epoch, step + 1, steps, step_loss / step_images, lr, images / (time.perf_counter() - started))
    return loss_sum / max(1, images), images / (time.perf_counter() - started), lr


@torch.no_grad()
def evaluate(model, loader, device, launch=None):
    """Eval mode, plain cross entropy, top-1 / top-5 in percent over every val image (each process evaluates its
    shard; the sums are added over the processes)."""
    model.eval()
    loss_sum, correct1, correct5, images = 0.0, 0, 0, 0
    for x, labels in loader:
        x, labels = x.to(device), labels.to(device)
        logits = model(x)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        loss_sum += F.cross_entropy(logits, labels, reduction='sum').item()
        correct1 += (top[:, 0] == labels).sum().item()
        correct5 += (top == labels[:, None]).any(dim=1).sum().item()
        images += len(labels)
    loss_sum, correct1, correct5, images = sum_over_processes([loss_sum, correct1, correct5, images], launch or single_process())
    n = max(1, images)
    return {'loss': loss_sum / n, 'top1': 100 * correct1 / n, 'top5': 100 * correct5 / n}


def evaluate_run(run):
    """(raw metrics, reported metrics): rank 0's weights, BN statistics and EMA on every process first, so the
    metrics are those of the weights rank 0 checkpoints. As in the official runs, the EMA's are reported when on."""
    model = unwrapped(run.model)
    share_primary_state(model, run.launch)
    raw = evaluate(model, run.val_loader, run.launch.device, run.launch)
    if not run.ema:
        return raw, raw
    share_primary_state(run.ema.module, run.launch)
    return raw, evaluate(run.ema.module, run.val_loader, run.launch.device, run.launch)


def js_exponential(value):
    """JavaScript's toExponential(3), as mnext train's epoch lines print the lr."""
    return re.sub(r'e([+-])0*(\d)', r'e\1\2', f'{value:.3e}')


def epoch_line(row, epochs, raw, ema_used, is_best):
    ema = f" [EMA] (raw top-1 {raw['top1']:.2f})" if ema_used else ''
    return (f"epoch {row['epoch']}/{epochs - 1}: train_loss {row['train_loss']:.4f} eval_loss {row['eval_loss']:.4f} "
            f"top-1 {row['eval_top1']:.2f} top-5 {row['eval_top5']:.2f}{ema} lr {js_exponential(row['lr'])} "
            f"{row['img_per_sec']:.1f} img/s{' *best' if is_best else ''}")


def train(config, log=lambda message: None, progress=lambda *args: None, launch=None, stop_after_epochs=None):
    """Trains per the config (fresh or resumed) in this process, or as one process of `launch` (distributed.py);
    returns where everything was written and the summary rows. stop_after_epochs ends this invocation early, as a
    kill after an epoch would (tests resume from there)."""
    launch = launch or single_process()
    replicas = launch.replicas
    resumed = resume_run(config) if config['resume'] else None
    done = resumed and nothing_left(resumed)
    if done:
        log(done)
        return result_of(resumed.run_dir, resumed.state['summary'], resumed.state['best'])
    run = open_run(config, resumed, launch, log)
    config = run.config
    epochs = total_epochs(config)
    last = epochs if stop_after_epochs is None else min(epochs, run.start_epoch + stop_after_epochs)
    for epoch in range(run.start_epoch, last):
        torch.manual_seed(epoch_seed(config['seed'], epoch, replicas.rank))
        train_loss, images_per_second, lr = train_epoch(run, epoch, progress)
        raw, reported = evaluate_run(run)
        row = {'epoch': epoch, 'train_loss': train_loss, 'eval_loss': reported['loss'], 'eval_top1': reported['top1'],
               'eval_top5': reported['top5'], 'lr': lr, 'img_per_sec': images_per_second}
        run.rows.append(row)
        is_best = run.best is None or reported['top1'] > run.best['top1']
        if is_best:
            run.best = {'epoch': epoch, 'top1': reported['top1']}
        if replicas.is_primary:
            state = checkpoint_state(unwrapped(run.model), run.optimizer, run.ema, config, epoch, reported['top1'], run.rows, run.best,
                                     run.classes)
            save_checkpoint(os.path.join(run.run_dir, 'last'), state)
            if is_best:
                save_checkpoint(os.path.join(run.run_dir, 'best'), state)
            write_summary(os.path.join(run.run_dir, 'summary.csv'), run.rows)
        log(epoch_line(row, epochs, raw, run.ema is not None, is_best))
    return result_of(run.run_dir, run.rows, run.best)


def result_of(run_dir, rows, best):
    return {'runDir': run_dir, 'best': best, 'lastDir': os.path.join(run_dir, 'last'),
            'bestDir': os.path.join(run_dir, 'best'), 'summary': rows}


def command_line_parser():
    parser = argparse.ArgumentParser(
        prog='python -m mnext_torch.train', description='train a model from an mnext YAML recipe in PyTorch; every '
        'config key is also a --kebab-case flag', argument_default=argparse.SUPPRESS, allow_abbrev=False)
    parser.add_argument('--config', help='YAML config: sets defaults that flags override')
    parser.add_argument('--json', action='store_true', help='print the result (run directory, rows, best) as JSON')
    for key in KEYS:
        _, default, help_text = SCHEMA[key]
        shown = ','.join(f'{v:.4g}' for v in default) if isinstance(default, list) else default
        extra = dict(nargs='?', const='true') if isinstance(default, bool) else {}
        parser.add_argument(f'--{kebab(key)}', dest=key, metavar='VALUE', help=f"{help_text} (default: {shown if shown != '' else 'none'})", **extra)
    return parser


def parse_command_line(argv):
    """(config, --json) from argv; an unknown flag is the same 'unknown key' error as in a config file."""
    namespace, unknown = command_line_parser().parse_known_args(argv)
    given = vars(namespace)
    if unknown:
        flag = next((u for u in unknown if u.startswith('--')), None)
        if flag is None:
            raise ConfigError(f'command line: unexpected argument {unknown[0]!r}')
        set_key(default_config(), flag[2:].split('=')[0], '', 'command line')  # the unknown-key error, with a hint
    config_file, as_json = given.pop('config', None), given.pop('json', False)
    return resolve_config(config_file, given), as_json


def terminal_progress(epoch, step, steps, loss, lr, images_per_second):
    sys.stderr.write(f'\repoch {epoch} [{step}/{steps}] loss {loss:.4f} lr {js_exponential(lr)} {images_per_second:.1f} img/s ')
    if step == steps:
        sys.stderr.write('\r\033[K')


def main(argv=None):
    """Exit codes as mnext's: 0, 1 diverged, 2 bad usage or data, 130 interrupted. Under torchrun only rank 0 prints,
    except an unreadable image, which only the process whose share holds it meets."""
    primary = env_int('RANK', 0) == 0
    say = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    log = say if primary else (lambda message: None)
    launch = None
    try:
        config, as_json = parse_command_line(sys.argv[1:] if argv is None else argv)
        launch = start_launch(config['batch_size'])
        log(f"mnext_torch.train: {config['model']} on {config['data'] or '(no data)'}, torch {torch.__version__} "
            f"{device_description(launch)}")
        interactive = primary and sys.stderr.isatty() and not as_json
        result = train(config, log, terminal_progress if interactive else lambda *a: None, launch)
    except ImageError as error:
        say(f"mnext_torch.train{'' if primary else f' (rank {launch.replicas.rank})'}: {own_message(error)}")
        return 2
    except (ConfigError, DataError) as error:
        log(f'mnext_torch.train: {error}')
        return 2
    except Diverged as error:
        log(f'mnext_torch.train: {error}')
        return 1
    except KeyboardInterrupt:
        log('mnext_torch.train: interrupted; the last finished epoch is in <run>/last (continue with --resume <run>)')
        return 130
    finally:
        if launch:
            end_launch(launch)
    if not primary:
        return 0
    if as_json:
        print(json.dumps(result))
    else:
        best = result['best']
        print(f"Run directory:   {result['runDir']}\nSummary:         {os.path.join(result['runDir'], 'summary.csv')}\n"
              f"Best checkpoint: {result['bestDir']} ({best['top1']:.2f} % top-1 at epoch {best['epoch']})")
    return 0


def own_message(error):
    """The error's own sentence: raised in a DataLoader worker, it arrives with the worker's traceback as its message,
    whose last line is `<module>.<class>: <sentence>`."""
    lines = str(error).strip().splitlines()
    return lines[-1].split(': ', 1)[-1] if len(lines) > 1 else str(error)


def device_description(launch):
    processes = f'{launch.replicas.world_size} processes ({"nccl" if launch.device.type == "cuda" else "gloo"}), ' if launch.distributed else ''
    device = 'cuda' if launch.device.type == 'cuda' else f'cpu ({torch.get_num_threads()} threads)'
    return f'{processes}{device}'


if __name__ == '__main__':
    sys.exit(main())
