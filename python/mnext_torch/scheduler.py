"""timm's CosineLRScheduler and StepLRScheduler as train.py builds them (spec §4.3), as src/train/scheduler.ts
computes them: linear warmup from warmup_lr that does not shift the schedule's phase, evaluated at the epoch
index t (once per epoch), or at the fractional epoch t = epoch + step / steps when per-update changes are asked for.
"""
import math


def learning_rate(config, t):
    """The learning rate at (possibly fractional) epoch t."""
    lr, warmup_epochs, warmup_lr = config['lr'], config['warmup_epochs'], config['warmup_lr']
    if t < warmup_epochs:
        return warmup_lr + t * (lr - warmup_lr) / warmup_epochs
    if config['sched'] == 'step':
        return lr * config['decay_rate'] ** math.floor(t / config['decay_epochs'])
    # Cosine with cycle_limit 1: after t_initial epochs (the cooldown) the LR stays at min_lr.
    if t >= config['epochs']:
        return config['min_lr']
    return config['min_lr'] + 0.5 * (lr - config['min_lr']) * (1 + math.cos(math.pi * t / config['epochs']))


def total_epochs(config):
    """Epochs the run trains: timm adds the cooldown to the cosine length (step schedules get none)."""
    return config['epochs'] + config['cooldown_epochs'] if config['sched'] == 'cosine' else config['epochs']


def step_learning_rate(config, epoch, step, steps_per_epoch):
    """LR of step `step` (0-based) of `epoch`: per epoch (timm's default) or per update."""
    return learning_rate(config, epoch + step / max(1, steps_per_epoch) if config['sched_on_updates'] else epoch)
